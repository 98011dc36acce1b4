"""The recorded graph: ordering without recursion, fan-out, freeing, cycles, in-place edits."""

from __future__ import annotations

import gc
import sys
import weakref

import numpy as np
import pytest

import chainrule as cr
from chainrule.core.graph import toposort


def test_million_operator_chain_backward():
    x = cr.tensor(np.array(0.5), requires_grad=True)
    c = 1.0 + 1e-7
    y = x
    for _ in range(1_000_000):
        y = y * c
    assert sys.getrecursionlimit() <= 10_000        # nothing raised it
    y.backward()
    np.testing.assert_allclose(x.grad.item(), c ** 1_000_000, rtol=1e-9)
    del y                                            # freeing the chain must not recurse
    gc.collect()


def test_toposort_deep_chain_puts_inputs_first():
    x = cr.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(50_000):
        y = cr.sin(y)
    order = toposort([y.grad_fn])
    assert len(order) == 50_000 and order[-1] is y.grad_fn


def test_toposort_of_a_random_dag_puts_each_node_once_after_its_inputs():
    rng = np.random.default_rng(3)
    leaves = [cr.tensor(rng.standard_normal(2), requires_grad=True) for _ in range(3)]
    made = list(leaves)
    for _ in range(300):
        i, j = rng.integers(0, len(made), size=2)
        made.append(cr.tanh(made[i]) * made[j] if i % 2 else made[i] + made[j])
    roots = [made[-1].grad_fn, made[-7].grad_fn, made[-1].grad_fn]
    order = toposort(roots)
    where = {id(n): k for k, n in enumerate(order)}
    assert len(where) == len(order)                              # each node once
    for node in order:
        for edge in node.edges:
            if isinstance(edge, cr.core.Node):
                assert where[id(edge)] < where[id(node)]
    assert {id(r) for r in roots} <= where.keys()


def test_wide_fan_out_sums_every_path():
    x = cr.tensor(np.array([1.5]), requires_grad=True)
    parts = [x * float(i) for i in range(10_000)]
    cr.concatenate(parts).sum().backward()
    assert x.grad.item() == sum(range(10_000))


def test_diamond_fan_out():
    x = cr.tensor(np.array(0.7), requires_grad=True)
    a = cr.sin(x)
    y = a * a + a
    y.backward()
    np.testing.assert_allclose(x.grad.item(), (2 * np.sin(0.7) + 1) * np.cos(0.7))


def _chapter(n=4, d=6, hidden=5, q=3, seed=0):
    rng = np.random.default_rng(seed)
    x = cr.tensor(rng.standard_normal((n, d)), name="x")
    W1 = cr.tensor(rng.standard_normal((hidden, d)), requires_grad=True, name="W1")
    W2 = cr.tensor(rng.standard_normal((q, hidden)), requires_grad=True, name="W2")
    z = x @ W1.T
    h = cr.relu(z)
    o = h @ W2.T
    L = cr.cross_entropy(o, rng.integers(0, q, n))
    s = 0.5e-2 * ((W1 ** 2).sum() + (W2 ** 2).sum())
    return (W1, W2), [x, z, h, o, L, s, L + s]


@pytest.mark.parametrize("how", ["none", "backward", "retain", "grad", "create_graph"])
def test_no_reference_cycles(how):
    gc.collect()
    gc.disable()
    try:
        (W1, W2), tensors = _chapter()
        J = tensors[-1]
        if how == "backward":
            J.backward()
        elif how == "retain":
            J.backward(retain_graph=True)
        elif how == "grad":
            cr.grad(J, [W1, W2])
        elif how == "create_graph":
            g1, g2 = cr.grad(J, [W1, W2], create_graph=True)
            refs_g = [weakref.ref(g1), weakref.ref(g1.grad_fn)]
            del g1, g2
        nodes = [weakref.ref(t.grad_fn) for t in tensors if t.grad_fn is not None]
        refs = [weakref.ref(t) for t in tensors] + nodes
        del tensors, J
        W1.grad = W2.grad = None
        del W1, W2
        assert all(r() is None for r in refs), "the graph outlived its last reference"
        if how == "create_graph":
            assert all(r() is None for r in refs_g)
    finally:
        gc.enable()


def test_second_backward_through_freed_graph_names_the_fix():
    (W1, _), tensors = _chapter()
    J = tensors[-1]
    J.backward()
    with pytest.raises(cr.GraphError, match="retain_graph=True"):
        J.backward()


def test_retain_graph_allows_a_second_backward_and_accumulates():
    (W1, W2), tensors = _chapter()
    J = tensors[-1]
    J.backward(retain_graph=True)
    first = W1.grad.numpy().copy()
    J.backward()
    np.testing.assert_allclose(W1.grad.numpy(), 2 * first)
    W1.grad = None
    assert W1.grad is None


def test_saved_values_are_freed_after_backward():
    x = cr.tensor(np.ones(3), requires_grad=True)
    y = cr.exp(x)
    node = y.grad_fn
    y.sum().backward()
    assert node.saved is None


def test_in_place_change_of_saved_leaf_is_an_error_naming_the_operator():
    w = cr.tensor(np.ones(3), requires_grad=True)
    y = (w * (w + 1.0)).sum()
    with cr.no_grad():
        w.sub_(0.1)
    with pytest.raises(cr.GraphError, match="'mul' saved input"):
        y.backward()


