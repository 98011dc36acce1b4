"""The array modules: NumPy for the CPU, CuPy for a GPU, and the seam ``backend.xp``.

A *placement* ties a device type (``"cpu"``, ``"cuda"``, or a test device) to an array module
with NumPy's API and to the array type that module makes.  A tensor's placement is read from
the type of its array, so it is fixed when the tensor is made (``cr.tensor(..., device=)``,
``x.to(device)``) and never looked up by name again.

``xp`` is the module of the operator running now.  ``Op.__call__`` compares the type of each
array input with ``array_type`` (one ``is`` per input); only when they differ does it look up
the inputs' placement, refuse a mix of devices, and :func:`activate` the placement of the
first array input, which rebinds ``xp``.  So the operator table, written against ``B.xp``,
runs unchanged on every placement, and a program on one device never switches.

CuPy is optional (``pip install 'chainrule[cuda]'``): :func:`load_cuda` imports it on the
first request for ``"cuda"`` and registers the placement only when it sees a GPU.

>>> from chainrule import backend
>>> backend.xp.__name__, backend.placement_of(backend.xp.zeros(2)).name
('numpy', 'cpu')
"""

from __future__ import annotations

import types
from typing import Callable, NamedTuple

import numpy

__all__ = ["xp", "array_type", "use", "activate", "ndarray_types", "to_numpy", "on_change",
           "Placement", "PLACEMENTS", "CPU", "register", "placement_of", "module_of",
           "load_cuda", "CUDA_HINT"]

CUDA_HINT = ("install CuPy for CUDA 12 with pip install 'chainrule[cuda]' (the cupy-cuda12x "
             "wheel) on a machine with an NVIDIA GPU and its driver")


class Placement(NamedTuple):
    """A device type and the array module that computes there.

    ``to_host(array)`` gives a NumPy array, ``from_host(array)`` the placement's array of a
    NumPy one; ``bytes_in_use()`` the device memory held by arrays now (``None`` on the CPU,
    where :mod:`tracemalloc` counts); ``synchronize()`` waits for queued work to finish.
    """

    name: str
    xp: types.ModuleType
    array_type: type
    to_host: Callable
    from_host: Callable
    bytes_in_use: Callable[[], int | None] = lambda: None
    synchronize: Callable[[], None] = lambda: None


CPU = Placement("cpu", numpy, numpy.ndarray, numpy.asarray, numpy.asarray)

#: The placements by device type, ``"cpu"`` always; ``"cuda"`` once :func:`load_cuda` succeeds.
PLACEMENTS: dict[str, Placement] = {"cpu": CPU}
_BY_TYPE: dict[type, Placement] = {numpy.ndarray: CPU}     # an array's type -> its placement

xp: types.ModuleType = numpy
array_type: type = numpy.ndarray
ndarray_types: tuple[type, ...] = (numpy.ndarray,)     # every registered array type
on_change: list = []        # callables run after activate(), for layers that cache xp functions


def register(placement: Placement) -> Placement:
    """Add a placement (the GPU's, or a test device's) under its name."""
    global ndarray_types
    PLACEMENTS[placement.name] = placement
    _BY_TYPE[placement.array_type] = placement
    ndarray_types = tuple(dict.fromkeys(p.array_type for p in PLACEMENTS.values()))
    for callback in on_change:
        callback()
    return placement


def placement_of(array) -> Placement | None:
    """The placement of ``array`` by its type (subclasses too: ``x.data``), or ``None`` for
    what is not an array of a registered module (numbers, lists)."""
    found = _BY_TYPE.get(type(array))
    if found is not None:
        return found
    for kind, placement in list(_BY_TYPE.items()):
        if isinstance(array, kind):
            _BY_TYPE[type(array)] = placement
            return placement
    return None


def module_of(array) -> types.ModuleType:
    """The array module that computes on ``array`` (NumPy for numbers and lists)."""
    found = placement_of(array)
    return numpy if found is None else found.xp


def activate(placement: Placement) -> None:
    """Make ``placement``'s module the one operators call (``Op.__call__`` does this)."""
    global xp, array_type
    xp, array_type = placement.xp, placement.array_type
    for callback in on_change:
        callback()


def use(module: types.ModuleType) -> None:
    """Activate the placement whose module is ``module`` (``numpy``, or ``cupy`` once loaded)."""
    for placement in PLACEMENTS.values():
        if placement.xp is module:
            return activate(placement)
    if not hasattr(module, "ndarray") or not hasattr(module, "einsum"):
        raise TypeError(f"{module!r} does not look like a NumPy-compatible array module")
    if getattr(module, "__name__", "") == "cupy":
        load_cuda()
        return use(module)
    raise TypeError(f"{module.__name__} is not a registered placement; register() it first")


def to_numpy(array) -> numpy.ndarray:
    """Return ``array`` as a NumPy array (copied from the device off the CPU)."""
    if type(array) is numpy.ndarray:
        return array
    found = placement_of(array)
    if found is not None:
        return found.to_host(array)
    get = getattr(array, "get", None)
    return get() if get is not None else numpy.asarray(array)


_cuda_problem: list[str] = []      # why CUDA is not there, once asked


def load_cuda() -> str:
    """Register the ``"cuda"`` placement if CuPy imports and sees a GPU; ``""`` when it is
    there, else the reason it is not (with :data:`CUDA_HINT`)."""
    if "cuda" in PLACEMENTS:
        return ""
    if _cuda_problem:
        return _cuda_problem[0]
    try:
        import cupy
    except ImportError as exc:
        reason = f"CuPy is not installed ({exc}); {CUDA_HINT}"
    else:
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:       # CUDARuntimeError without a driver or a device
            count, reason = 0, f"CuPy is installed but sees no GPU ({exc}); {CUDA_HINT}"
        else:
            reason = f"CuPy is installed but sees no GPU; {CUDA_HINT}"
        if count > 0:
            pool = cupy.get_default_memory_pool()
            register(Placement("cuda", cupy, cupy.ndarray, cupy.asnumpy, cupy.asarray,
                               pool.used_bytes, cupy.cuda.runtime.deviceSynchronize))
            return ""
    _cuda_problem.append(reason)
    return reason
