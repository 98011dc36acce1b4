"""Hypothesis over broadcastable shapes: explicit broadcasting gives exact gradient shapes."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import chainrule as cr
from chainrule.testing import gradcheck, gradgradcheck

BINARY = {
    "add": cr.add, "sub": cr.sub, "mul": cr.mul,
    "div": lambda a, b: cr.div(a, b * b + 0.5),
    "maximum": cr.maximum, "power": lambda a, b: cr.power(a * a + 0.5, b),
}


@settings(max_examples=40, deadline=None)
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
       name=st.sampled_from(sorted(BINARY)), seed=st.integers(0, 2**16))
def test_binary_broadcasting_gradients(shapes, name, seed):
    rng = np.random.default_rng(seed)
    a, b = (rng.uniform(-1.5, 1.5, s) for s in shapes.input_shapes)
    assert gradcheck(BINARY[name], [a, b])


@settings(max_examples=15, deadline=None)
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
       seed=st.integers(0, 2**16))
def test_binary_broadcasting_second_order(shapes, seed):
    rng = np.random.default_rng(seed)
    a, b = (rng.uniform(-1.5, 1.5, s) for s in shapes.input_shapes)
    assert gradgradcheck(lambda x, y: cr.tanh(x) * y * y, [a, b])


@settings(max_examples=40, deadline=None)
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=4))
def test_gradient_of_scalar_has_the_input_shape(shapes):
    # exercise 1: the gradient of a scalar with respect to an n x m input is n x m
    a = cr.tensor(np.ones(shapes.input_shapes[0]), requires_grad=True)
    b = cr.tensor(np.full(shapes.input_shapes[1], 2.0), requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.shape == a.shape and b.grad.shape == b.shape
    broadcast = np.broadcast_shapes(a.shape, b.shape)
    np.testing.assert_allclose(a.grad.data.sum(), 2.0 * np.prod(broadcast))
