"""The measured side of the memory model: one training step and one prediction, to set beside
:func:`chainrule.memory.predict`'s figures (``chainrule memory --measure``).

Where the bytes are counted follows the model's device: on the CPU, :mod:`tracemalloc` (NumPy
reports its allocations to it); on a GPU, CuPy's memory pool (:class:`Counter`).
"""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np

from ..backend import Placement
from ..core.device import CPU, placement
from ..core.modes import no_grad, set_grad_enabled
from ..core.tensor import Tensor
from .report import model_io

__all__ = ["measure", "Counter"]


class Counter:
    """The peak bytes a function allocates on one device beyond what was held before it.

    On the CPU it reads :mod:`tracemalloc`.  On a GPU it wraps CuPy's allocator for the call:
    each allocation goes to the default memory pool as before, and the pool's used bytes are
    read right after it, so the largest reading is the peak (the pool keeps no peak itself).
    """

    def __init__(self, where: Placement):
        self.where = where
        self.traced = where.bytes_in_use() is None

    def start(self) -> bool:
        """Start counting; True when this call started :mod:`tracemalloc` (stop it after)."""
        if self.traced and not tracemalloc.is_tracing():
            tracemalloc.start()
            return True
        return False

    def stop(self) -> None:
        tracemalloc.stop()

    def peak(self, fn) -> int:
        """Run ``fn()``; the most bytes held during it beyond those held before."""
        if self.traced:
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            fn()
            return tracemalloc.get_traced_memory()[1] - base
        cupy = self.where.xp
        pool = cupy.get_default_memory_pool()
        self.where.synchronize()
        base = most = pool.used_bytes()

        def allocate(size):
            nonlocal most
            memory = pool.malloc(size)
            most = max(most, pool.used_bytes())
            return memory
        cupy.cuda.set_allocator(allocate)
        try:
            fn()
            self.where.synchronize()
        finally:
            cupy.cuda.set_allocator(pool.malloc)
        return most - base


def measure(model, batch_size: int, *, seed: int = 0) -> dict[str, int]:
    """Run one training step and one prediction at ``batch_size``, counting bytes on the
    model's device (:mod:`tracemalloc` on the CPU, CuPy's pool on a GPU).

    Returns ``{"training_bytes": ..., "prediction_bytes": ...}``, each the traced peak beyond
    what existed before (the parameters and the input batch, made first): the step is
    ``J = model.objective(x, y); J.backward()``, the prediction ``model(x)`` under
    ``no_grad()``.  Each runs twice and the second counts (the first warms caches up).  The
    parameters' ``.grad`` are put back as they were.
    """
    inputs, classes, dtype = model_io(model)
    rng = np.random.default_rng(seed)
    params = model.parameters()
    where = params[0].device if params else CPU
    x = Tensor(rng.standard_normal((batch_size, inputs)).astype(dtype), name="x").to(where)
    y = Tensor(rng.integers(0, classes, batch_size)).to(where)
    grads = [p.grad for p in params]
    counter = Counter(placement(where.type))
    started = counter.start()

    def peak(fn) -> int:
        for p in params:
            p.grad = None
        model.clear_intermediates()
        gc.collect()
        return counter.peak(fn)

    def step() -> None:
        with set_grad_enabled(True):
            model.objective(x, y).backward()

    def prediction() -> None:
        with no_grad():
            model(x)

    try:
        result = {}
        for _ in range(2):
            result = {"training_bytes": peak(step), "prediction_bytes": peak(prediction)}
        return result
    finally:
        if started:
            counter.stop()
        model.clear_intermediates()
        for p, g in zip(params, grads):
            p.grad = g
