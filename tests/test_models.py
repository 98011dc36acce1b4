"""ChapterMLP and MLP: named graphs, the chapter's closed-form gradients, weight decay both ways.

Minibatch form of the chapter's equations (rows are examples, L the mean cross-entropy):

    Z = X W1^T (+ b1),  H = phi(Z),  O = H W2^T,  s = lambda/2 (|W1|^2 + |W2|^2),  J = L + s
    dJ/dO  = (softmax(O) - onehot(y)) / N
    dJ/dW2 = (dJ/dO)^T H + lambda W2          (the chapter's dJ/do h^T, summed over the batch)
    dJ/dH  = dJ/dO W2
    dJ/dZ  = dJ/dH (.) phi'(Z)
    dJ/dW1 = (dJ/dZ)^T X + lambda W1          (the chapter's dJ/dz x^T)
    dJ/db1 = sum over the batch of dJ/dZ      (exercise 2: no lambda term)
"""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import load_digits
from chainrule.errors import ShapeError
from chainrule.core.graph import toposort
from chainrule.models import MLP, ChapterMLP
from chainrule.optim import SGD

PHI_PRIME = {
    "relu": lambda z: (z > 0).astype(z.dtype),
    "sigmoid": lambda z: (1 / (1 + np.exp(-z))) * (1 - 1 / (1 + np.exp(-z))),
    "tanh": lambda z: 1 - np.tanh(z) ** 2,
}


def _softmax(o):
    e = np.exp(o - o.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _batch(n=6, inputs=7, outputs=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, inputs)), rng.integers(0, outputs, n)


def test_chapter_mlp_parameters_and_shapes():
    model = ChapterMLP()
    assert [(n, p.shape) for n, p in model.named_parameters()] == [("W1", (256, 784)),
                                                                   ("W2", (10, 256))]
    assert [p.name for p in model.parameters()] == ["W1", "W2"]
    with_bias = ChapterMLP(inputs=5, hidden=3, outputs=2, bias=True)
    assert [n for n, _ in with_bias.named_parameters()] == ["W1", "W2", "b1"]
    assert with_bias.b1.shape == (3,) and with_bias.weight_decay_parameters() == [
        with_bias.W1, with_bias.W2]
    assert model(np.zeros((3, 784), np.float32)).shape == (3, 10)
    assert model(np.zeros(784, np.float32)).shape == (10,)


def test_chapter_mlp_seed_makes_initialisation_repeatable():
    a, b = ChapterMLP(inputs=5, hidden=4, seed=1), ChapterMLP(inputs=5, hidden=4, seed=1)
    assert all(np.array_equal(p.data, q.data) for p, q in zip(a.parameters(), b.parameters()))
    c = ChapterMLP(inputs=5, hidden=4, seed=2)
    assert not np.array_equal(a.W1.data, c.W1.data)


def test_the_graph_carries_the_chapters_names():
    x, y = _batch()
    model = ChapterMLP(inputs=7, hidden=5, outputs=4, weight_decay=0.1, dtype=np.float64,
                       seed=0)
    J = model.objective(x, y)
    assert J.name == J.grad_fn.name == "J"
    names = {node.name for node in toposort([J.grad_fn])}
    assert {"z", "h", "o", "L", "s", "J"} <= names
    assert list(model.intermediates) == ["z", "h", "o"]
    assert list(model.last_objective) == ["L", "s", "J"]
    assert model.last_objective["J"] is J
    for name, t in {**model.intermediates, **model.last_objective}.items():
        assert t.name == name == t.grad_fn.name


def test_without_weight_decay_j_is_l():
    x, y = _batch()
    model = ChapterMLP(inputs=7, hidden=5, outputs=4, dtype=np.float64, seed=0)
    J = model.objective(x, y)
    assert J is model.last_objective["L"] is model.last_objective["J"]
    assert J.grad_fn.name == "L" and "s" not in model.last_objective


def test_intermediates_are_replaced_each_call_and_empty_under_no_grad():
    x, _ = _batch()
    model = ChapterMLP(inputs=7, hidden=5, outputs=4, dtype=np.float64, seed=0)
    o1 = model(x)
    assert model.intermediates["o"] is o1
    o2 = model(x)
    assert model.intermediates["o"] is o2
    with cr.no_grad():
        model(x)
    assert model.intermediates == {}
    model.objective(x, np.zeros(6, dtype=np.int64))
    model.clear_intermediates()
    assert model.intermediates == {} and model.last_objective == {}


