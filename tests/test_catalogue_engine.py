"""The catalogue, part two: the PyTorch surface and the engine's operators on empty,
non-finite, out-of-range and changed inputs and in a second thread (issue 14 onwards).

Each case works as NumPy or PyTorch would, or raises a typed chainrule error naming the function
or argument; :mod:`tests.test_catalogue` holds the first part, the library's edges (creation
functions, files, state dicts, data loaders).
"""

from __future__ import annotations

import re
import threading

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn
from chainrule.errors import ChainruleError, DTypeError, ShapeError
from chainrule.optim import SGD


# ------------------------------------------------------- PyTorch names added for issue 14
_X = cr.tensor([1.0, -2.0, 3.0])
_LOGITS, _LABELS = cr.tensor(np.ones((2, 3))), cr.tensor([0, 1])
TORCH_NAMES_REFUSE = {
    "new_zeros-negative": (lambda: _X.new_zeros(-1), ShapeError, r"full\(\): .*negative"),
    "new_zeros-text": (lambda: _X.new_zeros("a"), ShapeError, r"full\(\): .*integers"),
    "new_full-text": (lambda: _X.new_full((2,), "x"), DTypeError, "not a real number"),
    "masked_fill-text": (lambda: _X.masked_fill(_X > 0, "x"), DTypeError, "not a real number"),
    "masked_fill-int-mask": (lambda: _X.masked_fill(cr.tensor([1, 0, 1]), 0.0), DTypeError,
                             "condition must be bool"),
    "masked_fill-fraction-in-int": (lambda: cr.arange(3).masked_fill(cr.arange(3) > 0, 0.5),
                                    DTypeError, "not a whole number"),
    "size-dim-out-of-range": (lambda: _X.size(1), ShapeError, r"size: dim=1"),
    "size-dim-text": (lambda: _X.size("a"), ShapeError, "size: dim='a'"),
    "size-of-0-d": (lambda: cr.tensor(5.0).size(0), ShapeError, "no dimensions"),
    "mT-of-1-d": (lambda: _X.mT, ShapeError, "mT: x.shape=\\(3,\\)"),
    "expand_as-mismatch": (lambda: _X.expand_as(cr.ones(2)), ShapeError, "broadcast_to"),
    "mm-vector": (lambda: cr.mm(_X, cr.ones((3, 2))), ShapeError, r"mm: a.shape=\(3,\)"),
    "mm-text": (lambda: cr.mm(np.array([["a"]]), np.array([["b"]])), DTypeError, "matmul"),
    "dot-matrix": (lambda: cr.dot(cr.ones((2, 2)), _X), ShapeError, "dot: a.shape"),
    "stack-dim": (lambda: cr.stack([_X], dim=5), ShapeError, "stack: axis 5"),
    "nonzero-text": (lambda: cr.nonzero(np.array(["a"])), DTypeError, "nonzero: x.dtype"),
    "where-half": (lambda: cr.where(_X > 0, 1.0), TypeError, "both a and b"),
    "one_hot-float": (lambda: F.one_hot(_X), ShapeError, "one_hot: the indices have dtype"),
    "one_hot-negative": (lambda: F.one_hot(cr.tensor([-1, 0]), 3), ShapeError,
                         r"indices lie in \[-1, 0\]"),
    "one_hot-empty-inferred": (lambda: F.one_hot(cr.tensor(np.zeros(0, np.int64))),
                               ShapeError, "num_classes"),
    "softmax-dim": (lambda: nn.Softmax(dim=3)(cr.ones((2, 2))), ShapeError, "softmax: axis 3"),
    "ce-weight-shape": (lambda: F.cross_entropy(_LOGITS, _LABELS, weight=cr.ones(2)),
                        ShapeError, r"weight has shape \(2,\)"),
    "ce-weight-text": (lambda: F.cross_entropy(_LOGITS, _LABELS, weight=np.array(["a"] * 3)),
                       ShapeError, "dtype <U1"),
    "nll-weight-shape": (lambda: F.nll_loss(_LOGITS, _LABELS, weight=cr.ones((3, 1))),
                         ShapeError, "nll_loss: weight"),
    "set_grad_enabled-text": (lambda: cr.set_grad_enabled("no"), DTypeError,
                              "set_grad_enabled\\('no'\\)"),
    "memory-device-unknown": (lambda: _cli(["memory", "--device", "tpu", "--measure"]),
                              SystemExit, ""),
}


