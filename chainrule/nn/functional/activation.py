"""Activations PyTorch keeps in ``torch.nn.functional``: ``gelu``, ``silu``, ``leaky_relu``,
``elu``, ``dropout``, ``softmax``/``log_softmax`` with ``dim=``, and ``one_hot``.

All are composites of the operator table (``gelu`` of the ``erf`` primitive), so their
derivatives of every order come from there.

>>> import chainrule as cr
>>> import chainrule.nn.functional as F
>>> x = cr.tensor([-1.0, 0.0, 2.0])
>>> [round(v, 4) for v in F.gelu(x).tolist()], F.leaky_relu(x, 0.1).tolist()
([-0.1587, 0.0, 1.9545], [-0.10000000149011612, 0.0, 2.0])
"""

from __future__ import annotations

import math

import numpy as np

from ... import backend as B
from ... import functional as CF
from ...creation import random
from ...core.tensor import Tensor
from ...errors import ShapeError
from ...functional.pointwise import erf

__all__ = ["gelu", "silu", "leaky_relu", "elu", "dropout", "softmax", "log_softmax", "one_hot"]

_ROOT_HALF = 1.0 / math.sqrt(2.0)
_TANH_K = math.sqrt(2.0 / math.pi)


def _tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x))


def gelu(x, approximate: str = "none") -> Tensor:
    """``x * Phi(x)`` (``Phi`` the normal CDF, through ``erf``); ``approximate="tanh"`` uses
    ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``."""
    if approximate == "tanh":
        return 0.5 * x * (1.0 + CF.tanh(_TANH_K * (x + 0.044715 * x * x * x)))
    if approximate != "none":
        raise ShapeError(f"gelu: approximate={approximate!r}; use 'none' or 'tanh'")
    return 0.5 * x * (1.0 + erf(x * _ROOT_HALF))


def silu(x) -> Tensor:
    """``x * sigmoid(x)`` (also called swish)."""
    return x * CF.sigmoid(x)


def leaky_relu(x, negative_slope: float = 0.01) -> Tensor:
    """``x`` where positive, ``negative_slope * x`` elsewhere."""
    x = _tensor(x)
    return CF.where(x > 0, x, x * negative_slope)


def elu(x, alpha: float = 1.0) -> Tensor:
    """``x`` where positive, ``alpha * (exp(x) - 1)`` elsewhere (``exp`` never overflows)."""
    x = _tensor(x)
    negative = alpha * (CF.exp(CF.minimum(x, 0.0)) - 1.0)
    return CF.where(x > 0, x, negative)


def dropout(x, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``."""
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ShapeError(f"dropout: p={p!r} must be a probability in [0, 1]")
    x = _tensor(x)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    keep = random.generator.random(x.shape) >= p
    return x * (keep.astype(x.dtype) / x.dtype.type(1.0 - p))


def softmax(x, dim=None, *, axis=None, dtype=None) -> Tensor:
    """``softmax`` over ``dim`` (PyTorch's name; the last axis by default)."""
    x = x if dtype is None else CF.astype(x, dtype)
    return CF.softmax(x, axis=_dim(dim, axis))


def log_softmax(x, dim=None, *, axis=None, dtype=None) -> Tensor:
    """``log_softmax`` over ``dim`` (PyTorch's name; the last axis by default)."""
    x = x if dtype is None else CF.astype(x, dtype)
    return CF.log_softmax(x, axis=_dim(dim, axis))


def _dim(dim, axis) -> int:
    d = dim if dim is not None else axis
    return -1 if d is None else d


def one_hot(tensor, num_classes: int = -1) -> Tensor:
    """Integer class indices as rows of 0 and 1 (int64), as ``torch.nn.functional.one_hot``:
    ``num_classes=-1`` takes one more than the largest index."""
    labels = tensor._data if isinstance(tensor, Tensor) else np.asarray(tensor)
    xp = B.module_of(labels)
    if labels.dtype.kind not in "iu":
        raise ShapeError(f"one_hot: the indices have dtype {labels.dtype}; they must be "
                         "integers (use .long())")
    top = int(labels.max()) + 1 if labels.size else 0
    if num_classes == -1:
        if not labels.size:
            raise ShapeError("one_hot: cannot infer num_classes from an empty tensor; pass "
                             "num_classes=")
        num_classes = top
    low = int(labels.min()) if labels.size else 0
    if low < 0 or top > num_classes:
        raise ShapeError(f"one_hot: indices lie in [{low}, {top - 1}] but num_classes="
                         f"{num_classes}; use indices in [0, num_classes)")
    return Tensor(xp.eye(num_classes, dtype=np.int64)[labels])
