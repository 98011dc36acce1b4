"""Elementwise functions PyTorch users call, built on the operator table.

``erf`` is a primitive (:mod:`chainrule.ops.special`); ``log2``, ``rsqrt``, ``square``,
``clamp``, ``remainder`` (Python's ``%``), ``fmod``, ``copysign`` and ``div`` with a rounding
mode are composites, so their derivatives come from the primitives.  Rounding and logic take
no gradient.  ``isclose``/``allclose`` follow ``torch.isclose``:
``|a - b| <= atol + rtol * |b|``.

>>> import chainrule as cr
>>> x = cr.tensor([-3.0, 5.0])
>>> (x % 2).tolist(), cr.fmod(x, 2).tolist(), cr.div(x, 2, rounding_mode="floor").tolist()
([1.0, 1.0], [-1.0, 1.0], [-2.0, 2.0])
"""

from __future__ import annotations

import math


from .. import backend as B
from ..core.methods import provide
from ..core.op import OPS
from ..core.tensor import Tensor
from ..errors import DTypeError, ShapeError
from ..ops import special
from . import abs, log, matmul, maximum, minimum, shape_of, sqrt, where  # noqa: A004
from . import clip as _clip
from . import div as _true_div

__all__ = ["erf", "log2", "rsqrt", "square", "sign", "floor", "ceil", "round", "trunc",
           "clamp", "div", "remainder", "fmod", "copysign", "isclose", "allclose", "logical",
           "logical_and", "logical_or", "logical_xor", "logical_not", "where_self", "dot",
           "clone", "mm", "numel"]

_LN2 = math.log(2.0)


def _data(x):
    return x._data if isinstance(x, Tensor) else B.xp.asarray(x)


def erf(x) -> Tensor:
    """The error function, elementwise."""
    return special.erf(x)


def log2(x) -> Tensor:
    """Logarithm base 2, elementwise."""
    return log(x) / _LN2


def rsqrt(x) -> Tensor:
    """``1 / sqrt(x)``, elementwise."""
    return 1.0 / sqrt(x)


def square(x) -> Tensor:
    """``x * x``, elementwise."""
    return x * x


def sign(x) -> Tensor:
    """-1, 0 or 1, elementwise (no gradient)."""
    return OPS["sign"](x)


def floor(x) -> Tensor:
    """Round down, elementwise (no gradient)."""
    return OPS["floor"](x)


def ceil(x) -> Tensor:
    """Round up, elementwise (no gradient)."""
    return OPS["ceil"](x)


def round(x) -> Tensor:  # noqa: A001
    """Round half to even, elementwise (no gradient)."""
    return OPS["round"](x)


def trunc(x) -> Tensor:
    """Round towards zero, elementwise (no gradient)."""
    return OPS["trunc"](x)


def clamp(x, min=None, max=None) -> Tensor:  # noqa: A002
    """Limit ``x`` to ``[min, max]`` (numbers or tensors); gradient 1 inside, 0 outside."""
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = x if min is None else maximum(x, min)
        return out if max is None else minimum(out, max)
    return _clip(x, min, max)


def div(x, y, *, rounding_mode: str | None = None) -> Tensor:
    """``x / y``; ``rounding_mode="floor"`` or ``"trunc"`` rounds the quotient (gradient 0)."""
    if rounding_mode is None:
        return _true_div(x, y)
    if rounding_mode not in ("floor", "trunc"):
        raise DTypeError(f"div: rounding_mode={rounding_mode!r}; use None, 'floor' or 'trunc'")
    xd, yd = _data(x), _data(y)
    if xd.dtype.kind in "biu" and yd.dtype.kind in "biu":     # integers stay integers
        q = B.xp.floor_divide(xd, yd)
        if rounding_mode == "trunc":
            q = q + ((q < 0) & (q * yd != xd))
        return Tensor(q)
    return OPS[rounding_mode](_true_div(x, y))


def remainder(x, y) -> Tensor:
    """Python's ``x % y``: the sign of ``y``; ``x - y * floor(x / y)``."""
    if _data(x).dtype.kind in "biu" and _data(y).dtype.kind in "biu":
        return Tensor(B.xp.remainder(_data(x), _data(y)))
    return x - y * div(x, y, rounding_mode="floor")


