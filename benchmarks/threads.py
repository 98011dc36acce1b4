"""Pin the thread counts of every numerical library, before any of them is imported.

BLAS and OpenMP read their thread counts from the environment once, when they load, so
:func:`pin` must run before ``import numpy`` (and before ``import torch``); this module imports
neither.  PyTorch also gets ``torch.set_num_threads(n)`` when the suite loads it.
"""

from __future__ import annotations

import os
import sys

__all__ = ["THREAD_VARIABLES", "pin", "pinned", "current"]

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def pin(threads: int) -> None:
    """Set every thread variable to ``threads``; warn if NumPy or torch is already loaded."""
    if threads < 1:
        raise ValueError(f"threads={threads} must be >= 1")
    late = [name for name in ("numpy", "torch") if name in sys.modules]
    if late:
        print(f"benchmarks: warning: {', '.join(late)} was imported before the thread counts "
              "were pinned; the setting may not take effect", file=sys.stderr)
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)


def pinned() -> int | None:
    """The thread count the environment pins (``OMP_NUM_THREADS``), or None if unset."""
    value = os.environ.get("OMP_NUM_THREADS")
    return int(value) if value and value.isdigit() else None


def current() -> dict[str, str | None]:
    """Every thread variable as the environment has it now (for the JSON report)."""
    return {name: os.environ.get(name) for name in THREAD_VARIABLES}
