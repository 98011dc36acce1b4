"""Convolution, pooling, padding and batch normalisation, with PyTorch's names and arguments.

The primitives live in :mod:`chainrule.ops.conv` and :mod:`chainrule.ops.pool`; here ints
become pairs, a bias is added, an unbatched (C, H, W) input gets its batch axis, and the
composites are written: ``pad`` (a scatter for constants, an integer-index gather for
``reflect``, ``replicate`` and ``circular``), ``adaptive_avg_pool2d`` (an average pool when the
sizes divide, else two averaging matrices) and ``batch_norm``.  The 1-D variants are the 2-D
ones on a height of 1.

>>> import numpy as np, chainrule as cr
>>> import chainrule.nn.functional as F
>>> x = cr.tensor(np.ones((1, 1, 4, 4)))
>>> F.conv2d(x, cr.tensor(np.ones((2, 1, 3, 3))), padding=1).shape
(1, 2, 4, 4)
>>> F.max_pool2d(x, 2).shape
(1, 1, 2, 2)
"""

# ruff: noqa: A002  (PyTorch's argument name `input`, so keyword calls port unchanged)
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ... import backend as B
from ... import functional as CF
from ...core.modes import no_grad
from ...core.tensor import Tensor
from ...creation import tensor
from ...errors import DTypeError, ShapeError
from ...ops import conv as C
from ...ops import pool as P
from ...ops.shape import getitem, scatter

__all__ = ["conv1d", "conv2d", "conv_transpose2d", "max_pool1d", "max_pool2d", "avg_pool1d",
           "avg_pool2d", "adaptive_avg_pool2d", "pad", "batch_norm"]


