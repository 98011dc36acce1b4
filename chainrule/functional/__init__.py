"""The public functions: primitives with friendly arguments, and composites built from them.

Composites (``mean``, ``logsumexp``, ``softmax``, ``log_softmax``, ``cross_entropy``,
``mse_loss``, ``tensordot``, ``stack``) have no rules of their own: their derivatives, of every
order, come from the primitives they are written in.
"""

from __future__ import annotations

import builtins

import numpy as np

from .. import backend as B
from ..errors import DTypeError, ShapeError
from ..ops import elementwise as E
from ..ops import loss as LOSS
from ..ops import reduce as R
from ..ops import shape as S
from ..core.methods import MinMax, provide
from ..core.tensor import Tensor
from .linalg import einsum, matmul, tensordot

__all__ = [
    "neg", "exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid", "relu", "softplus",
    "add", "sub", "mul", "div", "power", "maximum", "minimum", "where", "nonzero", "clip",
    "is_tensor",
    "less", "less_equal", "greater", "greater_equal", "equal", "not_equal",
    "sum", "sumsq", "mean", "max", "min", "logsumexp", "softmax", "log_softmax",
    "reshape", "transpose", "broadcast_to", "sum_to", "getitem", "concatenate", "stack",
    "astype", "matmul", "einsum", "tensordot", "cross_entropy", "mse_loss",
]

neg, exp, log, sqrt, abs = E.neg, E.exp, E.log, E.sqrt, E.abs  # noqa: A001
sin, cos, tanh, sigmoid, relu, softplus = E.sin, E.cos, E.tanh, E.sigmoid, E.relu, E.softplus
add, sub, mul, div, power = E.add, E.sub, E.mul, E.div, E.power
maximum, minimum = E.maximum, E.minimum
less, less_equal, greater, greater_equal = E.less, E.less_equal, E.greater, E.greater_equal
equal, not_equal = E.equal, E.not_equal


def _data(x):
    return x._data if isinstance(x, Tensor) else x


def is_tensor(x) -> bool:
    """Whether ``x`` is a chainrule tensor (PyTorch's ``torch.is_tensor``)."""
    return isinstance(x, Tensor)


def shape_of(x) -> tuple:
    """The shape of a tensor, of an array of any device (read from it, never by asking NumPy,
    whose functions a device array may refuse), or of a number or nested list."""
    x = _data(x)
    shape = getattr(x, "shape", None)
    return tuple(shape) if shape is not None else np.shape(x)


def _ndim(x) -> int:
    return len(shape_of(x))


def _axes(x, axis, op: str):
    """``axis`` (None, int or sequence) as None or a sorted tuple of non-negative ints."""
    if axis is None:
        return None
    ndim = _ndim(x)
    items = (axis,) if isinstance(axis, (int, np.integer)) else axis
    if not isinstance(items, (tuple, list)) or not builtins.all(
            isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in items):
        raise ShapeError(f"{op}: axis={axis!r} must be None, an int or a tuple of ints "
                         f"(x.shape={shape_of(x)})")
    if ndim == 0 and builtins.all(a in (0, -1) for a in items):
        return ()                   # a 0-d tensor takes dim 0 and -1, as in PyTorch
    out = []
    for a in items:
        if not -ndim <= a < ndim:
            raise ShapeError(
                f"{op}: axis {a} is out of range for a tensor of shape {shape_of(x)}; "
                f"use an axis in range({-ndim}, {ndim})"
            )
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ShapeError(f"{op}: axis {axis} repeats an axis")
    return tuple(sorted(out))


