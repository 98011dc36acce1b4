"""Running sums and products: ``cumsum`` (linear), ``cumprod`` and ``prod``.

``cumsum`` with ``reverse=True`` sums from the end; each direction is the other's VJP.  The
product rules divide by ``x`` (``d prod / d x_i = prod / x_i``), so they hold where no
element is zero, as the samples are.
"""

from __future__ import annotations

import numpy as np

from .. import backend as B
from ..errors import DTypeError, ShapeError
from ..core.cases import BadInput, Sample
from ..core.op import LINEAR, Op
from .reduce import _spread
from .reduce import sum as _sum
from .samples import uniform


def _cumsum(x, *, axis, reverse):
    if x.dtype.kind not in "biuf":
        raise TypeError(f"needs numbers, not dtype {x.dtype}")
    if not reverse:
        return B.xp.cumsum(x, axis=axis)
    flipped = B.xp.flip(x, axis=axis)
    return B.xp.flip(B.xp.cumsum(flipped, axis=axis), axis=axis)


def _scan_samples(rng, low=-2.0, high=2.0, gap=0.0, params=None):
    extra = params or {}
    return [Sample((uniform(rng, (3, 4), low, high, gap),), {"axis": 1, **extra}),
            Sample((uniform(rng, (3, 4), low, high, gap),), {"axis": 0, **extra}),
            Sample((uniform(rng, (5,), low, high, gap),), {"axis": 0, **extra})]


def _bad_scan(params):
    return lambda: [BadInput((np.ones((3, 4)),), {"axis": 2, **params}, ShapeError, "(3, 4)"),
                    BadInput((np.array(["a"]),), {"axis": 0, **params}, DTypeError, "<U1")]


cumsum = Op("cumsum", _cumsum, inputs=("x",), promotes="same",
            vjp=(lambda g, *, axis, reverse: cumsum(g, axis=axis, reverse=not reverse),),
            jvp=LINEAR,
            samples=lambda rng: (_scan_samples(rng, params={"reverse": False})
                                 + _scan_samples(rng, params={"reverse": True})[:1]),
            bad_inputs=_bad_scan({"reverse": False}),
            hint="axis must be in range(-x.ndim, x.ndim)",
            doc="Running sum along ``axis`` (from the end with ``reverse=True``).")


def _cumprod(x, *, axis):
    if x.dtype.kind not in "biuf":
        raise TypeError(f"needs numbers, not dtype {x.dtype}")
    return B.xp.cumprod(x, axis=axis)


cumprod = Op("cumprod", _cumprod, inputs=("x",), saves=("x", "ans"),
             vjp=(lambda g, x, ans, *, axis: cumsum(g * ans, axis=axis, reverse=True) / x,),
             jvp=lambda t, x, ans, *, axis: ans * cumsum(t[0] / x, axis=axis, reverse=False),
             samples=lambda rng: _scan_samples(rng, gap=0.4),
             bad_inputs=_bad_scan({}), hint="axis must be in range(-x.ndim, x.ndim)",
             doc="Running product along ``axis`` (its gradient assumes no zero in ``x``).")


def _prod(x, *, axis, keepdims):
    if x.dtype.kind not in "biuf":
        raise TypeError(f"needs numbers, not dtype {x.dtype}")
    return B.xp.prod(x, axis=axis, keepdims=keepdims)


def _prod_samples(rng):
    return [Sample((uniform(rng, (3, 4), gap=0.4),), {"axis": None, "keepdims": False}),
            Sample((uniform(rng, (3, 4), gap=0.4),), {"axis": (1,), "keepdims": False}),
            Sample((uniform(rng, (2, 3, 4), gap=0.4),), {"axis": (0, 2), "keepdims": True})]


prod = Op("product", _prod, inputs=("x",), saves=("x", "ans"),
          vjp=(lambda g, x, ans, *, axis, keepdims:
               _spread(g * ans, x.shape, axis, keepdims) / x,),
          jvp=lambda t, x, ans, *, axis, keepdims:
              _sum(t[0] / x, axis=axis, keepdims=keepdims) * ans,
          samples=_prod_samples,
          bad_inputs=lambda: [BadInput((np.ones((3, 4)),), {"axis": (2,), "keepdims": False},
                                       ShapeError, "(3, 4)")],
          hint="axis must be in range(-x.ndim, x.ndim)",
          doc="Product over ``axis`` (its gradient assumes no zero in ``x``).")