def test_clearing_lets_the_graph_go():
    x, y = _batch()
    model = ChapterMLP(inputs=7, hidden=5, outputs=4, weight_decay=0.1, dtype=np.float64,
                       seed=0)
    J = model.objective(x, y)
    node = weakref.ref(model.intermediates["z"].grad_fn)
    del J
    gc.collect()
    assert node() is not None                    # the stored intermediates keep it alive
    model.clear_intermediates()
    assert node() is None                        # reference counting alone frees it


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("bias", [False, True])
def test_backprop_equals_the_chapters_closed_forms(activation, bias):
    lam = 0.3
    x, y = _batch(n=6, inputs=7, outputs=4)
    model = ChapterMLP(inputs=7, hidden=5, outputs=4, bias=bias, activation=activation,
                       weight_decay=lam, dtype=np.float64, seed=1)
    if bias:
        with cr.no_grad():
            model.b1.copy_(np.linspace(-0.5, 0.5, 5))
    J = model.objective(x, y)
    for t in model.intermediates.values():
        t.retain_grad()
    J.backward()

    W1, W2 = model.W1.data, model.W2.data
    Z = x @ W1.T + (model.b1.data if bias else 0.0)
    H = {"relu": lambda z: np.maximum(z, 0), "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
         "tanh": np.tanh}[activation](Z)
    O = H @ W2.T
    n = len(y)
    gO = (_softmax(O) - np.eye(4)[y]) / n
    gW2 = gO.T @ H + lam * W2
    gH = gO @ W2
    gZ = gH * PHI_PRIME[activation](Z)
    gW1 = gZ.T @ x + lam * W1
    L = -np.mean(np.log(_softmax(O)[np.arange(n), y]))
    s = lam / 2 * ((W1 ** 2).sum() + (W2 ** 2).sum())

    got = model.intermediates
    assert J.item() == pytest.approx(L + s, abs=1e-12)
    assert model.last_objective["s"].item() == pytest.approx(s, abs=1e-12)
    for value, expected in [(got["o"].grad, gO), (got["h"].grad, gH), (got["z"].grad, gZ),
                            (model.W2.grad, gW2), (model.W1.grad, gW1)]:
        np.testing.assert_allclose(value.data, expected, rtol=0, atol=1e-12)
    if bias:      # exercise 2: the bias is not regularised
        np.testing.assert_allclose(model.b1.grad.data, gZ.sum(axis=0), rtol=0, atol=1e-12)


