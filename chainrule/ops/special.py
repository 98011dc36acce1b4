"""Special functions: ``erf``, the error function (the GELU activation is built on it).

NumPy has no ``erf``; the forward applies Python's :func:`math.erf` to each element (exact to
the last bit, not fast: about 10 M elements a second).  Its derivative ``2/sqrt(pi) e^(-x^2)``
is written in chainrule's own operators, so every order works.
"""

from __future__ import annotations

import math

import numpy as np

from .. import backend as B
from ..errors import DTypeError
from ..core.cases import BadInput
from ..core.op import ELEMENTWISE, Op
from .elementwise import exp
from .samples import unary

_ERF = np.vectorize(math.erf, otypes=[np.float64])
_TWO_OVER_ROOT_PI = 2.0 / math.sqrt(math.pi)


def _erf(x):
    if x.dtype.kind not in "biuf":
        raise TypeError(f"erf needs numbers, not dtype {x.dtype}")
    out = B.xp.asarray(_ERF(B.to_numpy(x)))
    return out.astype(x.dtype, copy=False) if x.dtype.kind == "f" else out


erf = Op("erf", _erf, inputs=("x",), promotes="float", saves=("x",),
         vjp=(lambda g, x: g * (_TWO_OVER_ROOT_PI * exp(-(x * x))),), jvp=ELEMENTWISE,
         samples=unary(-2.5, 2.5),
         bad_inputs=lambda: [BadInput((np.array(["a"]),), {}, DTypeError, "<U1")],
         doc="The error function ``2/sqrt(pi) int_0^x e^(-t^2) dt``, elementwise.")
