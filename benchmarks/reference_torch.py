"""PyTorch eager, doing the same math as chainrule, for scale (optional: skipped if absent).

Thread counts: the environment pins them before import (see :mod:`benchmarks.threads`), and
:func:`load` also calls ``torch.set_num_threads``.  Arrays cross over by copy, so PyTorch never
shares memory with the NumPy reference.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["load", "tensor", "step", "forward", "hvp", "hvp_func", "chain_forward",
           "chain_backward"]

_torch: Any = None


def load(threads: int | None = None) -> Any:
    """Import torch and pin its threads; the module, or None when it is not installed."""
    global _torch
    if _torch is None:
        try:
            import torch
        except ImportError:
            return None
        _torch = torch
    if threads is not None:
        _torch.set_num_threads(threads)
        try:
            _torch.set_num_interop_threads(threads)
        except RuntimeError:        # only allowed before the first parallel work
            pass
    return _torch


def tensor(array: np.ndarray, requires_grad: bool = False):
    """A torch tensor holding a copy of ``array`` (loading torch if need be)."""
    return load().from_numpy(np.array(array, copy=True)).requires_grad_(requires_grad)


def _objective(W1, W2, x, y, lam: float):
    z = x @ W1.T
    h = _torch.relu(z)
    o = h @ W2.T
    L = _torch.nn.functional.cross_entropy(o, y)
    s = lam / 2 * ((W1 ** 2).sum() + (W2 ** 2).sum())
    return L + s


def step(W1, W2, x, y, lr: float, lam: float):
    """One step: ``J = L + s``, backward, and a manual SGD update under ``no_grad``."""
    J = _objective(W1, W2, x, y, lam)
    J.backward()
    with _torch.no_grad():
        W1.add_(W1.grad, alpha=-lr)
        W2.add_(W2.grad, alpha=-lr)
    W1.grad = None
    W2.grad = None
    return J


def forward(W1, W2, x):
    """The logits of a prediction, recording nothing."""
    with _torch.no_grad():
        return _torch.relu(x @ W1.T) @ W2.T


def hvp(W1, W2, x, y, V, lam: float):
    """``torch.autograd.functional.hvp`` (reverse over reverse, the double-backward trick)."""
    return _torch.autograd.functional.hvp(lambda w: _objective(w, W2, x, y, lam), W1, V)


def hvp_func(W1, W2, x, y, V, lam: float):
    """``(None, H V)`` by ``torch.func.jvp`` of ``torch.func.grad``: forward over reverse.

    (The jvp's first output is the gradient, not J, so there is no value to return.)
    """
    func = _torch.func
    grad = func.grad(lambda w: _objective(w, W2, x, y, lam))
    return None, func.jvp(grad, (W1,), (V,))[1]


def chain_forward(x, c_mul, c_add, triples: int):
    """``triples`` rounds of mul, add, tanh, recorded by autograd."""
    y = x
    for _ in range(triples):
        y = _torch.tanh(y * c_mul + c_add)
    return y


def chain_backward(y, g) -> None:
    """Backpropagate ``g`` from the chain's output into ``x.grad``."""
    y.backward(g)
