"""Graphs to draw and explain: the chapter's network (with the chapter's names) and a deeper MLP.

Each builder records a graph and returns every tensor it made, by name, in the order the
forward pass made them; keeping the dictionary keeps the constants (``x``, ``y``) alive, so
drawings and derivations can name them.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..creation import tensor
from ..core.tensor import Tensor

__all__ = ["build_chapter_graph", "build_mlp"]


def build_chapter_graph(batch_size: int | None = None, hidden: int = 256, bias: bool = False,
                        seed: int = 0, *, inputs: int = 784, outputs: int = 10,
                        weight_decay: float = 1e-4) -> dict[str, Tensor]:
    """Record the chapter's network on seeded data; return its tensors by the chapter's names.

    ``z = W1 x`` (``x W1^T`` for a minibatch of ``batch_size`` rows), ``h = relu(z)``,
    ``o = W2 h``, ``L = cross_entropy(o, y)``, ``s = lambda/2 (|W1|^2 + |W2|^2)``, ``J = L + s``;
    ``bias=True`` adds the hidden bias ``b1`` of exercise 2 (not regularised).

    >>> g = build_chapter_graph(hidden=8)
    >>> list(g), g["J"].shape
    (['x', 'y', 'W1', 'W2', 'z', 'h', 'o', 'L', 's', 'J'], ())
    """
    rng = np.random.default_rng(seed)
    rows = () if batch_size is None else (batch_size,)
    t: dict[str, Tensor] = {}
    t["x"] = tensor(rng.random(rows + (inputs,)), name="x")
    t["y"] = tensor(rng.integers(outputs, size=batch_size or 1), name="y")
    t["W1"] = tensor(rng.standard_normal((hidden, inputs)) * 0.01, requires_grad=True,
                     name="W1")
    if bias:
        t["b1"] = tensor(np.zeros(hidden), requires_grad=True, name="b1")
    t["W2"] = tensor(rng.standard_normal((outputs, hidden)) * 0.01, requires_grad=True,
                     name="W2")
    x, W1, W2 = t["x"], t["W1"], t["W2"]
    z = W1 @ x if batch_size is None else x @ W1.T
    if bias:
        z = z + t["b1"]
    h = F.relu(z)
    o = W2 @ h if batch_size is None else h @ W2.T
    L = F.cross_entropy(o[None] if batch_size is None else o, t["y"])
    s = weight_decay / 2 * ((W1 ** 2).sum() + (W2 ** 2).sum())
    J = L + s
    for name, value in (("z", z), ("h", h), ("o", o), ("L", L), ("s", s), ("J", J)):
        value.name = name
        t[name] = value
    return t


def build_mlp(widths: tuple = (6, 5, 4, 3), batch_size: int = 2, activation: str = "tanh",
              seed: int = 0) -> dict[str, Tensor]:
    """A deeper MLP with biases, named layer by layer (``z1 h1 z2 h2 ... o L``).

    Layer ``k`` computes ``z_k = h_{k-1} W_k^T + b_k`` then ``h_k = activation(z_k)``; the last
    layer's ``z`` is ``o``, and ``L`` is the mean squared error against a seeded target.
    """
    rng = np.random.default_rng(seed)
    act = {"tanh": F.tanh, "relu": F.relu, "sigmoid": F.sigmoid}[activation]
    t: dict[str, Tensor] = {"x": tensor(rng.standard_normal((batch_size, widths[0])),
                                        name="x")}
    h = t["x"]
    layers = len(widths) - 1
    for k in range(1, layers + 1):
        W = t[f"W{k}"] = tensor(rng.standard_normal((widths[k], widths[k - 1])) * 0.5,
                                requires_grad=True, name=f"W{k}")
        b = t[f"b{k}"] = tensor(rng.standard_normal(widths[k]) * 0.1, requires_grad=True,
                                name=f"b{k}")
        z = h @ W.T + b
        if k == layers:
            z.name = "o"
            t["o"] = z
            break
        z.name = f"z{k}"
        h = act(z)
        h.name = f"h{k}"
        t[z.name], t[h.name] = z, h
    t["target"] = tensor(rng.standard_normal((batch_size, widths[-1])), name="target")
    L = F.mse_loss(t["o"], t["target"])
    L.name = "L"
    t["L"] = L
    return t
