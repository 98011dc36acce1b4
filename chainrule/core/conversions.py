"""The tensor methods that convert: dtypes (``x.float()``, ``x.long()``, ``x.type()``,
``x.to(dtype)``) and devices (``x.device``, ``x.to("cuda")``, ``x.cpu()``, ``x.cuda()``), as a
mixin that :class:`~chainrule.core.methods.Methods` extends.

>>> import chainrule as cr
>>> x = cr.tensor([1.5, 2.5])
>>> x.long().tolist(), x.double().dtype, x.type(), x.to("cpu") is x
([1, 2], dtype('float64'), 'torch.FloatTensor', True)
"""

from __future__ import annotations

import numpy as np

from ..errors import DeviceError
from . import modes
from .device import CPU, device, device_of, transfer
from .registry import FUNCTIONS

__all__ = ["Conversions"]

_TYPE_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
               "int64": "LongTensor", "int32": "IntTensor", "int16": "ShortTensor",
               "int8": "CharTensor", "uint8": "ByteTensor", "bool": "BoolTensor"}


class Conversions:
    """``astype``, ``to``, ``cpu``/``cuda``, ``device``, ``type`` and the dtype shorthands."""

    __slots__ = ()

    def astype(self, dtype):
        """A copy converted to ``dtype`` (differentiable between float dtypes)."""
        return FUNCTIONS["astype"](self, dtype)

    @property
    def device(self) -> device:
        """Where the memory lives (``device(type='cpu')``, or a GPU's ``cuda:0``)."""
        return device_of(self._data)

    def to(self, *args, dtype=None, device=None, non_blocking: bool = False,
           copy: bool = False):
        """This tensor on ``device`` and in ``dtype``: ``x.to("cuda")``, ``x.to(cr.float64)``,
        ``x.to(other)`` (its device and dtype); ``self`` when nothing changes (unless
        ``copy``).  A tensor moved to another device is a new leaf; one that requires grad
        is refused, since the graph has no operator between devices."""
        for a in args:
            if isinstance(a, Conversions):
                dtype, device = a.dtype, a.device
            elif isinstance(a, (str, _device_type)):
                device = a
            else:
                dtype = a
        out = self
        if device is not None:
            target = device if isinstance(device, _device_type) else _device_type(device)
            moved = transfer(self._data, target)
            if moved is not self._data:
                out = _moved(self, moved, target)
        if dtype is not None and np.dtype(dtype) != out.dtype:
            return FUNCTIONS["astype"](out, dtype)
        return out.clone() if copy and out is self else out

    def cpu(self):
        """This tensor on the CPU (``self`` when it is there)."""
        return self.to(CPU)

    def cuda(self, device=None, non_blocking: bool = False):
        """This tensor on the GPU (``cuda:device``); :class:`DeviceError` without one."""
        return self.to(_device_type("cuda", device))

    @property
    def is_cuda(self) -> bool:
        """Whether the memory is on a GPU."""
        return self.device.type == "cuda"

    def type(self, dtype=None):
        """PyTorch's type name (``'torch.FloatTensor'``), or a copy converted to ``dtype``."""
        if dtype is None:
            return "torch." + _TYPE_NAMES.get(str(self.dtype), str(self.dtype))
        return self.to(dtype)

    def float(self):
        """``self`` as float32."""
        return self.to(np.float32)

    def double(self):
        """``self`` as float64."""
        return self.to(np.float64)

    def half(self):
        """``self`` as float16."""
        return self.to(np.float16)

    def long(self):
        """``self`` as int64."""
        return self.to(np.int64)

    def int(self):
        """``self`` as int32."""
        return self.to(np.int32)

    def bool(self):
        """``self`` as bool."""
        return self.to(np.bool_)

    def is_floating_point(self) -> bool:
        """Whether the dtype is a float type."""
        return self.dtype.kind == "f"


_device_type = device


def _moved(x, data, target):
    """A leaf holding ``data``, the copy of ``x`` on ``target``."""
    if x.requires_grad and modes.mode.grad_enabled:
        raise DeviceError(
            f"x.to('{target}'): x (shape {tuple(x.shape)}, on {x.device}) requires grad, and "
            "chainrule records no operator between devices; make it there "
            f"(cr.tensor(..., device='{target}', requires_grad=True)), move the model with "
            "model.to(device) before the forward, or move x.detach()")
    return type(x)(data, name=x.name)
