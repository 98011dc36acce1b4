"""The operator table: every primitive chainrule differentiates, declared once.

``OPS`` maps each name to its :class:`~chainrule.core.op.Op`; the generated tests walk it.
One file per family: :mod:`.elementwise`, :mod:`.reduce`, :mod:`.shape`, :mod:`.linalg`,
:mod:`.loss` (fused softmax and cross-entropy);
:mod:`.samples` makes the test inputs.  The record itself, and the call that runs it, live in
:mod:`chainrule.core.op`.
"""

from . import elementwise, linalg, loss, reduce, shape
from . import conv, pool
from . import rounding, scan, special
from ..core.op import ELEMENTWISE, LINEAR, MULTILINEAR, OPS, BadInput, Op, Sample

__all__ = ["OPS", "Op", "Sample", "BadInput", "ELEMENTWISE", "LINEAR", "MULTILINEAR",
           "elementwise", "linalg", "loss", "reduce", "shape", "conv", "pool",
           "rounding", "scan", "special"]
