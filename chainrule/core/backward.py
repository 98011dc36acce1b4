"""Backpropagation: the reverse walk over a recorded graph, by the chain rule.

:func:`backward` walks the nodes reachable from the roots consumers-first: a heap hands out
the pending node recorded last (:attr:`Node.seq`), which no other pending node can consume, so
no sort is needed and nothing recurses (a chain of a million operators is fine).  It calls each
operator's VJP rule, sums gradients over fan-out, and drops every gradient and saved value as
soon as it is used.  Without ``create_graph`` the rules run on plain arrays (an operator called
on arrays in that mode returns an array), so a first-order pass pays NumPy's cost and little
more; with it, the rules run on tensors and the backward pass is recorded like any other.
"""

from __future__ import annotations

import heapq
import sys

import numpy as np

from .. import backend
from ..errors import (AnomalyError, ChainruleError, DTypeError, GraphError, ReplayError,
                      ShapeError)
from .graph import Node, toposort
from .modes import gc_paused, mode, user_frames

__all__ = ["backward", "root_grad"]


def root_grad(out, g, what: str):
    """The gradient to start backpropagation from ``out`` with (ones for a one-element loss)."""
    if g is None:
        if out._data.size != 1:
            raise GraphError(
                f"{what} on a non-scalar output of shape {out.shape} needs a gradient of that "
                "shape (grad=... / grad_outputs=...), or reduce the output first, e.g. .sum()"
            )
        data = out._data
        if type(data) is np.ndarray:         # NumPy's ones_like costs 3 us; this 0.5
            one = np.array(1, dtype=data.dtype)
            return type(out)._wrap(one if not data.ndim else one.reshape(data.shape))
        return type(out)._wrap(backend.module_of(data).ones_like(data))
    if not isinstance(g, type(out)):
        try:
            g = type(out)._wrap(backend.module_of(out._data).asarray(g, dtype=out._data.dtype))
        except (TypeError, ValueError) as exc:
            raise DTypeError(f"{what}: the gradient {g!r:.60} is not an array of numbers for "
                             f"an output of shape {out.shape} and dtype {out.dtype} "
                             f"({exc}); pass a tensor or array of that shape") from None
    if g._data.shape != out._data.shape:
        raise ShapeError(f"{what}: the gradient has shape {g.shape} but the output has shape "
                         f"{out.shape}; they must be equal")
    if g._data.dtype != out._data.dtype:
        g = g.astype(out._data.dtype)
    return g


def _anomaly_check(node: Node, i: int, grad) -> None:
    data = getattr(grad, "_data", grad)
    if not bool(data.dtype.kind != "f" or backend.module_of(data).isfinite(data).all()):
        where = user_frames(node.trace) if node.trace else "(unknown)\n"
        raise AnomalyError(
            f"backward of '{node.op.name}' produced a NaN or an infinity in the gradient of its "
            f"input {i} (output shape {node.shape}, dtype {node.dtype}); the operator was "
            f"created at:\n{where}"
        )


def _leaf_dtype_check(leaf) -> None:
    if leaf.dtype.kind != "f":
        raise DTypeError(
            f"cannot differentiate with respect to a tensor of dtype {leaf.dtype} (shape "
            f"{leaf.shape}); only floating-point tensors have gradients: convert it with "
            ".astype(np.float32) first"
        )


def backward(roots, grads, *, inputs=None, retain_graph=False, create_graph=False,
             allow_unused=False):
    """Backpropagate ``grads`` from ``roots`` (see :func:`_backward`), the collector paused."""
    with gc_paused():
        return _backward(roots, grads, inputs=inputs, retain_graph=retain_graph,
                         create_graph=create_graph, allow_unused=allow_unused)


