"""Negative controls: deliberately wrong rules that the checkers must catch.

A check that cannot fail proves nothing; each test here plants a bug and expects it caught.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.core import backward as backprop
from chainrule.ops import OPS
from chainrule.testing import gradcheck, gradgradcheck

X = np.array([[0.3, -0.7, 1.1], [0.5, 0.9, -1.3]])


def _scaled(rule, factor=1.001):
    return lambda *a, **k: rule(*a, **k) * factor


@pytest.mark.parametrize("name", ["exp", "tanh", "sin", "mul", "matmul", "sum", "getitem"])
def test_vjp_scaled_by_1_001_is_caught(monkeypatch, name):
    op = OPS[name]
    sample = op.samples(np.random.default_rng(0))[0]
    rules = (_scaled(op.vjp[0]),) + tuple(op.vjp[1:])
    monkeypatch.setattr(op, "vjp", rules)
    with pytest.raises(cr.GradientCheckError, match="disagrees"):
        gradcheck(lambda *a: op(*a, **sample.params), sample.args, modes=("rev",))


def test_jvp_scaled_by_1_001_is_caught(monkeypatch):
    op = OPS["sin"]
    monkeypatch.setattr(op, "jvp", lambda t, x: cr.cos(x) * t[0] * 1.001)
    with pytest.raises(cr.GradientCheckError, match="jvp of 'sin'"):
        gradcheck(op, [X], modes=("fwd",))


def test_missing_broadcast_reduction_is_caught(monkeypatch):
    # broadcast_to's VJP must sum the gradient back to the input's shape; skip that
    op = OPS["broadcast_to"]
    monkeypatch.setattr(op, "vjp", (lambda g, xshape, *, shape: g,))
    with pytest.raises(cr.GraphError, match="returned a gradient of shape"):
        gradcheck(lambda a, b: a * b, [np.ones((3, 1)), X[:, :1].T.repeat(3, 0)])


def test_wrong_broadcast_reduction_is_caught(monkeypatch):
    # right shape, wrong values: sums over every axis instead of the broadcast ones
    op = OPS["broadcast_to"]
    monkeypatch.setattr(
        op, "vjp",
        (lambda g, xshape, *, shape: cr.broadcast_to(g.sum(), xshape),))
    with pytest.raises(cr.GradientCheckError):
        gradcheck(lambda a, b: a * b, [np.array([[0.2], [0.4]]), X])


def test_assignment_instead_of_accumulation_on_fan_out_is_caught(monkeypatch):
    def overwrite(current, g):
        return g                             # '=' where '+=' belongs
    monkeypatch.setattr(backprop, "_accumulate", overwrite)
    with pytest.raises(cr.GradientCheckError):
        gradcheck(lambda x: x * x + cr.sin(x), [X], modes=("rev",))


def test_rule_right_at_first_order_but_not_differentiable_is_caught(monkeypatch):
    # tanh's VJP with its saved output detached: first order right, second order wrong
    op = OPS["tanh"]

    def detach(a):
        return a.detach() if isinstance(a, cr.Tensor) else a

    monkeypatch.setattr(op, "vjp", (lambda g, ans: g * (1.0 - detach(ans) * detach(ans)),))
    assert gradcheck(op, [X])
    with pytest.raises(cr.GradientCheckError):
        gradgradcheck(op, [X], modes=("rev",))
    with pytest.raises(cr.GradientCheckError):
        gradgradcheck(op, [X], modes=("fwd",))


def test_wrong_gradient_shape_is_caught():
    def f(x):
        return x.sum()
    # a correct function passes; then a check with a planted wrong-shaped rule fails
    assert gradcheck(f, [X])
    op = OPS["sum"]
    original = op.vjp
    try:
        op.vjp = (lambda g, xshape, *, axis, keepdims: cr.broadcast_to(g, (2,)),)
        with pytest.raises(cr.GraphError):
            gradcheck(f, [X])
    finally:
        op.vjp = original
