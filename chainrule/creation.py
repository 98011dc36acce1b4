"""Making tensors: ``tensor`` from data, constructors, and the seedable ``random`` generator."""

from __future__ import annotations

import numpy as np

from . import backend as B
from .errors import DTypeError
from .core.tensor import Tensor

__all__ = ["tensor", "zeros", "ones", "full", "arange", "randn", "rand", "random",
           "zeros_like", "ones_like"]

DEFAULT_FLOAT = np.float32


def tensor(data, requires_grad: bool = False, dtype=None, name: str | None = None) -> Tensor:
    """A new leaf tensor holding a copy of ``data``.

    A NumPy array keeps its dtype (float64 stays float64); Python floats and lists of floats
    become float32; integer and bool data stay integer and bool (and cannot require grad).

    >>> import chainrule as cr, numpy as np
    >>> cr.tensor([1.0, 2.0]).dtype, cr.tensor(np.zeros(2)).dtype, cr.tensor([1, 2]).dtype
    (dtype('float32'), dtype('float64'), dtype('int64'))
    """
    if isinstance(data, Tensor):
        data = data._data
    keeps_dtype = isinstance(data, B.ndarray_types) or isinstance(data, np.generic)
    array = B.xp.array(data, dtype=dtype, copy=True)
    if array.dtype.kind not in "fiub":
        raise DTypeError(
            f"tensor(): data of dtype {array.dtype} (shape {array.shape}) is not numeric; "
            "pass numbers, or a NumPy array of numbers"
        )
    if dtype is None and not keeps_dtype and array.dtype == np.float64:
        array = array.astype(DEFAULT_FLOAT)
    return Tensor(array, requires_grad=requires_grad, name=name)


def _make(array, requires_grad, name) -> Tensor:
    return Tensor(array, requires_grad=requires_grad, name=name)


def zeros(*shape, dtype=DEFAULT_FLOAT, requires_grad=False, name=None) -> Tensor:
    """A tensor of zeros (``zeros(2, 3)`` or ``zeros((2, 3))``)."""
    return _make(B.xp.zeros(_shape(shape), dtype=dtype), requires_grad, name)


def ones(*shape, dtype=DEFAULT_FLOAT, requires_grad=False, name=None) -> Tensor:
    """A tensor of ones."""
    return _make(B.xp.ones(_shape(shape), dtype=dtype), requires_grad, name)


def full(shape, value, dtype=DEFAULT_FLOAT, requires_grad=False, name=None) -> Tensor:
    """A tensor of ``shape`` filled with ``value``."""
    return _make(B.xp.full(_shape((shape,)), value, dtype=dtype), requires_grad, name)


def zeros_like(x, requires_grad=False) -> Tensor:
    """Zeros of the shape and dtype of ``x``."""
    data = x._data if isinstance(x, Tensor) else B.xp.asarray(x)
    return _make(B.xp.zeros_like(data), requires_grad, None)


def ones_like(x, requires_grad=False) -> Tensor:
    """Ones of the shape and dtype of ``x``."""
    data = x._data if isinstance(x, Tensor) else B.xp.asarray(x)
    return _make(B.xp.ones_like(data), requires_grad, None)


def arange(start, stop=None, step=1, dtype=None) -> Tensor:
    """Evenly spaced values, as ``numpy.arange``."""
    return Tensor(B.xp.arange(start, stop, step, dtype=dtype))


class Random:
    """chainrule's random source: ``cr.random.seed(0)`` makes ``randn``/``rand`` repeatable."""

    def __init__(self, seed: int | None = None):
        self.generator = np.random.default_rng(seed)

    def seed(self, seed: int | None) -> None:
        """Restart the sequence from ``seed``."""
        self.generator = np.random.default_rng(seed)

    def get_state(self) -> dict:
        """The generator's state (a dict of ints, JSON-serialisable)."""
        return self.generator.bit_generator.state

    def set_state(self, state: dict) -> None:
        """Restore a state from :meth:`get_state`."""
        self.generator.bit_generator.state = state


random = Random()


def randn(*shape, dtype=DEFAULT_FLOAT, requires_grad=False, name=None) -> Tensor:
    """Standard normal samples from ``cr.random``."""
    data = random.generator.standard_normal(_shape(shape)).astype(dtype)
    return _make(B.xp.asarray(data), requires_grad, name)


def rand(*shape, dtype=DEFAULT_FLOAT, requires_grad=False, name=None) -> Tensor:
    """Uniform samples in [0, 1) from ``cr.random``."""
    data = random.generator.random(_shape(shape)).astype(dtype)
    return _make(B.xp.asarray(data), requires_grad, name)


def _shape(shape: tuple) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)