def sum(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Sum over ``axis`` (all axes by default)."""
    return R.sum(x, axis=None if axis is None else _axes(x, axis, "sum"), keepdims=keepdims)


def sumsq(x) -> Tensor:
    """``||x||^2``, the sum of the squares of every element, as one fused operator.

    Equal to ``sum(x ** 2)`` (tested to second order), but it computes one dot product, keeps
    no ``x ** 2`` for backward, and its gradient ``2 g x`` is one pass: the chapter's
    weight-decay term ``s = lambda/2 (||W1||^2 + ||W2||^2)`` is built from it.

    >>> import chainrule as cr
    >>> cr.sumsq(cr.tensor([3.0, 4.0])).item()
    25.0
    """
    return R.sumsq(x)


def mean(x, axis=None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis`` (all axes by default)."""
    axes = _axes(x, axis, "mean")
    shape = shape_of(x)
    count = int(np.prod([shape[a] for a in axes] if axes is not None else shape))
    if getattr(_data(x), "dtype", None) == np.float16:      # in float32, as NumPy and PyTorch do
        return astype(mean(astype(x, np.float32), axis, keepdims), np.float16)
    # an empty mean is 0 / 0 = nan (with NumPy's warning), as in NumPy and PyTorch
    return R.sum(x, axis=axes, keepdims=keepdims) / count


def max(x, other=None, keepdim: bool = False, *, axis=None, keepdims: bool = False,  # noqa: A001
        dim=None):
    """Maximum over ``axis``; tied maxima share the gradient equally.

    As PyTorch, ``max(x, y)`` with a tensor ``y`` is the elementwise maximum and ``max(x, dim)``
    (a positional int, or ``dim=``) gives ``(values, indices)``; ``axis=`` gives the values.

    >>> import chainrule as cr
    >>> x = cr.tensor([[1.0, 5.0], [4.0, 2.0]])
    >>> cr.max(x).item(), cr.max(x, cr.zeros(2) + 3).tolist(), cr.max(x, 1).indices.tolist()
    (5.0, [[3.0, 5.0], [4.0, 3.0]], [1, 0])
    """
    return _extreme(x, other, keepdim, axis, keepdims, dim, R.max, maximum, "max")


def min(x, other=None, keepdim: bool = False, *, axis=None, keepdims: bool = False,  # noqa: A001
        dim=None):
    """Minimum over ``axis``; tied minima share the gradient equally (see :func:`max`)."""
    return _extreme(x, other, keepdim, axis, keepdims, dim, R.min, minimum, "min")


def _extreme(x, other, keepdim, axis, keepdims, dim, reduce, pairwise, name):
    if other is not None and not isinstance(other, (int, np.integer)):
        return pairwise(x, other)                   # max(x, y): elementwise
    if other is not None or dim is not None:        # max(x, dim): (values, indices)
        d = other if other is not None else dim
        values = reduce(x, axis=_axes(x, d, name), keepdims=keepdim)
        return MinMax(values, arg_extreme(x, d, keepdim, name))
    return reduce(x, axis=_axes(x, axis, name), keepdims=keepdims or keepdim)


def arg_extreme(x, dim, keepdim: bool, name: str) -> Tensor:
    """Where the ``"max"`` or ``"min"`` is along ``dim`` (flattened when None), int64.

    An index has no gradient, so it is computed on the array and not recorded (a trace by
    ``cr.compile`` would keep the indices it saw).
    """
    data = _data(x)
    fn = B.xp.argmax if name == "max" else B.xp.argmin
    if dim is None or data.ndim == 0:
        if dim is not None:
            _axes(x, dim, "arg" + name)             # refuses a dim out of range
        out = fn(data)
        if keepdim and data.ndim:
            out = B.xp.reshape(out, (1,) * data.ndim)
    else:
        (axis,) = _axes(x, dim, "arg" + name)
        out = fn(data, axis=axis, keepdims=keepdim)
    return Tensor(B.xp.asarray(out, dtype=np.int64))


def logsumexp(x, axis=-1, keepdims: bool = False, *, dim=None, keepdim: bool = False) -> Tensor:
    """``log(sum(exp(x)))`` over ``axis`` (PyTorch's ``dim``), computed without overflow.

    >>> import chainrule as cr
    >>> round(cr.logsumexp(cr.tensor([1e4, 1e4])).item(), 3)
    10000.693
    """
    axis = axis if dim is None else dim
    keepdims = keepdims or keepdim
    axes = _axes(x, axis, "logsumexp")
    shift = R.max(x, axis=axes, keepdims=True)
    shift = Tensor._wrap(B.xp.where(B.xp.isfinite(shift._data), shift._data, 0))  # constant
    out = log(R.sum(exp(x - shift), axis=axes, keepdims=True)) + shift
    if keepdims:
        return out
    return reshape(out, tuple(s for i, s in enumerate(out.shape)
                              if axes is not None and i not in axes))


def log_softmax(x, axis=-1, *, dim=None) -> Tensor:
    """``x - logsumexp(x)`` over ``axis`` (``dim``): log-probabilities, stable for large logits."""
    axis = axis if dim is None else dim
    _axes(x, axis, "log_softmax")                    # errors name the function called
    return x - logsumexp(x, axis=axis, keepdims=True)


def softmax(x, axis=-1, *, dim=None) -> Tensor:
    """``exp(x) / sum(exp(x))`` over ``axis`` (``dim``), stable for large logits (fused)."""
    axis = axis if dim is None else dim
    axes = _axes(x, axis, "softmax")
    if not axes:                        # a 0-d tensor: one element, probability 1
        return exp(x - x)
    return LOSS.softmax(x, axis=axes[0])


def softmax_composite(x, axis=-1) -> Tensor:
    """``softmax`` written from primitives (``exp(log_softmax(x))``), to test the fused one."""
    return exp(log_softmax(x, axis=axis))


def reshape(x, shape) -> Tensor:
    """The same elements in ``shape`` (one entry may be -1)."""
    shape = (shape,) if isinstance(shape, (int, np.integer)) else shape
    if not isinstance(shape, (tuple, list)) or not builtins.all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in shape):
        raise ShapeError(f"reshape: shape={shape!r} must be an int or a tuple of ints "
                         f"(x.shape={shape_of(x)}); one entry may be -1")
    return S.reshape(x, shape=tuple(int(s) for s in shape))


