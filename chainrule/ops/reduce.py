"""Reductions: ``sum`` (linear), ``sumsq`` (the squared norm) and ``max``/``min`` (gradient
shared equally among ties).

``axis`` is ``None`` (every axis) or a tuple of non-negative axes; the public functions in
:mod:`chainrule.functional` normalise what users pass.
"""

from __future__ import annotations

import numpy as np

from .. import backend as B
from ..errors import DTypeError, ShapeError
from ..core.fields import READONLY, SQUARES, TOTAL, Book, Memory
from ..core.op import LINEAR, BadInput, Op, Sample
from .samples import uniform
from .shape import broadcast_to, reshape


#: NumPy's floating scalars: what a first-order backward may hand a total's rule
_NUMPY_SCALARS = frozenset({np.float16, np.float32, np.float64, np.longdouble})


def kept_shape(shape: tuple, axis) -> tuple:
    """The shape a reduction over ``axis`` has with ``keepdims=True``."""
    if axis is None:
        return (1,) * len(shape)
    return tuple(1 if i in axis else s for i, s in enumerate(shape))


def _one_value_view(g, xshape):
    """A read-only NumPy array of ``xshape`` whose every element is ``g``'s one value, all
    strides 0: what ``np.broadcast_to`` makes, at a fifth of its cost.  Its memory is the
    value's bytes, which nothing can write, so it is read-only from birth (setting the flag
    afterwards would cost as much again)."""
    one = np.asarray(g)
    return np.ndarray(xshape, one.dtype, one.tobytes(), 0, (0,) * len(xshape))


def _spread(g, xshape, axis, keepdims):
    """Broadcast a reduced gradient back over the reduced axes."""
    # a first-order backward hands over arrays, or NumPy's scalars (a 0-d array times a number)
    kind = type(g)
    if axis is None and (kind is np.ndarray or kind in _NUMPY_SCALARS) and g.size == 1:
        return _one_value_view(g, xshape)       # a total's gradient, the usual loss
    if isinstance(g, (*B.ndarray_types, np.generic)):
        kept = g if keepdims or axis is None else g.reshape(kept_shape(xshape, axis))
        return B.module_of(g).broadcast_to(kept, xshape)
    if axis is None and not keepdims:     # a 0-d total broadcasts as it is
        return broadcast_to(g, shape=xshape)
    if not keepdims:
        g = reshape(g, shape=kept_shape(xshape, axis))
    return broadcast_to(g, shape=xshape)


def _reduce_samples(rng):
    return [Sample((uniform(rng, (3, 4)),), {"axis": None, "keepdims": False}),
            Sample((uniform(rng, (3, 4)),), {"axis": (1,), "keepdims": False}),
            Sample((uniform(rng, (2, 3, 4)),), {"axis": (0, 2), "keepdims": True}),
            Sample((uniform(rng, (5,)),), {"axis": (0,), "keepdims": False})]


def _bad_axis():
    return [BadInput((np.ones((3, 4)),), {"axis": (2,), "keepdims": False}, ShapeError,
                     "axis")]


def _sum_book(n, a):
    """``sum(x)``; the sum of every element of ``x^2`` is ``|x|_F^2``."""
    whole = n.params.get("axis") is None
    base = n.squared(a[0]) if whole else None
    return n.norm2(base) if base is not None else n.call("sum", a[0], scalar=whole)


def _sum(x, *, axis, keepdims):
    if x.dtype == np.float16:        # accumulate in float32, as NumPy's mean and PyTorch do
        return x.sum(axis=axis, keepdims=keepdims, dtype=np.float32).astype(np.float16)
    return x.sum(axis=axis, keepdims=keepdims)     # the method: NumPy's function wraps it


sum = Op(  # noqa: A001  (the public name)
    "sum", _sum,
    inputs=("x",), saves=("x.shape",),
    vjp=(lambda g, xshape, *, axis, keepdims: _spread(g, xshape, axis, keepdims),),
    jvp=LINEAR, samples=_reduce_samples, bad_inputs=_bad_axis,
    hint="axis must be in range(-x.ndim, x.ndim)",
    book=Book(TOTAL, forward=_sum_book,
              vjp=lambda n, i, g, a, out: g if n.is_scalar(g) or n.params.get("axis") is None
              else n.call("expand", g)),
    memory=Memory(vjp=0, result=READONLY), doc="Sum over ``axis``.")


def _sumsq(x):
    """``sum(x * x)`` over every element, as one dot product: no temporary, one pass."""
    if x.dtype.kind not in "biuf":
        raise TypeError(f"needs numbers, not dtype {x.dtype}")
    flat = x.reshape(-1)
    if x.dtype == np.float16:        # accumulate in float32 (a float16 dot overflows at 65504)
        flat = flat.astype(np.float32)
        return B.xp.dot(flat, flat).astype(np.float16)
    return B.xp.dot(flat, flat)


def _sumsq_samples(rng):
    return [Sample((uniform(rng, (3, 4)),)), Sample((uniform(rng, (5,)),)),
            Sample((uniform(rng, (4, 3)).T,)), Sample((uniform(rng, ()),))]


sumsq = Op(
    "sumsq", _sumsq, inputs=("x",), saves=("x",),
    vjp=(lambda g, x: g * 2 * x,),
    jvp=lambda t, x: 2 * sum(x * t[0], axis=None, keepdims=False),
    samples=_sumsq_samples,
    bad_inputs=lambda: [BadInput((np.array(["a", "b"]),), {}, DTypeError, "<U1")],
    hint="x must be a numeric array",
    book=Book(SQUARES, forward=lambda n, a: n.norm2(a[0]),
              vjp=lambda n, i, g, a, out: n.scale(2.0, n.hadamard(g, a[0]))),
    doc="``||x||^2``: the sum of the squares of every element (the chapter's weight-decay "
        "term, fused: it saves only ``x``, where ``sum(x ** 2)`` also keeps ``x ** 2``).")


def _share(ans, x, *, axis, keepdims):
    """Weights 1/count on the elements equal to the extreme, 0 elsewhere."""
    if not keepdims:
        ans = ans.reshape(kept_shape(x.shape, axis))
    hit = (x == ans).astype(x.dtype)
    return (hit / hit.sum(axis=axis, keepdims=True),)


def _extreme(name, reducer, doc):
    return Op(
        name, lambda x, *, axis, keepdims: reducer(x, axis=axis, keepdims=keepdims),
        inputs=("x",), saves=("x.shape",), residuals=_share,
        vjp=(lambda g, xshape, w, *, axis, keepdims: _spread(g, xshape, axis, keepdims) * w,),
        jvp=lambda t, xshape, w, *, axis, keepdims: sum(t[0] * w, axis=axis,
                                                        keepdims=keepdims),
        samples=_reduce_samples,
        bad_inputs=lambda: _bad_axis() + [
            BadInput((np.ones((0, 3)),), {"axis": (0,), "keepdims": False}, ShapeError,
                     "(0, 3)")],
        hint="axis must be in range(-x.ndim, x.ndim), and the reduced axes non-empty",
        memory=Memory(vjp=0), doc=doc)


max = _extreme("max", lambda x, **kw: B.xp.max(x, **kw),  # noqa: A001
               "Maximum over ``axis``; tied maxima share the gradient equally.")
min = _extreme("min", lambda x, **kw: B.xp.min(x, **kw),  # noqa: A001
               "Minimum over ``axis``; tied minima share the gradient equally.")
