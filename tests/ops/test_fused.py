"""Fast paths against the plain composites they replace, to second order.

``sumsq`` (the weight-decay term) against ``sum(x ** 2)``; matmul's rules, which lay a
gradient out as its operand is laid out (``W`` of ``x @ W.T`` gets a row-major gradient),
against the rules written the plain way.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.ops.linalg import column_major
from chainrule.testing import gradcheck, gradgradcheck

rng = np.random.default_rng(7)
X = rng.uniform(-2, 2, (5, 4))
W = rng.uniform(-2, 2, (3, 4))


@pytest.mark.parametrize("x", [X, X.T, rng.uniform(-2, 2, 6), np.array(1.5)])
def test_sumsq_equals_the_composite_to_second_order(x):
    fused, composite = cr.sumsq, (lambda t: (t ** 2).sum())
    np.testing.assert_allclose(fused(cr.tensor(x)).item(), composite(cr.tensor(x)).item(),
                               rtol=1e-14)
    assert gradcheck(fused, [x]) and gradgradcheck(fused, [x])
    v = rng.standard_normal(np.shape(x))
    hv = [cr.hvp(f, x, v)[1].numpy() for f in (fused, composite)]
    np.testing.assert_allclose(hv[0], hv[1], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(hv[0], 2 * v, rtol=1e-12)            # the Hessian is 2 I


def test_sumsq_saves_only_its_input():
    w = cr.tensor(W, requires_grad=True)
    node = cr.sumsq(w).grad_fn
    assert node.op.name == "sumsq" and len(node.saved) == 1 and node.saved[0] is w
    plain = cr.mul(w, w).sum().grad_fn.edges[0]              # mul keeps both factors
    assert len(plain.saved) == 2 and all(v is w for v in plain.saved)
    square = (w * w).sum().grad_fn.edges[0]                 # w * w is w ** 2: w kept once
    assert square.op.name == "power" and [v is w for v in square.saved] == [True, False, False]


def test_sumsq_names_a_non_numeric_input():
    with pytest.raises(cr.DTypeError, match=r"sumsq: x.shape=\(2,\) x.dtype=<U1"):
        cr.sumsq(np.array(["a", "b"]))


def test_column_major_reads_the_layout():
    assert not column_major(W) and column_major(W.T) and column_major(cr.tensor(W).T)
    assert not column_major(np.ones(3)) and not column_major(np.float64(2.0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_gradient_of_w_in_x_w_transpose_is_row_major_and_right(dtype):
    x = cr.tensor(X.astype(dtype), name="x")
    w = cr.tensor(W.astype(dtype), requires_grad=True)
    g = rng.standard_normal((5, 3)).astype(dtype)
    ((x @ w.T) * cr.tensor(g)).sum().backward()
    assert w.grad.numpy().flags.c_contiguous
    np.testing.assert_allclose(w.grad.numpy(), g.T @ X.astype(dtype), rtol=1e-5)


@pytest.mark.parametrize("a, b", [(X, W.T), (X.T.copy().T, W.T), (X.T, rng.uniform(-2, 2, (5, 2))),
                                  (X, rng.uniform(-2, 2, (2, 4)).T)])
def test_matmul_in_every_layout_to_second_order(a, b):
    assert gradcheck(cr.matmul, [a, b]) and gradgradcheck(cr.matmul, [a, b])
    ta, tb = cr.tensor(a, requires_grad=True), cr.tensor(b, requires_grad=True)
    g = rng.standard_normal((a.shape[0], b.shape[1]))
    (cr.matmul(ta, tb) * cr.tensor(g)).sum().backward()
    np.testing.assert_allclose(ta.grad.numpy(), g @ b.T, rtol=1e-12)
    np.testing.assert_allclose(tb.grad.numpy(), a.T @ g, rtol=1e-12)
    assert column_major(ta.grad) == column_major(a) and column_major(tb.grad) == column_major(b)


@pytest.mark.parametrize("labels", [np.array([0, -1, 2, 1, 0]), np.array([0, 1, 3, 1, 0]),
                                    np.array([0, -3, 2, 1, 0])])
def test_cross_entropys_primitive_refuses_a_label_out_of_range_even_a_negative_one(labels):
    """Indexing wraps a negative label round to the last classes; the primitive's own pass
    over the labels (not only cr.cross_entropy's check before it) refuses it."""
    from chainrule.ops import loss
    logits = cr.tensor(rng.uniform(-2, 2, (5, 3)), requires_grad=True)
    with pytest.raises(cr.ShapeError, match="in \\[0, classes\\)"):
        loss.cross_entropy(logits, labels)
    with pytest.raises(cr.ShapeError, match=f"labels lie in \\[{labels.min()}, "):
        cr.cross_entropy(logits, labels)


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.uint64, np.int64])
def test_cross_entropy_takes_every_integer_label_dtype_and_matches_the_composite(dtype):
    logits = rng.uniform(-2, 2, (5, 3))
    labels = np.array([0, 2, 2, 1, 0], dtype=dtype)
    fused = cr.tensor(logits, requires_grad=True)
    composite = cr.tensor(logits, requires_grad=True)
    cr.cross_entropy(fused, labels).backward()
    cr.functional.cross_entropy_composite(composite, labels.astype(np.int64)).backward()
    np.testing.assert_allclose(fused.grad.numpy(), composite.grad.numpy(), rtol=1e-13,
                               atol=1e-15)