def transpose(x, axes=None) -> Tensor:
    """Permute the axes (reverse them when ``axes`` is None)."""
    if axes is not None:
        axes = tuple(int(a) for a in axes)
        ndim = _ndim(x)
        if sorted(a % ndim if -ndim <= a < ndim else -1 for a in axes) != list(range(ndim)):
            raise ShapeError(f"transpose: axes {axes} are not a permutation of "
                             f"range({ndim}) for a tensor of shape {shape_of(x)}")
    return S.transpose(x, axes=axes)


def broadcast_to(x, shape) -> Tensor:
    """Repeat ``x`` along new and size-1 axes up to ``shape`` (no copy)."""
    return S.broadcast_to(x, shape=tuple(shape))


def sum_to(x, shape) -> Tensor:
    """Sum ``x`` down to ``shape``: the inverse of broadcasting."""
    return S.sum_to(x, shape=tuple(shape))


def astype(x, dtype) -> Tensor:
    """``x`` converted to ``dtype``."""
    return S.astype(x, dtype=np.dtype(dtype))


def _index_item(i):
    if isinstance(i, Tensor):
        i = i._data
    if isinstance(i, list):
        i = np.asarray(i)
        if i.size == 0 and i.dtype.kind == "f":   # x[[]]: NumPy reads an empty list as intp
            i = i.astype(np.intp)
    if isinstance(i, np.ndarray) and i.dtype.kind not in "iub":
        raise DTypeError(f"getitem: an index array must be integer or bool, got {i.dtype}; "
                         "use .astype(np.int64)")
    if isinstance(i, np.integer):
        i = int(i)
    return i


def getitem(x, index) -> Tensor:
    """``x[index]`` for ints, slices, None, Ellipsis and integer or bool arrays."""
    items = index if isinstance(index, tuple) else (index,)
    return S.getitem(x, index=tuple(_index_item(i) for i in items))


def concatenate(seq, axis: int = 0) -> Tensor:
    """Join tensors along an existing ``axis``."""
    seq = list(seq)
    if not seq:
        raise ShapeError("concatenate: needs at least one tensor")
    ndim = _ndim(seq[0])
    if not -ndim <= axis < ndim:
        raise ShapeError(f"concatenate: axis {axis} is out of range for tensors of "
                         f"{ndim} dimensions")
    axis %= ndim
    shapes = [shape_of(x) for x in seq]
    if builtins.any(len(s) != ndim for s in shapes):
        raise ShapeError(f"concatenate: inputs have shapes {shapes}; they need the same "
                         "number of dimensions")
    return S.concatenate(*seq, axis=axis, bounds=S.concat_bounds(shapes, axis))


