"""grad, vjp, jvp, hvp and hessian: the API, its errors, and modes composed in every order."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

rng = np.random.default_rng(0)


def _chapter_J(W1, x, W2, y, lam=1e-3):
    o = cr.relu(x @ W1.T) @ W2.T
    return cr.cross_entropy(o, y) + lam / 2 * ((W1 ** 2).sum() + (W2 ** 2).sum())


def test_grad_of_non_scalar_needs_grad_outputs():
    x = cr.tensor(np.ones((3, 4)), requires_grad=True)
    y = x * 2.0
    with pytest.raises(cr.GraphError, match=r"non-scalar output of shape \(3, 4\)"):
        cr.grad(y, [x])
    with pytest.raises(cr.GraphError, match=r"non-scalar output of shape \(3, 4\)"):
        y.backward()
    g, = cr.grad(y, [x], grad_outputs=np.full((3, 4), 0.5))
    np.testing.assert_array_equal(g.numpy(), np.ones((3, 4)))
    with pytest.raises(cr.ShapeError, match=r"\(4,\)"):
        cr.grad(y, [x], grad_outputs=np.ones(4))


def test_grad_of_unused_input():
    x = cr.tensor(np.ones(3), requires_grad=True)
    unused = cr.tensor(np.ones(2), requires_grad=True)
    y = (x * x).sum()
    with pytest.raises(cr.GraphError, match="allow_unused=True"):
        cr.grad(y, [x, unused], retain_graph=True)
    gx, gu = cr.grad(y, [x, unused], allow_unused=True)
    assert gu is None and gx.shape == (3,)


def test_integer_tensors_are_not_differentiable():
    with pytest.raises(cr.DTypeError, match="int64"):
        cr.tensor([1, 2, 3], requires_grad=True)
    i = cr.tensor([1, 2, 3])
    with pytest.raises(cr.DTypeError, match="int64"):
        i.requires_grad = True
    x = cr.tensor(np.ones(3), requires_grad=True)
    y = (x * i).sum()
    with pytest.raises(cr.DTypeError, match="int64"):
        cr.grad(y, [i])


def test_backward_on_tensor_without_grad():
    with pytest.raises(cr.GraphError, match="does not require grad"):
        cr.tensor(1.0).backward()
    with pytest.raises(cr.GraphError, match="no output requires grad"):
        cr.grad(cr.tensor(1.0), [cr.tensor(1.0, requires_grad=True)])


def test_grad_does_not_touch_dot_grad_and_backward_accumulates():
    x = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    cr.grad((x * x).sum(), [x])
    assert x.grad is None
    (x * x).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 8.0])


def test_vjp_and_jvp_are_dual():
    A = rng.standard_normal((3, 4))
    x, v, u = rng.standard_normal(4), rng.standard_normal(4), rng.standard_normal(3)

    def f(t):
        return cr.tanh(cr.tensor(A) @ t)

    out, back = cr.vjp(f, x)
    (jtu,) = back(u)
    y, jv = cr.jvp(f, (x,), (v,))
    np.testing.assert_allclose(y.numpy(), out.numpy())
    np.testing.assert_allclose(np.dot(u, jv.numpy()), np.dot(jtu.numpy(), v), rtol=1e-12)


def test_jvp_with_several_outputs_and_a_constant_output():
    def f(a, b):
        return a * b, cr.tensor(np.ones(2))

    outs, tangents = cr.jvp(f, (np.array([1.0, 2.0]), np.array([3.0, 4.0])),
                            (np.array([1.0, 0.0]), np.array([0.0, 1.0])))
    np.testing.assert_array_equal(tangents[0].numpy(), [3.0, 2.0])
    np.testing.assert_array_equal(tangents[1].numpy(), [0.0, 0.0])


def test_jvp_tangent_shape_must_match():
    with pytest.raises(cr.ShapeError, match=r"\(3,\)"):
        cr.jvp(cr.sin, (np.ones(2),), (np.ones(3),))


def test_forward_over_forward_second_derivative():
    x0 = 0.4

    def first(x):
        return cr.jvp(cr.sin, (x,), (np.float64(1.0),))[1]

    _, second = cr.jvp(first, (np.float64(x0),), (np.float64(1.0),))
    np.testing.assert_allclose(second.item(), -np.sin(x0), rtol=1e-12)


def test_reverse_over_forward():
    x = cr.tensor(np.array([0.3, -0.8]), requires_grad=True)
    _, t = cr.jvp(lambda a: cr.exp(a) * a, (x,), (np.ones(2),))
    g, = cr.grad(t.sum(), [x])        # d/dx of (e^x (1 + x)) = e^x (2 + x)
    np.testing.assert_allclose(g.numpy(), np.exp(x.numpy()) * (2 + x.numpy()), rtol=1e-12)


def test_hvp_two_ways_agree_with_the_hessian_on_the_chapter_network():
    n, d, hidden, q = 8, 6, 5, 3
    x = cr.tensor(rng.random((n, d)))
    W2 = cr.tensor(rng.standard_normal((q, hidden)))
    y = rng.integers(0, q, n)
    W1 = rng.standard_normal((hidden, d))
    V = rng.standard_normal((hidden, d))

    def J(w1):
        return _chapter_J(w1, x, W2, y)

    value, hv_fr = cr.hvp(J, W1, V)
    _, hv_rr = cr.hvp(J, W1, V, mode="rev-rev")
    H = cr.hessian(J, W1).numpy().reshape(W1.size, W1.size)
    assert hv_fr.shape == W1.shape and value.size == 1
    np.testing.assert_allclose(hv_fr.numpy(), hv_rr.numpy(), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(hv_fr.numpy().ravel(), H @ V.ravel(), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(H, H.T, atol=1e-12)


def test_hessian_of_a_quadratic_is_its_matrix():
    A = rng.standard_normal((4, 4))
    A = A + A.T
    H = cr.hessian(lambda x: 0.5 * (x * (cr.tensor(A) @ x)).sum(), rng.standard_normal(4))
    np.testing.assert_allclose(H.numpy(), A, atol=1e-12)


def test_hvp_of_several_primals_is_shaped_like_them():
    def f(a, b):
        return (a * a * b).sum()

    a, b = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    _, (ha, hb) = cr.hvp(f, (a, b), (np.ones(2), np.zeros(2)))
    np.testing.assert_allclose(ha.numpy(), 2 * b)      # d2f/da2 . 1
    np.testing.assert_allclose(hb.numpy(), 2 * a)      # d2f/dbda . 1


def test_hvp_needs_a_scalar_function():
    with pytest.raises(cr.GraphError, match="one-element"):
        cr.hvp(lambda a: a * 2.0, np.ones(3), np.ones(3))


def test_third_derivative_by_repeated_grad():
    x = cr.tensor(0.7, requires_grad=True, dtype=np.float64)
    y = cr.sin(x) * x
    g1, = cr.grad(y, [x], create_graph=True)
    g2, = cr.grad(g1, [x], create_graph=True)
    g3, = cr.grad(g2, [x])
    v = 0.7                                            # (x sin x)''' = -3 sin x - x cos x
    np.testing.assert_allclose(g3.item(), -3 * np.sin(v) - v * np.cos(v), rtol=1e-12)
