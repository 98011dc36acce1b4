"""Rounding: ``floor``, ``ceil``, ``round``, ``trunc`` and ``sign``, flat almost everywhere.

Their gradient is zero, as in PyTorch (not "none": a loss through them still backpropagates,
to nothing); the samples stay away from the jumps, where no derivative exists.
"""

from __future__ import annotations

import numpy as np

from .. import backend as B
from ..errors import DTypeError
from ..core.cases import BadInput, Sample
from ..core.op import ELEMENTWISE, Op


def _away_from_jumps(rng):
    """Values in (-2, 2) at least 0.1 from every integer and half-integer."""
    base = rng.integers(-4, 4, size=(3, 4)) / 2.0
    return [Sample((base + rng.uniform(0.1, 0.4, size=(3, 4)),))]


def _flat(name, fn, doc):
    def forward(x):
        if x.dtype.kind not in "biuf":
            raise TypeError(f"{name} needs numbers, not dtype {x.dtype}")
        return fn(x)
    return Op(name, forward, inputs=("x",), vjp=(lambda g: g * 0.0,), jvp=ELEMENTWISE,
              samples=_away_from_jumps,
              bad_inputs=lambda: [BadInput((np.array(["a"]),), {}, DTypeError, "<U1")],
              doc=doc + " Its gradient is zero (flat almost everywhere).")


floor = _flat("floor", lambda x: B.xp.floor(x), "Round down, elementwise.")
ceil = _flat("ceil", lambda x: B.xp.ceil(x), "Round up, elementwise.")
round = _flat("round", lambda x: B.xp.round(x), "Round half to even, as PyTorch.")  # noqa: A001
trunc = _flat("trunc", lambda x: B.xp.trunc(x), "Round towards zero, elementwise.")
sign = _flat("sign", lambda x: B.xp.sign(x), "-1, 0 or 1 by the sign, elementwise.")
