"""``x.data``: the tensor's memory as a NumPy array with PyTorch's in-place idioms.

``x.data`` is not a tensor, as in PyTorch, but an :class:`ArrayData`: a view that shares the
memory, so chainrule's optimizers and user code can do array arithmetic on it (which gives
plain arrays), while ``w.data.normal_(0, 0.01)``, ``b.data.fill_(0)`` and ``w.data.zero_()``
change the tensor and count as in-place changes.
"""

from __future__ import annotations

import weakref

import numpy as np

from . import inplace
from .registry import FUNCTIONS

__all__ = ["ArrayData", "array_data"]


class ArrayData(np.ndarray):
    """``x.data``: a NumPy view of a tensor's memory with PyTorch's in-place idioms.

    Arithmetic on it gives plain NumPy arrays; the in-place methods write the tensor's memory
    and count as an in-place change of the tensor (its version goes up).
    """

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        inputs = tuple(i.view(np.ndarray) if isinstance(i, ArrayData) else i for i in inputs)
        out = kwargs.get("out")
        if out:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, ArrayData) else o
                                  for o in out)
        return getattr(ufunc, method)(*inputs, **kwargs)

    def _owner_changed(self) -> None:
        # PyTorch's x.data is outside the graph: no refusal while recording, but the version
        # goes up, so a node that saved the old value still refuses in backward
        ref = getattr(self, "owner", None)
        owner = ref() if ref is not None else None
        if owner is not None:
            inplace._bump(owner)

    def fill_(self, value) -> ArrayData:
        """Set every element to ``value``."""
        self._owner_changed()
        self[...] = value
        return self

    def zero_(self) -> ArrayData:
        """Set every element to zero."""
        return self.fill_(0)

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> ArrayData:
        """Fill with samples of N(mean, std^2) from ``cr.random``."""
        values = FUNCTIONS["random_generator"](None).normal(mean, std, self.shape)
        return self.fill_(values.astype(self.dtype))

    def uniform_(self, a: float = 0.0, b: float = 1.0) -> ArrayData:
        """Fill with samples of U(a, b) from ``cr.random``."""
        values = FUNCTIONS["random_generator"](None).uniform(a, b, self.shape)
        return self.fill_(values.astype(self.dtype))

    def copy_(self, src) -> ArrayData:
        """Overwrite with ``src`` (broadcast)."""
        return self.fill_(getattr(src, "_data", src))


def array_data(tensor):
    """The :class:`ArrayData` view of ``tensor``'s memory (the array itself off the CPU)."""
    data = tensor._data
    if type(data) is not np.ndarray:            # CuPy later: the array itself
        return data
    view = data.view(ArrayData)
    # weakly: `losses.append(J.data)` must not keep J, and the graph behind it, alive
    view.owner = weakref.ref(tensor)
    return view
