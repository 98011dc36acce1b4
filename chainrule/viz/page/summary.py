"""What the page shows of a tensor: a summary, never the whole array; and where values come from.

:func:`summarize` turns an array into a few numbers (shape, min, max, mean, norm), a
16-bin histogram and, for more than :data:`SMALL` elements, a heatmap of at most
:data:`HEAT_ROWS` x :data:`HEAT_COLS` block means (bytes in base64, 128 is zero); an array of
:data:`SMALL` elements or fewer is kept whole.  The numbers are Python floats, so the page's
``state()`` returns exactly what NumPy computed here.

:func:`node_values` finds the output of every recorded node without running the graph again
where it can: the tensors the caller named, the root, and the tensors nodes saved for
backward; a node whose output is none of those is recomputed from its inputs with its own
operator's forward (the same NumPy call that made it).  A node whose input is gone (a
constant that was freed, a Python number not saved) has no value: the page shows its shape.
"""

from __future__ import annotations

import base64

import numpy as np

from ...core.graph import Node
from ...core.tensor import Tensor

__all__ = ["summarize", "node_values", "SMALL", "HEAT_ROWS", "HEAT_COLS", "BINS"]

SMALL = 16
HEAT_ROWS, HEAT_COLS, BINS = 24, 48, 16


def _float(x) -> float:
    return float(x)


def summarize(value) -> dict:
    """Shape, min, max, mean, norm, histogram and heatmap (or the values) of ``value``.

    >>> s = summarize(np.array([[1.0, -2.0], [3.0, 4.0]]))
    >>> s["shape"], s["min"], s["max"], s["mean"], s["data"]
    ([2, 2], -2.0, 4.0, 1.5, [1.0, -2.0, 3.0, 4.0])
    """
    a = np.asarray(value)
    out: dict = {"shape": list(a.shape), "dtype": str(a.dtype)}
    if a.size == 0 or a.dtype.kind not in "fiub":
        out.update(min=None, max=None, mean=None, norm=None)
        return out
    wide = a.astype(np.float64)
    out.update(min=_float(wide.min()), max=_float(wide.max()), mean=_float(wide.mean()),
               norm=_float(np.sqrt((wide * wide).sum())))
    if a.size <= SMALL:
        out["data"] = [_float(v) for v in wide.ravel()]
        return out
    finite = wide[np.isfinite(wide)]
    if finite.size:
        counts, edges = np.histogram(finite, bins=BINS)
        out["hist"] = {"counts": [int(c) for c in counts], "low": _float(edges[0]),
                       "high": _float(edges[-1])}
    out["heat"] = _heatmap(wide)
    return out


def _blocks(n: int, most: int) -> np.ndarray:
    """Start indices of at most ``most`` nearly equal blocks covering ``range(n)``."""
    k = min(n, most)
    return np.unique(np.floor(np.arange(k) * n / k).astype(np.int64))


def _heatmap(a: np.ndarray) -> dict:
    """Block means of ``a`` (made 2-D) scaled to bytes: 0 is -max|a|, 128 zero, 255 +max|a|."""
    if a.ndim == 0:
        a = a.reshape(1, 1)
    elif a.ndim == 1:
        a = a.reshape(1, -1)
    elif a.ndim > 2:
        a = a.reshape(-1, a.shape[-1])
    a = np.where(np.isfinite(a), a, 0.0)
    rows, cols = _blocks(a.shape[0], HEAT_ROWS), _blocks(a.shape[1], HEAT_COLS)
    sums = np.add.reduceat(np.add.reduceat(a, rows, axis=0), cols, axis=1)
    sizes = np.outer(np.diff(np.append(rows, a.shape[0])), np.diff(np.append(cols, a.shape[1])))
    means = sums / sizes
    scale = float(np.abs(means).max()) or 1.0
    pixels = np.clip(np.round(127.5 + 127.5 * means / scale), 0, 255).astype(np.uint8)
    return {"rows": int(pixels.shape[0]), "cols": int(pixels.shape[1]), "scale": scale,
            "bytes": base64.b64encode(pixels.tobytes()).decode("ascii")}


def _array(value):
    data = value._data if isinstance(value, Tensor) else value
    return None if data is None else np.asarray(data)


def _input_value(node: Node, i: int, known: dict):
    """Input ``i`` of ``node`` as an array or number, or None when the graph lost it."""
    edge = node.edges[i]
    if type(edge) is Node:
        return known.get(id(edge))
    if isinstance(edge, Tensor):
        return edge._data
    for position, ref in node.consts or ():
        if position == i:
            t = ref()
            return None if t is None else t._data
    op = node.op
    if op.variadic or i >= len(op.inputs) or op.inputs[i] not in op.saves or not node.saved:
        return None
    saved = node.saved[op.saves.index(op.inputs[i])]
    return saved._data if isinstance(saved, Tensor) else saved


def node_values(order: list, tensors=()) -> dict[int, np.ndarray]:
    """``id(node) -> its output`` for the nodes of ``order`` (see the module doc)."""
    known: dict[int, np.ndarray] = {}
    for t in tensors:
        if isinstance(t, Tensor) and t._node is not None:
            known.setdefault(id(t._node), t._data)
    for node in order:
        for value in node.saved or ():
            if isinstance(value, Tensor) and value._node is not None:
                known.setdefault(id(value._node), value._data)
    for node in order:
        if id(node) in known:
            continue
        args = [_input_value(node, i, known) for i in range(len(node.edges))]
        if any(a is None for a in args):
            continue
        try:
            with np.errstate(all="ignore"):
                out = np.asarray(node.op.forward(*args, **node.params))
        except Exception:                   # an operator that needs more than its inputs
            continue
        if tuple(out.shape) == tuple(node.shape):
            known[id(node)] = out
    return known

