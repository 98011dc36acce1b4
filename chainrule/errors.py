"""The exceptions chainrule raises, one tree under :class:`ChainruleError`.

::

    ChainruleError                  every error chainrule raises on purpose
    ├── ShapeError (ValueError)     shapes that do not fit an operator
    ├── DTypeError (TypeError)      a dtype an operator cannot take, or differentiating integers
    ├── GraphError (RuntimeError)   misuse of the recorded graph: freed, non-scalar root,
    │   │                           unused input, in-place change of a saved value
    │   └── ReplayError             what a traced function does that a replay cannot repeat
    ├── AnomalyError (FloatingPointError)
    │                               detect_anomaly() found a NaN or an infinity
    ├── GradientCheckError (AssertionError)
    │                               an analytical derivative disagrees with finite differences
    ├── DataError (OSError)         a dataset or checkpoint file is missing, truncated or corrupt
    └── DeviceError (RuntimeError)  a device chainrule cannot use here, or two in one operation

Each message names the operator (or file), the shapes as Python tuples and the dtypes involved,
and says what to do about it.  Each class also derives from the built-in exception a NumPy user
would expect, so ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "ChainruleError",
    "ShapeError",
    "DTypeError",
    "GraphError",
    "AnomalyError",
    "GradientCheckError",
    "DataError",
    "ReplayError",
    "DeviceError",
]


class ChainruleError(Exception):
    """Base class of every error chainrule raises on purpose."""


class ShapeError(ChainruleError, ValueError):
    """Shapes that an operator cannot take together."""


class DTypeError(ChainruleError, TypeError):
    """A dtype an operator cannot take, or a request to differentiate an integer tensor."""


class GraphError(ChainruleError, RuntimeError):
    """Misuse of the recorded graph: freed, non-scalar root, unused input, in-place change."""


class ReplayError(GraphError):
    """A function ``cr.compile`` cannot capture, or whose replay would not match eager."""


class AnomalyError(ChainruleError, FloatingPointError):
    """A NaN or an infinity found by ``detect_anomaly()``."""


class GradientCheckError(ChainruleError, AssertionError):
    """An analytical derivative that disagrees with central differences."""


class DataError(ChainruleError, OSError):
    """A dataset or checkpoint file that is missing, truncated or corrupt."""


class DeviceError(ChainruleError, RuntimeError):
    """A device chainrule cannot use here (``"cuda"`` without CuPy or without a GPU; an unknown
    name), or tensors on two devices in one operation."""
