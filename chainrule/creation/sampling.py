"""Random tensors from the seedable ``cr.random`` generator (``cr.manual_seed``)."""

from __future__ import annotations


import numpy as np

from ..core.dtypes import default_float
from ..core.methods import provide
from ..core.tensor import Tensor
from .tensors import _dtype, _like_data, _like_device, _make, _moved, _shape


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


def randn(*shape, dtype=None, requires_grad=False, name=None, size=None, device=None) -> Tensor:
    """Standard normal samples from ``cr.random``; ``dtype`` must be a float type.  They are
    drawn on the host, so a seed gives the same values on every ``device``."""
    dtype = _dtype("randn", default_float() if dtype is None else dtype, floating=True)
    shape = _shape(shape if size is None else (size,), "randn", dtype)
    data = random.generator.standard_normal(shape).astype(dtype)
    return _make(_moved(data, device), requires_grad, name)


def rand(*shape, dtype=None, requires_grad=False, name=None, size=None, device=None) -> Tensor:
    """Uniform samples in [0, 1) from ``cr.random``; ``dtype`` must be a float type."""
    dtype = _dtype("rand", default_float() if dtype is None else dtype, floating=True)
    shape = _shape(shape if size is None else (size,), "rand", dtype)
    data = random.generator.random(shape).astype(dtype)
    return _make(_moved(data, device), requires_grad, name)


def normal(mean=0.0, std=1.0, size=None, *, dtype=None, requires_grad=False,
           name=None, device=None) -> Tensor:
    """Samples of N(mean, std^2) from ``cr.random``: ``normal(0, 0.01, size=(2, 1))``.

    As ``torch.normal``: ``mean`` and ``std`` may be tensors (then the shape is theirs).

    >>> import chainrule as cr
    >>> cr.random.seed(0); cr.normal(0, 0.01, (2, 3)).shape
    (2, 3)
    """
    mean_data = mean.numpy() if isinstance(mean, Tensor) else mean
    std_data = std.numpy() if isinstance(std, Tensor) else std
    if device is None:
        device = next((t.device for t in (mean, std) if isinstance(t, Tensor)), None)
    if size is None:
        size = np.broadcast_shapes(np.shape(mean_data), np.shape(std_data))
    like = next((t.dtype for t in (mean, std) if isinstance(t, Tensor)), None)
    dtype = _dtype("normal", dtype or like or default_float(), floating=True)
    shape = _shape((size,) if not isinstance(size, int) else (size,), "normal", dtype)
    data = random.generator.normal(mean_data, std_data, shape).astype(dtype)
    return _make(_moved(data, device), requires_grad, name)


def randint(low, high=None, size=(), *, dtype=np.int64, device=None) -> Tensor:
    """Integers drawn uniformly from ``[low, high)`` (``[0, low)`` with one bound)."""
    low, high = (0, low) if high is None else (low, high)
    dtype = _dtype("randint", dtype)
    shape = _shape((size,) if not isinstance(size, int) else (size,), "randint", dtype)
    return Tensor(_moved(random.generator.integers(low, high, shape).astype(dtype), device))


def rand_like(x) -> Tensor:
    """Uniform samples in [0, 1) in the shape and dtype of ``x``."""
    data = _like_data("rand_like", x)
    return rand(data.shape, dtype=data.dtype, device=_like_device(data, None))


def randn_like(x) -> Tensor:
    """Standard normal samples in the shape and dtype of ``x``."""
    data = _like_data("randn_like", x)
    return randn(data.shape, dtype=data.dtype, device=_like_device(data, None))


def manual_seed(seed: int) -> Random:
    """``torch.manual_seed``: restart ``cr.random`` from ``seed``."""
    random.seed(seed)
    return random


def _generator(generator=None) -> np.random.Generator:
    """A NumPy generator: ``cr.random``'s, one given, or a new one from an int seed."""
    if generator is None:
        return random.generator
    if isinstance(generator, Random):
        return generator.generator
    if isinstance(generator, np.random.Generator):
        return generator
    return np.random.default_rng(generator)


provide(random_generator=_generator)
