"""Shape operators: reshape, transpose, broadcast_to/sum_to, indexing, concatenation, casts.

All are linear, so forward mode applies the operator to the tangents (``LINEAR``).
``broadcast_to`` and ``sum_to`` are each other's VJP, and so are ``getitem`` and ``scatter``:
this is where every broadcast and every index is un-done, once.
"""

from __future__ import annotations

import numpy as np

from .. import backend as B
from ..errors import DTypeError, ShapeError
from ..core.fields import (ALIAS, BOOKKEEPING, NEW, NEWVIEW, READONLY, TRANSPOSED, VIEW, Book,
                           Memory)
from ..core.op import LINEAR, BadInput, Op, Sample
from .samples import uniform

# the chapter's prod hides reshaping and casting: the gradient passes through unchanged
_PASS = Book(BOOKKEEPING, forward=lambda n, a: a[0], vjp=lambda n, i, g, a, out: g)


def _moves(result) -> Memory:
    """The memory of a VJP that only moves ``g`` (no temporaries), returning ``result``."""
    return Memory(vjp=0, result=result)


def _as_array(x):
    """An operator's input as an array: NumPy's functions take numbers and lists too."""
    return x if hasattr(x, "reshape") else B.xp.asarray(x)


reshape = Op("reshape", lambda x, *, shape: _as_array(x).reshape(shape), inputs=("x",),
             view=True, saves=("x.shape",),
             vjp=(lambda g, xshape, *, shape: reshape(g, shape=xshape),), jvp=LINEAR,
             samples=lambda rng: [Sample((uniform(rng, (3, 4)),), {"shape": (2, 6)}),
                                  Sample((uniform(rng, (6,)),), {"shape": (3, -1)}),
                                  Sample((uniform(rng, (1,)),), {"shape": ()})],
             bad_inputs=lambda: [BadInput((np.ones((3, 4)),), {"shape": (5, 2)}, ShapeError,
                                          "(3, 4)")],
             hint="the new shape must have as many elements as the old one",
             book=_PASS, memory=_moves(VIEW), doc="The same elements in a new shape.")


def _inverse(axes, ndim):
    if axes is None:
        return None
    return tuple(int(i) for i in np.argsort([a % ndim for a in axes]))


def _transpose_vjp(g, xshape, *, axes):
    """The inverse permutation of ``g``: the array's own method in a first-order backward."""
    inverse = _inverse(axes, len(xshape))
    if isinstance(g, B.ndarray_types):
        return g.transpose(inverse)
    return transpose(g, axes=inverse)


transpose = Op("transpose", lambda x, *, axes: _as_array(x).transpose(axes), inputs=("x",),
               view=True,
               saves=("x.shape",),
               vjp=(_transpose_vjp,),
               jvp=LINEAR,
               samples=lambda rng: [Sample((uniform(rng, (3, 4)),), {"axes": None}),
                                    Sample((uniform(rng, (2, 3, 4)),), {"axes": (1, 2, 0)})],
               bad_inputs=lambda: [BadInput((np.ones((3, 4)),), {"axes": (0, 0)}, ShapeError,
                                            "(3, 4)")],
               hint="axes must be a permutation of range(x.ndim)",
               book=Book(BOOKKEEPING, forward=lambda n, a: n.transpose(a[0]),
                         vjp=lambda n, i, g, a, out: n.transpose(g)),
               memory=_moves(TRANSPOSED),
               doc="Permute the axes (reverse them when ``axes`` is None).")


def _sum_to(x, *, shape):
    shape = tuple(shape)
    if x.shape == shape:
        return x
    lead = x.ndim - len(shape)
    if lead < 0 or any(s not in (1, n) for s, n in zip(shape, x.shape[lead:])):
        raise ValueError(f"shape {shape} does not broadcast to {x.shape}")
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and x.shape[lead + i] != 1)
    out = x.sum(axis=axes, keepdims=True)
    return out.reshape(shape) if lead else out


