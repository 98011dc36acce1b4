"""PyTorch's dtype rules (chainrule.core.dtypes), checked against PyTorch itself.

Each case is one expression written once and run on both modules (``m`` is chainrule or
torch); the dtypes they give must be equal.  Without torch the expected dtypes written below
are checked alone.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

try:
    import torch
except ImportError:     # pragma: no cover - torch is installed in the venv
    torch = None


def _name(dtype) -> str:
    return str(dtype).replace("torch.", "")


CASES = {
    # expression: the dtype PyTorch gives
    "int * float": (lambda m: m.tensor([1, 2, 3]) * 0.5, "float32"),
    "float * int tensor": (lambda m: 0.5 * m.tensor([1, 2, 3]), "float32"),
    "int + int": (lambda m: m.tensor([1, 2]) + 3, "int64"),
    "int / int": (lambda m: m.tensor([1, 2]) / 2, "float32"),
    "int / int tensor": (lambda m: m.tensor([1, 2]) / m.tensor([2, 4]), "float32"),
    "exp(int)": (lambda m: m.exp(m.tensor([1, 2])), "float32"),
    "log(int)": (lambda m: m.log(m.tensor([1, 2])), "float32"),
    "sqrt(int)": (lambda m: m.sqrt(m.tensor([1, 4])), "float32"),
    "sigmoid(int)": (lambda m: m.sigmoid(m.tensor([1, 4])), "float32"),
    "tanh(int)": (lambda m: m.tanh(m.tensor([1, 4])), "float32"),
    "int ** float": (lambda m: m.tensor([1, 4]) ** 2.0, "float32"),
    "int ** int": (lambda m: m.tensor([1, 4]) ** 2, "int64"),
    "bool + int": (lambda m: m.tensor([True, False]) + 1, "int64"),
    "arange(4)": (lambda m: m.arange(4), "int64"),
    "arange(4.0)": (lambda m: m.arange(4.0), "float32"),
    "arange(0, 1, 0.1)": (lambda m: m.arange(0, 1, 0.1), "float32"),
    "randn": (lambda m: m.randn(2, 3), "float32"),
    "zeros": (lambda m: m.zeros(2), "float32"),
    "full int": (lambda m: m.full((2,), 3), "int64"),
    "full float": (lambda m: m.full((2,), 3.0), "float32"),
    "tensor of floats": (lambda m: m.tensor([1.0, 2.0]), "float32"),
    "float32 * 0-d float64": (lambda m: m.ones(3) * m.tensor(np.float64(2.0)), "float32"),
    "int * 0-d float64": (lambda m: m.tensor([1, 2]) * m.tensor(np.array(2.0)), "float64"),
    "float32 * float64": (lambda m: m.ones(3) * m.tensor(np.ones(3)), "float64"),
    "int64 + float32": (lambda m: m.tensor([1, 2]) + m.ones(2), "float32"),
    "float64 array kept": (lambda m: m.tensor(np.zeros(2)), "float64"),
    "where int, float": (lambda m: m.where(m.tensor([True, False]), m.tensor([1, 2]), 0.5),
                         "float32"),
    "maximum int, float": (lambda m: m.maximum(m.tensor([1, 5]), m.tensor([2.0, 3.0])),
                           "float32"),
    "eye": (lambda m: m.eye(3, 2), "float32"),
    "linspace": (lambda m: m.linspace(0, 1, 5), "float32"),
    "normal": (lambda m: m.normal(0, 0.01, size=(2, 1)), "float32"),
    "normal of a float64 mean": (lambda m: m.normal(m.zeros(3, dtype=m.float64), 1.0),
                                 "float64"),
    "randint": (lambda m: m.randint(0, 5, (3,)), "int64"),
    "empty": (lambda m: m.empty(2, 3), "float32"),
}


@pytest.mark.skipif(torch is None, reason="PyTorch is not installed")
@pytest.mark.parametrize("args", [(0, 1, 5), (-2.5, 3.0, 7), (1, 1, 1), (3, -1, 4)])
def test_linspace_and_eye_values_are_pytorchs(args):
    np.testing.assert_allclose(cr.linspace(*args).numpy(), torch.linspace(*args).numpy(),
                               rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(cr.eye(args[2], 3).numpy(), torch.eye(args[2], 3).numpy())


@pytest.mark.parametrize("case", sorted(CASES))
def test_chainrule_gives_pytorchs_dtype(case):
    expr, expected = CASES[case]
    assert _name(expr(cr).dtype) == expected


@pytest.mark.skipif(torch is None, reason="PyTorch is not installed: compared without it above")
@pytest.mark.parametrize("case", sorted(CASES))
def test_the_expected_dtype_is_pytorchs(case):
    expr, expected = CASES[case]
    assert _name(expr(torch).dtype) == expected


@pytest.mark.skipif(torch is None, reason="PyTorch is not installed")
@pytest.mark.parametrize("args", [(4.0,), (0, 1, 0.1), (1, 2.5, 0.3), (-1.0, 1.0, 0.2),
                                  (5, 0, -0.7), (3,), (2, 11, 3)])
def test_arange_values_are_pytorchs(args):
    ours = cr.arange(*args).numpy()
    theirs = torch.arange(*args).numpy()
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)


def test_set_default_dtype_changes_every_default():
    cr.set_default_dtype(np.float64)
    try:
        i = cr.tensor([1, 2])
        got = [cr.tensor([1.0]).dtype, cr.arange(2.0).dtype, cr.randn(2).dtype, (i / 2).dtype,
               (i * 0.5).dtype, cr.zeros(1).dtype, cr.get_default_dtype()]
    finally:
        cr.set_default_dtype(np.float32)
    assert all(d == np.float64 for d in got), got
    assert cr.tensor([1.0]).dtype == np.float32


def test_set_default_dtype_refuses_a_non_float():
    with pytest.raises(cr.DTypeError, match="int64"):
        cr.set_default_dtype(np.int64)


def test_pytorch_dtype_names():
    assert cr.float32 == np.float32 and cr.float == np.float32 and cr.long == np.int64
    assert cr.zeros(2, dtype=cr.float64).dtype == np.float64
    assert cr.arange(12, dtype=cr.float32).dtype == np.float32


def test_gradients_flow_through_a_promoted_call():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    i = cr.tensor([3, 4])
    (w * i).sum().backward()
    assert w.grad.dtype == np.float32
    assert w.grad.tolist() == [3.0, 4.0]


@pytest.mark.skipif(torch is None, reason="PyTorch is not installed")
def test_arange_matches_pytorch_bit_for_bit_on_random_ranges():
    rng = np.random.default_rng(0)
    for _ in range(200):
        start = float(np.round(rng.uniform(-5, 5), 3))
        step = float(np.round(rng.uniform(0.01, 1), 3)) * rng.choice([-1, 1])
        stop = start + step * int(rng.integers(1, 300))
        for ours, theirs in ((cr.float32, torch.float32), (cr.float64, torch.float64)):
            a = cr.arange(start, stop, step, dtype=ours).numpy()
            b = torch.arange(start, stop, step, dtype=theirs).numpy()
            np.testing.assert_array_equal(a, b, err_msg=f"arange({start}, {stop}, {step})")
