"""The engine, and nothing else: what every operator call and every backward pass goes through.

A tensor's trip, file by file:

- :mod:`~chainrule.core.modes`: the switches each call reads (grad mode, anomaly mode,
  forward-mode levels, a first-order backward's raw arrays, a trace's tape);
- :mod:`~chainrule.core.tensor`: :class:`Tensor`, an array with ``requires_grad``, ``.grad``
  and the node that made it;
- :mod:`~chainrule.core.op`: the :class:`Op` record (forward, VJP and JVP rules, saves, and
  what the drawings, the derivation and the memory model need to know) and ``Op.__call__``,
  the call that runs the forward and records a :class:`Node`;
- :mod:`~chainrule.core.saves`: what a node keeps for backward;
- :mod:`~chainrule.core.graph`: :class:`Node` and the topological sort (no recursion);
- :mod:`~chainrule.core.backward`: the reverse walk, with the root gradient.

The core imports nothing above it (``tests/test_layers.py`` checks).  One tie runs upward, the
one every autodiff engine has: ``Tensor``'s operator methods (``a + b``, ``a.sum()``) reach the
operator table through :mod:`chainrule.functional`, imported at the end of
:mod:`~chainrule.core.tensor` once ``Tensor`` exists.  That is the only import circle in
chainrule.
"""

from .tensor import Tensor  # first: its last line loads the operator table (see above)
from .graph import Node, toposort
from .modes import (detect_anomaly, enable_grad, is_grad_enabled, mode, no_grad,
                    set_grad_enabled)
from .op import ELEMENTWISE, LINEAR, MULTILINEAR, OPS, BadInput, Op, Sample

__all__ = ["Tensor", "Node", "Op", "OPS", "Sample", "BadInput", "ELEMENTWISE", "LINEAR",
           "MULTILINEAR", "mode", "no_grad", "enable_grad", "set_grad_enabled",
           "is_grad_enabled", "detect_anomaly", "toposort"]
