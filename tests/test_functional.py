"""Composites and public wrappers: derivatives of every order come from their primitives."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.testing import gradcheck, gradgradcheck

rng = np.random.default_rng(0)
A34, B34, V4 = rng.uniform(-2, 2, (3, 4)), rng.uniform(-2, 2, (3, 4)), rng.uniform(-2, 2, 4)
LABELS = np.array([2, 0, 3])

# name -> (function, inputs); every float input is a variable of the checks
COMPOSITES = {
    "mean": (lambda x: cr.mean(x, axis=1), [A34]),
    "mean-all": (cr.mean, [A34]),
    "logsumexp": (cr.logsumexp, [A34]),
    "logsumexp-axis0-keepdims": (lambda x: cr.logsumexp(x, axis=0, keepdims=True), [A34]),
    "softmax": (cr.softmax, [A34]),
    "log_softmax": (lambda x: cr.log_softmax(x, axis=0), [A34]),
    "cross_entropy": (lambda o: cr.cross_entropy(o, LABELS), [A34]),
    "mse_loss": (cr.mse_loss, [A34, B34]),
    "tensordot": (lambda a, b: cr.tensordot(a, b, axes=([1], [1])), [A34, B34]),
    "tensordot-int": (lambda a, b: cr.tensordot(a, b, axes=1), [A34, B34.T]),
    "stack": (lambda a, b: cr.stack([a, b], axis=1), [A34, B34]),
    "matmul-vector-right": (cr.matmul, [A34, V4]),
    "matmul-vector-left": (cr.matmul, [V4, B34.T]),
    "matmul-dot": (cr.matmul, [V4, V4 * 0.5]),
    "matmul-batch-broadcast": (cr.matmul, [rng.uniform(-1, 1, (2, 3, 4)), B34.T]),
    "einsum-ellipsis": (lambda a, b: cr.einsum("...ij,...jk->...ik", a, b),
                        [rng.uniform(-1, 1, (2, 3, 4)), rng.uniform(-1, 1, (2, 4, 2))]),
    "einsum-implicit": (lambda a, b: cr.einsum("ij,jk", a, b), [A34, B34.T]),
    "einsum-trace": (lambda a: cr.einsum("ii", a), [A34[:, :3]]),
    "einsum-diagonal": (lambda a: cr.einsum("ii->i", a), [A34[:, :3]]),
    "where": (lambda a, b: cr.where(a > 0, a, b), [A34, B34]),
    "clip": (lambda a: cr.clip(a, -1.0, 1.0), [np.array([-1.7, -0.3, 0.4, 1.6])]),
    "getitem-mixed": (lambda a: a[1:, [0, 2, 2]], [A34]),
    "getitem-bool": (lambda a: a[np.array([True, False, True])], [A34]),
    "transpose-method": (lambda a: a.transpose(1, 0) * a.T, [A34]),
    "reshape-method": (lambda a: a.reshape(2, 6).sum(axis=0), [A34]),
    "sum_to": (lambda a: cr.sum_to(a, (1, 4)), [A34]),
    "max-method": (lambda a: a.max(axis=0), [A34]),
    "min-keepdims": (lambda a: a.min(axis=1, keepdims=True), [A34]),
    "reflected": (lambda a: 2.0 / (1.5 + a * a) - 3.0 ** (a * 0.1) + (1.0 - a), [A34]),
    "numpy-left": (lambda a: np.ones(4) * a + np.full((3, 3), 2.0) @ a, [A34]),
}


@pytest.mark.parametrize("name", sorted(COMPOSITES))
def test_composite_first_order(name):
    f, inputs = COMPOSITES[name]
    assert gradcheck(f, inputs)


@pytest.mark.parametrize("name", sorted(COMPOSITES))
def test_composite_second_order(name):
    f, inputs = COMPOSITES[name]
    assert gradgradcheck(f, inputs)


def test_float32_round_trip_gradient_dtype_and_value():
    # a float32 cast cannot be checked by float64 differences; its rule is checked exactly
    x = cr.tensor(A34, requires_grad=True)
    x.astype(np.float32).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((3, 4)))


def test_cross_entropy_is_stable_for_huge_logits():
    logits = cr.tensor(np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]]), requires_grad=True)
    loss = cr.cross_entropy(logits, np.array([0, 1]))
    loss.backward()
    assert np.isfinite(loss.item()) and np.isfinite(logits.grad.numpy()).all()
    np.testing.assert_allclose(loss.item(), np.log(2) / 2, rtol=1e-12)
    np.testing.assert_allclose(logits.grad.numpy(),
                               [[0, 0, 0], [0, -0.25, 0.25]], atol=1e-12)
    f32 = cr.tensor(np.array([[1e4, -1e4]], dtype=np.float32), requires_grad=True)
    out = cr.cross_entropy(f32, np.array([1]))
    out.backward()
    assert out.dtype == np.float32 and out.item() == pytest.approx(2e4)


def test_softmax_rows_sum_to_one_for_huge_logits():
    p = cr.softmax(cr.tensor(np.array([[1e4, 1e4 - 1.0, -1e4]])))
    np.testing.assert_allclose(p.numpy().sum(), 1.0)
    assert np.isfinite(p.numpy()).all()


def test_cross_entropy_accepts_integer_tensor_labels():
    o = cr.tensor(A34, requires_grad=True)
    a = cr.cross_entropy(o, cr.tensor(LABELS)).item()
    assert a == cr.cross_entropy(o, LABELS).item()


@pytest.mark.parametrize("labels, error, match", [
    (np.array([0.0, 1.0, 2.0]), cr.DTypeError, "labels.dtype=float64"),
    (np.array([0, 1]), cr.ShapeError, "labels.shape=(2,)"),
    (np.array([0, 1, 4]), cr.ShapeError, "4 classes"),
])
def test_cross_entropy_bad_labels(labels, error, match):
    with pytest.raises(error, match=match.replace("(", r"\(").replace(")", r"\)")):
        cr.cross_entropy(cr.tensor(A34), labels)


def test_cross_entropy_needs_a_batch_axis():
    with pytest.raises(cr.ShapeError, match=r"logits\[None\]"):
        cr.cross_entropy(cr.tensor(V4), np.array([1]))


def test_mse_loss_refuses_silent_broadcast():
    with pytest.raises(cr.ShapeError, match=r"pred.shape=\(3, 4\) and target.shape=\(4,\)"):
        cr.mse_loss(cr.tensor(A34), cr.tensor(V4))


@pytest.mark.parametrize("call, match", [
    (lambda: cr.matmul(cr.tensor(np.ones((3, 4))), cr.tensor(np.ones((5, 2)))),
     r"matmul: a.shape=\(3, 4\) and b.shape=\(5, 2\) do not align \(4 != 5\)"),
    (lambda: cr.tensor(np.ones((3, 4))) @ cr.tensor(np.ones((3, 4))),
     r"did you mean b.T\?"),
    (lambda: cr.sum(cr.tensor(np.ones((3, 4))), axis=2), r"axis 2 is out of range"),
    (lambda: cr.transpose(cr.tensor(np.ones((3, 4))), (0, 2)), r"not a permutation"),
    (lambda: cr.einsum("ij,jk->ik", cr.tensor(np.ones((3, 4))), cr.tensor(np.ones((5, 2)))),
     r"einsum"),
    (lambda: cr.einsum("ijk", cr.tensor(np.ones((3, 4)))), r"do not match an operand"),
    (lambda: cr.stack([cr.tensor(np.ones(3)), cr.tensor(np.ones(4))]), r"must all be equal"),
    (lambda: cr.concatenate([cr.tensor(np.ones((2, 3))), cr.tensor(np.ones((2, 4)))]),
     r"concatenate"),
    (lambda: cr.tensor(np.ones((3, 4))) + cr.tensor(np.ones(5)), r"add: x.shape=\(3, 4\)"),
    (lambda: cr.tensor(np.ones((3, 4)))[5], r"getitem"),
    (lambda: cr.tensor(np.ones(3))[np.array([0.5])], r"integer or bool"),
    (lambda: cr.where(np.ones(3), cr.tensor(np.ones(3)), 0.0), r"condition must be bool"),
    (lambda: cr.tensordot(cr.tensor(np.ones((3, 4))), cr.tensor(np.ones(4)), axes=([2], [0])),
     r"tensordot"),
])
def test_public_function_errors_are_typed_and_name_shapes(call, match):
    with pytest.raises(cr.ChainruleError, match=match):
        call()


@pytest.mark.parametrize("logits", [A34, rng.uniform(-20, 20, (5, 7))])
def test_fused_cross_entropy_equals_the_composite_to_second_order(logits):
    labels = np.arange(logits.shape[0]) % logits.shape[1]
    fused, composite = (lambda o: cr.cross_entropy(o, labels)), (
        lambda o: cr.functional.cross_entropy_composite(o, labels))
    np.testing.assert_allclose(fused(cr.tensor(logits)).item(),
                               composite(cr.tensor(logits)).item(), rtol=1e-13)
    x = cr.tensor(logits, requires_grad=True)
    v = rng.standard_normal(logits.shape)
    for f in (fused, composite):
        assert gradgradcheck(f, [logits])
    _, hv_fused = cr.hvp(fused, logits, v)
    _, hv_composite = cr.hvp(composite, logits, v)
    np.testing.assert_allclose(hv_fused.numpy(), hv_composite.numpy(), rtol=1e-10, atol=1e-14)
    g1, = cr.grad(fused(x), [x])
    g2, = cr.grad(composite(x), [x])
    np.testing.assert_allclose(g1.numpy(), g2.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_fused_softmax_equals_the_composite_to_second_order(axis):
    x = cr.tensor(A34, requires_grad=True)
    np.testing.assert_allclose(cr.softmax(x, axis).numpy(),
                               cr.functional.softmax_composite(x, axis).numpy(), rtol=1e-13)
    u = rng.standard_normal(A34.shape)
    v = rng.standard_normal(A34.shape)
    hvs = [cr.hvp(lambda t: (f(t, axis) * cr.tensor(u)).sum(), A34, v)[1].numpy()
           for f in (cr.softmax, cr.functional.softmax_composite)]
    np.testing.assert_allclose(hvs[0], hvs[1], rtol=1e-10, atol=1e-14)


def test_cross_entropy_node_takes_the_labels_as_an_input():
    y = cr.tensor(LABELS, name="y")
    loss = cr.cross_entropy(cr.tensor(A34, requires_grad=True), y)
    assert loss.grad_fn.op.name == "cross_entropy"
    assert [c().name for _, c in loss.grad_fn.consts] == ["y"]


def test_an_empty_list_index_selects_nothing_as_in_numpy():
    x = cr.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert x[[]].shape == (0, 3)
    assert x[:, []].shape == (2, 0)
    x[[]].sum().backward()
    assert x.grad.numpy().tolist() == [[0.0] * 3] * 2