def stack(seq, axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Join tensors of one shape along a new ``axis`` (``dim``, PyTorch's name)."""
    axis = axis if dim is None else dim
    seq = list(seq)
    if not seq:
        raise ShapeError("stack: needs at least one tensor")
    shape = shape_of(seq[0])
    if builtins.any(shape_of(x) != shape for x in seq):
        raise ShapeError(f"stack: inputs have shapes {[shape_of(x) for x in seq]}; "
                         "they must all be equal")
    if not -len(shape) - 1 <= axis <= len(shape):
        raise ShapeError(f"stack: axis {axis} is out of range for a new axis of "
                         f"{len(shape) + 1} dimensions")
    axis %= len(shape) + 1
    grown = shape[:axis] + (1,) + shape[axis:]
    return concatenate([reshape(x, grown) for x in seq], axis=axis)


_MISSING = object()


def where(condition, a=_MISSING, b=_MISSING):
    """``a`` where ``condition`` is true, else ``b``; ``condition`` takes no gradient.

    With ``condition`` alone, as ``torch.where(condition)``: the indices where it is true (or
    nonzero), one integer tensor per axis (:func:`nonzero` with ``as_tuple=True``).
    """
    if a is _MISSING and b is _MISSING:
        return nonzero(condition, as_tuple=True)
    if a is _MISSING or b is _MISSING:
        raise TypeError("where(condition, a, b) takes both a and b, or neither (then it "
                        "returns the indices where condition is true)")
    cond = _data(condition)
    if not isinstance(cond, B.ndarray_types) or cond.dtype != bool:
        cond = B.xp.asarray(cond)
        if cond.dtype != bool:
            raise DTypeError(f"where: condition must be bool, got dtype {cond.dtype}; "
                             "compare first, e.g. x > 0")
    return E.where(a, b, cond=cond)


def nonzero(x, *, as_tuple: bool = False):
    """The indices of the nonzero (true) elements of ``x``, in row-major order, as PyTorch's
    ``torch.nonzero``: an int64 tensor of shape (count, x.ndim), or with ``as_tuple`` one 1-D
    tensor per axis (where a 0-d ``x`` counts as 1-D).  No gradient: indices are integers.

    >>> import chainrule as cr
    >>> x = cr.tensor([[0.0, 2.0], [3.0, 0.0]])
    >>> cr.nonzero(x).tolist(), [i.tolist() for i in cr.where(x > 1)]
    ([[0, 1], [1, 0]], [[0, 1], [1, 0]])
    """
    data = _data(x)
    if not isinstance(data, B.ndarray_types):
        data = B.xp.asarray(data)
    if data.dtype.kind not in "biufc":
        raise DTypeError(f"nonzero: x.dtype={data.dtype}; it needs numbers or booleans")
    if data.ndim == 0 and not as_tuple:
        count = int(bool(data))
        return Tensor._wrap(B.xp.zeros((count, 0), dtype=np.int64))
    found = data.reshape(1).nonzero() if data.ndim == 0 else data.nonzero()
    if as_tuple:
        return tuple(Tensor._wrap(i.astype(np.int64, copy=False)) for i in found)
    return Tensor._wrap(B.xp.stack(found, axis=1).astype(np.int64, copy=False))


def clip(x, low=None, high=None) -> Tensor:
    """Limit ``x`` to ``[low, high]``; no gradient flows where it was clipped."""
    return E.clip(x, low=low, high=high)


def cross_entropy(logits, labels) -> Tensor:
    """Mean over the batch of ``-log softmax(logits)[label]``; stable for logits of 1e4.

    ``logits`` is (batch, classes); ``labels`` an integer array or tensor of shape (batch,).
    """
    shape = shape_of(logits)
    y = B.xp.asarray(_data(labels))
    if len(shape) != 2:
        raise ShapeError(f"cross_entropy: logits.shape={shape}; logits must be (batch, "
                         "classes): add a batch axis with logits[None]")
    if y.dtype.kind not in "iu":
        raise DTypeError(f"cross_entropy: labels.dtype={y.dtype}; labels must be integer "
                         "class indices: use labels.astype(np.int64)")
    if y.shape != shape[:1]:
        raise ShapeError(f"cross_entropy: logits.shape={shape} and labels.shape={y.shape}; "
                         f"labels must have shape ({shape[0]},)")
    def out_of_range() -> ShapeError:
        return ShapeError(f"cross_entropy: labels lie in [{int(y.min())}, {int(y.max())}] but "
                          f"logits.shape={shape} has {shape[1]} classes; use labels in "
                          f"[0, {shape[1]})")

    # a negative label would wrap round: refused here, or on NumPy by the operator's one pass
    # over the labels (ops/loss.py), which also refuses one too large
    if type(y) is not np.ndarray and y.size and int(y.min()) < 0:
        raise out_of_range()
    try:
        return LOSS.cross_entropy_keeping(logits, labels if isinstance(labels, Tensor) else y)
    except ShapeError:
        if y.size and (int(y.min()) < 0 or int(y.max()) >= shape[1]):
            raise out_of_range() from None
        raise


def cross_entropy_composite(logits, labels) -> Tensor:
    """``cross_entropy`` written from primitives, to test the fused one."""
    y = B.xp.asarray(_data(labels))
    picked = getitem(log_softmax(logits, axis=-1), (B.xp.arange(shape_of(logits)[0]), y))
    return -mean(picked)


def mse_loss(pred, target) -> Tensor:
    """Mean of ``(pred - target) ** 2``; the two shapes must be equal."""
    sp, st = shape_of(pred), shape_of(target)
    if sp != st:
        raise ShapeError(f"mse_loss: pred.shape={sp} and target.shape={st} differ; reshape "
                         "one so they are equal (broadcasting here is almost always a bug)")
    diff = pred - target
    return mean(diff * diff)


provide(**{name: globals()[name] for name in __all__})
