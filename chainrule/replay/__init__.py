"""Capture and replay: :func:`compile` and :func:`trace` turn a function into a flat
:class:`Plan` of array calls (:mod:`.capture`), recorded on a :mod:`.tape`, with places shared
by slots never alive together (:mod:`.registers`) and temporaries written into (:mod:`.reuse`).
"""

from ..errors import ReplayError
from .capture import Compiled, Plan, compile, trace  # noqa: A004 (cr.compile)

__all__ = ["compile", "trace", "Plan", "Compiled", "ReplayError"]
