"""Layers: ``Linear``, the activations, ``Dropout``, and the two losses as modules.

>>> import numpy as np
>>> from chainrule import nn
>>> layer = nn.Linear(784, 256, bias=False, generator=0)
>>> layer.weight.shape                    # (out, in), as the chapter's W1 (hidden x inputs)
(256, 784)
>>> layer(np.zeros(784, dtype=np.float32)).shape      # one example works too
(256,)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend
from .. import functional as F
from ..creation import random, tensor
from ..errors import ShapeError
from ..core.tensor import Tensor
from . import init as I
from .functional import loss as L
from .module import Module, parameter

__all__ = ["Linear", "ReLU", "Sigmoid", "Tanh", "Dropout", "CrossEntropyLoss", "MSELoss",
           "INITS", "ACTIVATIONS", "activation", "Parameter", "Flatten", "LazyLinear"]

#: Weight initialisations of :class:`Linear` (biases start at zero in each).
INITS = {
    "kaiming": lambda w, g: I.kaiming_uniform_(w, "relu", generator=g),
    "xavier": lambda w, g: I.xavier_uniform_(w, generator=g),
    "normal": lambda w, g: I.normal_(w, 0.0, 0.01, generator=g),
}


def as_tensor(x: Any, dtype: Any = None) -> Tensor:
    """``x`` itself if it is a Tensor, else a constant tensor of it (in ``dtype`` if given)."""
    if isinstance(x, Tensor):
        return x
    return tensor(x, dtype=dtype)


def positive_count(value: Any, what: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ShapeError(f"{where}: {what}={value!r} must be a positive int")
    return int(value)


class Linear(Module):
    """An affine map ``x @ weight.T + bias`` for a batch ``x`` of shape (N, in) or one (in,).

    ``weight`` has shape ``(out_features, in_features)`` and ``bias`` ``(out_features,)``.
    ``init`` picks the weight's initialiser: ``"kaiming"`` (He uniform for ReLU,
    ``U(-a, a)`` with ``a = sqrt(6 / in_features)``), ``"xavier"`` (Glorot uniform) or
    ``"normal"`` (N(0, 0.01^2), the chapter's choice); the bias starts at zero.
    ``generator`` is passed to the initialiser (a Generator, an int seed, or None for
    ``cr.random.generator``).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 dtype: Any = np.float32, init: str = "kaiming",
                 generator: np.random.Generator | int | None = None) -> None:
        super().__init__()
        self.in_features = positive_count(in_features, "in_features", "Linear")
        self.out_features = positive_count(out_features, "out_features", "Linear")
        if init not in INITS:
            raise ShapeError(f"Linear: unknown init {init!r}; choose one of "
                             f"{', '.join(INITS)}")
        self.init = init
        self.weight = parameter(np.zeros((self.out_features, self.in_features), dtype=dtype))
        INITS[init](self.weight, generator)
        self.bias = parameter(np.zeros(self.out_features, dtype=dtype)) if bias else None

    def forward(self, x: Any) -> Tensor:
        """Return ``x @ weight.T (+ bias)``; ``x`` is (N, in_features) or (in_features,)."""
        x = as_tensor(x, self.weight.dtype)
        if x.ndim not in (1, 2) or x.shape[-1] != self.in_features:
            raise ShapeError(
                f"{self!r}: input shape {x.shape} does not fit; expected (N, "
                f"{self.in_features}) or ({self.in_features},)"
            )
        out = x @ self.weight.T
        return out if self.bias is None else out + self.bias

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class ReLU(Module):
    """``max(x, 0)`` elementwise."""

    def forward(self, x: Any) -> Tensor:
        """Apply ReLU."""
        return F.relu(as_tensor(x))


class Sigmoid(Module):
    """``1 / (1 + exp(-x))`` elementwise."""

    def forward(self, x: Any) -> Tensor:
        """Apply the logistic sigmoid."""
        return F.sigmoid(as_tensor(x))


class Tanh(Module):
    """``tanh(x)`` elementwise."""

    def forward(self, x: Any) -> Tensor:
        """Apply tanh."""
        return F.tanh(as_tensor(x))


class Softmax(Module):
    """``softmax`` over ``dim`` (PyTorch's ``nn.Softmax(dim=...)``)."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Any) -> Tensor:
        """Apply softmax over ``dim``."""
        return F.softmax(as_tensor(x), axis=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """``log_softmax`` over ``dim`` (PyTorch's ``nn.LogSoftmax(dim=...)``)."""

    def forward(self, x: Any) -> Tensor:
        """Apply log-softmax over ``dim``."""
        return F.log_softmax(as_tensor(x), axis=self.dim)


#: Activation modules by name (the names ``activation=`` accepts in models).
ACTIVATIONS: dict[str, type[Module]] = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}


