"""Forward mode: how an operator call carries tangents (``cr.jvp``, forward-over-reverse).

An operator declares its JVP as ``ELEMENTWISE`` (the Jacobian is diagonal: the tangent is the
VJP rules applied to the tangents), ``LINEAR`` (the op applied to the tangents),
``MULTILINEAR`` (the sum over inputs of the op with one input replaced by its tangent), or a
rule ``rule(tangents, *saved, **params)`` with ``None`` for absent tangents.
"""

from __future__ import annotations

from .. import backend
from ..errors import GraphError
from .modes import mode

__all__ = ["ELEMENTWISE", "LINEAR", "MULTILINEAR", "push_tangents"]

ELEMENTWISE = "elementwise"
LINEAR = "linear"
MULTILINEAR = "multilinear"


def push_tangents(op, args, params, out, node) -> None:
    """Give ``out`` the tangent of every forward-mode level its inputs carry (the op's JVP).

    The tensor type comes with ``out``, so this module sits below :mod:`chainrule.core.tensor`.
    """
    Tensor = type(out)  # noqa: N806  (the class)
    m = mode
    levels = sorted({
        level for a in args if isinstance(a, Tensor) and a._tangents
        for level in a._tangents if level in m.fwd_levels
    })
    extra = None
    if node is not None and op.residuals is not None:     # computed once, for both
        declared = len(op._plan) + (len(args) - 1 if "*" in op.saves else 0)
        extra = node.saved[declared:]
    saved, _ = op._saved_values(args, params, out, extra=extra)
    every = m.fwd_levels
    for level in levels:
        m.fwd_levels = [k for k in every if k < level]   # inner levels see nothing
        try:
            t = _tangent(op, Tensor, level, args, params, saved)
        finally:
            m.fwd_levels = every
        if t is None:
            continue
        if t._data.shape != out._data.shape:
            raise GraphError(
                f"jvp of '{op.name}' returned a tangent of shape {t.shape} for an output "
                f"of shape {out.shape}; this is a bug in the operator's rule"
            )
        if t._data.dtype != out._data.dtype:
            t = t.astype(out._data.dtype)
        out._tangents = {**(out._tangents or {}), level: t}
    if node is not None and op._ans_at >= 0:
        node.ans_tangents = out._tangents

def _tangent(op, Tensor, level, args, params, saved):  # noqa: N803  (the class)
    tangents = [a._tangents.get(level) if isinstance(a, Tensor) and a._tangents else None
                for a in args]
    jvp = op.jvp
    if jvp == LINEAR:
        return op(*[
            t if t is not None else _zeros_like(Tensor, a) for t, a in zip(tangents, args)
        ], **params)
    total = None
    if jvp == ELEMENTWISE:
        for i, t in enumerate(tangents):
            if t is not None:
                term = op.vjp_at(i)(t, *saved, **params)
                total = term if total is None else total + term
        return total
    if jvp == MULTILINEAR:
        for i, t in enumerate(tangents):
            if t is not None:
                term = op(*args[:i], t, *args[i + 1:], **params)
                total = term if total is None else total + term
        return total
    return jvp(tangents, *saved, **params)


def _zeros_like(Tensor, a):  # noqa: N803  (the class)
    """Zeros for an input that carries no tangent at this level, on its device."""
    data = a._data if isinstance(a, Tensor) else a
    shape, dtype = getattr(data, "shape", ()), getattr(data, "dtype", None)
    return Tensor._wrap(backend.module_of(data).zeros(shape, dtype=dtype or type(data).__name__))
