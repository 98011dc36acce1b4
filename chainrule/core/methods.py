"""The methods a PyTorch user calls on a tensor, as a mixin :class:`Tensor` inherits.

Each method calls the public function of the same name (``x.exp()`` is ``cr.exp(x)``).  Those
functions live above the core, so this module never imports them: each function module
registers its functions with :func:`provide` when it is imported (``import chainrule`` imports
them all), as :data:`chainrule.core.tensor.DISPLAY` is filled by the drawings.

Arguments follow PyTorch: ``dim`` and ``keepdim`` (NumPy's ``axis`` and ``keepdims`` are
accepted too).  ``x.max(dim)`` gives ``(values, indices)`` as in PyTorch, while ``x.max(axis=d)``
gives the values only, as it always did in chainrule; ``x.max(y)`` with a tensor ``y`` is the
elementwise maximum.  A 0-d tensor takes ``dim=0`` or ``-1`` as PyTorch does.

``x.data`` is the tensor's memory as a NumPy array (not a tensor, as in PyTorch): chainrule's
optimizers and user code do array arithmetic on it.  It is an :class:`ArrayData`, a view that
shares the memory and adds PyTorch's in-place idioms, so ``w.data.normal_(0, 0.01)``,
``b.data.fill_(0)`` and ``w.data.zero_()`` change the tensor (and count as in-place changes),
and arithmetic on it gives plain arrays.

>>> import chainrule as cr
>>> x = cr.tensor([[1.0, -2.0], [3.0, 4.0]])
>>> x.abs().sum(dim=1).tolist(), x.argmax(dim=1).tolist(), x.max(1).indices.tolist()
([3.0, 7.0], [0, 1], [0, 1])
"""

from __future__ import annotations

import weakref
from typing import Callable, NamedTuple

import numpy as np

from ..errors import DeviceError, ShapeError
from . import inplace, modes
from .device import CPU, device, device_of, transfer

__all__ = ["Methods", "ArrayData", "provide", "FUNCTIONS", "MinMax", "array_data", "check_dim"]

#: The public functions the methods call, by name (filled by :func:`provide`).
FUNCTIONS: dict[str, Callable] = {}


def provide(**functions: Callable) -> None:
    """Register public functions for the tensor methods of the same names."""
    FUNCTIONS.update(functions)


class MinMax(NamedTuple):
    """``x.max(dim)`` and ``x.min(dim)``: the values and where they are, as in PyTorch."""

    values: object
    indices: object


_TYPE_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
               "int64": "LongTensor", "int32": "IntTensor", "int16": "ShortTensor",
               "int8": "CharTensor", "uint8": "ByteTensor", "bool": "BoolTensor"}


def _dim(dim, axis):
    """PyTorch's ``dim`` or NumPy's ``axis`` (one of them)."""
    return axis if dim is None else dim


def _call(name):
    def method(self, *args, **kwargs):
        return FUNCTIONS[name](self, *args, **kwargs)
    method.__name__ = name
    method.__doc__ = f"``cr.{name}(self, ...)``."
    return method


