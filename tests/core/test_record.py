"""The record of one call: :func:`chainrule.core.saves.record`, and the lean ``x.T``.

``x.T`` of a matrix builds the ``transpose`` operator's node without the general call
(:func:`chainrule.core.op.matrix_transpose`); these tests hold it to the record the general
call makes, in every mode, so the two cannot drift apart.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.core.op import OPS
from chainrule.ops.reduce import _one_value_view


def _matrix(requires_grad=True, seed=0):
    rng = np.random.default_rng(seed)
    return cr.tensor(rng.standard_normal((3, 4)), requires_grad=requires_grad)


def test_lean_transpose_records_what_the_general_call_records():
    W = _matrix()
    lean, general = W.T, OPS["transpose"](W, axes=None)
    a, b = lean._node, general._node
    assert a is not None and b is not None
    assert (a.op, a.params, a.saved, a.versions, a.shape, a.dtype) == \
        (b.op, b.params, b.saved, b.versions, b.shape, b.dtype)
    assert a.edges == b.edges == (W,)
    assert lean._base is general._base is W
    assert lean._rg and np.shares_memory(lean._data, W._data)
    np.testing.assert_array_equal(lean.numpy(), general.numpy())

    x = cr.tensor(np.arange(8.0).reshape(2, 4))
    for T in (lambda: W.T, lambda: OPS["transpose"](W, axes=None)):
        W.grad = None
        (x @ T()).sum().backward()
        np.testing.assert_array_equal(W.grad.numpy(), np.tile(x.numpy().sum(0), (3, 1)))


def test_lean_transpose_of_a_node_a_view_and_a_constant():
    W = _matrix()
    y = W * 2.0
    assert y.T._node.edges == (y._node,)
    view = W[:, :2]
    assert view.T._base is W                    # a view of a view: the one memory's counter
    assert _matrix(requires_grad=False).T._node is None
    with cr.no_grad():
        t = W.T
        assert t._node is None and not t.requires_grad and t._base is W
        before = W._version
        t += 1.0                                # the transpose shares W's memory and counter
    assert W._version == before + 1
    np.testing.assert_array_equal(W.numpy().T, t.numpy())


def test_a_changed_transpose_is_caught_in_backward():
    W = _matrix()
    h = W.T * W.T                               # saves W.T for its own backward
    with cr.no_grad():
        W.add_(1.0)
    with pytest.raises(cr.GraphError, match="changed in place"):
        h.sum().backward()


def test_transpose_takes_the_general_call_in_special_modes():
    W = _matrix()
    with cr.detect_anomaly():
        assert W.T._node.trace is not None      # only the general call keeps a trace
    V = np.ones((3, 4))
    out, tangent = cr.jvp(lambda w: (w.T * w.T).sum(), (W,), (V,))
    np.testing.assert_allclose(tangent.numpy(), 2 * (W.numpy() * V).sum())
    v = cr.tensor(np.arange(3.0), requires_grad=True)
    assert v.T._node.op is OPS["transpose"]     # a vector: the general call (axes reversed)


def test_nodes_share_one_shape_tuple_also_for_a_0d_result():
    W = _matrix()
    a, b = (W * W).sum(), (W + W).sum()
    assert a._node.shape == () and a._node.shape is b._node.shape
    assert W.T._node.shape is (W * 1.0).T._node.shape


def test_a_totals_gradient_is_read_only_from_birth():
    view = _one_value_view(np.float32(2.5), (3, 4))
    assert view.dtype == np.float32 and view.strides == (0, 0)
    assert not view.flags.writeable
    np.testing.assert_array_equal(view, np.full((3, 4), 2.5, np.float32))
    with pytest.raises(ValueError):
        view[0, 0] = 1.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_tensor_times_itself_is_recorded_as_its_square(dtype):
    rng = np.random.default_rng(1)
    data = rng.standard_normal((5, 7)).astype(dtype)
    g = cr.tensor(rng.standard_normal((5, 7)).astype(dtype))
    w = cr.tensor(data, requires_grad=True)
    y = w * w
    assert y.grad_fn.op is OPS["power"] and y.dtype == dtype
    np.testing.assert_array_equal(y.numpy(), data * data)        # the same bits
    alone, mixed, summed = [], [], []
    for product in (lambda t: t * t, lambda t: cr.mul(t, t)):   # the square, the product
        t = cr.tensor(data, requires_grad=True)
        (product(t) * g).sum().backward()
        alone.append(t.grad.numpy().copy())
        t.grad = None
        ((product(t) * g).sum() + 0.5 * (t @ t.T).sum()).backward()
        mixed.append(t.grad.numpy().copy())
        (product(t) * 3.0).sum().backward()     # into a .grad that holds a value already
        summed.append(t.grad.numpy())
    np.testing.assert_array_equal(alone[0], alone[1])         # 2 g x = g x + g x exactly
    # with other contributions, (G + gx) + gx against G + 2gx: equal up to the sum's order
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(mixed[0], mixed[1], rtol=8 * eps, atol=8 * eps)
    np.testing.assert_allclose(summed[0], summed[1], rtol=8 * eps, atol=8 * eps)
    v = np.ones((5, 7), dtype)
    hv = [cr.hvp(lambda t: (f(t) * f(t)).sum(), data, v)[1].numpy()
          for f in (lambda t: t * t, lambda t: cr.mul(t, t))]
    np.testing.assert_allclose(hv[0], hv[1], rtol=8 * np.finfo(dtype).eps)


def test_only_a_float_tensor_times_itself_becomes_a_square():
    for data in (np.arange(4), np.array([True, False])):
        x = cr.tensor(data)
        assert (x * x).dtype == (data * data).dtype
        np.testing.assert_array_equal((x * x).numpy(), data * data)
    w = cr.tensor(np.ones(3), requires_grad=True)
    assert (w * w.detach()).grad_fn.op is OPS["mul"]            # two tensors: a product
    assert (w * cr.tensor(np.ones(3))).grad_fn.op is OPS["mul"]
