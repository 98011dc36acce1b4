"""Pooling: ``avg_pool2d`` and its adjoint ``avg_unpool2d``; ``max_pool2d`` and
``max_unpool2d``, each pair the other's VJP.

Inputs are (N, C, H, W); the parameters are pairs (``kernel_size``, ``stride``, ``padding``,
``dilation``) and PyTorch's ``ceil_mode``, ``count_include_pad`` and ``divisor_override``,
with PyTorch's output sizes and divisors.  Every forward is a loop over the kernel's offsets
(four for a 2x2 window), each step one strided slice of the whole batch, never a loop over
positions.  ``max_pool2d`` keeps, as a residual, the flat index (into each H*W plane) of the
element each output came from; its VJP puts the gradient back there (``max_unpool2d``), whose
own VJP gathers from those indices again, so second order works.
"""

from __future__ import annotations

import numpy as np

from .. import backend as B
from ..errors import ShapeError
from ..core.fields import Book, Memory
from ..core.op import LINEAR, BadInput, Op, Sample
from .samples import uniform
from .shape import getitem, reshape

__all__ = ["avg_pool2d", "avg_unpool2d", "max_pool2d", "max_unpool2d", "pool_output_size"]


def pool_output_size(size: int, k: int, stride: int, padding: int, dilation: int = 1,
                     ceil_mode: bool = False) -> int:
    """The output length of a pooling window along one axis, as PyTorch computes it."""
    span = size + 2 * padding - dilation * (k - 1) - 1
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def _geometry(shape, kernel_size, stride, padding, dilation, ceil_mode):
    if len(shape) != 4:
        raise ValueError(f"pooling takes a 4-D input (N, C, H, W), got {len(shape)}-D")
    for a in (0, 1):
        if kernel_size[a] < 1 or stride[a] < 1 or padding[a] < 0 or dilation[a] < 1:
            raise ValueError("kernel_size, stride and dilation must be positive and padding "
                             "non-negative")
        if 2 * padding[a] > kernel_size[a]:
            raise ValueError(f"padding={padding} must be at most half of "
                             f"kernel_size={kernel_size}")
    out = tuple(pool_output_size(shape[2 + a], kernel_size[a], stride[a], padding[a],
                                 dilation[a], ceil_mode) for a in (0, 1))
    if out[0] < 1 or out[1] < 1:
        raise ValueError(f"the window {kernel_size} is larger than the padded input")
    # the padded extent the windows reach (ceil_mode may reach past the padding)
    extent = tuple(max((out[a] - 1) * stride[a] + dilation[a] * (kernel_size[a] - 1) + 1,
                       shape[2 + a] + 2 * padding[a]) for a in (0, 1))
    return out, extent


def _padded(x, padding, extent, fill):
    ph, pw = padding
    h, w = x.shape[2:]
    if (ph, pw) == (0, 0) and extent == (h, w):
        return x
    out = B.xp.full(x.shape[:2] + extent, fill, dtype=x.dtype)
    out[:, :, ph:ph + h, pw:pw + w] = x
    return out


def _slice(a, i, j, stride, dilation, out):
    return a[:, :, i * dilation[0]:i * dilation[0] + stride[0] * (out[0] - 1) + 1:stride[0],
             j * dilation[1]:j * dilation[1] + stride[1] * (out[1] - 1) + 1:stride[1]]


def _divisor(shape, out, kernel_size, stride, padding, count_include_pad, divisor_override):
    """PyTorch's divisor of each window: an int, or an (Ho, Wo) array at the edges."""
    if divisor_override:
        return divisor_override
    counts = []
    for a in (0, 1):
        start = np.arange(out[a]) * stride[a] - padding[a]
        end = np.minimum(start + kernel_size[a], shape[2 + a] + padding[a])
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, shape[2 + a])
        counts.append(end - start)
    div = counts[0][:, None] * counts[1][None, :]
    return int(div[0, 0]) if (div == div[0, 0]).all() else B.xp.asarray(div)


def _avg_pool(x, *, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override):
    out, extent = _geometry(x.shape, kernel_size, stride, padding, (1, 1), ceil_mode)
    xp_ = _padded(x, padding, extent, 0)
    total = None
    for i in range(kernel_size[0]):
        for j in range(kernel_size[1]):
            part = _slice(xp_, i, j, stride, (1, 1), out)
            total = part.copy() if total is None else total.__iadd__(part)
    div = _divisor(x.shape, out, kernel_size, stride, padding, count_include_pad,
                   divisor_override)
    return total / B.xp.asarray(div, dtype=x.dtype)