def activation(name: str) -> Module:
    """A new activation module by name: ``"relu"``, ``"sigmoid"`` or ``"tanh"``."""
    if name not in ACTIVATIONS:
        raise ShapeError(f"unknown activation {name!r}; choose one of "
                         f"{', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


class Dropout(Module):
    """Inverted dropout: in training, zero each element with probability ``p`` and scale the
    rest by ``1 / (1 - p)``; in evaluation (``eval()``), the identity.

    The mask is drawn from ``cr.random.generator`` (seed it with ``cr.random.seed(n)``).
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
            raise ShapeError(f"Dropout: p={p!r} must be a probability in [0, 1) (p=1 would "
                             "drop everything); use p=0 to disable dropout")
        self.p = float(p)

    def forward(self, x: Any) -> Tensor:
        """Drop and rescale in training mode; return ``x`` unchanged in evaluation mode."""
        x = as_tensor(x)
        if not self.training or self.p == 0.0:
            return x
        keep = random.generator.random(x.shape) >= self.p
        scale = keep.astype(x.dtype) / x.dtype.type(1.0 - self.p)
        return x * backend.xp.asarray(scale)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class CrossEntropyLoss(Module):
    """``cr.cross_entropy(logits, labels)``: the batch mean of ``-log softmax(logits)[label]``.

    ``weight`` (one per class), ``reduction`` (``"mean"``, ``"sum"``, ``"none"``), ``ignore_index``
    and ``label_smoothing`` are PyTorch's (:func:`chainrule.nn.functional.cross_entropy`).
    """

    def __init__(self, weight: Any = None, reduction: str = "mean", ignore_index: int = -100,
                 label_smoothing: float = 0.0) -> None:
        super().__init__()
        if reduction not in L.REDUCTIONS:
            raise ShapeError(f"CrossEntropyLoss: reduction={reduction!r}; use 'mean', 'sum' or "
                             "'none'")
        self.weight, self.reduction = weight, reduction
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, logits: Tensor, labels: Any) -> Tensor:
        """Return the cross-entropy of ``logits`` (N, C) against ``labels`` (N,), reduced."""
        if (self.weight is None and (self.reduction, self.label_smoothing, self.ignore_index)
                == ("mean", 0.0, -100)):
            return F.cross_entropy(logits, labels)
        return L.cross_entropy(logits, labels, self.weight, self.reduction, self.ignore_index,
                               self.label_smoothing)

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class MSELoss(Module):
    """``cr.mse_loss(pred, target)``: the mean of ``(pred - target) ** 2`` (``reduction``:
    ``"mean"``, ``"sum"`` or ``"none"``, as PyTorch)."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in L.REDUCTIONS:
            raise ShapeError(f"MSELoss: reduction={reduction!r}; use 'mean', 'sum' or 'none'")
        self.reduction = reduction

    def forward(self, pred: Tensor, target: Any) -> Tensor:
        """Return the squared error, reduced; the two shapes must be equal."""
        return L.mse_loss(pred, as_tensor(target, pred.dtype), self.reduction)


class Parameter(Tensor):
    """``nn.Parameter(data)``: a leaf tensor that requires grad, sharing ``data``'s memory.

    Assigned to a module's attribute it is registered as a parameter (so is any leaf tensor
    that requires grad: see :mod:`chainrule.nn.module`).

    >>> from chainrule import nn, randn
    >>> w = nn.Parameter(randn(3, 2, requires_grad=True) * 0.01)
    >>> w.is_leaf, w.requires_grad
    (True, True)
    """

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            data = np.zeros(0, dtype=np.float32)
        array = data._data if isinstance(data, Tensor) else tensor(data)._data
        super().__init__(array, requires_grad=requires_grad)


class Flatten(Module):
    """Merge the axes ``start_dim`` .. ``end_dim`` (all but the batch axis by default)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Any) -> Tensor:
        """Return ``x`` flattened from ``start_dim`` to ``end_dim``."""
        return as_tensor(x).flatten(self.start_dim, self.end_dim)


class LazyLinear(Linear):
    """A :class:`Linear` whose ``in_features`` is read from its first input.

    Its ``weight`` is a parameter of shape ``(out_features, 0)`` until the first call, when it
    is given its shape and initialised in place (the same tensor, so an optimizer made before
    the first call updates it); ``weight.data.normal_(...)`` before that call is overwritten.
    """

    def __init__(self, out_features: int, bias: bool = True, dtype: Any = np.float32,
                 init: str = "kaiming", generator: Any = None) -> None:
        Module.__init__(self)
        self.in_features = 0
        self.out_features = positive_count(out_features, "out_features", "LazyLinear")
        if init not in INITS:
            raise ShapeError(f"LazyLinear: unknown init {init!r}; choose one of "
                             f"{', '.join(INITS)}")
        self.init, self._generator = init, generator
        self.weight = parameter(np.zeros((self.out_features, 0), dtype=dtype))
        self.bias = parameter(np.zeros(self.out_features, dtype=dtype)) if bias else None

    def forward(self, x: Any) -> Tensor:
        """Take ``in_features`` from the first input's last axis, then act as Linear."""
        x = as_tensor(x, self.weight.dtype)
        if self.in_features == 0:
            if x.ndim not in (1, 2) or x.shape[-1] == 0:
                raise ShapeError(f"LazyLinear: input shape {x.shape}; expected (N, in) or (in,)")
            self.in_features = int(x.shape[-1])
            self.weight._data = np.zeros((self.out_features, self.in_features),
                                         dtype=self.weight.dtype)
            INITS[self.init](self.weight, self._generator)
        return super().forward(x)
