"""Gradients reaching a ``.grad`` more than once are summed, in place only when no one else
holds that memory (the refcount test PyTorch's AccumulateGrad makes)."""

from __future__ import annotations

import numpy as np

import chainrule as cr


def _W():
    return cr.tensor(np.arange(6.0).reshape(2, 3) / 10, requires_grad=True, dtype=np.float64)


def test_a_parameter_used_twice_gets_the_sum_of_both_uses():
    W = _W()
    x = cr.tensor(np.ones((4, 3)))
    J = (x @ W.T).sum() + (W ** 2).sum() + (W * W).sum()
    J.backward()
    np.testing.assert_allclose(W.grad.numpy(), 4.0 + 4 * W.numpy())


def test_memory_someone_else_holds_is_never_written():
    W = _W()
    (W * 3.0).sum().backward()
    held = W.grad.numpy()                 # the user keeps the first gradient's array
    before = held.copy()
    ((W ** 2).sum() + (W * 2.0).sum()).backward()
    np.testing.assert_array_equal(held, before)
    np.testing.assert_allclose(W.grad.numpy(), 3.0 + 2 * W.numpy() + 2.0)


def test_a_gradient_shared_with_another_input_is_not_written_through():
    A = cr.tensor(np.ones(3), requires_grad=True, dtype=np.float64)
    B = cr.tensor(np.ones(3), requires_grad=True, dtype=np.float64)
    y = A + B                             # add hands one array to both
    z = (y * y).sum() + (A * 5.0).sum() + (A * A).sum()
    z.backward()
    np.testing.assert_allclose(A.grad.numpy(), 2 * 2.0 + 5.0 + 2.0)
    np.testing.assert_allclose(B.grad.numpy(), 2 * 2.0)
