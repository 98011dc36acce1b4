"""The operator table on the strict test device: no operator reaches around its array module.

``chainrule.testing.strict`` wraps NumPy so that its arrays refuse any NumPy call not made
through ``backend.xp`` (as a CuPy array would refuse ``np.add.at`` or a host array).  Every
sample of every operator runs here forward and backward, first and second order, reverse and
forward mode, as ``test_table.py`` runs them on the CPU; then the chapter's training step and
its ``cr.compile`` replay.  A failure names an operator that calls NumPy directly: fix it at
the operator, through ``B.xp``.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import backend
from chainrule.core.op import Op
from chainrule.ops import OPS
from chainrule.testing import gradcheck, gradgradcheck, strict

PLACE = strict.register()
DEVICE = cr.device(strict.NAME)

# operators that reach around the backend, once found here, are fixed at the operator: none
# is left (maximum/minimum's tie weights and matmul's shapes were the last)
REACHES_AROUND: dict[str, str] = {}


@pytest.fixture(autouse=True)
def back_on_the_cpu():
    """Each test leaves the CPU's module active, as it found it."""
    yield
    backend.activate(backend.CPU)


def _on_device(value):
    """Sample arguments and parameters with every array on the strict device."""
    if isinstance(value, np.ndarray):
        return PLACE.from_host(value)
    if isinstance(value, tuple):
        return tuple(_on_device(v) for v in value)
    if isinstance(value, list):
        return [_on_device(v) for v in value]
    return value


def _cases(differentiable: bool, known=None):
    for op in OPS.values():
        if op.differentiable != differentiable:
            continue
        for k, sample in enumerate(op.samples(np.random.default_rng(0))):
            reason = (known or {}).get(op.name) or (known or {}).get(f"{op.name}-{k}")
            marks = () if reason is None else pytest.mark.xfail(
                raises=strict.StrictError, strict=True, reason=reason)
            yield pytest.param(op, sample, id=f"{op.name}-{k}", marks=marks)


FORWARD_CASES = list(_cases(True, REACHES_AROUND))
CASES = list(_cases(True, REACHES_AROUND))


def _bound(op, sample):
    params = {k: _on_device(v) for k, v in sample.params.items()}

    def f(*args):
        return op(*args, **params)
    f.__name__ = op.name
    return f


@pytest.mark.parametrize("op, sample", FORWARD_CASES)
def test_forward_on_the_strict_device_equals_the_cpu(op, sample):
    ours = op(*[cr.tensor(a, device=DEVICE) if isinstance(a, np.ndarray) else a
                for a in sample.args], **{k: _on_device(v) for k, v in sample.params.items()})
    assert ours.device == DEVICE and isinstance(ours._data, strict.StrictArray)
    backend.activate(backend.CPU)
    cpu = op(*[cr.tensor(a) if isinstance(a, np.ndarray) else a for a in sample.args],
             **sample.params)
    np.testing.assert_allclose(ours.numpy(), cpu.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("op, sample", CASES)
def test_reverse_and_forward_mode_on_the_strict_device(op, sample):
    assert gradcheck(_bound(op, sample), sample.args, modes=("rev", "fwd"), device=DEVICE)


@pytest.mark.parametrize("op, sample", CASES)
def test_second_order_on_the_strict_device(op, sample):
    f = _bound(op, sample)
    assert gradgradcheck(f, sample.args, modes=("rev",), device=DEVICE)
    assert gradgradcheck(f, sample.args, modes=("fwd",), device=DEVICE)


@pytest.mark.parametrize("op, sample", list(_cases(False)))
def test_non_differentiable_operators_on_the_strict_device(op, sample):
    out = op(*[cr.tensor(a, device=DEVICE) if isinstance(a, np.ndarray) else a
               for a in sample.args], **{k: _on_device(v) for k, v in sample.params.items()})
    assert out.device == DEVICE and out.grad_fn is None


def test_the_strict_device_catches_a_direct_numpy_call():
    # the negative control: an operator written against NumPy fails here, not silently
    x = cr.tensor([1.0, 2.0, 3.0], device=DEVICE, requires_grad=True)
    with pytest.raises(strict.StrictError, match="numpy.shape"):
        np.shape(x._data)
    with pytest.raises(strict.StrictError, match="numpy.add.at"):
        np.add.at(x._data, [0], 1.0)
    with pytest.raises(strict.StrictError, match="numpy.result_type"):
        np.result_type(x._data, 1.0)
    with pytest.raises(strict.StrictError, match="NumPy array of shape"):
        strict.xp.add(x._data, np.ones(3))        # a host array where a device array belongs
    leaky = Op("leaky_exp_for_test", lambda a: np.exp(a), inputs=("a",))
    try:
        with pytest.raises(strict.StrictError, match="numpy.exp"):
            leaky(x)
        assert leaky(cr.tensor([0.0])).numpy().tolist() == [1.0]   # on the CPU it runs
    finally:
        del OPS["leaky_exp_for_test"]
