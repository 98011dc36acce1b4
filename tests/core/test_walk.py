"""The backward walk's order: a heap on the order of recording, not a sort.

Every node is recorded after the nodes of its inputs, so the pending node recorded last has
no pending consumer: :func:`chainrule.core.backward` pops it next.  These tests build graphs
whose order of recording differs from a depth-first walk's, and check the gradients against
central differences and against each other.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import chainrule as cr
from chainrule.core.graph import Node
from chainrule.ops import loss as L


def _random_graph(rng, leaves, steps: int):
    made = list(leaves)
    for _ in range(steps):
        i, j = rng.integers(0, len(made), size=2)
        made.append(cr.tanh(made[i]) * made[j] if i % 2 else made[i] + 0.5 * made[j])
    return made


def _numeric(f, values, eps=1e-6):
    grads = []
    for k, v in enumerate(values):
        g = np.zeros_like(v)
        for idx in np.ndindex(v.shape):
            up = [w.copy() for w in values]
            down = [w.copy() for w in values]
            up[k][idx] += eps
            down[k][idx] -= eps
            g[idx] = (f(up) - f(down)) / (2 * eps)
        grads.append(g)
    return grads


def test_nodes_are_numbered_in_the_order_they_are_recorded():
    x = cr.tensor(np.ones(2), requires_grad=True)
    a = x * 2.0
    b = cr.exp(x)
    c = b + a            # consumes b (recorded after a) first: a depth-first walk visits b first
    assert a.grad_fn.seq > b.grad_fn.seq > c.grad_fn.seq     # negated: the latest is smallest
    for node in (a.grad_fn, b.grad_fn, c.grad_fn):
        assert isinstance(node, Node)


def test_a_random_dag_gets_central_differences_gradients():
    rng = np.random.default_rng(5)
    start = [rng.uniform(-0.8, 0.8, 2) for _ in range(3)]

    def f(values):
        with cr.no_grad():
            made = _random_graph(np.random.default_rng(11), [cr.tensor(v) for v in values], 60)
            return float((made[-1] * made[-5]).sum().item())

    leaves = [cr.tensor(v, requires_grad=True) for v in start]
    made = _random_graph(np.random.default_rng(11), leaves, 60)
    (made[-1] * made[-5]).sum().backward()
    for leaf, want in zip(leaves, _numeric(f, start)):
        np.testing.assert_allclose(leaf.grad.numpy(), want, rtol=1e-6, atol=1e-8)


def test_grad_with_inputs_below_part_of_the_graph_agrees_with_backward():
    rng = np.random.default_rng(2)
    leaves = [cr.tensor(rng.uniform(-1, 1, 3), requires_grad=True) for _ in range(4)]
    made = _random_graph(np.random.default_rng(4), leaves, 80)
    middle = made[40]
    middle.retain_grad()
    root = made[-1].sum() + made[-9].sum() + 0.5 * middle.sum()
    unused = cr.tensor(np.ones(3), requires_grad=True)
    got = cr.grad(root, [leaves[1], middle, unused, leaves[3]], retain_graph=True,
                  allow_unused=True)
    assert got[2] is None
    middle.grad = None       # grad() filled it too, as torch.autograd.grad fills a retained grad
    root.backward()
    np.testing.assert_allclose(got[1].numpy(), middle.grad.numpy(), rtol=1e-12)
    for leaf, g in zip((leaves[1], leaves[3]), (got[0], got[3])):
        np.testing.assert_allclose(g.numpy(), leaf.grad.numpy(), rtol=1e-12)


def test_roots_given_twice_and_a_root_inside_another_roots_graph():
    x = cr.tensor(np.array([0.3, -0.7]), requires_grad=True)
    y = cr.sin(x)
    z = y * y
    ones = cr.ones(2, dtype=np.float64)
    (got,) = cr.grad([z, y, y], [x], grad_outputs=[ones, ones, ones])
    want = 2 * np.sin(x.numpy()) * np.cos(x.numpy()) + 2 * np.cos(x.numpy())
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)


def test_a_sums_gradient_reaches_the_leaf_as_its_own_writeable_array():
    x = cr.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    x.sum().backward()
    g = x.grad.numpy()
    assert g.flags.writeable and g.strides != (0, 0)
    np.testing.assert_array_equal(g, np.ones((2, 3)))
    g += 1.0                                       # the user's own: changing it is fine
    x.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 3.0))


def test_cross_entropys_residual_ignores_another_calls_probabilities():
    rng = np.random.default_rng(0)
    logits, other = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    labels = np.array([0, 2, 1, 2])
    L._HANDOFF.logits, L._HANDOFF.p = other, np.full((4, 3), 7.0)     # stale: not these logits
    (direction,) = L._direction(None, logits, labels)
    want = L._softmax(logits, axis=1) - np.eye(3)[labels]
    np.testing.assert_allclose(direction, want, rtol=1e-15, atol=1e-16)
    assert L._HANDOFF.p is None                    # nothing held after the call


@pytest.mark.parametrize("scale", [1.0, 30.0, 1e4])
def test_cross_entropys_one_hot_comes_back_exactly_from_the_residual(scale):
    rng = np.random.default_rng(1)
    for dtype in (np.float32, np.float64):
        logits = (rng.normal(size=(64, 10)) * scale).astype(dtype)
        labels = rng.integers(0, 10, 64)
        (direction,) = L._direction(None, logits, labels)
        p = cr.tensor(L._softmax(logits, axis=1))
        got = L._one_hot(p, direction).numpy()
        assert got.dtype == dtype and np.array_equal(got, np.eye(10, dtype=dtype)[labels])


@pytest.mark.parametrize("how", ["no_grad", "constant logits", "recorded", "bad labels"])
def test_cross_entropy_leaves_nothing_behind_for_a_residual(how):
    """Whether or not a node took the probabilities, nothing outlives the call (a memory
    measurement after it would count them)."""
    rng = np.random.default_rng(3)
    o = cr.tensor(rng.normal(size=(5, 4)), requires_grad=how in ("recorded", "bad labels"))
    labels = np.array([0, 1, 2, 3, 0]) if how != "bad labels" else np.array([0, 1, 2, 4, 0])
    if how == "no_grad":
        with cr.no_grad():
            cr.cross_entropy(o, labels)
    elif how == "bad labels":
        with pytest.raises(cr.ShapeError):
            cr.cross_entropy(o, labels)
    else:
        cr.cross_entropy(o, labels)
    h = L._HANDOFF
    assert h.p is None and h.logits is None and h.at is None and not h.wanted


def test_cross_entropy_gradients_from_two_threads_at_once():
    rng = np.random.default_rng(4)
    cases = [(rng.normal(size=(32, 10)), rng.integers(0, 10, 32)) for _ in range(2)]
    wants = []
    for logits, labels in cases:
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        wants.append((p - np.eye(10)[labels]) / 32)
    errors = []
    barrier = threading.Barrier(2)

    def work(k):
        logits, labels = cases[k]
        barrier.wait()
        for _ in range(200):
            o = cr.tensor(logits, requires_grad=True)
            cr.cross_entropy(o, labels).backward()
            if not np.allclose(o.grad.numpy(), wants[k], rtol=1e-12, atol=1e-15):
                errors.append(k)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
