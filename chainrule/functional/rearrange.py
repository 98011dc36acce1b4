"""Moving elements: ``flatten``, ``squeeze``/``unsqueeze``, ``expand``, ``repeat``, ``cat``,
``flip``, ``roll``, ``sort``/``argsort``, ``tril``/``triu``.

All are composites of ``reshape``, ``broadcast_to``, ``getitem``, ``concatenate`` and
``where``, so their derivatives, of every order, come from those.

>>> import chainrule as cr
>>> x = cr.tensor([[3.0, 1.0, 2.0]])
>>> cr.sort(x).values.tolist(), cr.roll(x, 1, dims=1).tolist(), x.squeeze(0).shape
([[1.0, 2.0, 3.0]], [[2.0, 3.0, 1.0]], (3,))
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import backend as B
from ..core.methods import check_dim, provide
from ..core.tensor import Tensor
from ..errors import ShapeError
from . import broadcast_to, concatenate, getitem, reshape, shape_of, where

__all__ = ["flatten", "squeeze", "unsqueeze", "expand", "repeat", "cat", "flip", "roll",
           "sort", "argsort", "tril", "triu"]


class Sorted(NamedTuple):
    """``sort``'s result, as PyTorch's: the sorted values and where they came from."""

    values: Tensor
    indices: Tensor


def _shape(x) -> tuple:
    return shape_of(x)


def flatten(x, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge the axes ``start_dim`` .. ``end_dim`` into one."""
    shape = _shape(x)
    if not shape:
        return reshape(x, (1,))
    a = check_dim(x, start_dim, "flatten")
    b = check_dim(x, end_dim, "flatten")
    if a > b:
        raise ShapeError(f"flatten: start_dim={start_dim} comes after end_dim={end_dim} for "
                         f"shape {shape}")
    return reshape(x, shape[:a] + (int(np.prod(shape[a:b + 1])),) + shape[b + 1:])


def squeeze(x, dim=None) -> Tensor:
    """Drop the axes of size 1 (only ``dim``, if given and of size 1)."""
    shape = _shape(x)
    if dim is None:
        return reshape(x, tuple(s for s in shape if s != 1))
    d = check_dim(x, dim, "squeeze")
    if not shape or shape[d] != 1:
        return x
    return reshape(x, shape[:d] + shape[d + 1:])


def unsqueeze(x, dim: int) -> Tensor:
    """Insert an axis of size 1 at ``dim`` (``-1`` appends)."""
    shape = _shape(x)
    if isinstance(dim, bool) or not -len(shape) - 1 <= dim <= len(shape):
        raise ShapeError(f"unsqueeze: dim={dim!r} is out of range for shape {shape}; use a "
                         f"dim in range({-len(shape) - 1}, {len(shape) + 1})")
    d = dim % (len(shape) + 1)
    return reshape(x, shape[:d] + (1,) + shape[d:])


def expand(x, *sizes) -> Tensor:
    """Broadcast to ``sizes`` (``-1`` keeps a size), without copying."""
    sizes = tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) \
        else sizes
    shape = _shape(x)
    lead = len(sizes) - len(shape)
    target = tuple(shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
    return broadcast_to(x, target)


def repeat(x, *counts) -> Tensor:
    """Tile ``x``: ``counts[i]`` copies along axis ``i`` (PyTorch's ``repeat``)."""
    counts = tuple(counts[0]) if len(counts) == 1 and isinstance(counts[0], (tuple, list)) \
        else counts
    shape = _shape(x)
    if len(counts) < len(shape):
        raise ShapeError(f"repeat: {len(counts)} counts for a tensor of shape {shape}; give "
                         "one per axis at least")
    shape = (1,) * (len(counts) - len(shape)) + shape
    grown = reshape(x, tuple(v for s in shape for v in (1, s)))
    tiled = broadcast_to(grown, tuple(v for c, s in zip(counts, shape) for v in (c, s)))
    return reshape(tiled, tuple(c * s for c, s in zip(counts, shape)))


def cat(tensors, dim: int = 0) -> Tensor:
    """Join tensors along ``dim`` (PyTorch's name for ``concatenate``)."""
    return concatenate(tensors, axis=dim)


def flip(x, dims) -> Tensor:
    """Reverse the order of elements along ``dims``."""
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    index = [slice(None)] * len(_shape(x))
    for d in dims:
        index[check_dim(x, d, "flip")] = slice(None, None, -1)
    return getitem(x, tuple(index))


def roll(x, shifts, dims=None) -> Tensor:
    """Shift elements along ``dims`` by ``shifts``, wrapping around (flattened if no dims)."""
    if dims is None:
        return reshape(roll(reshape(x, (-1,)), shifts, 0), _shape(x))
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts) != len(dims):
        raise ShapeError(f"roll: {len(shifts)} shifts for {len(dims)} dims; give one each")
    out = x
    for s, d in zip(shifts, dims):
        axis = check_dim(x, d, "roll")
        n = _shape(x)[axis]
        k = s % n if n else 0
        if k:
            head = [slice(None)] * axis + [slice(n - k, None)]
            tail = [slice(None)] * axis + [slice(None, n - k)]
            out = concatenate([getitem(out, tuple(head)), getitem(out, tuple(tail))], axis=axis)
    return out


def argsort(x, dim: int = -1, descending: bool = False) -> Tensor:
    """Indices that sort ``x`` along ``dim`` (stable), int64."""
    data = x._data if isinstance(x, Tensor) else B.xp.asarray(x)
    if data.ndim == 0:
        return Tensor(B.xp.zeros((), dtype=np.int64))
    axis = check_dim(data, dim, "argsort")
    order = B.xp.argsort(-data if descending else data, axis=axis, kind="stable")
    return Tensor(order.astype(np.int64))


def sort(x, dim: int = -1, descending: bool = False) -> Sorted:
    """``(values, indices)`` sorted along ``dim``; the gradient flows back to where each value
    came from."""
    indices = argsort(x, dim, descending)
    if not _shape(x):
        return Sorted(x, indices)
    axis = check_dim(x, dim, "sort")
    grid = list(B.xp.indices(indices.shape, sparse=True))
    grid[axis] = indices._data
    return Sorted(getitem(x, tuple(grid)), indices)


def _triangle(x, diagonal: int, lower: bool, where_: str) -> Tensor:
    shape = _shape(x)
    if len(shape) < 2:
        raise ShapeError(f"{where_}: x.shape={shape}; it needs a matrix (or a batch of them)")
    rows, cols = shape[-2:]
    mask = (np.tri(rows, cols, diagonal, dtype=bool) if lower
            else ~np.tri(rows, cols, diagonal - 1, dtype=bool))
    return where(B.xp.asarray(mask), x, 0)


def tril(x, diagonal: int = 0) -> Tensor:
    """The lower triangle (on and below ``diagonal``); zero above."""
    return _triangle(x, diagonal, True, "tril")


def triu(x, diagonal: int = 0) -> Tensor:
    """The upper triangle (on and above ``diagonal``); zero below."""
    return _triangle(x, diagonal, False, "triu")


provide(**{name: globals()[name] for name in __all__})