def _unbroadcast_book(n, i, g, a, out):
    """``sum_to`` as the chapter writes it: a sum over the batch is ``1^T G``."""
    src, dst = n.in_shapes[0], n.shape
    if src is None or tuple(src) == tuple(dst) or (g is n.ONE and not src):
        return g
    if not src:
        return n.call("sum", g, scalar=True)
    if tuple(dst[1:]) == tuple(src):
        return n.matmul(n.transpose(n.ONES), g)
    return n.call("sum_to", g)


def _unbroadcast_result(step, i):
    src, dst = tuple(step.in_shapes[i]), step.shape
    return ALIAS if src == dst else NEWVIEW if len(src) < len(dst) else NEW  # sum_to reshapes


broadcast_to = Op(
    "broadcast_to", lambda x, *, shape: B.xp.broadcast_to(x, shape), inputs=("x",), view=True,
    saves=("x.shape",), vjp=(lambda g, xshape, *, shape: sum_to(g, shape=xshape),),
    jvp=LINEAR,
    samples=lambda rng: [Sample((uniform(rng, (3, 1)),), {"shape": (2, 3, 4)}),
                         Sample((uniform(rng, ()),), {"shape": (5,)})],
    bad_inputs=lambda: [BadInput((np.ones((3, 4)),), {"shape": (5, 4)}, ShapeError, "(3, 4)")],
    hint="each dimension must be equal to the target's or 1",
    book=Book(BOOKKEEPING, forward=lambda n, a: a[0], vjp=_unbroadcast_book),
    memory=_moves(_unbroadcast_result),
    doc="Repeat ``x`` along new and size-1 axes to ``shape`` (a view; VJP is ``sum_to``).")

sum_to = Op(
    "sum_to", _sum_to, inputs=("x",), saves=("x.shape",),
    view=lambda params, in_shapes, shape: in_shapes[0] is not None
    and tuple(in_shapes[0]) == tuple(shape),                  # x itself, when already there
    vjp=(lambda g, xshape, *, shape: broadcast_to(g, shape=xshape),), jvp=LINEAR,
    samples=lambda rng: [Sample((uniform(rng, (2, 3, 4)),), {"shape": (3, 1)}),
                         Sample((uniform(rng, (3, 4)),), {"shape": (4,)}),
                         Sample((uniform(rng, (3, 4)),), {"shape": (3, 4)})],
    bad_inputs=lambda: [BadInput((np.ones((3, 4)),), {"shape": (2, 4)}, ShapeError, "(3, 4)")],
    hint="shape must broadcast to x.shape", book=_PASS, memory=_moves(READONLY),
    doc="Sum ``x`` down to ``shape``, the inverse of broadcasting (VJP is ``broadcast_to``).")


def is_basic(index) -> bool:
    """Whether ``index`` uses only ints, slices, None and Ellipsis (no repeats possible)."""
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, slice, type(None), type(Ellipsis))) for i in items)


def _scatter(g, *, index, shape):
    out = B.xp.zeros(shape, dtype=g.dtype)
    if is_basic(index):
        out[index] = g
    else:
        B.xp.add.at(out, index, g)            # repeated indices add up
    return out


def _index_samples(rng):
    return [Sample((uniform(rng, (4, 5)),), {"index": (slice(1, 3), slice(None, None, 2))}),
            Sample((uniform(rng, (4, 5)),), {"index": (np.array([0, 2, 2]),)}),
            Sample((uniform(rng, (4, 5)),), {"index": (np.array([0, 1, 3]),
                                                       np.array([4, 4, 0]))}),
            Sample((uniform(rng, (2, 3, 4)),), {"index": (1, Ellipsis, None, 2)})]


def _basic(params, *shapes) -> bool:
    return is_basic(params.get("index", ()))