def _avg_unpool(g, *, kernel_size, stride, padding, ceil_mode, count_include_pad,
                divisor_override, shape):
    out, extent = _geometry(shape, kernel_size, stride, padding, (1, 1), ceil_mode)
    if tuple(g.shape) != tuple(shape[:2]) + out:
        raise ValueError(f"g must have shape {tuple(shape[:2]) + out} to pool back to {shape}")
    div = _divisor(shape, out, kernel_size, stride, padding, count_include_pad,
                   divisor_override)
    share = g / B.xp.asarray(div, dtype=g.dtype)
    n, c, h, w = shape
    kh, kw = kernel_size
    if (tuple(stride) == (kh, kw) and tuple(padding) == (0, 0)
            and (h, w) == (out[0] * kh, out[1] * kw)):              # tiles: repeat each
        tiles = B.xp.broadcast_to(share[:, :, :, None, :, None], (n, c, out[0], kh, out[1], kw))
        return tiles.reshape(n, c, h, w)
    full = B.xp.zeros(tuple(shape[:2]) + extent, dtype=g.dtype)
    for i in range(kernel_size[0]):
        for j in range(kernel_size[1]):
            _slice(full, i, j, stride, (1, 1), out)[...] += share
    ph, pw = padding
    if full.shape[2:] == tuple(shape[2:]):
        return full
    return B.xp.ascontiguousarray(full[:, :, ph:ph + shape[2], pw:pw + shape[3]])


def _avg_params(kernel_size=(2, 2), stride=None, padding=(0, 0), ceil_mode=False,
                count_include_pad=True, divisor_override=None):
    return {"kernel_size": kernel_size, "stride": stride or kernel_size, "padding": padding,
            "ceil_mode": ceil_mode, "count_include_pad": count_include_pad,
            "divisor_override": divisor_override}


def _avg_samples(rng):
    return [Sample((uniform(rng, (2, 3, 4, 6)),), _avg_params()),
            Sample((uniform(rng, (1, 2, 5, 7)),),
                   _avg_params((3, 2), (2, 1), (1, 1), ceil_mode=True,
                               count_include_pad=False)),
            Sample((uniform(rng, (2, 1, 5, 5)),), _avg_params((3, 3), (2, 2), (1, 0),
                                                              ceil_mode=True)),
            Sample((uniform(rng, (1, 2, 4, 4)),), _avg_params((2, 2), (1, 1),
                                                              divisor_override=3))]


def _pool_bad(name):
    params = _avg_params() if name == "avg" else _max_params()
    return [BadInput((np.ones((3, 4, 4)),), params, ShapeError, "4-D"),
            BadInput((np.ones((1, 1, 1, 4)),), params, ShapeError, "larger than")]


def _pool_book(name):
    return Book(forward=lambda n, a: n.call(name, a[0]),
                vjp=lambda n, i, g, a, out: n.call(name + "^T", g))


avg_pool2d = Op(
    "avg_pool2d", _avg_pool, inputs=("x",), saves=("x.shape",),
    vjp=(lambda g, xshape, **p: avg_unpool2d(g, shape=xshape, **p),), jvp=LINEAR,
    samples=_avg_samples, bad_inputs=lambda: _pool_bad("avg"),
    hint="x is (N, C, H, W), padding at most half the window, the window within the input",
    book=_pool_book("avgpool"), memory=Memory(forward=lambda step: step.nbytes),
    doc="The mean of each window of (N, C, H, W), as PyTorch's avg_pool2d.")


def _unpool_samples(rng):
    return [Sample((uniform(rng, s.args[0].shape[:2] + _geometry(
        s.args[0].shape, s.params["kernel_size"], s.params["stride"], s.params["padding"],
        (1, 1), s.params["ceil_mode"])[0]),), {**s.params, "shape": s.args[0].shape})
        for s in _avg_samples(rng)]


avg_unpool2d = Op(
    "avg_unpool2d", _avg_unpool, inputs=("g",),
    vjp=(lambda g, *, shape, **p: avg_pool2d(g, **p),), jvp=LINEAR, samples=_unpool_samples,
    bad_inputs=lambda: [BadInput((np.ones((1, 1, 3, 3)),), {**_avg_params(),
                                                            "shape": (1, 1, 4, 4)},
                                 ShapeError, "(1, 1, 2, 2)")],
    hint="g must have avg_pool2d's output shape for an input of `shape`",
    memory=Memory(forward=lambda step: step.nbytes),
    doc="Spread each window's gradient evenly over it: the adjoint of avg_pool2d.")