class Methods:
    """PyTorch's tensor methods (see the module doc); :class:`Tensor` inherits them."""

    __slots__ = ()

    # ------------------------------------------------------------- reductions
    def sum(self, dim=None, keepdim: bool = False, *, axis=None, keepdims: bool = False):
        """Sum over ``dim`` (every axis by default)."""
        return FUNCTIONS["sum"](self, axis=_dim(dim, axis), keepdims=keepdim or keepdims)

    def mean(self, dim=None, keepdim: bool = False, *, axis=None, keepdims: bool = False):
        """Mean over ``dim`` (every axis by default)."""
        return FUNCTIONS["mean"](self, axis=_dim(dim, axis), keepdims=keepdim or keepdims)

    def max(self, dim=None, keepdim: bool = False, *, axis=None, keepdims: bool = False):
        """Maximum: over every axis, ``(values, indices)`` over ``dim``, or ``max(self, other)``."""
        return _extreme(self, "max", dim, keepdim, axis, keepdims)

    def min(self, dim=None, keepdim: bool = False, *, axis=None, keepdims: bool = False):
        """Minimum: over every axis, ``(values, indices)`` over ``dim``, or ``min(self, other)``."""
        return _extreme(self, "min", dim, keepdim, axis, keepdims)

    def argmax(self, dim=None, keepdim: bool = False, *, axis=None):
        """Where the maximum is, over ``dim`` (in the flattened tensor by default)."""
        return FUNCTIONS["argmax"](self, _dim(dim, axis), keepdim)

    def argmin(self, dim=None, keepdim: bool = False, *, axis=None):
        """Where the minimum is, over ``dim`` (in the flattened tensor by default)."""
        return FUNCTIONS["argmin"](self, _dim(dim, axis), keepdim)

    def std(self, dim=None, unbiased: bool = True, keepdim: bool = False, *, correction=None,
            axis=None):
        """Standard deviation over ``dim`` (Bessel's correction by default, as PyTorch)."""
        return FUNCTIONS["std"](self, _dim(dim, axis), unbiased, keepdim, correction=correction)

    def var(self, dim=None, unbiased: bool = True, keepdim: bool = False, *, correction=None,
            axis=None):
        """Variance over ``dim`` (Bessel's correction by default, as PyTorch)."""
        return FUNCTIONS["var"](self, _dim(dim, axis), unbiased, keepdim, correction=correction)

    def norm(self, p=2, dim=None, keepdim: bool = False):
        """The ``p``-norm over ``dim`` (of every element by default)."""
        return FUNCTIONS["norm"](self, p, dim, keepdim)

    prod = _call("prod")
    cumsum = _call("cumsum")
    cumprod = _call("cumprod")
    all = _call("all")
    any = _call("any")
    logsumexp = _call("logsumexp")
    softmax = _call("softmax")
    log_softmax = _call("log_softmax")

    # ------------------------------------------------------------- elementwise
    exp, log, sqrt, abs = _call("exp"), _call("log"), _call("sqrt"), _call("abs")
    sin, cos, tanh, sigmoid = _call("sin"), _call("cos"), _call("tanh"), _call("sigmoid")
    relu, neg, softplus = _call("relu"), _call("neg"), _call("softplus")
    erf, log2, rsqrt, square = _call("erf"), _call("log2"), _call("rsqrt"), _call("square")
    sign, floor, ceil, round = _call("sign"), _call("floor"), _call("ceil"), _call("round")
    clamp, clip, pow, maximum = _call("clamp"), _call("clamp"), _call("power"), _call("maximum")
    minimum, fmod, remainder = _call("minimum"), _call("fmod"), _call("remainder")
    isclose, allclose, where = _call("isclose"), _call("allclose"), _call("where_self")
    matmul, mm, dot, div = _call("matmul"), _call("matmul"), _call("dot"), _call("div")
    sort, argsort, roll, flip = _call("sort"), _call("argsort"), _call("roll"), _call("flip")
    tril, triu = _call("tril"), _call("triu")

    def __abs__(self):
        return FUNCTIONS["abs"](self)

    def __mod__(self, other):
        return FUNCTIONS["remainder"](self, other)

    def __rmod__(self, other):
        return FUNCTIONS["remainder"](other, self)

    def __floordiv__(self, other):
        return FUNCTIONS["div"](self, other, rounding_mode="floor")

    def __rfloordiv__(self, other):
        return FUNCTIONS["div"](other, self, rounding_mode="floor")

    def __and__(self, other):
        return FUNCTIONS["logical"]("and", self, other)

    __rand__ = __and__

    def __or__(self, other):
        return FUNCTIONS["logical"]("or", self, other)

    __ror__ = __or__

    def __xor__(self, other):
        return FUNCTIONS["logical"]("xor", self, other)

    __rxor__ = __xor__

    def __invert__(self):
        return FUNCTIONS["logical"]("not", self)

    # ------------------------------------------------------------- shapes
    def reshape(self, *shape):
        """The same elements in a new shape (``-1`` infers one dimension)."""
        return FUNCTIONS["reshape"](self, shape[0] if len(shape) == 1 else shape)

    view = reshape

    def view_as(self, other):
        """``self.reshape(other.shape)``."""
        return FUNCTIONS["reshape"](self, other.shape)

    def transpose(self, *axes):
        """Swap two axes (PyTorch's ``x.transpose(0, 2)``); with none or all, permute them."""
        if len(axes) == 2 and self.ndim != 2:
            order = list(range(self.ndim))
            a, b = (int(i) % self.ndim if self.ndim else 0 for i in axes)
            order[a], order[b] = order[b], order[a]
            axes = (tuple(order),)
        return FUNCTIONS["transpose"](self, axes[0] if len(axes) == 1 else (axes or None))

    def permute(self, *dims):
        """Reorder the axes: ``x.permute(2, 0, 1)``."""
        return FUNCTIONS["transpose"](self, dims[0] if len(dims) == 1 else dims)

    def t(self):
        """The transpose of a matrix (a vector as it is)."""
        return self if self.ndim < 2 else FUNCTIONS["transpose"](self, None)

    flatten, squeeze, unsqueeze = _call("flatten"), _call("squeeze"), _call("unsqueeze")
    expand, repeat = _call("expand"), _call("repeat")

    def numel(self) -> int:
        """The number of elements."""
        return int(self._data.size)

    def dim(self) -> int:
        """The number of dimensions."""
        return self._data.ndim

    def clone(self):
        """A copy that stays in the graph (its gradient flows back to ``self``)."""
        return FUNCTIONS["clone"](self)

    # ------------------------------------------------------------- dtypes and devices
    def astype(self, dtype):
        """A copy converted to ``dtype`` (differentiable between float dtypes)."""
        return FUNCTIONS["astype"](self, dtype)

    @property
    def device(self) -> device:
        """Where the memory lives (``device(type='cpu')``, or a GPU's ``cuda:0``)."""
        return device_of(self._data)

    def to(self, *args, dtype=None, device=None, non_blocking: bool = False,
           copy: bool = False):
        """This tensor on ``device`` and in ``dtype``: ``x.to("cuda")``, ``x.to(cr.float64)``,
        ``x.to(other)`` (its device and dtype); ``self`` when nothing changes (unless
        ``copy``).  A tensor moved to another device is a new leaf; one that requires grad
        is refused, since the graph has no operator between devices."""
        for a in args:
            if isinstance(a, Methods):
                dtype, device = a.dtype, a.device
            elif isinstance(a, (str, _device_type)):
                device = a
            else:
                dtype = a
        out = self
        if device is not None:
            target = device if isinstance(device, _device_type) else _device_type(device)
            moved = transfer(self._data, target)
            if moved is not self._data:
                out = _moved(self, moved, target)
        if dtype is not None and np.dtype(dtype) != out.dtype:
            return FUNCTIONS["astype"](out, dtype)
        return out.clone() if copy and out is self else out

    def cpu(self):
        """This tensor on the CPU (``self`` when it is there)."""
        return self.to(CPU)

    def cuda(self, device=None, non_blocking: bool = False):
        """This tensor on the GPU (``cuda:device``); :class:`DeviceError` without one."""
        return self.to(_device_type("cuda", device))

    @property
    def is_cuda(self) -> bool:
        """Whether the memory is on a GPU."""
        return self.device.type == "cuda"

    def type(self, dtype=None):
        """PyTorch's type name (``'torch.FloatTensor'``), or a copy converted to ``dtype``."""
        if dtype is None:
            return "torch." + _TYPE_NAMES.get(str(self.dtype), str(self.dtype))
        return self.to(dtype)

    def float(self):
        """``self`` as float32."""
        return self.to(np.float32)

    def double(self):
        """``self`` as float64."""
        return self.to(np.float64)

    def half(self):
        """``self`` as float16."""
        return self.to(np.float16)

    def long(self):
        """``self`` as int64."""
        return self.to(np.int64)

    def int(self):
        """``self`` as int32."""
        return self.to(np.int32)

    def bool(self):
        """``self`` as bool."""
        return self.to(np.bool_)

    def is_floating_point(self) -> bool:
        """Whether the dtype is a float type."""
        return self.dtype.kind == "f"

    # ------------------------------------------------------------- in place
    def requires_grad_(self, requires_grad: bool = True):
        """Set ``requires_grad`` in place and return ``self``."""
        self.requires_grad = requires_grad
        return self

    def fill_(self, value):
        """Set every element to ``value``, in place."""
        return self.copy_(value)

    def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator=None):
        """Fill with samples of N(mean, std^2) from ``cr.random``, in place."""
        draw = FUNCTIONS["random_generator"](generator)
        return self.copy_(draw.normal(mean, std, self.shape).astype(self.dtype))

    def uniform_(self, a: float = 0.0, b: float = 1.0, *, generator=None):
        """Fill with samples of U(a, b) from ``cr.random``, in place."""
        draw = FUNCTIONS["random_generator"](generator)
        return self.copy_(draw.uniform(a, b, self.shape).astype(self.dtype))


