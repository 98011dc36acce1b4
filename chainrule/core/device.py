"""``cr.device``: where a tensor's memory lives, and so which array module computes on it.

``"cpu"`` is NumPy; ``"cuda"`` (or ``"cuda:0"``) is CuPy on an NVIDIA GPU, there only when
CuPy imports and sees a device (``pip install 'chainrule[cuda]'``); without it, asking for
``"cuda"`` raises one :class:`DeviceError` that says what to install.  The book's
``device = torch.device("cuda" if torch.cuda.is_available() else "cpu")`` works as written.
A test device registered in :mod:`chainrule.backend` is a device type too.

>>> import chainrule as cr
>>> cr.device("cpu"), cr.tensor([1.0]).device
(device(type='cpu'), device(type='cpu'))
>>> cr.device("cuda" if cr.cuda.is_available() else "cpu").type
'cpu'
"""

from __future__ import annotations

from .. import backend
from ..errors import DeviceError

__all__ = ["device", "DeviceError", "CPU", "cuda", "placement", "device_of", "transfer"]


class device:  # noqa: N801  (PyTorch's name)
    """A device by name: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, or ``device("cuda", 1)``."""

    __slots__ = ("type", "index")

    def __init__(self, spec="cpu", index: int | None = None):
        if isinstance(spec, device):
            spec, index = spec.type, spec.index if index is None else index
        if not isinstance(spec, str):
            raise DeviceError(f"device({spec!r}): a device is a string such as 'cpu' or "
                              "'cuda:0', or a cr.device")
        name, _, number = spec.partition(":")
        if number:
            if not number.isdigit():
                raise DeviceError(f"device({spec!r}): the index after ':' must be a whole "
                                  "number, as in 'cuda:0'")
            index = int(number)
        placement(name, spec)                   # refuses a device that is not there
        self.type = name
        self.index = index

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except DeviceError:
                return False
        if not isinstance(other, device) or other.type != self.type:
            return False
        return self.index is None or other.index is None or self.index == other.index

    def __hash__(self) -> int:
        return hash(self.type)

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        extra = "" if self.index is None else f", index={self.index}"
        return f"device(type={self.type!r}{extra})"


def placement(name: str, spec=None) -> backend.Placement:
    """The placement of device type ``name``, or :class:`DeviceError` saying how to get it."""
    found = backend.PLACEMENTS.get(name)
    if found is not None:
        return found
    if name == "cuda":
        reason = backend.load_cuda()
        if not reason:
            return backend.PLACEMENTS["cuda"]
        raise DeviceError(f"device({spec or name!r}): no GPU to compute on: {reason}; or stay "
                          "on the CPU with device('cuda' if cr.cuda.is_available() else 'cpu')")
    known = ", ".join(repr(k) for k in sorted({*backend.PLACEMENTS, "cuda"}))
    raise DeviceError(f"device({spec or name!r}): unknown device type {name!r}; use one of "
                      f"{known}")


CPU = device("cpu")
_DEVICES: dict[str, device] = {"cpu": CPU}


def device_of(array) -> device:
    """The device an array lives on (the CPU for numbers and lists)."""
    found = backend.placement_of(array)
    name = "cpu" if found is None else found.name
    if name == "cuda":
        return device("cuda", int(array.device.id))
    known = _DEVICES.get(name)
    if known is None:
        known = _DEVICES[name] = device(name)
    return known


def transfer(array, to: device):
    """``array`` on device ``to``: itself when it is there already, else a copy."""
    source = backend.placement_of(array) or backend.CPU
    target = placement(to.type)
    if source is target and (to.index is None or to.type != "cuda"
                             or int(array.device.id) == to.index):
        return array
    host = source.to_host(array)
    if to.type == "cuda" and to.index is not None:
        with target.xp.cuda.Device(to.index):
            return target.from_host(host)
    return target.from_host(host)


class _Cuda:
    """``cr.cuda``: whether CuPy sees a GPU, how many, and waiting for the GPU's queue."""

    @staticmethod
    def is_available() -> bool:
        """True when CuPy imports and sees at least one GPU."""
        return not backend.load_cuda()

    @staticmethod
    def device_count() -> int:
        """The number of GPUs CuPy sees (0 without CuPy)."""
        if backend.load_cuda():
            return 0
        return int(backend.PLACEMENTS["cuda"].xp.cuda.runtime.getDeviceCount())

    @staticmethod
    def synchronize() -> None:
        """Wait until the GPU has finished the work queued so far (nothing without one)."""
        if not backend.load_cuda():
            backend.PLACEMENTS["cuda"].synchronize()

    @staticmethod
    def memory_allocated() -> int:
        """Bytes held by CuPy arrays now (its memory pool's used bytes; 0 without a GPU)."""
        if backend.load_cuda():
            return 0
        return int(backend.PLACEMENTS["cuda"].bytes_in_use())


cuda = _Cuda()