# ---------------------------------------------------------------------------- max
def _max_pool(x, *, kernel_size, stride, padding, dilation, ceil_mode):
    out, extent = _geometry(x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    xp_ = _padded(x, padding, extent, -np.inf)
    best = None
    for i in range(kernel_size[0]):
        for j in range(kernel_size[1]):
            part = _slice(xp_, i, j, stride, dilation, out)
            best = part.copy() if best is None else B.xp.maximum(best, part, out=best)
    return best


def _argmax(ans, x, *, kernel_size, stride, padding, dilation, ceil_mode):
    """The flat index, in each H*W plane of ``x``, of the first maximum of each window."""
    out, extent = _geometry(x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    xp_ = _padded(x, padding, extent, -np.inf)
    kh, kw = kernel_size
    # the first offset k whose element equals the maximum: which = m0 (1 + m1 (1 + ...)),
    # m_k = "offset k is not the maximum", built backwards in one byte per output
    which = B.xp.zeros(ans.shape, dtype=np.uint8 if kh * kw < 256 else np.int32)
    for k in range(kh * kw - 2, -1, -1):
        i, j = divmod(k, kw)
        which += 1
        which *= _slice(xp_, i, j, stride, dilation, out) != ans
    base = ((B.xp.arange(out[0], dtype=np.int32)[:, None] * stride[0] - padding[0])
            * x.shape[3] + B.xp.arange(out[1], dtype=np.int32)[None, :] * stride[1]
            - padding[1])
    offsets = B.xp.asarray([(k // kw) * dilation[0] * x.shape[3] + (k % kw) * dilation[1]
                            for k in range(kh * kw)], dtype=np.int32)
    return (base + B.xp.take(offsets, which),)


def _overlap(kernel_size, stride, dilation) -> bool:
    return any(stride[a] < dilation[a] * (kernel_size[a] - 1) + 1 for a in (0, 1))


def gather(t, indices):
    """``t`` (N, C, H, W) read at the flat ``indices`` (N, C, Ho, Wo) of each H*W plane."""
    n, c = indices.shape[:2]
    flat = reshape(t, shape=(n, c, t.shape[2] * t.shape[3]))
    index = (B.xp.arange(n)[:, None, None], B.xp.arange(c)[None, :, None],
             indices.reshape(n, c, -1))
    return reshape(getitem(flat, index=index), shape=indices.shape)


def _max_vjp(g, xshape, idx, *, kernel_size, stride, padding, dilation, ceil_mode):
    return max_unpool2d(g, indices=idx, size=tuple(xshape[2:]),
                        overlap=_overlap(kernel_size, stride, dilation))


def _max_params(kernel_size=(2, 2), stride=None, padding=(0, 0), dilation=(1, 1),
                ceil_mode=False):
    return {"kernel_size": kernel_size, "stride": stride or kernel_size, "padding": padding,
            "dilation": dilation, "ceil_mode": ceil_mode}


def _max_samples(rng):
    return [Sample((uniform(rng, (2, 3, 4, 6)),), _max_params()),
            Sample((uniform(rng, (1, 2, 5, 5)),), _max_params((3, 3), (1, 1), (1, 1))),
            Sample((uniform(rng, (1, 2, 7, 6)),), _max_params((2, 3), (2, 1), (1, 1),
                                                              (2, 1), ceil_mode=True))]


max_pool2d = Op(
    "max_pool2d", _max_pool, inputs=("x",), saves=("x.shape",), residuals=_argmax,
    vjp=(_max_vjp,), jvp=lambda t, xshape, idx, **p: gather(t[0], idx),
    samples=_max_samples, bad_inputs=lambda: _pool_bad("max"),
    hint="x is (N, C, H, W), padding at most half the window, the window within the input",
    book=_pool_book("maxpool"),
    memory=Memory(forward=lambda step: step.nbytes, vjp=lambda step, i: step.size * 8),
    doc="The maximum of each window of (N, C, H, W), as PyTorch's max_pool2d.")


def _max_unpool(g, *, indices, size, overlap):
    if g.ndim != 4 or indices.shape != g.shape:
        raise ValueError(f"g and indices must be 4-D of one shape, got {g.shape} and "
                         f"{indices.shape}")
    n, c = g.shape[:2]
    plane = size[0] * size[1]
    flat = (indices.reshape(n * c, -1) + (B.xp.arange(n * c) * plane)[:, None]).ravel()
    if overlap:                                   # windows share elements: add them up
        out = B.xp.bincount(flat, weights=g.ravel(), minlength=n * c * plane)
        out = out.astype(g.dtype, copy=False)
    else:
        out = B.xp.zeros(n * c * plane, dtype=g.dtype)
        out[flat] = g.ravel()
    return out.reshape(n, c, size[0], size[1])


def _unpool_max_samples(rng):
    return [Sample((uniform(rng, (2, 2, 2, 2)),),
                   {"indices": np.stack([rng.permutation(16)[:4] for _ in range(4)]).reshape(
                       2, 2, 2, 2), "size": (4, 4), "overlap": False}),
            Sample((uniform(rng, (1, 2, 3, 3)),),
                   {"indices": rng.integers(0, 6, (1, 2, 3, 3)), "size": (2, 3),
                    "overlap": True})]


max_unpool2d = Op(
    "max_unpool2d", _max_unpool, inputs=("g",),
    vjp=(lambda g, *, indices, size, overlap: gather(g, indices),), jvp=LINEAR,
    samples=_unpool_max_samples,
    bad_inputs=lambda: [BadInput((np.ones((1, 1, 2, 2)),),
                                 {"indices": np.zeros((1, 1, 3, 3), dtype=np.int64),
                                  "size": (4, 4), "overlap": False}, ShapeError, "(1, 1, 3, 3)")],
    hint="indices must have g's shape and index each H*W plane of the output",
    doc="Zeros of (N, C, *size) with ``g`` put (added, where windows overlap) at ``indices``: "
        "the VJP of max_pool2d.")