def _backward(roots, grads, *, inputs, retain_graph, create_graph, allow_unused):
    """Backpropagate ``grads`` from the tensors ``roots``.

    With ``inputs=None`` the gradients are accumulated into the ``.grad`` of every leaf (and of
    every tensor that called ``retain_grad()``).  With ``inputs`` a list of tensors, nothing is
    accumulated and a tuple with the gradient of each input is returned (``None`` for an input
    the roots do not depend on, when ``allow_unused``).
    """
    Tensor = type(roots[0])     # the walk sits below core.tensor: the type comes with the roots

    raw = not create_graph and not mode.fwd_levels and mode.tape is None
    if mode.tape is not None and inputs is None:
        raise ReplayError(
            "backward() inside a function being traced by cr.compile/cr.trace: it stores "
            "gradients in .grad, which a replay cannot repeat; return cr.grad(J, params) from "
            "the function instead and assign the gradients outside it")
    pending: dict = {}
    heap: list = []             # (seq, node): the recorded last pops first (see Node.seq)
    for root, g in zip(roots, grads):
        if raw:
            g = g._data
        node = root._node
        key = id(node if node is not None else root)
        if key in pending:
            pending[key] = _accumulate(pending[key], g)
            continue
        pending[key] = g
        if node is not None:
            heap.append((node.seq, node))

    targets: dict[int, int] | None = None
    useful: set[int] | None = None      # with inputs: the nodes some input is reached from
    results: list = []
    if inputs is not None:
        targets = {}
        for position, t in enumerate(inputs):
            if not t.requires_grad:
                _leaf_dtype_check(t)
                raise GraphError(
                    f"grad(): input {position} (shape {t.shape}, dtype {t.dtype}) does not "
                    "require grad; create it with requires_grad=True"
                )
            targets[id(t._node if t._node is not None else t)] = position
        results = [None] * len(inputs)
        useful = _useful(toposort([node for _, node in heap]), targets)
        heap = [entry for entry in heap if id(entry[1]) in useful]
    heapq.heapify(heap)

    # anomaly is checked per node below, so the error names the node's op; with raw, the VJP
    # rules run on arrays: the same rules, NumPy's speed
    previous, anomaly, was_raw = mode.switch(create_graph, False, raw)
    stored: set[int] = set()    # arrays already handed out as a .grad (never share one)
    pop, push = heapq.heappop, heapq.heappush
    try:
        while heap:
            node = pop(heap)[1]
            g = pending.pop(id(node))
            if node.retain is not None:
                for ref in node.retain:
                    t = ref()
                    if t is not None:
                        _store_grad(t, g, raw, stored)
            if targets is not None and id(node) in targets:
                results[targets[id(node)]] = g
            op = node.op
            saved = node.unpack(create_graph, Tensor, raw)
            params = node.params
            rules = None if op.variadic else op.vjp
            for i, edge in enumerate(node.edges):
                if edge is None:
                    continue
                try:
                    gi = (op.vjp(i, g, *saved, **params) if rules is None
                          else rules[i](g, *saved, **params))
                except (TypeError, ValueError, AttributeError) as exc:
                    _rule_failed(node, i, exc)
                if raw and isinstance(gi, Tensor):
                    gi = gi._data
                leaf = type(edge) is not Node
                if leaf:
                    shape, dtype = edge._data.shape, edge._data.dtype
                else:
                    shape, dtype = edge.shape, edge.dtype
                if gi.shape != shape:
                    _bad_shape(node, i, gi, shape)
                if gi.dtype is not dtype and gi.dtype != dtype:
                    gi = gi.astype(dtype)
                if anomaly:
                    _anomaly_check(node, i, gi)
                key = id(edge)
                if leaf:
                    if targets is None:
                        _store_grad(edge, gi, raw, stored)
                        continue
                    if key not in targets:
                        continue
                elif useful is not None and key not in useful:
                    continue                    # no input of grad() lies below it
                current = pending.get(key)
                if current is None:
                    pending[key] = gi
                    if not leaf:
                        push(heap, (edge.seq, edge))
                else:
                    pending[key] = _accumulate(current, gi)
            if not retain_graph:
                node.release()
    finally:
        mode.switch(previous, anomaly, was_raw)

    if targets is None:
        return None
    for key, position in targets.items():
        if results[position] is None and key in pending:
            results[position] = pending[key]
    if raw:
        results = [None if r is None else Tensor._wrap(_as_array(r)) for r in results]
    for position, t in enumerate(inputs):
        if results[position] is None and not allow_unused:
            raise GraphError(
                f"grad(): input {position} (shape {t.shape}) is not used to compute the outputs; "
                "pass allow_unused=True to get None for it"
            )
    return tuple(results)


