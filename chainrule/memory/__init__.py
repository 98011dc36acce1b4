"""Memory of training and of prediction (the chapter's exercise 3), measured and predicted.

:func:`report` reads a recorded graph (:mod:`.report`); :func:`predict` traces a model and
scales it to any batch; both turn the graph into sizes (:mod:`.plan`) and replay the engine's
schedule on them (:mod:`.simulate`).
"""

from .measure import measure
from .report import (ELIDE_BYTES, FIXED_BYTES, FORWARD_BYTES, NODE_BYTES, MemoryReport, Row,
                     base_buffer, format_bytes, model_io, predict, report)

__all__ = ["MemoryReport", "Row", "report", "predict", "model_io", "base_buffer",
           "format_bytes", "NODE_BYTES", "FIXED_BYTES", "FORWARD_BYTES", "ELIDE_BYTES", "measure"]