def pair(value: Any, name: str, where: str, low: int = 1) -> tuple[int, int]:
    """``value`` (an int or a pair of ints, each at least ``low``) as a pair."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer))
                              or v < low for v in items):
        raise ShapeError(f"{where}: {name}={value!r} must be an int >= {low} or a pair of them")
    return int(items[0]), int(items[1])


def _t(x: Any, like: Any = None) -> Tensor:
    if isinstance(x, Tensor):
        return x
    dtype = like.dtype if isinstance(like, Tensor) else None
    return tensor(x, dtype=dtype)


def _batched(x: Tensor, where: str) -> tuple[Tensor, bool]:
    """(N, C, H, W) as it is, (C, H, W) with a batch of one; anything else refused."""
    if x.ndim == 4:
        return x, False
    if x.ndim == 3:
        return CF.reshape(x, (1,) + x.shape), True
    raise ShapeError(f"{where}: input.shape={x.shape} must be (N, C, H, W) or (C, H, W)")


def _unbatched(out: Tensor, squeeze: bool) -> Tensor:
    return CF.reshape(out, out.shape[1:]) if squeeze else out


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """2-D cross-correlation, as ``torch.nn.functional.conv2d``; ``padding`` may be an int, a
    pair, ``"valid"`` or ``"same"``."""
    where = "conv2d"
    weight = _t(weight)
    x, squeeze = _batched(_t(input, weight), where)
    stride = pair(stride, "stride", where)
    dilation = pair(dilation, "dilation", where)
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ShapeError(f"{where}: groups={groups!r} must be a positive int")
    if padding == "valid":
        padding = 0
    elif padding == "same":
        if stride != (1, 1):
            raise ShapeError(f"{where}: padding='same' needs stride=1, got stride={stride}")
        total = [dilation[a] * (weight.shape[2 + a] - 1) for a in (0, 1)]
        if total[0] % 2 or total[1] % 2:         # uneven: the extra zero goes after, as torch
            x = pad(x, (total[1] // 2, total[1] - total[1] // 2,
                        total[0] // 2, total[0] - total[0] // 2))
            padding = 0
        else:
            padding = (total[0] // 2, total[1] // 2)
    padding = pair(padding, "padding", where, low=0)
    out = C.conv2d(x, weight, stride=stride, padding=padding, dilation=dilation,
                   groups=int(groups))
    if bias is not None:
        out = out + CF.reshape(_t(bias, weight), (1, -1, 1, 1))
    return _unbatched(out, squeeze)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """1-D cross-correlation of (N, C, L) with (O, C/groups, k): conv2d on a height of 1."""
    weight = _t(weight)
    x = _t(input, weight)
    if x.ndim not in (2, 3) or weight.ndim != 3:
        raise ShapeError(f"conv1d: input.shape={x.shape} and weight.shape={weight.shape} must "
                         "be (N, C, L) or (C, L), and (O, C/groups, k)")
    x4 = CF.reshape(x, x.shape[:-1] + (1, x.shape[-1]))
    w4 = CF.reshape(weight, weight.shape[:2] + (1, weight.shape[2]))
    pads = padding if isinstance(padding, str) else (0, _one(padding, "padding", "conv1d", 0))
    out = conv2d(x4, w4, bias, (1, _one(stride, "stride", "conv1d")), pads,
                 (1, _one(dilation, "dilation", "conv1d")), groups)
    return CF.reshape(out, out.shape[:-2] + (out.shape[-1],))


def _one(value, name, where, low=1) -> int:
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    return pair(value, name, where, low)[0]


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1) -> Tensor:
    """The transposed convolution, as ``torch.nn.functional.conv_transpose2d``: ``weight`` is
    (C_in, C_out / groups, kh, kw), and this is conv2d's gradient for its input."""
    where = "conv_transpose2d"
    weight = _t(weight)
    x, squeeze = _batched(_t(input, weight), where)
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ShapeError(f"{where}: groups={groups!r} must be a positive int")
    out = C.conv_transpose2d(
        x, weight, stride=pair(stride, "stride", where),
        padding=pair(padding, "padding", where, 0),
        output_padding=pair(output_padding, "output_padding", where, 0),
        dilation=pair(dilation, "dilation", where), groups=int(groups))
    if bias is not None:
        out = out + CF.reshape(_t(bias, weight), (1, -1, 1, 1))
    return _unbatched(out, squeeze)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """The maximum of each window, as ``torch.nn.functional.max_pool2d`` (``stride``
    defaults to ``kernel_size``; ``return_indices`` also gives each maximum's flat index
    in its H*W plane)."""
    where = "max_pool2d"
    x, squeeze = _batched(_t(input), where)
    k = pair(kernel_size, "kernel_size", where)
    params = {"kernel_size": k, "stride": pair(stride if stride else k, "stride", where),
              "padding": pair(padding, "padding", where, 0),
              "dilation": pair(dilation, "dilation", where), "ceil_mode": bool(ceil_mode)}
    out = P.max_pool2d(x, **params)
    if not return_indices:
        return _unbatched(out, squeeze)
    (index,) = P._argmax(out._data, x._data, **params)
    return _unbatched(out, squeeze), tensor(index[0] if squeeze else index)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode=False) -> Tensor:
    """Max pooling of (N, C, L): max_pool2d on a height of 1."""
    x = _t(input)
    out = max_pool2d(CF.reshape(x, x.shape[:-1] + (1, x.shape[-1])),
                     (1, _one(kernel_size, "kernel_size", "max_pool1d")),
                     (1, _one(stride if stride else kernel_size, "stride", "max_pool1d")),
                     (0, _one(padding, "padding", "max_pool1d", 0)),
                     (1, _one(dilation, "dilation", "max_pool1d")), ceil_mode)
    return CF.reshape(out, out.shape[:-2] + (out.shape[-1],))


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None) -> Tensor:
    """The mean of each window, as ``torch.nn.functional.avg_pool2d``."""
    where = "avg_pool2d"
    x, squeeze = _batched(_t(input), where)
    k = pair(kernel_size, "kernel_size", where)
    if divisor_override is not None and (isinstance(divisor_override, bool) or not isinstance(
            divisor_override, (int, np.integer)) or divisor_override < 1):
        raise ShapeError(f"{where}: divisor_override={divisor_override!r} must be a "
                         "positive int or None")
    out = P.avg_pool2d(x, kernel_size=k, stride=pair(stride if stride else k, "stride", where),
                       padding=pair(padding, "padding", where, 0), ceil_mode=bool(ceil_mode),
                       count_include_pad=bool(count_include_pad),
                       divisor_override=divisor_override)
    return _unbatched(out, squeeze)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True) -> Tensor:
    """Average pooling of (N, C, L): avg_pool2d on a height of 1."""
    x = _t(input)
    out = avg_pool2d(CF.reshape(x, x.shape[:-1] + (1, x.shape[-1])),
                     (1, _one(kernel_size, "kernel_size", "avg_pool1d")),
                     (1, _one(stride if stride else kernel_size, "stride", "avg_pool1d")),
                     (0, _one(padding, "padding", "avg_pool1d", 0)), ceil_mode,
                     count_include_pad)
    return CF.reshape(out, out.shape[:-2] + (out.shape[-1],))