def test_in_place_change_of_saved_constant_is_an_error():
    w = cr.tensor(np.ones((2, 3)), requires_grad=True)
    c = cr.tensor(np.ones((3, 4)))
    y = (w @ c).sum()
    c[0, 0] = 5.0
    with pytest.raises(cr.GraphError, match="'matmul'"):
        y.backward()


def test_in_place_change_of_saved_output_is_an_error():
    x = cr.tensor(np.ones(3), requires_grad=True)
    y = cr.exp(x)
    s = y.sum()
    with cr.no_grad():
        y.mul_(2.0)
    with pytest.raises(cr.GraphError, match="'exp' saved its output"):
        s.backward()


def test_in_place_change_while_recording_is_refused():
    w = cr.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(cr.GraphError, match="no_grad"):
        w.add_(1.0)
    with pytest.raises(cr.GraphError, match="no_grad"):
        w.data = np.zeros(3)


def test_in_place_change_of_unsaved_input_is_fine():
    w = cr.tensor(np.ones(3), requires_grad=True)
    y = (w + 1.0).sum()                 # add saves nothing
    with cr.no_grad():
        w.add_(1.0)
    y.backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.ones(3))


def test_detect_anomaly_names_the_forward_operator_and_the_line():
    x = cr.tensor(np.array([-1.0, 2.0]), requires_grad=True)
    with cr.detect_anomaly(), np.errstate(invalid="ignore"):
        with pytest.raises(cr.AnomalyError, match="forward of 'log'") as info:
            cr.log(x)
    assert "test_graph.py" in str(info.value) and "(2,)" in str(info.value)


def test_detect_anomaly_names_the_backward_operator_and_where_it_was_made():
    x = cr.tensor(np.array([0.0, 4.0]), requires_grad=True)
    with cr.detect_anomaly(), np.errstate(divide="ignore"):
        y = cr.sqrt(x).sum()
        with pytest.raises(cr.AnomalyError, match="backward of 'sqrt'") as info:
            y.backward()
    assert "test_graph.py" in str(info.value)


def test_without_anomaly_mode_nans_pass_silently_through():
    x = cr.tensor(np.array([-1.0]), requires_grad=True)
    with np.errstate(invalid="ignore"):
        assert np.isnan(cr.log(x).item())


def test_no_grad_keeps_no_intermediates():
    (W1, W2), _ = _chapter()
    with cr.no_grad():
        h = cr.relu(cr.tensor(np.ones((2, 6))) @ W1.T)
        o = h @ W2.T
    assert o.grad_fn is None and h.grad_fn is None and not o.requires_grad
    assert cr.is_grad_enabled()
    with cr.no_grad():
        with cr.enable_grad():
            assert (W1 * 2).requires_grad


def test_retain_grad_and_names():
    (W1, W2), tensors = _chapter()
    x, z, h, o, L, s, J = tensors
    z.retain_grad()
    z.name = "z"
    assert z.grad_fn.name == "z"
    J.backward()
    assert z.grad.shape == z.shape and h.grad is None


@pytest.mark.parametrize("view", [
    lambda w: w.T,
    lambda w: w.reshape(3, 2),
    lambda w: w[0],
    lambda w: cr.broadcast_to(w, (4, 2, 3)),
    lambda w: w.detach(),
])
def test_in_place_change_seen_through_views(view):
    w = cr.tensor(np.ones((2, 3)), requires_grad=True)
    v = view(w)
    x = cr.tensor(np.full(v.shape, 2.0), requires_grad=True)
    y = (v * x).sum()                       # mul saves the view for x's gradient
    with cr.no_grad():
        w.add_(1.0)
    with pytest.raises(cr.GraphError, match="changed in place"):
        y.backward()


def test_in_place_change_of_a_view_is_seen_by_its_base():
    w = cr.tensor(np.ones((2, 3)), requires_grad=True)
    y = (w * w).sum()
    with cr.no_grad():
        w.T.mul_(2.0)
    assert w.version == 1
    with pytest.raises(cr.GraphError, match="changed in place"):
        y.backward()


def test_a_copy_is_not_a_view():
    w = cr.tensor(np.ones((2, 3)), requires_grad=True)
    x = cr.tensor(np.full((2, 3), 3.0), requires_grad=True)
    y = (w[[0, 1]] * x).sum()               # advanced indexing copies: mul saves a copy
    with cr.no_grad():
        w.add_(1.0)                         # w itself is not saved by anything
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((2, 3)))
    np.testing.assert_array_equal(w.grad.numpy(), np.full((2, 3), 3.0))


def test_leaf_gradients_never_share_memory():
    a = cr.tensor(np.ones((2, 3)), requires_grad=True)
    b = cr.tensor(np.ones((2, 3)), requires_grad=True)
    c = cr.tensor(np.ones((3, 2)), requires_grad=True)
    z = a + b                                 # add hands the same gradient to both
    z.retain_grad()
    (z * 2.0 + c.T).sum().backward()           # c.grad is a transpose of the same sum
    arrays = [a.grad.numpy(), b.grad.numpy(), c.grad.numpy(), z.grad.numpy()]
    for i, u in enumerate(arrays):
        assert u.flags.writeable
        for v in arrays[i + 1:]:
            assert not np.shares_memory(u, v)
    a.grad.numpy()[...] = 0.0                  # writing one leaves the others alone
    assert b.grad.numpy().sum() == 12.0 and z.grad.numpy().sum() == 12.0