def _cli(argv):
    from chainrule.cli import main
    code = main(argv)
    raise SystemExit(code)


@pytest.mark.parametrize("case", sorted(TORCH_NAMES_REFUSE))
def test_torch_names_refuse_bad_input_with_a_typed_error(case, capsys) -> None:
    call, error, says = TORCH_NAMES_REFUSE[case]
    if error is SystemExit:            # the command line: status 2 and one line on stderr
        with pytest.raises(SystemExit) as info:
            call()
        assert info.value.code == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
        return
    if not issubclass(error, ChainruleError):
        with pytest.raises(error, match=says):
            call()
        return
    with pytest.raises(error) as info:
        call()
    assert re.search(says, str(info.value), re.DOTALL), str(info.value)
    assert cr.is_grad_enabled()        # a refused switch switched nothing


def test_torch_names_on_empty_and_non_finite_input_are_numpys_and_pytorchs() -> None:
    empty = cr.tensor(np.zeros((0, 3)))
    assert cr.mm(empty, cr.ones((3, 0))).shape == (0, 0)
    assert cr.nonzero(empty).shape == (0, 2) and cr.numel(empty) == 0 and empty.size() == (0, 3)
    assert [t.shape for t in cr.where(empty > 0)] == [(0,), (0,)]
    assert F.one_hot(cr.tensor(np.zeros(0, np.int64)), 3).shape == (0, 3)
    assert empty.new_zeros(0, 2).shape == (0, 2)
    nan = cr.tensor([np.nan, 0.0, np.inf])
    assert cr.nonzero(nan).tolist() == [[0], [2]]          # NaN and inf are nonzero, as NumPy
    filled = nan.masked_fill(nan == 0, np.nan).numpy()
    assert np.isnan(filled[:2]).all() and filled[2] == np.inf
    assert nan.eq(nan).tolist() == [False, True, True]      # NaN != NaN
    weighted = F.cross_entropy(_LOGITS, _LABELS, weight=cr.tensor([np.nan, 1.0, 1.0]))
    assert np.isnan(weighted.item())                         # as torch: NaN weight, NaN loss


def test_zero_grad_set_to_none_false_in_a_second_thread_zeroes_only_what_exists() -> None:
    net = nn.Linear(2, 2)
    net(cr.ones((1, 2))).sum().backward()
    optimizer = SGD(net.parameters(), lr=0.1)
    worker = threading.Thread(target=lambda: optimizer.zero_grad(set_to_none=False))
    worker.start()
    worker.join()
    assert net.weight.grad.tolist() == [[0.0, 0.0], [0.0, 0.0]]
    fresh = nn.Linear(2, 2)
    fresh.zero_grad(set_to_none=False)
    assert fresh.weight.grad is None


