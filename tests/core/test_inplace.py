"""``x += y`` and friends change the tensor in place, as in PyTorch (issue 14, item 1)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ChainruleError, DTypeError, GraphError, ReplayError, ShapeError


def test_the_books_scratch_sgd_moves_the_weights():
    """d2l's linear regression from scratch: `p -= lr * p.grad` in a loop over params."""
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    b = cr.tensor(0.5, requires_grad=True)
    params = [w, b]
    x = cr.tensor([[1.0, 1.0], [2.0, 0.0]])
    loss = ((x @ w + b) ** 2).sum()
    loss.backward()
    before = [p.numpy().copy() for p in params]
    with cr.no_grad():
        for p in params:
            p -= 0.1 * p.grad
            p.grad.zero_()
    for p, old in zip(params, before):
        assert not np.allclose(p.numpy(), old)
    assert w is params[0] and w.requires_grad and w.is_leaf
    np.testing.assert_allclose(w.numpy(), [1.0 - 0.1 * 2 * (3.5 + 2 * 2.5),
                                           2.0 - 0.1 * 2 * 3.5])


@pytest.mark.parametrize("symbol, fn", [
    ("+=", lambda a, b: a.__iadd__(b)), ("-=", lambda a, b: a.__isub__(b)),
    ("*=", lambda a, b: a.__imul__(b)), ("/=", lambda a, b: a.__itruediv__(b)),
    ("**=", lambda a, b: a.__ipow__(b)),
])
@pytest.mark.parametrize("other", [2.0, np.array([1.5, 3.0]), "tensor"])
def test_each_operator_writes_in_place_and_equals_numpy(symbol, fn, other):
    a = cr.tensor([1.0, 2.0], dtype=np.float64)
    alias = a
    view = a[0:1]
    y = cr.tensor([1.5, 3.0], dtype=np.float64) if isinstance(other, str) else other
    expected = {"+=": np.add, "-=": np.subtract, "*=": np.multiply, "/=": np.divide,
                "**=": np.power}[symbol](np.array([1.0, 2.0]), np.asarray(getattr(y, "_data", y)))
    out = fn(a, y)
    assert out is a is alias
    np.testing.assert_array_equal(a.numpy(), expected)
    assert view.numpy()[0] == expected[0]          # a view sees the change
    assert a.version == 1


def test_a_saved_tensor_changed_with_iadd_is_caught_in_backward():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    c = cr.tensor([3.0, 4.0])
    y = (w * c).sum()
    c += 1.0
    with pytest.raises(GraphError, match="changed in place"):
        y.backward()


def test_a_leaf_that_requires_grad_is_refused_while_recording():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(GraphError, match="no_grad"):
        w += 1.0
    assert w.numpy().tolist() == [1.0, 2.0]        # nothing was written


def test_a_non_leaf_is_recorded_and_differentiates_as_pytorch():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    h = w * 3.0
    h += w * w                                     # h = 3w + w^2
    h *= 2.0                                       # h = 6w + 2w^2
    h.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), 6.0 + 4.0 * np.array([1.0, 2.0]))


def test_accumulating_a_loss_into_a_constant_records_it():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    total = cr.tensor(0.0)
    for k in range(3):
        total += (w * k).sum()
    assert total.requires_grad
    total.backward()
    np.testing.assert_allclose(w.grad.numpy(), [3.0, 3.0])


def test_a_node_that_saved_its_output_refuses_after_an_iadd():
    w = cr.tensor([0.5, 1.0], requires_grad=True)
    y = cr.exp(w)                                  # exp saves its output
    y += 1.0
    with pytest.raises(GraphError, match="changed in place"):
        y.sum().backward()


def test_shape_and_kind_are_kept_or_refused():
    a = cr.tensor([1.0, 2.0])
    with pytest.raises(ShapeError, match=r"x \+= y.*\(2,\).*\(2, 2\)"):
        a += np.ones((2, 2))
    i = cr.tensor([1, 2])
    with pytest.raises(DTypeError, match="float64.*int64|cannot change kind"):
        i += 0.5
    i += 1
    assert i.numpy().tolist() == [2, 3] and i.dtype == np.int64
    assert a.numpy().tolist() == [1.0, 2.0]


def test_imatmul_is_refused_as_in_pytorch():
    a = cr.tensor(np.eye(2))
    with pytest.raises(ChainruleError, match="a = a @ b"):
        a @= cr.tensor(np.eye(2))


def test_in_place_inside_a_trace_is_refused():
    a = cr.tensor([1.0, 2.0])

    def f(x):
        x += 1.0
        return x

    with pytest.raises(ReplayError, match="in-place"):
        cr.trace(f, a)

