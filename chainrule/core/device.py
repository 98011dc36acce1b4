"""``cr.device``: where a tensor's memory lives.  chainrule computes on the CPU (NumPy) today.

``cr.device("cpu")`` works; ``cr.device("cuda")`` raises :class:`DeviceError` until the GPU
backend (CuPy, through :mod:`chainrule.backend`) arrives, so the book's
``device = torch.device("cuda" if torch.cuda.is_available() else "cpu")`` picks the CPU.

>>> import chainrule as cr
>>> cr.device("cpu"), cr.tensor([1.0]).device, cr.cuda.is_available()
(device(type='cpu'), device(type='cpu'), False)
"""

from __future__ import annotations

from ..errors import DeviceError

__all__ = ["device", "DeviceError", "CPU", "cuda"]


class device:  # noqa: N801  (PyTorch's name)
    """A device by name: ``"cpu"`` (or ``"cpu:0"``); ``"cuda"`` is refused for now."""

    __slots__ = ("type", "index")

    def __init__(self, spec="cpu", index: int | None = None):
        if isinstance(spec, device):
            spec, index = spec.type, spec.index
        name, _, number = str(spec).partition(":")
        if name != "cpu":
            raise DeviceError(
                f"device({spec!r}): chainrule computes on the CPU only for now (CuPy/GPU "
                "support is not there yet); use device('cpu'), or pick the device as "
                "'cuda' if cr.cuda.is_available() else 'cpu'")
        self.type = "cpu"
        self.index = int(number) if number else index

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except DeviceError:
                return False
        return isinstance(other, device) and other.type == self.type

    def __hash__(self) -> int:
        return hash(self.type)

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        return f"device(type={self.type!r})"


CPU = device("cpu")


class _Cuda:
    """``cr.cuda.is_available()`` is False until the GPU backend arrives."""

    @staticmethod
    def is_available() -> bool:
        return False

    @staticmethod
    def device_count() -> int:
        return 0


cuda = _Cuda()