getitem = Op("getitem", lambda x, *, index: x[index], inputs=("x",), saves=("x.shape",),
             view=_basic,                   # basic slicing views, integer arrays copy
             vjp=(lambda g, xshape, *, index: scatter(g, index=index, shape=xshape),),
             jvp=LINEAR, samples=_index_samples,
             bad_inputs=lambda: [BadInput((np.ones((3, 4)),), {"index": (5,)}, ShapeError,
                                          "(3, 4)")],
             hint="use indices within the shape (basic slices, ints, or integer arrays)",
             book=Book(BOOKKEEPING,
                       forward=lambda n, a: a[0] if _basic(n.params) else n.call("index", a[0]),
                       vjp=lambda n, i, g, a, out: g if _basic(n.params) else
                       n.call("scatter", g)),
             memory=_moves(NEW),
             doc="``x[index]`` for basic slices and integer arrays (VJP is ``scatter``).")

scatter = Op("scatter", _scatter, inputs=("g",),
             vjp=(lambda g, *, index, shape: getitem(g, index=index),), jvp=LINEAR,
             samples=lambda rng: [
                 Sample((uniform(rng, (3, 5)),), {"index": (np.array([0, 2, 2]),),
                                                   "shape": (4, 5)}),
                 Sample((uniform(rng, (2, 5)),), {"index": (slice(1, 3),), "shape": (4, 5)})],
             bad_inputs=lambda: [BadInput((np.ones((2, 5)),), {"index": (slice(0, 3),),
                                                               "shape": (4, 5)},
                                          ShapeError, "(2, 5)")],
             hint="g must have the shape of zeros(shape)[index]",
             memory=_moves(lambda step, i: VIEW if _basic(step.params) else NEW),
             doc="Zeros of ``shape`` with ``g`` added at ``index`` (the VJP of ``getitem``).")


def _concat_vjp(i, g, *, axis, bounds):
    return getitem(g, index=(slice(None),) * axis + (slice(*bounds[i]),))


def concat_bounds(shapes, axis: int) -> tuple:
    """The (start, stop) of each input along ``axis`` in the concatenation."""
    bounds, start = [], 0
    for shape in shapes:
        bounds.append((start, start + shape[axis]))
        start += shape[axis]
    return tuple(bounds)


def _concat_samples(rng):
    xs = (uniform(rng, (2, 3)), uniform(rng, (4, 3)))
    ys = (uniform(rng, (2, 1)), uniform(rng, (2, 2)), uniform(rng, (2, 3)))
    return [Sample(xs, {"axis": 0, "bounds": concat_bounds([x.shape for x in xs], 0)}),
            Sample(ys, {"axis": 1, "bounds": concat_bounds([y.shape for y in ys], 1)})]


concatenate = Op(
    "concatenate", lambda *xs, axis, bounds: B.xp.concatenate(xs, axis=axis), inputs="*xs",
    vjp=_concat_vjp, jvp=LINEAR, samples=_concat_samples,
    bad_inputs=lambda: [BadInput((np.ones((2, 3)), np.ones((2, 4))),
                                 {"axis": 0, "bounds": ((0, 2), (2, 4))}, ShapeError, "(2, 4)")],
    hint="every input must have the same shape except along axis", memory=_moves(VIEW),
    doc="Join tensors along an existing axis.")

astype = Op("astype", lambda x, *, dtype: x.astype(dtype), inputs=("x",), saves=("x.dtype",),
            vjp=(lambda g, xdtype, *, dtype: astype(g, dtype=xdtype),), jvp=LINEAR,
            samples=lambda rng: [Sample((uniform(rng, (3,)),), {"dtype": np.float64})],
            bad_inputs=lambda: [BadInput((np.array(["x"]),), {"dtype": np.float32}, ShapeError,
                                         "<U1")],
            book=_PASS, memory=_moves(NEW),
            doc="Convert to ``dtype`` (differentiable between floating dtypes).")

identity = Op("identity", lambda x: x, inputs=("x",), vjp=(lambda g: g,), jvp=LINEAR, view=True,
              samples=lambda rng: [Sample((uniform(rng, (3, 2)),))],
              bad_inputs=lambda: [], book=_PASS, memory=_moves(ALIAS),
              doc="``x`` itself, as a new node of the graph.")

__all__ = ["reshape", "transpose", "broadcast_to", "sum_to", "getitem", "scatter",
           "concatenate", "astype", "identity", "concat_bounds", "is_basic", "DTypeError"]
