"""Derivatives as functions: ``grad``, ``vjp``, ``jvp``, ``hvp`` and ``hessian``.

Reverse mode walks the recorded graph (:func:`chainrule.core.backward.backward`).  Forward
mode carries a tangent beside each value, tagged with a *level* so that nested ``jvp`` calls
never confuse their perturbations; every operator's JVP rule is written in chainrule
operators, so a tangent is itself recorded and differentiable.  The two compose in any order.
"""

from __future__ import annotations

import itertools
from typing import Callable, Sequence

import numpy as np

from . import backend as B
from .core.backward import backward, root_grad
from .core.modes import enable_grad, mode
from .creation import tensor
from .errors import DTypeError, GraphError, ShapeError
from .ops.shape import identity
from .core.tensor import Tensor

__all__ = ["grad", "vjp", "jvp", "hvp", "hessian"]

_levels = itertools.count(1)


def _as_tuple(x) -> tuple:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def grad(outputs, inputs, grad_outputs=None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool = False) -> tuple:
    """The gradients of ``outputs`` with respect to ``inputs``, as a tuple of tensors.

    Nothing is accumulated into ``.grad``.  With ``create_graph=True`` the backward pass is
    recorded, so the result can be differentiated again.

    >>> import chainrule as cr
    >>> x = cr.tensor(3.0, requires_grad=True)
    >>> dy, = cr.grad(x ** 3, [x], create_graph=True)
    >>> d2y, = cr.grad(dy, [x])
    >>> dy.item(), d2y.item()
    (27.0, 18.0)
    """
    outputs, inputs = _as_tuple(outputs), _as_tuple(inputs)
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    grad_outputs = _as_tuple(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise ShapeError(f"grad(): {len(outputs)} outputs but {len(grad_outputs)} grad_outputs")
    for t in inputs:
        if not isinstance(t, Tensor):
            raise GraphError(f"grad(): inputs must be tensors, got {type(t).__name__}")
        if t._data.dtype.kind != "f":
            raise DTypeError(f"grad(): cannot differentiate with respect to a tensor of dtype "
                             f"{t.dtype} (shape {t.shape}); only floating-point tensors have "
                             "gradients")
    roots, seeds = [], []
    for out, g in zip(outputs, grad_outputs):
        if not (isinstance(out, Tensor) and out._rg):
            continue
        roots.append(out)
        seeds.append(root_grad(out, g, "grad()"))
    if not roots:
        if allow_unused:
            return (None,) * len(inputs)
        raise GraphError("grad(): no output requires grad; are the inputs created with "
                         "requires_grad=True, and the outputs computed outside no_grad()?")
    keep = create_graph if retain_graph is None else retain_graph
    return backward(roots, seeds, inputs=inputs, retain_graph=keep,
                          create_graph=create_graph, allow_unused=allow_unused)


def _leaf(p) -> Tensor:
    if isinstance(p, Tensor):
        return p if p._rg else Tensor(p._data, requires_grad=True)
    return tensor(p, requires_grad=True)


def vjp(f: Callable, *primals):
    """``f(*primals)`` and a function mapping output cotangents to input cotangents.

    >>> import chainrule as cr
    >>> out, back = cr.vjp(lambda x: x * x, [1.0, 2.0])
    >>> back([1.0, 1.0])[0].tolist()
    [2.0, 4.0]
    """
    leaves = [_leaf(p) for p in primals]
    with enable_grad():
        out = f(*leaves)

    def vjp_fn(cotangents, create_graph: bool = False) -> tuple:
        outs = _as_tuple(out)
        cots = _as_tuple(cotangents) if isinstance(out, (tuple, list)) else (cotangents,)
        grads = grad(outs, leaves, grad_outputs=cots, retain_graph=True,
                     create_graph=create_graph, allow_unused=True)
        return tuple(g if g is not None else _zeros_like(x)
                     for g, x in zip(grads, leaves))

    return out, vjp_fn


def _zeros_like(a) -> Tensor:
    """Zeros of ``a``'s shape and dtype, on ``a``'s device (the gradient of an unused input)."""
    data = _data(a)
    return Tensor._wrap(B.module_of(data).zeros_like(data))


def _dual(p, t, level: int) -> Tensor:
    """A primal that carries tangent ``t`` at ``level`` (connected to ``p``'s graph)."""
    if isinstance(p, Tensor):
        w = identity(p) if (p._rg or p._tangents) else Tensor._wrap(p._data)
    else:
        w = tensor(p)
    if not isinstance(t, Tensor):
        t = Tensor._wrap(B.module_of(w._data).asarray(t, dtype=w._data.dtype))
    if t._data.shape != w._data.shape:
        raise ShapeError(f"jvp(): a tangent of shape {t.shape} for a primal of shape "
                         f"{w.shape}; they must be equal")
    if t._data.dtype != w._data.dtype:
        t = t.astype(w._data.dtype)
    w._tangents = {**(w._tangents or {}), level: t}
    return w


def _take_tangent(out, level: int) -> Tensor:
    if not isinstance(out, Tensor):
        raise GraphError(f"jvp(): f must return tensors, got {type(out).__name__}")
    tangents = out._tangents
    t = tangents.get(level) if tangents else None
    if t is not None:
        rest = {k: v for k, v in tangents.items() if k != level}
        out._tangents = rest or None
        return t
    return _zeros_like(out)


def jvp(f: Callable, primals: Sequence, tangents: Sequence):
    """``(f(*primals), J @ tangents)`` by forward mode: one pass, no graph needed.

    >>> import chainrule as cr
    >>> y, dy = cr.jvp(cr.sin, (0.0,), (2.0,))
    >>> dy.item()
    2.0
    """
    primals, tangents = _as_tuple(primals), _as_tuple(tangents)
    if len(primals) != len(tangents):
        raise ShapeError(f"jvp(): {len(primals)} primals but {len(tangents)} tangents")
    level = next(_levels)
    m = mode
    previous = m.fwd_levels
    m.fwd_levels = previous + [level]
    try:
        duals = [_dual(p, t, level) for p, t in zip(primals, tangents)]
        out = f(*duals)
    finally:
        m.fwd_levels = previous
    if isinstance(out, (tuple, list)):
        return tuple(out), tuple(_take_tangent(o, level) for o in out)
    return out, _take_tangent(out, level)


def _scalar(y, what: str) -> None:
    if not isinstance(y, Tensor) or y._data.size != 1:
        shape = y.shape if isinstance(y, Tensor) else type(y).__name__
        raise GraphError(f"{what}: f must return a one-element tensor, got {shape}")


def hvp(f: Callable, primals, tangents, mode: str = "fwd-rev"):
    """``(f(*primals), H @ tangents)``, the Hessian-vector product, shaped like the primals.

    ``mode="fwd-rev"`` (forward over reverse, the default) or ``"rev-rev"`` (reverse over
    reverse); the two agree to rounding.
    """
    single = not isinstance(primals, (tuple, list))
    primals, tangents = _as_tuple(primals), _as_tuple(tangents)
    if mode == "rev-rev":
        xs = [_leaf(p) for p in primals]
        with enable_grad():
            y = f(*xs)
            _scalar(y, "hvp()")
            gs = grad(y, xs, create_graph=True, allow_unused=True)
            dot = None
            for g, v in zip(gs, tangents):
                if g is not None:
                    term = (g * v).sum()
                    dot = term if dot is None else dot + term
        hv = grad(dot, xs, allow_unused=True) if dot is not None else (None,) * len(xs)
    elif mode == "fwd-rev":
        value = []

        def gradient(*xs):
            for x in xs:
                if not x._rg:
                    x.requires_grad = True
            with enable_grad():
                y = f(*xs)
                _scalar(y, "hvp()")
                value.append(y)
                return grad(y, xs, create_graph=True, allow_unused=True)

        _, hv = jvp(gradient, primals, tangents)
        y = value[0]
    else:
        raise ValueError(f"hvp(): mode must be 'fwd-rev' or 'rev-rev', got {mode!r}")
    hv = tuple(h.detach() if h is not None else _zeros_like(p)
               for h, p in zip(hv, primals))
    return y.detach(), (hv[0] if single else hv)


def _data(p):
    return p._data if isinstance(p, Tensor) else np.asarray(p)


def hessian(f: Callable, x) -> Tensor:
    """The full Hessian of a scalar ``f`` at ``x``, shaped ``x.shape + x.shape`` (small x)."""
    x = _leaf(x)
    with enable_grad():
        y = f(x)
        _scalar(y, "hessian()")
        g, = grad(y, [x], create_graph=True)
        flat = g.reshape(-1)
        rows = []
        for i in range(flat.shape[0]):
            row, = grad(flat[i], [x], retain_graph=True, allow_unused=True)
            rows.append(row._data if row is not None else _zeros_like(x)._data)
    return Tensor(B.module_of(x._data).stack(rows).reshape(x.shape + x.shape))
