"""The array-module seam: every array operation in chainrule goes through ``backend.xp``.

NumPy is the only array library the core needs.  A GPU backend (CuPy) plugs in here by
setting ``xp`` to a module with NumPy's API; the operator table never names ``numpy`` directly
for array work, so it runs unchanged on either.

>>> from chainrule import backend
>>> backend.xp.__name__
'numpy'
"""

from __future__ import annotations

import types

import numpy

__all__ = ["xp", "use", "ndarray_types", "to_numpy", "on_change"]

xp: types.ModuleType = numpy
ndarray_types: tuple[type, ...] = (numpy.ndarray,)
on_change: list = []        # callables run after use(), for layers that cache xp functions


def use(module: types.ModuleType) -> None:
    """Make ``module`` (``numpy`` or ``cupy``) the array module for all later operations."""
    global xp, ndarray_types
    if not hasattr(module, "ndarray") or not hasattr(module, "einsum"):
        raise TypeError(f"{module!r} does not look like a NumPy-compatible array module")
    xp = module
    ndarray_types = (module.ndarray,) if module is numpy else (module.ndarray, numpy.ndarray)
    for callback in on_change:
        callback()


def to_numpy(array) -> numpy.ndarray:
    """Return ``array`` as a NumPy array (copying from the device when the backend is CuPy)."""
    if isinstance(array, numpy.ndarray):
        return array
    get = getattr(array, "get", None)
    return get() if get is not None else numpy.asarray(array)
