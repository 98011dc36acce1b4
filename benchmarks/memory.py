"""Peak memory of one training step and one prediction, above the data already resident.

Measured with :mod:`tracemalloc`, which sees every Python object and every NumPy array buffer
(NumPy reports its data allocations to it), so the figure counts chainrule's graph, its saved
values, the gradients and every temporary.  It does not see PyTorch's allocator, so PyTorch is
not measured here (the deep-graph workload compares RSS instead).

"Resident" is what lives across steps: the inputs ``x``, the labels and the parameters; the
gradients are set to None before each measurement, so the new ones count in the peak (and in
what is "left after" the step: what it still holds once its result, J, is dropped).

The analytical footprint, from the shapes (element size s, batch N, inputs d, hidden H, classes
C), for a straightforward eager step:

* gradients: the parameters' size, ``s (H d + C H)``
* saved for backward: ``z`` (or ReLU's mask) and ``h``, each ``s N H``, and softmax(o), ``s N C``
* one N x H temporary in backward (``dh``, turned into ``dz`` in place)

and for a prediction: ``z`` and ``h`` (both alive at the ReLU) and ``o``.
"""

from __future__ import annotations

import gc
import statistics
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

import chainrule as cr

from . import reference_numpy as ref
from .harness import Result, Row, Settings, Target, align, format_value
from .workloads import CLASSES, INPUTS, StepSetup

__all__ = ["traced_peak", "analytical", "memory"]


def traced_peak(fn: Callable[[], Any], repeats: int = 3,
                before: Callable[[], None] | None = None) -> tuple[int, int]:
    """``(peak, left)``: bytes above the traced baseline at the peak of ``fn()``, and still
    held once its result is dropped.

    ``before()`` runs ahead of the baseline (e.g. to drop old gradients).  The median over
    ``repeats`` calls, each after ``gc.collect()``; tracemalloc must be on.
    """
    peaks, lefts = [], []
    for _ in range(repeats):
        if before is not None:
            before()
        gc.collect()
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        out = fn()
        del out
        current, peak = tracemalloc.get_traced_memory()
        peaks.append(peak - base)
        lefts.append(current - base)
    return int(statistics.median(peaks)), int(statistics.median(lefts))


def analytical(n: int, d: int, hidden: int, classes: int, itemsize: int) -> dict[str, int]:
    """The footprint of the step and of a prediction, in bytes, from the shapes alone."""
    params = itemsize * (hidden * d + classes * hidden)
    activation = itemsize * n * hidden
    logits = itemsize * n * classes
    return {"inputs x": itemsize * n * d, "parameters": params, "gradients": params,
            "saved z, h, softmax(o)": 2 * activation + logits,
            "one N x H backward temporary": activation,
            "step peak above resident": params + 3 * activation + logits,
            "prediction peak above resident": 2 * activation + logits}


def memory(settings: Settings, n: int = 4096, hidden: int = 1024, d: int = INPUTS,
           classes: int = CLASSES, dtype=np.float32, repeats: int = 3) -> Result:
    """Peak traced memory of a chainrule step and prediction against the hand-written ones."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        setup = StepSetup(n, hidden, d, classes, dtype)

        def no_gradients():
            setup.opt.zero_grad()

        def chainrule_predict():
            with cr.no_grad():
                return setup.model(setup.xt)

        measured = {}
        for name, fn in (("chainrule step", setup.chainrule), ("numpy step", setup.numpy),
                         ("chainrule prediction", chainrule_predict),
                         ("numpy prediction", lambda: ref.forward(setup.W1, setup.W2, setup.x))):
            fn()                                        # warm-up, outside the measurement
            measured[name] = traced_peak(fn, repeats, before=no_gradients)
        no_gradients()
    finally:
        if started:
            tracemalloc.stop()
    model = analytical(n, d, hidden, classes, np.dtype(dtype).itemsize)
    rows = [Row(f"peak memory, step  N={n} H={hidden}", "B", measured["chainrule step"][0],
                measured["numpy step"][0], None, Target("ratio", 1.1)),
            Row(f"peak memory, prediction  N={n} H={hidden}", "B",
                measured["chainrule prediction"][0], measured["numpy prediction"][0], None,
                Target("ratio", 1.1))]
    table = [["", "peak above resident", "left after", "analytical"]]
    for name, (peak, left) in measured.items():
        kind = "step" if name.endswith("step") else "prediction"
        table.append([name, format_value(peak, "B"), format_value(left, "B"),
                      format_value(model[f"{kind} peak above resident"], "B")])
    parts = [[name, format_value(value, "B")] for name, value in model.items()]
    section = (f"Memory (tracemalloc), N={n} H={hidden} {np.dtype(dtype).name}; resident: "
               f"x {format_value(model['inputs x'], 'B')}, parameters "
               f"{format_value(model['parameters'], 'B')}\n" + align(table, right=(1, 2, 3))
               + "\n\nanalytical footprint, from the shapes\n" + align(parts, right=(1,)))
    details = {"measured": {k: {"peak": p, "left": left} for k, (p, left) in measured.items()},
               "analytical": model, "method": "tracemalloc, median of "
               f"{repeats} after one warm-up; gradients set to None before each"}
    return Result(rows, [section], details)
