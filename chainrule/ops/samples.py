"""Sample-input makers for the operator table: each returns ``make(rng) -> [Sample, ...]``.

The domain of an operator lives with its declaration (``log`` samples from ``low=0.2``), and
the generated tests draw every operator's samples from here in float64.
"""

from __future__ import annotations

import numpy as np

from ..core.cases import Sample

__all__ = ["uniform", "unary", "binary", "BINARY_SHAPES"]

# shapes for binary elementwise operators: equal, trailing broadcast, both sides broadcast,
# a 0-d tensor against a matrix, and a Python scalar constant on either side
BINARY_SHAPES = (((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((), (2, 3)),
                 ((2, 3), "scalar"), ("scalar", (2, 3)))


def uniform(rng, shape, low=-2.0, high=2.0, gap=0.0):
    """Uniform values in [low, high]; with ``gap``, none closer than ``gap`` to zero."""
    if shape == "scalar":
        return float(np.round(rng.uniform(max(low, gap), high), 3))
    values = rng.uniform(low, high, size=shape)
    if gap:
        values = np.where(np.abs(values) < gap, np.sign(values + 1e-12) * gap, values)
    return values


def unary(low=-2.0, high=2.0, gap=0.0, shapes=((3, 4), (5,), ())):
    """Samples of one float64 input per shape, within [low, high]."""
    def make(rng):
        return [Sample((uniform(rng, s, low, high, gap),)) for s in shapes]
    return make


def binary(low=-2.0, high=2.0, low2=None, high2=None, shapes=BINARY_SHAPES, params=None):
    """Samples of two inputs over equal and broadcast shapes, the second in [low2, high2]."""
    low2 = low if low2 is None else low2
    high2 = high if high2 is None else high2

    def make(rng):
        return [Sample((uniform(rng, a, low, high), uniform(rng, b, low2, high2)),
                       dict(params or {}))
                for a, b in shapes]
    return make
