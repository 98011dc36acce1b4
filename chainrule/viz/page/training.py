"""The page's training view: the first SGD steps of a model, as numbers per step.

:func:`record_training` runs ``steps`` steps of minibatch SGD (``p -= lr * p.grad``, the
book's update) on a model with ``objective(x, y)`` (:class:`~chainrule.models.ChapterMLP`,
:class:`~chainrule.models.MLP`) and keeps, per step, the objective ``J`` and for each
parameter the norm of its gradient, of its update and of the parameter itself.  The page
draws them on a slider, so vanishing or exploding gradients show up as lines that fall to
zero or shoot up.
"""

from __future__ import annotations

import numpy as np

from ...core.modes import no_grad
from ...creation import tensor
from ...errors import ShapeError

__all__ = ["record_training"]


def _norm(a) -> float:
    a = np.asarray(a, dtype=np.float64)
    return float(np.sqrt((a * a).sum()))


def record_training(model, x, y, *, steps: int = 50, lr: float = 0.1, batch_size: int = 32,
                    seed: int = 0) -> dict:
    """Train ``model`` in place for ``steps`` SGD steps on ``(x, y)``; the numbers per step.

    Minibatches of ``batch_size`` rows are drawn in a seeded random order.  Returns
    ``{"lr", "batch_size", "params": [names], "steps": [{"step", "loss", "params": {name:
    {"grad_norm", "update_norm", "param_norm"}}}]}``; norms are Frobenius norms, the
    parameter's after the update.

    >>> from chainrule.models import ChapterMLP
    >>> model = ChapterMLP(4, 3, 2, weight_decay=1e-4, seed=0)
    >>> x = np.random.default_rng(0).random((8, 4)).astype(np.float32)
    >>> out = record_training(model, x, np.arange(8) % 2, steps=3, batch_size=4)
    >>> out["params"], len(out["steps"])
    (['W1', 'W2'], 3)
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ShapeError(f"record_training: x.shape={x.shape} and y.shape={y.shape}; expected "
                         "(N, features) and (N,)")
    if not (isinstance(steps, int) and steps >= 1 and isinstance(batch_size, int)
            and batch_size >= 1):
        raise ShapeError(f"record_training: steps={steps!r} and batch_size={batch_size!r} "
                         "must be positive ints")
    params = list(model.named_parameters())
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    dtype = params[0][1].dtype
    out = {"lr": float(lr), "batch_size": batch_size, "params": [n for n, _ in params],
           "steps": []}
    at = 0
    for step in range(steps):
        if at + batch_size > len(order):
            order, at = rng.permutation(len(x)), 0
        rows = order[at:at + batch_size]
        at += batch_size
        model.zero_grad()
        J = model.objective(tensor(x[rows].astype(dtype), name="x"), y[rows])
        J.backward()
        model.clear_intermediates()
        record = {"step": step + 1, "loss": float(J.item()), "params": {}}
        with no_grad():
            for name, p in params:
                update = lr * p.grad._data
                p -= lr * p.grad
                record["params"][name] = {"grad_norm": _norm(p.grad._data),
                                          "update_norm": _norm(update),
                                          "param_norm": _norm(p._data)}
        out["steps"].append(record)
    model.zero_grad()
    return out