_device_type = device


def _moved(x, data, target):
    """A leaf holding ``data``, the copy of ``x`` on ``target``."""
    if x.requires_grad and modes.mode.grad_enabled:
        raise DeviceError(
            f"x.to('{target}'): x (shape {tuple(x.shape)}, on {x.device}) requires grad, and "
            "chainrule records no operator between devices; make it there "
            f"(cr.tensor(..., device='{target}', requires_grad=True)), move the model with "
            "model.to(device) before the forward, or move x.detach()")
    return type(x)(data, name=x.name)


def _extreme(x, name, dim, keepdim, axis, keepdims):
    if dim is not None and hasattr(dim, "shape"):         # max(x, y): elementwise
        return FUNCTIONS["maximum" if name == "max" else "minimum"](x, dim)
    if dim is None:
        return FUNCTIONS[name](x, axis=axis, keepdims=keepdims)
    values = FUNCTIONS[name](x, axis=dim, keepdims=keepdim)
    where = FUNCTIONS["argmax" if name == "max" else "argmin"](x, dim, keepdim)
    return MinMax(values, where)


class ArrayData(np.ndarray):
    """``x.data``: a NumPy view of a tensor's memory with PyTorch's in-place idioms.

    Arithmetic on it gives plain NumPy arrays; the in-place methods write the tensor's memory
    and count as an in-place change of the tensor (its version goes up).
    """

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        inputs = tuple(i.view(np.ndarray) if isinstance(i, ArrayData) else i for i in inputs)
        out = kwargs.get("out")
        if out:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, ArrayData) else o
                                  for o in out)
        return getattr(ufunc, method)(*inputs, **kwargs)

    def _owner_changed(self) -> None:
        # PyTorch's x.data is outside the graph: no refusal while recording, but the version
        # goes up, so a node that saved the old value still refuses in backward
        ref = getattr(self, "owner", None)
        owner = ref() if ref is not None else None
        if owner is not None:
            inplace._bump(owner)

    def fill_(self, value) -> ArrayData:
        """Set every element to ``value``."""
        self._owner_changed()
        self[...] = value
        return self

    def zero_(self) -> ArrayData:
        """Set every element to zero."""
        return self.fill_(0)

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> ArrayData:
        """Fill with samples of N(mean, std^2) from ``cr.random``."""
        values = FUNCTIONS["random_generator"](None).normal(mean, std, self.shape)
        return self.fill_(values.astype(self.dtype))

    def uniform_(self, a: float = 0.0, b: float = 1.0) -> ArrayData:
        """Fill with samples of U(a, b) from ``cr.random``."""
        values = FUNCTIONS["random_generator"](None).uniform(a, b, self.shape)
        return self.fill_(values.astype(self.dtype))

    def copy_(self, src) -> ArrayData:
        """Overwrite with ``src`` (broadcast)."""
        return self.fill_(getattr(src, "_data", src))


def array_data(tensor):
    """The :class:`ArrayData` view of ``tensor``'s memory (the array itself off the CPU)."""
    data = tensor._data
    if type(data) is not np.ndarray:            # CuPy later: the array itself
        return data
    view = data.view(ArrayData)
    # weakly: `losses.append(J.data)` must not keep J, and the graph behind it, alive
    view.owner = weakref.ref(tensor)
    return view


def check_dim(x, dim, where: str) -> int:
    """``dim`` as a non-negative axis of ``x``; a 0-d tensor takes 0 and -1, as PyTorch."""
    ndim = max(x.ndim, 1)
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not -ndim <= dim < ndim:
        raise ShapeError(f"{where}: dim={dim!r} is out of range for a tensor of shape "
                         f"{tuple(x.shape)}; use a dim in range({-ndim}, {ndim})")
    return int(dim) % ndim