def _useful(order: list[Node], targets: dict[int, int]) -> set[int]:
    """The ids of the nodes from which some target can be reached (inputs come first in
    ``order``): the only ones a walk for ``grad(outputs, inputs)`` needs to visit."""
    useful: set[int] = set()
    for node in order:
        if id(node) in targets or any(
            e is not None and (id(e) in useful or id(e) in targets) for e in node.edges
        ):
            useful.add(id(node))
    return useful


def _accumulate(current, g):
    """The sum of two gradients reaching one variable along different paths (fan-out)."""
    return current + g


def _as_array(g):
    return g if isinstance(g, backend.ndarray_types) else backend.xp.asarray(g)


def _store_grad(t, g, raw: bool, stored: set) -> None:
    """Accumulate ``g`` (an array when ``raw``, else a tensor) into ``t.grad``.

    A gradient stored on a tensor is its own writeable memory.  Rules return fresh arrays
    (or views of them, such as the transpose behind ``dJ/dW1``) and pending sums are out of
    place, so an array can only be shared with another ``.grad`` when it, or its base, was
    already handed out in this backward: ``stored`` holds those ids, and only then, or for a
    read-only view (a broadcast), is the array copied.
    """
    if t.grad is not None:
        if raw:
            data, g = t.grad._data, _as_array(g)
            if (id(data) in stored and data.flags.writeable and data.shape == g.shape
                    and data.dtype == g.dtype and _sole(data)):
                # made in this walk and held by no one else (the test PyTorch's
                # AccumulateGrad makes of a gradient it takes over): add in place, so a
                # parameter with two uses, as W in x @ W.T and (W ** 2).sum(), pays one array
                # less.  A .grad from an earlier backward (micro-batches summing into it) is
                # summed out of place, as the memory models count it
                data += g
                return
            t.grad = type(t)._wrap(data + g)
            stored.add(id(t.grad._data))
            return
        t.grad = t.grad + g
        return
    data = _as_array(g) if raw else g._data
    base = data.base
    if (not data.flags.writeable or id(data) in stored
            or (base is not None and id(base) in stored)):
        data, base = data.copy(), None
    stored.add(id(data))
    if base is not None:
        stored.add(id(base))
    t.grad = type(t)._wrap(data, None if raw else g._node)


def _sole(data) -> bool:
    """Whether only a ``.grad`` holds ``data`` (and, for a view, only ``data`` its base).

    Counted references: the ``.grad`` tensor, the caller's local, and this call's argument
    (``sys.getrefcount`` counts its own); a base is held by the view, the local ``base`` and
    the argument.  A gradient also waiting in ``pending``, or kept by the user, has more.
    """
    if sys.getrefcount(data) > 4:        # the tensor, the caller's local, `data`, the call
        return False
    base = data.base
    return base is None or (base.base is None and sys.getrefcount(base) <= 3)


def _rule_failed(node: Node, i: int, exc: Exception) -> None:
    if isinstance(exc, ChainruleError):
        raise exc
    kept = ", ".join("-" if v is None else type(v).__name__ for v in node.saved or ())
    raise GraphError(
        f"vjp of '{node.op.name}' failed for its input {i} (output shape {node.shape}, dtype "
        f"{node.dtype}; saved: {kept}): {type(exc).__name__}: {exc}; this is a bug in the "
        "operator's rule or in what it declared it saves"
    ) from exc


def _bad_shape(node: Node, i: int, gi, shape) -> None:
    raise GraphError(
        f"vjp of '{node.op.name}' returned a gradient of shape {gi.shape} for its "
        f"input {i} of shape {shape}; this is a bug in the operator's rule"
    )
