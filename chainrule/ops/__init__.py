"""The operator table: every primitive chainrule differentiates, declared once.

``OPS`` maps each name to its :class:`~chainrule.ops.registry.Op`; the generated tests walk it.
One file per family: :mod:`.elementwise`, :mod:`.reduce`, :mod:`.shape`, :mod:`.linalg`,
:mod:`.loss` (fused softmax and cross-entropy); :mod:`.saves` says what a recorded node keeps.
"""

from . import elementwise, linalg, loss, reduce, shape
from .registry import ELEMENTWISE, LINEAR, MULTILINEAR, OPS, BadInput, Op, Sample

__all__ = ["OPS", "Op", "Sample", "BadInput", "ELEMENTWISE", "LINEAR", "MULTILINEAR",
           "elementwise", "linalg", "loss", "reduce", "shape"]
