"""What a node keeps for backward: only what the rules of the inputs that need a gradient read.

Generated from the operator table: every operator with two or more floating-point inputs is
checked with one input at a time needing a gradient (the others constant tensors), first and
second order, reverse and forward mode, so a save dropped by mistake fails here.
"""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import chainrule as cr
from chainrule.ops import OPS
from chainrule.core.saves import rule_reads
from chainrule.testing import gradcheck, gradgradcheck


def _is_float(a) -> bool:
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def _one_input_cases():
    for op in OPS.values():
        if not op.differentiable:
            continue
        for k, sample in enumerate(op.samples(np.random.default_rng(0))):
            floats = [i for i, a in enumerate(sample.args) if _is_float(a)]
            if len(floats) < 2:
                continue
            for i in floats:
                yield pytest.param(op, sample, i, id=f"{op.name}-{k}-input{i}")


ONE_INPUT = list(_one_input_cases())


def _alone(op, sample, i):
    """``x -> op(..., x at position i, ...)`` with every other input a constant tensor."""
    fixed = [cr.tensor(a) if _is_float(a) else a for a in sample.args]

    def f(x):
        args = list(fixed)
        args[i] = x
        return op(*args, **sample.params)
    f.__name__ = f"{op.name} in input {i}"
    return f


def test_the_table_has_cases_with_constant_inputs():
    names = {p.values[0].name for p in ONE_INPUT}
    assert {"mul", "matmul", "div", "power", "maximum", "where"} <= names


@pytest.mark.parametrize("op, sample, i", ONE_INPUT)
def test_one_input_needing_a_gradient(op, sample, i):
    f = _alone(op, sample, i)
    x = sample.args[i]
    assert gradcheck(f, [x], modes=("rev", "fwd"))
    assert gradgradcheck(f, [x], modes=("rev", "fwd"))


def test_product_with_a_constant_keeps_the_constant_only():
    x = cr.tensor(np.ones(3), requires_grad=True)
    c = cr.tensor(np.full(3, 2.0))
    y = x * c
    assert y.grad_fn.saved[0] is None and y.grad_fn.saved[1] is c
    both = x * cr.tensor(np.full(3, 2.0), requires_grad=True)
    assert all(v is not None for v in both.grad_fn.saved)


def test_a_chain_of_products_keeps_no_intermediate_alive():
    x = cr.tensor(np.ones(1), requires_grad=True)
    c = cr.tensor(np.array([1.5]))
    y = x * c
    first = weakref.ref(y)
    node = weakref.ref(y.grad_fn)
    for _ in range(5):
        y = y * c
    gc.collect()
    assert first() is None and node() is not None       # the node stays, its output does not
    y.backward()
    assert x.grad.item() == pytest.approx(1.5 ** 6)


def test_power_with_a_constant_exponent_keeps_no_output():
    x = cr.tensor(np.arange(1.0, 4.0), requires_grad=True)
    node = (x ** 2).grad_fn
    assert node.saved[0] is x and node.saved[1] == 2 and node.saved[2] is None
    y = cr.tensor(np.full(3, 2.0), requires_grad=True)
    assert (x ** y).grad_fn.saved[2] is not None               # d/dy reads x ** y


def test_rule_reads_sees_names_layout_and_closures():
    mul = OPS["mul"]
    assert rule_reads(mul.vjp[0], 2) == {1} and rule_reads(mul.vjp[1], 2) == {0}
    grad_b = OPS["matmul"].vjp[1]
    assert rule_reads(grad_b, 2) == {0, 1}                   # asks b's layout
    assert rule_reads(grad_b, 2, layout=False) == {0}        # ... which reads no value of b

    def captured(g, a, b):
        return (lambda: g * b)()
    assert rule_reads(captured, 2) == {1}
    assert rule_reads(lambda g, *saved: g, 2) is None


def test_a_save_dropped_by_mistake_fails_loudly(monkeypatch):
    """Negative control: if the engine dropped a value a rule reads, backward must fail, not
    give a wrong gradient."""
    mul = OPS["mul"]
    monkeypatch.setattr(mul, "_reads", (frozenset(), frozenset()))
    monkeypatch.setattr(mul, "_drops", {})
    x = cr.tensor(np.ones(3), requires_grad=True)
    y = x * cr.tensor(np.full(3, 2.0))
    assert y.grad_fn.saved == (None, None)
    with pytest.raises(cr.GraphError, match=r"vjp of 'mul' failed for its input 0.*saved: -, -"):
        y.sum().backward()
    with pytest.raises(cr.ChainruleError):
        gradcheck(lambda t: t * cr.tensor(np.full(3, 2.0)), [np.ones(3)], modes=("rev",))


def test_nodes_share_what_they_know_of_a_constant_and_forget_it_with_it():
    from chainrule.core import saves

    x = cr.tensor(np.ones(2), requires_grad=True)
    c = cr.tensor(np.full(2, 3.0), name="c")
    a, b = x + c, (x * 2.0) + c                                 # add saves nothing
    assert a.grad_fn.consts is b.grad_fn.consts                 # one tuple, not one per node
    assert a.grad_fn.consts[0][0] == 1 and a.grad_fn.consts[0][1]() is c
    assert (c + x).grad_fn.consts[0][0] == 0                    # by position too
    key = id(c)
    assert key in saves._CONSTS
    del c
    gc.collect()
    assert key not in saves._CONSTS and a.grad_fn.consts[0][1]() is None


def test_nodes_share_their_output_shapes():
    x = cr.tensor(np.ones((3, 4)), requires_grad=True)
    y = x * 2.0
    z = y + 1.0
    assert y.grad_fn.shape == (3, 4) and y.grad_fn.shape is z.grad_fn.shape


def test_forward_mode_reuses_the_residuals_its_node_computed(monkeypatch):
    relu = OPS["relu"]
    calls = []
    rule = relu.residuals
    monkeypatch.setattr(relu, "residuals", lambda *a, **k: calls.append(1) or rule(*a, **k))
    x = cr.tensor(np.array([-1.0, 2.0, 3.0]), requires_grad=True)
    c = np.array([1.0, -1.0, 1.0])
    # x requires grad, so relu's node is recorded while it also carries t's tangent
    value, tangent = cr.jvp(lambda t: cr.relu(t * x * c).sum(), [x], [np.ones(3)])
    assert len(calls) == 1                          # one mask, for the node and the tangent
    assert tangent.item() == pytest.approx(-1.0 + 3.0)     # x * c > 0 at 0 and 2: x there
    g, = cr.grad(value, [x])
    assert g.tolist() == [-2.0, 0.0, 6.0]        # t is x here: d/dx relu(x x c) = 2 x c, or 0
