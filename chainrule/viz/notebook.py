"""What a notebook shows for a tensor and for a model: the graph, drawn as the book draws it.

The core and the models cannot import the drawings (they sit below them), so this module puts
its two functions in :data:`chainrule.core.tensor.DISPLAY` when :mod:`chainrule.viz` loads.
"""

from __future__ import annotations

import numpy as np

from ..core.tensor import DISPLAY, Tensor
from ..memory.report import model_io
from .dot import repr_svg

__all__ = ["model_svg"]


def model_svg(model) -> str | None:
    """A model's computational graph on one example of zeros, as SVG text (or None)."""
    inputs, _, dtype = model_io(model)
    x = Tensor(np.zeros((1, inputs), dtype=dtype), name="x")
    y = Tensor(np.zeros(1, dtype=np.int64), name="y")
    try:
        return repr_svg(model.objective(x, y))
    finally:
        model.clear_intermediates()


DISPLAY["tensor"] = repr_svg
DISPLAY["model"] = model_svg
