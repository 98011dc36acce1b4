"""Seeded initialisers: fill a tensor in place with values drawn for it, and return it.

Every function takes the tensor and an optional ``generator``: a ``numpy.random.Generator``,
an ``int`` seed (a fresh generator is made from it), or ``None`` for chainrule's own
``cr.random.generator`` (looked up at call time, so ``cr.random.seed(n)`` makes every later
initialisation repeatable).  Values are drawn in float64 and rounded once to the tensor's dtype;
the tensor is written through ``copy_`` inside ``no_grad()``, as an optimizer would.

Fans of a weight of shape ``(out, in, *kernel)``: ``fan_in = in * prod(kernel)`` and
``fan_out = out * prod(kernel)``; a Linear layer's ``(out, in)`` weight has ``fan_in = in``.

==================  ============================================================
``xavier_uniform_``  U(-a, a), ``a = gain * sqrt(6 / (fan_in + fan_out))``
``xavier_normal_``   N(0, std^2), ``std = gain * sqrt(2 / (fan_in + fan_out))``
``kaiming_uniform_`` U(-a, a), ``a = gain * sqrt(3 / fan)``
``kaiming_normal_``  N(0, std^2), ``std = gain / sqrt(fan)``
==================  ============================================================

with ``fan`` the ``mode`` chosen (``"fan_in"`` by default) and ``gain`` from :func:`gain`
(``sqrt(2)`` for ReLU, 5/3 for tanh, 1 for sigmoid and linear).

>>> import numpy as np
>>> from chainrule import tensor
>>> from chainrule.nn import init
>>> w = init.kaiming_uniform_(tensor(np.empty((256, 784))), generator=0)
>>> bool(np.abs(w.data).max() <= np.sqrt(6 / 784))
True
"""

from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..creation import random
from ..errors import ShapeError
from ..core.modes import no_grad
from ..core.tensor import Tensor

__all__ = [
    "gain", "fans", "normal_", "uniform_", "zeros_", "xavier_uniform_", "xavier_normal_",
    "kaiming_uniform_", "kaiming_normal_",
]

Generator = np.random.Generator | int | None

_GAINS = {
    "linear": 1.0,
    "identity": 1.0,
    "sigmoid": 1.0,
    "tanh": 5.0 / 3.0,
    "relu": math.sqrt(2.0),
}


def gain(nonlinearity: str = "relu") -> float:
    """The factor that keeps activations' variance steady through ``nonlinearity``.

    >>> round(gain("relu") ** 2, 12), gain("tanh")
    (2.0, 1.6666666666666667)
    """
    try:
        return _GAINS[nonlinearity]
    except KeyError:
        raise ShapeError(f"gain: unknown nonlinearity {nonlinearity!r}; choose one of "
                         f"{', '.join(sorted(_GAINS))}") from None


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of ``shape`` = ``(out, in, *kernel)``."""
    if len(shape) < 2:
        raise ShapeError(f"fans: a weight of shape {tuple(shape)} has no fan-in and fan-out; "
                         "they need at least 2 dimensions (out, in): use normal_ or zeros_ "
                         "for a bias")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def as_generator(generator: Generator) -> np.random.Generator:
    if generator is None:
        return random.generator
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return np.random.default_rng(int(generator))
    raise ShapeError(f"generator must be a numpy.random.Generator, an int seed or None, got "
                     f"{type(generator).__name__}")


def _fill(t: Tensor, values: np.ndarray) -> Tensor:
    """Write float64 ``values`` into ``t`` (rounded once to its dtype), outside the graph."""
    if not isinstance(t, Tensor):
        raise ShapeError(f"initialisers fill a chainrule Tensor in place, got "
                         f"{type(t).__name__}; wrap it first with cr.tensor(...)")
    if t.dtype.kind != "f":
        raise ShapeError(f"initialisers fill floating-point tensors; this one has dtype "
                         f"{t.dtype} and shape {t.shape}")
    with no_grad():
        t.copy_(backend.xp.asarray(values.astype(t.dtype)))
    return t


def _fan(shape: tuple[int, ...], mode: str) -> int:
    fan_in, fan_out = fans(shape)
    if mode == "fan_in":
        return fan_in
    if mode == "fan_out":
        return fan_out
    raise ShapeError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")


def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0,
            generator: Generator = None) -> Tensor:
    """Fill ``t`` with samples of N(mean, std^2)."""
    if std < 0:
        raise ShapeError(f"normal_: std={std} is negative; pass std >= 0")
    return _fill(t, as_generator(generator).normal(mean, std, size=t.shape))


def uniform_(t: Tensor, low: float = 0.0, high: float = 1.0,
             generator: Generator = None) -> Tensor:
    """Fill ``t`` with samples of U(low, high)."""
    if high < low:
        raise ShapeError(f"uniform_: low={low} > high={high}; swap them")
    return _fill(t, as_generator(generator).uniform(low, high, size=t.shape))


def zeros_(t: Tensor) -> Tensor:
    """Fill ``t`` with zeros."""
    return _fill(t, np.zeros(t.shape))


def xavier_uniform_(t: Tensor, gain: float = 1.0, generator: Generator = None) -> Tensor:
    """Glorot and Bengio (2010): U(-a, a) with ``a = gain * sqrt(6 / (fan_in + fan_out))``."""
    fan_in, fan_out = fans(t.shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -bound, bound, generator)


def xavier_normal_(t: Tensor, gain: float = 1.0, generator: Generator = None) -> Tensor:
    """Glorot and Bengio (2010): N(0, std^2) with ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = fans(t.shape)
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def kaiming_uniform_(t: Tensor, nonlinearity: str = "relu", mode: str = "fan_in",
                     generator: Generator = None) -> Tensor:
    """He et al. (2015): U(-a, a) with ``a = gain(nonlinearity) * sqrt(3 / fan)``."""
    bound = gain(nonlinearity) * math.sqrt(3.0 / _fan(t.shape, mode))
    return uniform_(t, -bound, bound, generator)


def kaiming_normal_(t: Tensor, nonlinearity: str = "relu", mode: str = "fan_in",
                    generator: Generator = None) -> Tensor:
    """He et al. (2015): N(0, std^2) with ``std = gain(nonlinearity) / sqrt(fan)``."""
    std = gain(nonlinearity) / math.sqrt(_fan(t.shape, mode))
    return normal_(t, 0.0, std, generator)