def _averaging(size: int, out: int, dtype) -> np.ndarray:
    """(out, size): row i averages PyTorch's adaptive window floor(i*size/out) ..
    ceil((i+1)*size/out)."""
    m = np.zeros((out, size), dtype=dtype)
    for i in range(out):
        start, end = (i * size) // out, -((-(i + 1) * size) // out)
        m[i, start:end] = 1.0 / (end - start)
    return m


def adaptive_avg_pool2d(input, output_size) -> Tensor:
    """Average pooling to a fixed ``output_size``, as PyTorch's (``None`` keeps a size)."""
    where = "adaptive_avg_pool2d"
    x, squeeze = _batched(_t(input), where)
    h, w = x.shape[2:]
    sizes = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size,) * 2
    sizes = tuple(s if s is not None else d for s, d in zip(sizes, (h, w)))
    ho, wo = pair(sizes, "output_size", where)
    if h % ho == 0 and w % wo == 0:
        out = P.avg_pool2d(x, kernel_size=(h // ho, w // wo), stride=(h // ho, w // wo),
                           padding=(0, 0), ceil_mode=False, count_include_pad=True,
                           divisor_override=None)
    else:
        rows = tensor(_averaging(h, ho, x.dtype))
        cols = tensor(_averaging(w, wo, x.dtype))
        out = CF.einsum("nchw,ih,jw->ncij", x, rows, cols)
    return _unbatched(out, squeeze)


def _pad_index(size: int, before: int, after: int, mode: str) -> np.ndarray:
    j = np.arange(-before, size + after)
    if mode == "reflect":
        if before >= size or after >= size:
            raise ShapeError(f"pad: reflect padding ({before}, {after}) must be smaller than "
                             f"the dimension it pads ({size})")
        j = np.abs(j)
        return np.where(j > size - 1, 2 * (size - 1) - j, j)
    if mode == "replicate":
        return np.clip(j, 0, size - 1)
    return j % size                                                   # circular


def pad(input, pad, mode="constant", value=None) -> Tensor:
    """Pad the last ``len(pad) // 2`` axes, as ``torch.nn.functional.pad``: ``pad`` is
    (left, right, top, bottom, ...) from the last axis back; ``mode`` is ``"constant"``
    (with ``value``, 0 by default; negative widths crop), ``"reflect"``, ``"replicate"`` or
    ``"circular"``."""
    x = _t(input)
    widths = tuple(pad) if isinstance(pad, (tuple, list)) else None
    if (widths is None or len(widths) % 2 or len(widths) // 2 > x.ndim
            or any(isinstance(p, bool) or not isinstance(p, (int, np.integer)) for p in widths)):
        raise ShapeError(f"pad: pad={pad!r} must be a tuple of an even number of ints, at most "
                         f"2 * input.ndim = {2 * x.ndim}")
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise ShapeError(f"pad: unknown mode {mode!r}; use 'constant', 'reflect', 'replicate' "
                         "or 'circular'")
    k = len(widths) // 2
    pairs = [(int(widths[2 * i]), int(widths[2 * i + 1])) for i in range(k)][::-1]
    axes = list(range(x.ndim - k, x.ndim))
    if mode != "constant":
        if any(b < 0 or a < 0 for b, a in pairs):
            raise ShapeError(f"pad: mode={mode!r} takes non-negative widths, got {pad}")
        index = []
        for n, (ax, (b, a)) in enumerate(zip(axes, pairs)):
            shape = [1] * k
            shape[n] = -1
            index.append(_pad_index(x.shape[ax], b, a, mode).reshape(shape))
        return getitem(x, index=(Ellipsis, *index))
    crop = tuple(slice(max(-b, 0), x.shape[ax] - max(-a, 0)) for ax, (b, a) in zip(axes, pairs))
    if any(-b > 0 or -a > 0 for b, a in pairs):
        x = getitem(x, index=(Ellipsis, *crop))
    grow = [(max(b, 0), max(a, 0)) for b, a in pairs]
    shape = x.shape[:x.ndim - k] + tuple(x.shape[ax] + b + a for ax, (b, a) in zip(axes, grow))
    place = (Ellipsis, *(slice(b, b + x.shape[ax]) for ax, (b, _) in zip(axes, grow)))
    out = scatter(x, index=place, shape=shape)
    if value:
        fill = np.full(shape, value, dtype=x.dtype)
        fill[place] = 0
        out = out + tensor(fill)
    return out


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5) -> Tensor:
    """Batch normalisation, as ``torch.nn.functional.batch_norm``: over every axis but the
    channels (axis 1); in training, the batch's statistics are used and the running ones
    (tensors or arrays, changed in place) move by ``momentum`` toward them (the variance
    unbiased, as PyTorch's); in evaluation, the running statistics are used."""
    x = _t(input)
    if x.ndim < 2:
        raise ShapeError(f"batch_norm: input.shape={x.shape} must be (N, C, ...)")
    c = x.shape[1]
    shape = (1, c) + (1,) * (x.ndim - 2)
    axes = (0,) + tuple(range(2, x.ndim))
    if training:
        count = math.prod(x.shape) // c
        if count < 2:
            raise ShapeError(f"batch_norm: training needs more than one value per channel, "
                             f"got input.shape={x.shape}")
        mean = CF.mean(x, axis=axes, keepdims=True)
        centred = x - mean
        var = CF.mean(centred * centred, axis=axes, keepdims=True)
        with no_grad():
            for stat, batch in ((running_mean, mean), (running_var, var * (count / (count - 1)))):
                if stat is not None:
                    _move(stat, B.xp.reshape(batch._data, (c,)), momentum)
    else:
        if running_mean is None or running_var is None:
            raise DTypeError("batch_norm: evaluation (training=False) needs running_mean and "
                             "running_var")
        mean = CF.reshape(_t(running_mean, x), shape)
        var = CF.reshape(_t(running_var, x), shape)
        centred = x - mean
    out = centred / CF.sqrt(var + eps)
    if weight is not None:
        out = out * CF.reshape(_t(weight, x), shape)
    if bias is not None:
        out = out + CF.reshape(_t(bias, x), shape)
    return out


def _move(stat, batch, momentum) -> None:
    """``stat = (1 - momentum) stat + momentum batch``, in place."""
    data = stat._data if isinstance(stat, Tensor) else stat
    if momentum is None:
        raise DTypeError("batch_norm: momentum=None (a cumulative average) needs the count "
                         "of batches; use nn.BatchNorm2d(momentum=None)")
    data *= 1.0 - momentum
    data += momentum * batch.astype(data.dtype, copy=False)
    if isinstance(stat, Tensor) and stat._base is None:
        stat._version += 1
