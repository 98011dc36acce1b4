"""``Tensor``: an array, whether it needs a gradient, and the graph node that made it."""

from __future__ import annotations

import numpy as np

from .. import backend
from .backward import backward as backpropagate
from .backward import root_grad
from . import graph, inplace, modes
from .methods import Methods, Size, array_data
from ..errors import DTypeError, GraphError

__all__ = ["Tensor", "DISPLAY"]

#: How a notebook draws a tensor or a model: ``{"tensor": fn, "model": fn}``, each ``fn(obj)``
#: giving SVG text or None.  Drawing sits far above the core, so :mod:`chainrule.viz` fills
#: this in when it is imported (``import chainrule`` does), and the core never imports it.
DISPLAY: dict = {}


class Tensor(Methods):
    """An n-dimensional array that records the operators applied to it.

    ``data`` is the array, ``grad`` the gradient accumulated by ``backward()`` (a Tensor, or
    ``None``), ``requires_grad`` whether gradients flow to it, ``name`` a label used in
    drawings, reports and errors.  PyTorch's methods (``x.exp()``, ``x.argmax(dim=1)``,
    ``x.to(cr.float64)``...) come from :class:`~chainrule.core.methods.Methods`.

    >>> import chainrule as cr
    >>> w = cr.tensor([1.0, 2.0, 3.0], requires_grad=True, name="w")
    >>> loss = (w * w).sum()
    >>> loss.backward()
    >>> w.grad.tolist()
    [2.0, 4.0, 6.0]
    """

    __slots__ = ("_data", "grad", "_rg", "_node", "_name", "_version", "_tangents", "_base",
                 "__weakref__")
    __array_ufunc__ = None          # NumPy defers to our reflected operators
    __hash__ = object.__hash__      # comparisons return tensors, identity stays the hash

    def __init__(self, data, requires_grad: bool = False, name: str | None = None):
        if not isinstance(data, backend.ndarray_types):
            data = np.asarray(data)         # numbers and lists start on the CPU
        self._data = data
        self.grad = None
        self._rg = False
        self._node = None
        self._name = name
        self._version = 0
        self._tangents = None
        self._base = None           # the tensor whose memory this one views, if any
        if requires_grad:
            self.requires_grad = True

    @classmethod
    def _wrap(cls, data, node=None):
        """Make a tensor around ``data`` made by ``node`` (the hot path: no checks)."""
        t = object.__new__(cls)
        t._data = data
        t.grad = None
        t._rg = node is not None
        t._node = node
        t._name = None
        t._version = 0
        t._tangents = None
        t._base = None
        return t

    # ----------------------------------------------------------------- the array
    @property
    def data(self):
        """The memory as a NumPy array (``w.data.normal_(0, 0.01)`` works: see
        :class:`~chainrule.core.methods.ArrayData`).  Assigning counts as an in-place change."""
        return array_data(self)

    @data.setter
    def data(self, value) -> None:
        self._mutated()
        if not isinstance(value, backend.ndarray_types):
            value = backend.module_of(self._data).asarray(value)
        self._data = value

    shape = property(lambda self: self._data.shape, doc="The shape, a tuple.")
    dtype = property(lambda self: self._data.dtype, doc="The NumPy dtype.")
    ndim = property(lambda self: self._data.ndim, doc="The number of dimensions.")
    size = property(lambda self: Size(self._data.shape),
                    doc="The number of elements (NumPy's ``x.size``); called, the shape "
                        "(PyTorch's ``x.size()``, ``x.size(dim)``).")

    @property
    def T(self) -> Tensor:
        """The transpose (axes reversed)."""
        if self._data.ndim == 2 and not modes.mode.special:
            return matrix_transpose(self)       # x @ W.T, in every step: the lean path
        return F.transpose(self)

    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (shared, not copied, on the CPU)."""
        if modes.mode.tape is not None:
            modes.refuse_in_trace(self, "numpy()")
        return backend.to_numpy(self._data)

    def item(self) -> float | int | bool:
        """The value of a one-element tensor as a Python number."""
        if modes.mode.tape is not None:
            modes.refuse_in_trace(self, "item()")
        if self._data.size != 1:
            raise GraphError(f"item() needs a tensor of one element, got shape {self.shape}")
        return self._data.item()

    def tolist(self):
        """The data as nested Python lists."""
        if modes.mode.tape is not None:
            modes.refuse_in_trace(self, "tolist()")
        return self._data.tolist()

    def __array__(self, dtype=None, copy=None):
        data = self.numpy()
        return data if dtype is None else data.astype(dtype)

    # ----------------------------------------------------------------- the graph
    @property
    def requires_grad(self) -> bool:
        """Whether gradients flow to this tensor."""
        return self._rg

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if self._node is not None:
            raise GraphError(
                f"requires_grad can only be set on a leaf tensor; this one was made by "
                f"'{self._node.op.name}': use .detach() to get a leaf"
            )
        if value and self._data.dtype.kind != "f":
            raise DTypeError(
                f"only floating-point tensors can require gradients; this one has dtype "
                f"{self._data.dtype} and shape {self.shape}: convert it with "
                ".astype(np.float32) (or pass dtype=np.float32)"
            )
        self._rg = bool(value)

    @property
    def is_leaf(self) -> bool:
        """True for a tensor the user made (not the output of a recorded operator)."""
        return self._node is None

    @property
    def grad_fn(self):
        """The :class:`~chainrule.core.graph.Node` that made this tensor, or ``None`` for a leaf."""
        return self._node

    @property
    def name(self) -> str | None:
        """A label for drawings, reports and errors (``"W1"``, ``"z"``...)."""
        return self._name

    @name.setter
    def name(self, value: str | None) -> None:
        self._name = value
        if self._node is not None:
            self._node.name = value

    @property
    def version(self) -> int:
        """How many times this tensor's memory was changed in place (views share the count)."""
        return self._version if self._base is None else self._base._version

    def detach(self) -> Tensor:
        """The same data as a new leaf that does not require grad (it shares the memory)."""
        out = Tensor._wrap(self._data)
        out._base = self if self._base is None else self._base
        return out

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in ``.grad`` when backward runs."""
        graph.retain(self)

    def backward(self, gradient=None, retain_graph: bool = False, create_graph: bool = False,
                 *, grad=None):
        """Accumulate the gradient of this tensor into ``.grad`` of every leaf it depends on.

        ``gradient`` (PyTorch's name; ``grad`` too) is needed unless the tensor holds a single
        element (a loss).
        """
        grad = gradient if grad is None else grad
        if not self._rg:
            raise GraphError(
                f"backward() on a tensor (shape {self.shape}) that does not require grad: "
                "no input of it was created with requires_grad=True, or it was computed "
                "inside no_grad()"
            )
        g = root_grad(self, grad, "backward()")
        backpropagate([self], [g], retain_graph=retain_graph or create_graph,
                      create_graph=create_graph)

    # ----------------------------------------------------------------- in place
    def _mutated(self) -> None:
        inplace.mutated(self)

    def __setitem__(self, index, value) -> None:
        inplace.assign(self, _plain_index(index), value, "x[index] = value")

    def copy_(self, src) -> Tensor:
        """Overwrite the data with ``src`` (broadcast), in place."""
        inplace.assign(self, Ellipsis, src, "copy_")
        return self

    def add_(self, other, alpha: float = 1.0) -> Tensor:
        """``self += alpha * other``, in place."""
        other = other._data if isinstance(other, Tensor) else other
        return inplace.apply(self, "add", other if alpha == 1.0 else alpha * other, "add_")

    def sub_(self, other, alpha: float = 1.0) -> Tensor:
        """``self -= alpha * other``, in place."""
        return self.add_(other, -alpha)

    def mul_(self, other) -> Tensor:
        """``self *= other``, in place."""
        return inplace.apply(self, "mul", getattr(other, "_data", other), "mul_")

    def zero_(self) -> Tensor:
        """Set every element to zero, in place."""
        self._mutated()
        self._data[...] = 0
        return self

    def __iadd__(self, other):
        return inplace.arith(self, other, "add")

    def __isub__(self, other):
        return inplace.arith(self, other, "sub")

    def __imul__(self, other):
        return inplace.arith(self, other, "mul")

    def __itruediv__(self, other):
        return inplace.arith(self, other, "div")

    def __ipow__(self, other):
        return inplace.arith(self, other, "pow")

    def __imatmul__(self, other):
        return inplace.refuse_matmul(self, other)

    # ----------------------------------------------------------------- operators
    def __add__(self, other):
        return F.add(self, other)

    def __radd__(self, other):
        return F.add(other, self)

    def __sub__(self, other):
        return F.sub(self, other)

    def __rsub__(self, other):
        return F.sub(other, self)

    def __mul__(self, other):
        if other is self and type(self._data) is np.ndarray and self._data.dtype.kind == "f":
            # x * x is recorded as x ** 2, which keeps x once: the same bits forward (NumPy
            # squares with one product) and backward (2 g x = g x + g x exactly; summed with
            # other contributions to x's gradient, up to the order of the sum), and the
            # gradient is one pass over x instead of two products and their sum, as in the
            # penalty (W * W).sum().  The node, its drawing and its errors say 'power'.
            return F.power(self, 2)
        return F.mul(self, other)

    def __rmul__(self, other):
        return F.mul(other, self)

    def __truediv__(self, other):
        return F.div(self, other)

    def __rtruediv__(self, other):
        return F.div(other, self)

    def __pow__(self, other):
        return F.power(self, other)

    def __rpow__(self, other):
        return F.power(other, self)

    def __matmul__(self, other):
        return F.matmul(self, other)

    def __rmatmul__(self, other):
        return F.matmul(other, self)

    def __neg__(self):
        return F.neg(self)

    def __pos__(self):
        return self

    def __lt__(self, other):
        return F.less(self, other)

    def __le__(self, other):
        return F.less_equal(self, other)

    def __gt__(self, other):
        return F.greater(self, other)

    def __ge__(self, other):
        return F.greater_equal(self, other)

    def __eq__(self, other):
        return F.equal(self, other)

    def __ne__(self, other):
        return F.not_equal(self, other)

    def __getitem__(self, index):
        return F.getitem(self, index)

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self._data)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __bool__(self) -> bool:
        if modes.mode.tape is not None:
            modes.refuse_in_trace(self, "bool() (an `if` or `while` on a tensor)")
        if self._data.size != 1:
            raise GraphError(
                f"the truth value of a tensor of shape {self.shape} is ambiguous; use "
                ".any() or .all() on .data"
            )
        return bool(self._data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    # ----------------------------------------------------------------- display
    def _repr_svg_(self) -> str | None:
        """The graph that made this tensor, drawn in a notebook (None without a renderer)."""
        draw = DISPLAY.get("tensor")
        return draw(self) if draw is not None else None

    def __repr__(self) -> str:
        body = np.array2string(self.numpy(), separator=", ", threshold=20, edgeitems=2,
                               prefix="Tensor(")
        extra = [f"dtype={self.dtype}"]
        if self._name:
            extra.append(f"name={self._name!r}")
        if self._node is not None:
            extra.append(f"op={self._node.op.name!r}")
        elif self._rg:
            extra.append("requires_grad=True")
        return f"Tensor({body}, {', '.join(extra)})"


def _plain_index(index):
    """An index with tensors replaced by their arrays."""
    if isinstance(index, Tensor):
        return index._data
    if isinstance(index, tuple):
        return tuple(i._data if isinstance(i, Tensor) else i for i in index)
    return index


from .. import functional as F  # noqa: E402  (operators need Tensor defined first)
from .op import matrix_transpose  # noqa: E402