def fmod(x, y) -> Tensor:
    """C's ``fmod``: the sign of ``x``; ``x - y * trunc(x / y)``."""
    if _data(x).dtype.kind in "biu" and _data(y).dtype.kind in "biu":
        return Tensor(B.xp.fmod(_data(x), _data(y)))
    return x - y * div(x, y, rounding_mode="trunc")


def copysign(x, y) -> Tensor:
    """``|x|`` with the sign of ``y`` (no gradient flows to ``y``)."""
    return abs(x) * Tensor(B.xp.copysign(1.0, _data(y)).astype(B.xp.result_type(_data(x), 1.0)))


def isclose(a, b, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> Tensor:
    """Elementwise ``|a - b| <= atol + rtol * |b|`` (bool, no gradient)."""
    return Tensor(B.xp.isclose(_data(a), _data(b), rtol=rtol, atol=atol, equal_nan=equal_nan))


def allclose(a, b, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> bool:
    """Whether :func:`isclose` holds everywhere."""
    return bool(B.xp.allclose(_data(a), _data(b), rtol=rtol, atol=atol, equal_nan=equal_nan))


_LOGIC = {"and": "bitwise_and", "or": "bitwise_or", "xor": "bitwise_xor"}


def logical(kind: str, x, y=None) -> Tensor:
    """``x & y``, ``x | y``, ``x ^ y`` or ``~x`` (``kind``: and, or, xor, not) of bool or
    integer tensors (bitwise for integers, as PyTorch); computed on the arrays, not recorded."""
    arrays = [_data(x)] if kind == "not" else [_data(x), _data(y)]
    for a in arrays:
        if a.dtype.kind not in "biu":
            raise DTypeError(f"{kind}: needs bool or integer tensors, got dtype {a.dtype} "
                             f"(shape {a.shape}); compare first, e.g. (x > 0) & (y > 0)")
    if kind == "not":
        return Tensor(B.xp.invert(arrays[0]))
    try:
        return Tensor(getattr(B.xp, _LOGIC[kind])(*arrays))
    except ValueError as exc:
        raise ShapeError(f"{kind}: shapes {arrays[0].shape} and {arrays[1].shape} do not "
                         f"broadcast ({exc})") from None


def logical_and(x, y) -> Tensor:
    """Elementwise and of bools."""
    return logical("and", x, y)


def logical_or(x, y) -> Tensor:
    """Elementwise or of bools."""
    return logical("or", x, y)


def logical_xor(x, y) -> Tensor:
    """Elementwise exclusive or of bools."""
    return logical("xor", x, y)


def logical_not(x) -> Tensor:
    """Elementwise not of bools."""
    return logical("not", x)


def where_self(x, condition, y) -> Tensor:
    """``x.where(condition, y)``: ``x`` where ``condition`` holds, else ``y``."""
    return where(condition, x, y)


def _product(name: str, a, b, ndim: int, what: str) -> Tensor:
    """``matmul(a, b)`` for two operands of exactly ``ndim`` dimensions (``mm``, ``dot``)."""
    sa, sb = shape_of(a), shape_of(b)
    if len(sa) != ndim or len(sb) != ndim:
        raise ShapeError(f"{name}: a.shape={sa} and b.shape={sb}; {name} needs two {what} "
                         "(use matmul for other shapes and batches)")
    return matmul(a, b)


def mm(a, b) -> Tensor:
    """The product of two matrices (PyTorch's ``torch.mm``: 2-D only, no broadcasting)."""
    return _product("mm", a, b, 2, "matrices")


def numel(x) -> int:
    """How many elements ``x`` has (PyTorch's ``torch.numel``)."""
    return math.prod(shape_of(x))


def dot(a, b) -> Tensor:
    """The dot product of two 1-D tensors."""
    return _product("dot", a, b, 1, "1-D tensors")


def clone(x) -> Tensor:
    """A copy that stays in the graph: its gradient flows back to ``x``."""
    return OPS["astype"](x, dtype=_data(x).dtype) if _data(x).dtype.kind == "f" else \
        Tensor(_data(x).copy())


provide(**{name: globals()[name] for name in __all__})
