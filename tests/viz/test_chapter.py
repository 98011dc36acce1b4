"""The chapter's network: backpropagation equals the chapter's closed forms, to 1e-12.

z = W1 x (+ b1),  h = phi(z),  o = W2 h,  L = l(o, y),  s = lambda/2 (|W1|^2 + |W2|^2),  J = L + s

dJ/do  = softmax(o) - onehot(y)           (divided by the batch size for a mean loss)
dJ/dW2 = dJ/do h^T + lambda W2
dJ/dh  = W2^T dJ/do
dJ/dz  = dJ/dh (.) phi'(z)
dJ/dW1 = dJ/dz x^T + lambda W1
dJ/db1 = dJ/dz                              (exercise 2: the bias is not regularised)
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

LAMBDA = 1e-3


def _softmax(o):
    e = np.exp(o - o.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("bias", [False, True])
def test_one_example_matches_the_chapter(bias):
    rng = np.random.default_rng(0)
    d, hidden, q, label = 784, 256, 10, 3
    x_np = rng.random(d)
    W1_np = rng.standard_normal((hidden, d)) * 0.05
    W2_np = rng.standard_normal((q, hidden)) * 0.05
    b1_np = rng.standard_normal(hidden) * 0.1

    x = cr.tensor(x_np, name="x")
    W1 = cr.tensor(W1_np, requires_grad=True, name="W1")
    W2 = cr.tensor(W2_np, requires_grad=True, name="W2")
    b1 = cr.tensor(b1_np, requires_grad=True, name="b1")
    z = W1 @ x + b1 if bias else W1 @ x
    h = cr.relu(z)
    o = W2 @ h
    L = cr.cross_entropy(o[None], np.array([label]))
    s = LAMBDA / 2 * ((W1 ** 2).sum() + (W2 ** 2).sum())
    J = L + s
    for t in (z, h, o):
        t.retain_grad()
    J.backward()

    z_np = W1_np @ x_np + (b1_np if bias else 0.0)
    h_np = np.maximum(z_np, 0)
    o_np = W2_np @ h_np
    dJ_do = _softmax(o_np) - np.eye(q)[label]
    dJ_dW2 = np.outer(dJ_do, h_np) + LAMBDA * W2_np
    dJ_dh = W2_np.T @ dJ_do
    dJ_dz = dJ_dh * (z_np > 0)
    dJ_dW1 = np.outer(dJ_dz, x_np) + LAMBDA * W1_np

    for got, want in [(o.grad, dJ_do), (W2.grad, dJ_dW2), (h.grad, dJ_dh), (z.grad, dJ_dz),
                      (W1.grad, dJ_dW1)]:
        assert got.shape == want.shape
        np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-12)
    if bias:
        np.testing.assert_allclose(b1.grad.numpy(), dJ_dz, rtol=0, atol=1e-12)
    else:
        assert b1.grad is None


@pytest.mark.parametrize("bias", [False, True])
def test_minibatch_matches_the_chapter(bias):
    rng = np.random.default_rng(1)
    n, d, hidden, q = 32, 784, 256, 10
    X_np = rng.random((n, d))
    y_np = rng.integers(0, q, n)
    W1_np = rng.standard_normal((hidden, d)) * 0.05
    W2_np = rng.standard_normal((q, hidden)) * 0.05
    b1_np = rng.standard_normal(hidden) * 0.1

    X = cr.tensor(X_np)
    W1 = cr.tensor(W1_np, requires_grad=True)
    W2 = cr.tensor(W2_np, requires_grad=True)
    b1 = cr.tensor(b1_np, requires_grad=True)
    Z = X @ W1.T + b1 if bias else X @ W1.T
    H = cr.relu(Z)
    O = H @ W2.T
    J = cr.cross_entropy(O, y_np) + LAMBDA / 2 * ((W1 ** 2).sum() + (W2 ** 2).sum())
    for t in (Z, H, O):
        t.retain_grad()
    J.backward()

    Z_np = X_np @ W1_np.T + (b1_np if bias else 0.0)
    H_np = np.maximum(Z_np, 0)
    O_np = H_np @ W2_np.T
    dO = (_softmax(O_np) - np.eye(q)[y_np]) / n
    dW2 = dO.T @ H_np + LAMBDA * W2_np
    dH = dO @ W2_np
    dZ = dH * (Z_np > 0)
    dW1 = dZ.T @ X_np + LAMBDA * W1_np
    for got, want in [(O.grad, dO), (W2.grad, dW2), (H.grad, dH), (Z.grad, dZ), (W1.grad, dW1)]:
        np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-12)
    if bias:
        np.testing.assert_allclose(b1.grad.numpy(), dZ.sum(axis=0), rtol=0, atol=1e-12)


def test_intermediate_gradients_by_grad_equal_the_retained_ones():
    rng = np.random.default_rng(2)
    x = cr.tensor(rng.random(20))
    W1 = cr.tensor(rng.standard_normal((8, 20)), requires_grad=True)
    W2 = cr.tensor(rng.standard_normal((4, 8)), requires_grad=True)
    z = W1 @ x
    o = W2 @ cr.relu(z)
    J = cr.cross_entropy(o[None], np.array([1])) + LAMBDA / 2 * (W1 ** 2).sum()
    dz, dW1 = cr.grad(J, [z, W1], retain_graph=True)
    z.retain_grad()
    J.backward()
    np.testing.assert_allclose(dz.numpy(), z.grad.numpy(), rtol=0, atol=1e-15)
    np.testing.assert_allclose(dW1.numpy(), W1.grad.numpy(), rtol=0, atol=1e-15)