# ---------------------------------------------------------------- cross_entropy's primitive
def test_cross_entropy_empty_batch_is_nan_with_an_empty_gradient_as_torch():
    o = cr.tensor(np.zeros((0, 3), dtype=np.float32), requires_grad=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        loss = cr.cross_entropy(o, np.zeros(0, dtype=np.int64))
        loss.backward()
    assert np.isnan(loss.item()) and o.grad.shape == (0, 3)


def test_cross_entropy_nan_logit_poisons_its_row_only_as_torch():
    a = np.array([[np.nan, 1, 2], [0, 1, 2]], dtype=np.float32)
    o = cr.tensor(a, requires_grad=True)
    loss = cr.cross_entropy(o, np.array([0, 2]))
    loss.backward()
    g = o.grad.numpy()
    assert np.isnan(loss.item()) and np.isnan(g[0]).all() and np.isfinite(g[1]).all()


@pytest.mark.parametrize("labels", [np.array([0, -1]), np.array([0, 3])])
def test_cross_entropy_primitive_refuses_labels_out_of_range(labels):
    from chainrule.ops import loss
    with pytest.raises(cr.ShapeError, match="cross_entropy"):
        loss.cross_entropy(cr.tensor(np.ones((2, 3)), requires_grad=True), labels)


def test_cross_entropy_labels_changed_between_two_calls_are_read_again():
    o = cr.tensor(np.array([[0.0, 1.0, 2.0]]), requires_grad=True)
    labels = np.array([0])
    first = cr.cross_entropy(o, labels).item()
    labels[0] = 2                      # the same array, another value
    second = cr.cross_entropy(o, labels).item()
    logp = np.log(np.exp([0.0, 1.0, 2.0]) / np.exp([0.0, 1.0, 2.0]).sum())
    np.testing.assert_allclose([first, second], [-logp[0], -logp[2]], rtol=1e-12)


def test_in_place_update_by_a_float_into_an_int_tensor_is_refused_as_torch():
    t = cr.tensor(np.arange(3))
    with cr.no_grad(), pytest.raises(cr.DTypeError):
        t -= 0.5


# ---------------------------------------------------------------- x * x and the lean x.T
def test_a_tensor_times_itself_on_edge_values_is_the_products_value_and_gradient():
    a = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1e30, -3.5], dtype=np.float32)
    got, want = [], []
    for product, out in ((lambda t: t * t, got), (lambda t: cr.mul(t, t), want)):
        t = cr.tensor(a, requires_grad=True)
        with np.errstate(over="ignore", invalid="ignore"):
            y = product(t)
            y.sum().backward()
        out += [y.numpy(), t.grad.numpy()]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)         # NaN where NaN, inf, +0.0 for -0.0
        assert np.array_equal(np.signbit(g), np.signbit(w))
    empty = cr.tensor(np.zeros((0, 3)), requires_grad=True)
    (empty * empty).sum().backward()
    assert empty.grad.shape == (0, 3) and (empty.T @ empty).shape == (3, 3)


def test_transpose_in_a_thread_under_no_grad_records_nothing_there_only():
    w = cr.tensor(np.ones((2, 3)), requires_grad=True)
    seen = {}

    def other():
        with cr.no_grad():
            seen["node"] = w.T._node
    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert seen["node"] is None and w.T._node is not None


@pytest.mark.parametrize("data", [np.arange(6).reshape(2, 3), np.array([[True], [False]]),
                                  np.array([[np.nan, np.inf]]), np.zeros((0, 4)),
                                  np.zeros((3, 0), np.float32)],
                         ids=["int", "bool", "nan-inf", "no-rows", "no-columns"])
def test_the_transpose_of_any_matrix_is_numpys_view(data):
    t = cr.tensor(data)
    got = t.T
    assert got.dtype == data.dtype and got.shape == data.T.shape
    np.testing.assert_array_equal(got.numpy(), data.T)
    assert np.shares_memory(got.numpy(), t.numpy()) or data.size == 0
    if data.dtype.kind == "f":
        w = cr.tensor(data, requires_grad=True)
        w.T.sum().backward()                            # NaN and inf pass a ones gradient
        np.testing.assert_array_equal(w.grad.numpy(), np.ones_like(data))


def test_an_integer_tensor_times_itself_stays_a_product_and_complex_never_gets_there():
    data = np.array([7, -2, 100], np.int8)              # 100 * 100 wraps round, as in NumPy
    x = cr.tensor(data)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal((x * x).numpy(), data * data)
    assert (x * x).dtype == np.int8 and (x * x).grad_fn is None
    with pytest.raises(DTypeError, match="complex128"):
        cr.tensor(np.array([1 + 2j]))                   # refused at creation, as before