def test_one_example_uses_the_chapters_outer_products():
    lam = 0.05
    rng = np.random.default_rng(3)
    x, y = rng.random(7), 2
    model = ChapterMLP(inputs=7, hidden=5, outputs=4, weight_decay=lam, dtype=np.float64,
                       seed=0)
    J = model.objective(x, y)
    J.backward()
    z = model.W1.data @ x
    h = np.maximum(z, 0)
    g_o = _softmax(model.W2.data @ h) - np.eye(4)[y]
    g_z = (model.W2.data.T @ g_o) * (z > 0)
    np.testing.assert_allclose(model.W2.grad.data, np.outer(g_o, h) + lam * model.W2.data,
                               atol=1e-12, rtol=0)
    np.testing.assert_allclose(model.W1.grad.data, np.outer(g_z, x) + lam * model.W1.data,
                               atol=1e-12, rtol=0)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_weight_decay_in_the_objective_equals_weight_decay_in_sgd(momentum):
    """(a) the chapter's s in J, plain SGD; (b) J = L, SGD adding lambda W to W1, W2 only."""
    lam, lr = 0.05, 0.2
    rng = np.random.default_rng(7)
    batches = [(rng.standard_normal((8, 7)), rng.integers(0, 4, 8)) for _ in range(6)]
    explicit = ChapterMLP(inputs=7, hidden=5, outputs=4, bias=True, weight_decay=lam,
                          dtype=np.float64, seed=2)
    implicit = ChapterMLP(inputs=7, hidden=5, outputs=4, bias=True, weight_decay=0.0,
                          dtype=np.float64, seed=2)
    start = explicit.state_dict()
    opt_a = SGD(explicit.parameters(), lr=lr, momentum=momentum)
    opt_b = SGD([{"params": implicit.weight_decay_parameters(), "weight_decay": lam},
                 {"params": [implicit.b1]}], lr=lr, momentum=momentum)
    for x, y in batches:
        for model, opt in [(explicit, opt_a), (implicit, opt_b)]:
            opt.zero_grad()
            model.objective(x, y).backward()
            opt.step()
    for (name, a), (_, b) in zip(explicit.named_parameters(), implicit.named_parameters()):
        assert not np.allclose(a.data, start[name])                # training moved it
        np.testing.assert_allclose(a.data, b.data, rtol=0, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(a.data, b.data, rtol=0, atol=1e-13, err_msg=name)


def test_unknown_activation_lists_the_valid_names():
    for build in (lambda: ChapterMLP(activation="gelu"), lambda: MLP([3, 2], "gelu")):
        with pytest.raises(ShapeError, match="relu, sigmoid, tanh"):
            build()


def test_bad_sizes_and_decay_are_refused():
    with pytest.raises(ShapeError, match="hidden"):
        ChapterMLP(hidden=0)
    with pytest.raises(ShapeError, match="weight_decay"):
        ChapterMLP(weight_decay=-1.0)
    with pytest.raises(ShapeError, match="widths"):
        MLP([10])
    with pytest.raises(ShapeError, match="x.shape"):
        ChapterMLP(inputs=5)(np.ones((2, 4)))


def test_mlp_builds_any_depth_and_names_its_graph():
    model = MLP([6, 5, 4, 3, 2], activation="tanh", dtype=np.float64, seed=0)
    assert [n for n, _ in model.named_parameters()] == [
        f"layers.{i}.{kind}" for i in (0, 2, 4, 6) for kind in ("weight", "bias")]
    assert [p.name for p in model.parameters()][:2] == ["layers.0.weight", "layers.0.bias"]
    x, y = _batch(n=3, inputs=6, outputs=2)
    o = model(x)
    assert o.shape == (3, 2) and o.grad_fn.name == "o"
    assert list(model.intermediates) == ["z1", "h1", "z2", "h2", "z3", "h3", "o"]
    assert all(t.grad_fn.name == n for n, t in model.intermediates.items())
    assert model(x[0]).shape == (2,)
    assert repr(model).startswith("MLP(\n  widths=[6, 5, 4, 3, 2], weight_decay=0\n")


def test_mlp_weight_decay_adds_lambda_w_to_weights_only():
    lam = 0.2
    x, y = _batch(n=4, inputs=6, outputs=3)
    plain = MLP([6, 5, 3], dtype=np.float64, seed=4)
    decayed = MLP([6, 5, 3], weight_decay=lam, dtype=np.float64, seed=4)
    plain.objective(x, y).backward()
    J = decayed.objective(x, y)
    J.backward()
    assert J.grad_fn.name == "J" and "s" in decayed.last_objective
    for (name, p), q in zip(plain.named_parameters(), decayed.parameters()):
        extra = lam * p.data if name.endswith("weight") else 0.0
        np.testing.assert_allclose(q.grad.data, p.grad.data + extra, rtol=0, atol=1e-12)


def test_chapter_mlp_learns_the_digits():
    x_train, y_train, x_test, y_test = load_digits()
    model = ChapterMLP(inputs=64, hidden=64, outputs=10, seed=0)
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(0)
    for _ in range(100):
        batch = rng.integers(0, len(x_train), 64)
        opt.zero_grad()
        model.objective(x_train[batch], y_train[batch]).backward()
        opt.step()
    with cr.no_grad():
        accuracy = np.mean(model(x_test).data.argmax(axis=1) == y_test)
    assert accuracy > 0.9


def test_an_optimizer_step_between_forward_and_backward_is_caught():
    model = ChapterMLP(inputs=4, hidden=3, outputs=2, dtype=np.float64, seed=0)
    J = model.objective(np.ones((2, 4)), np.array([0, 1]))
    for p in model.parameters():
        p.grad = cr.tensor(np.ones(p.shape))
    SGD(model.parameters(), lr=1.0).step()
    with pytest.raises(cr.GraphError, match="changed in place"):
        J.backward()
