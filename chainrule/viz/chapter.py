"""The chapter's network, one example: forward, backward, and each gradient beside its equation.

Every figure printed comes from the recorded graph and the backward pass; the closed forms are
computed separately in NumPy only to show that the two agree.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..creation import tensor


def _softmax(o: np.ndarray) -> np.ndarray:
    e = np.exp(o - o.max())
    return e / e.sum()


def chapter_report(inputs: int = 784, hidden: int = 256, outputs: int = 10,
                   weight_decay: float = 1e-4, seed: int = 0) -> str:
    """Run the chapter's network on one seeded example and report every step as text."""
    rng = np.random.default_rng(seed)
    label = int(rng.integers(outputs))
    x = tensor(rng.random(inputs), name="x")
    W1 = tensor(rng.standard_normal((hidden, inputs)) * 0.01, requires_grad=True, name="W1")
    W2 = tensor(rng.standard_normal((outputs, hidden)) * 0.01, requires_grad=True, name="W2")
    lam = weight_decay

    z = W1 @ x
    h = F.relu(z)
    o = W2 @ h
    L = F.cross_entropy(o[None], np.array([label]))
    s = lam / 2 * (F.sumsq(W1) + F.sumsq(W2))
    J = L + s
    for t, name in ((z, "z"), (h, "h"), (o, "o"), (L, "L"), (s, "s"), (J, "J")):
        t.name = name
        t.retain_grad()
    J.backward()

    zn, hn, on = z.numpy(), h.numpy(), o.numpy()
    closed = {
        "o": _softmax(on) - np.eye(outputs)[label],
    }
    closed["W2"] = np.outer(closed["o"], hn) + lam * W2.numpy()
    closed["h"] = W2.numpy().T @ closed["o"]
    closed["z"] = closed["h"] * (zn > 0)
    closed["W1"] = np.outer(closed["z"], x.numpy()) + lam * W1.numpy()
    got = {"o": o.grad, "W2": W2.grad, "h": h.grad, "z": z.grad, "W1": W1.grad}

    def shape(t) -> str:
        return str(tuple(t.shape))

    lines = [
        f"chainrule: the chapter's network on one example (float64, lambda = {lam:g}, "
        f"label y = {label})",
        "",
        "Forward propagation: every intermediate is computed and stored",
        f"  z = W1 x                                 {shape(z):>12}",
        f"  h = phi(z) = relu(z)                     {shape(h):>12}",
        f"  o = W2 h                                 {shape(o):>12}",
        f"  L = l(o, y), cross-entropy               {shape(L):>12}   L = {L.item():.6f}",
        f"  s = lambda/2 (|W1|_F^2 + |W2|_F^2)       {shape(s):>12}   s = {s.item():.6f}",
        f"  J = L + s                                {shape(J):>12}   J = {J.item():.6f}",
        "",
        "Backpropagation: the chain rule, in the order the gradients are computed",
        "  dJ/dL = 1,  dJ/ds = 1",
    ]
    equations = [
        ("o", "dJ/do  = prod(dJ/dL, dL/do) = softmax(o) - onehot(y)"),
        ("W2", "dJ/dW2 = prod(dJ/do, do/dW2) + prod(dJ/ds, ds/dW2) = dJ/do h^T + lambda W2"),
        ("h", "dJ/dh  = prod(dJ/do, do/dh) = W2^T dJ/do"),
        ("z", "dJ/dz  = prod(dJ/dh, dh/dz) = dJ/dh (.) phi'(z)"),
        ("W1", "dJ/dW1 = prod(dJ/dz, dz/dW1) + prod(dJ/ds, ds/dW1) = dJ/dz x^T + lambda W1"),
    ]
    width = max(len(e) for _, e in equations)
    for key, equation in equations:
        diff = float(np.abs(got[key].numpy() - closed[key]).max())
        lines.append(f"  {equation:<{width}}  {shape(got[key]):>10}   "
                     f"|backprop - closed form| <= {diff:.1e}")
    lines += [
        "",
        "Every gradient has the shape of its variable (exercise 1): "
        + ", ".join(f"dJ/d{k} {shape(got[k])}" for k in ("W1", "W2")) + ".",
    ]
    return "\n".join(lines)
