"""Products: ``matmul`` (``a @ b``, 1-D operands and batches), ``einsum`` and ``tensordot``.

``einsum`` and ``tensordot`` are written as one ``einsum`` primitive, whose VJP is an ``einsum``
again; ``matmul`` of two matrices is its own primitive (one BLAS call each way).
"""

from __future__ import annotations

import builtins
import string

import numpy as np

from ..core.tensor import Tensor
from ..errors import ShapeError
from ..ops import linalg as LA
from ..ops import shape as S

__all__ = ["matmul", "einsum", "tensordot"]


def _data(x):
    return x._data if isinstance(x, Tensor) else x


def _shape(x) -> tuple:
    """The shape of a tensor, an array of any array module, or a number or list."""
    x = _data(x)
    shape = getattr(x, "shape", None)
    return tuple(shape) if shape is not None else np.shape(x)


def _ndim(x) -> int:
    return len(_shape(x))


def reshape(x, shape) -> Tensor:
    return S.reshape(x, shape=tuple(int(s) for s in shape))


def broadcast_to(x, shape) -> Tensor:
    return S.broadcast_to(x, shape=tuple(shape))


def matmul(a, b) -> Tensor:
    """Matrix product as ``a @ b``: 1-D operands and broadcast batch dimensions included."""
    if isinstance(a, Tensor) and isinstance(b, Tensor):     # the usual x @ W.T: 2-D, aligned
        sa, sb = a._data.shape, b._data.shape
        if len(sa) == 2 and len(sb) == 2 and sa[1] == sb[0]:
            return LA.matmul(a, b)
    sa, sb = _shape(a), _shape(b)
    if not sa or not sb:
        raise ShapeError(f"matmul: a.shape={sa} and b.shape={sb}; matmul needs at least 1-D "
                         "operands: use * for a scalar")
    inner_a, inner_b = sa[-1], sb[-2] if len(sb) > 1 else sb[0]
    if inner_a != inner_b:
        hint = ""
        if len(sb) > 1 and sb[-1] == inner_a:
            hint = "; did you mean b.T?"
        elif len(sa) > 1 and sa[-2] == inner_b:
            hint = "; did you mean a.T?"
        raise ShapeError(f"matmul: a.shape={sa} and b.shape={sb} do not align "
                         f"({inner_a} != {inner_b}){hint}")
    if len(sa) == 2 and len(sb) == 2:
        return LA.matmul(a, b)
    vec_a, vec_b = len(sa) == 1, len(sb) == 1
    if vec_a:
        a, sa = _as_matrix(a, (1,) + sa), (1,) + sa
    if vec_b:
        b, sb = _as_matrix(b, sb + (1,)), sb + (1,)
    try:
        batch = np.broadcast_shapes(sa[:-2], sb[:-2])
    except ValueError:
        raise ShapeError(f"matmul: a.shape={_shape(a)} and b.shape="
                         f"{_shape(b)}: the batch dimensions {sa[:-2]} and {sb[:-2]} "
                         "do not broadcast; make them equal or 1") from None
    if sa[:-2] != batch:
        a = broadcast_to(a, batch + sa[-2:])
    if sb[:-2] != batch:
        b = broadcast_to(b, batch + sb[-2:])
    out = LA.matmul(a, b)
    if vec_a or vec_b:
        shape = batch + (() if vec_a else (sa[-2],)) + (() if vec_b else (sb[-1],))
        out = reshape(out, shape)
    return out


def _as_matrix(v, shape) -> Tensor:
    """A 1-D operand of matmul as a matrix; a constant keeps its name (the chapter's x)."""
    out = reshape(v, shape)
    if isinstance(v, Tensor) and not v.requires_grad:
        out.name = v.name
    return out


def einsum(subscripts: str, *operands) -> Tensor:
    """Einstein summation over any subscripts NumPy accepts: ``...``, implicit output, traces.

    >>> import chainrule as cr, numpy as np
    >>> cr.einsum("ii", cr.tensor(np.eye(3))).item()
    3.0
    """
    spec = subscripts.replace(" ", "")
    ins, arrow, out = spec.partition("->")
    parts = ins.split(",")
    if len(parts) != len(operands):
        raise ShapeError(f"einsum: '{subscripts}' names {len(parts)} operands, "
                         f"got {len(operands)}")
    shapes = [_shape(o) for o in operands]
    free = [c for c in string.ascii_letters if c not in spec]
    width = builtins.max([len(s) - len(p.replace("...", "")) for p, s in zip(parts, shapes)
                          if "..." in p] or [0])
    dots = "".join(free[:width])
    explicit = []
    for p, s in zip(parts, shapes):
        if "..." in p:
            n = len(s) - len(p.replace("...", ""))
            p = p.replace("...", dots[width - n:] if n > 0 else "")
        if len(p) != len(s) or not builtins.all(c in string.ascii_letters for c in p):
            raise ShapeError(f"einsum: subscripts '{p}' do not match an operand of shape {s}")
        explicit.append(p)
    if not arrow:
        counts = {c: "".join(explicit).count(c) for c in "".join(explicit)}
        out = dots + "".join(sorted(c for c, k in counts.items() if k == 1 and c not in dots))
    else:
        out = out.replace("...", dots)
    return LA.einsum(*operands, subscripts=",".join(explicit) + "->" + out)


def tensordot(a, b, axes=2) -> Tensor:
    """Sum products over the last ``axes`` axes of ``a`` and the first of ``b`` (or pairs)."""
    na, nb = _ndim(a), _ndim(b)
    if isinstance(axes, (int, np.integer)) and not isinstance(axes, bool):
        if not 0 <= axes <= builtins.min(na, nb):
            raise ShapeError(f"tensordot: axes={axes} must lie in [0, {builtins.min(na, nb)}] "
                             f"for a.shape={_shape(a)} and b.shape={_shape(b)}")
        axes_a, axes_b = list(range(na - axes, na)), list(range(axes))
    elif not (isinstance(axes, (tuple, list)) and len(axes) == 2 and builtins.all(
            isinstance(k, (int, np.integer)) or (isinstance(k, (tuple, list)) and builtins.all(
                isinstance(j, (int, np.integer)) for j in k)) for k in axes)):
        raise ShapeError(f"tensordot: axes={axes!r} must be an int or a pair of ints or int "
                         "sequences, e.g. ([1], [0])")
    else:
        axes_a, axes_b = ([axes[0]] if isinstance(axes[0], int) else list(axes[0]),
                          [axes[1]] if isinstance(axes[1], int) else list(axes[1]))
    letters = iter(string.ascii_letters)
    sa = [next(letters) for _ in range(na)]
    sb = [next(letters) for _ in range(nb)]
    try:
        for i, j in zip(axes_a, axes_b, strict=True):
            sb[j] = sa[i]
    except (IndexError, ValueError):
        raise ShapeError(f"tensordot: axes {axes} do not fit a.shape="
                         f"{_shape(a)} and b.shape={_shape(b)}") from None
    summed = set(sa[i] for i in axes_a)
    out = [c for c in sa if c not in summed] + [c for c in sb if c not in summed]
    return LA.einsum(a, b, subscripts="".join(sa) + "," + "".join(sb) + "->" + "".join(out))
