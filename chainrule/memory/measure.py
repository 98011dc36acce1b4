"""The measured side of the memory model: one training step and one prediction under
:mod:`tracemalloc`, to set beside :func:`chainrule.memory.predict`'s figures
(``chainrule memory --measure``)."""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np

from ..core.modes import no_grad, set_grad_enabled
from ..core.tensor import Tensor
from .report import model_io

__all__ = ["measure"]


def measure(model, batch_size: int, *, seed: int = 0) -> dict[str, int]:
    """Run one training step and one prediction at ``batch_size`` under :mod:`tracemalloc`.

    Returns ``{"training_bytes": ..., "prediction_bytes": ...}``, each the traced peak beyond
    what existed before (the parameters and the input batch, made first): the step is
    ``J = model.objective(x, y); J.backward()``, the prediction ``model(x)`` under
    ``no_grad()``.  Each runs twice and the second counts (the first warms caches up).  The
    parameters' ``.grad`` are put back as they were.
    """
    inputs, classes, dtype = model_io(model)
    rng = np.random.default_rng(seed)
    x = Tensor(rng.standard_normal((batch_size, inputs)).astype(dtype), name="x")
    y = rng.integers(0, classes, batch_size)
    params = model.parameters()
    grads = [p.grad for p in params]
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()

    def peak(fn) -> int:
        for p in params:
            p.grad = None
        model.clear_intermediates()
        gc.collect()
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1] - base

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
            tracemalloc.stop()
        model.clear_intermediates()
        for p, g in zip(params, grads):
            p.grad = g
