"""The recorded computational graph and the reverse walk over it.

A :class:`Node` is recorded for each operator applied to at least one input that requires a
gradient.  It holds the operator, one *edge* per input (the input's own node, the leaf tensor
itself, or ``None`` when no gradient flows there), the values the operator declared it saves for
backward, and its non-tensor parameters.  Nodes point only backwards, to what made their inputs,
so a graph never holds a reference cycle and is freed by reference counting alone.

:func:`backward` sorts the nodes reachable from the roots with an explicit stack (no recursion:
a chain of a million operators is fine), walks them consumers-first, calls each operator's VJP,
sums gradients over fan-out, and drops every gradient and saved value as soon as it is used.
"""

from __future__ import annotations

import gc
import os
import traceback
import weakref
from contextlib import contextmanager
from typing import Iterator, Sequence

from . import backend
from .errors import AnomalyError, DTypeError, GraphError

__all__ = [
    "Node",
    "mode",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
    "detect_anomaly",
    "toposort",
    "backward",
]


class _Mode:
    """Process-wide switches read on every operator call (plain attributes: cheap to read)."""

    __slots__ = ("grad_enabled", "anomaly", "fwd_levels", "raw")

    def __init__(self) -> None:
        self.grad_enabled = True
        self.anomaly = False
        self.fwd_levels: list[int] = []
        self.raw = False            # inside a first-order backward: operators return arrays


mode = _Mode()


def is_grad_enabled() -> bool:
    """Return whether operators are being recorded."""
    return mode.grad_enabled


@contextmanager
def set_grad_enabled(enabled: bool) -> Iterator[None]:
    """Record operators inside the block if ``enabled``, and restore the previous state after."""
    previous = mode.grad_enabled
    mode.grad_enabled = bool(enabled)
    try:
        yield
    finally:
        mode.grad_enabled = previous


def no_grad():
    """Record nothing and save no intermediates inside the block (prediction mode).

    >>> import chainrule as cr
    >>> w = cr.tensor([1.0, 2.0], requires_grad=True)
    >>> with cr.no_grad():
    ...     y = (w * w).sum()
    >>> y.requires_grad
    False
    """
    return set_grad_enabled(False)


def enable_grad():
    """Record operators inside the block, even within ``no_grad()``."""
    return set_grad_enabled(True)


@contextmanager
def detect_anomaly() -> Iterator[None]:
    """Raise :class:`AnomalyError` at the first operator whose forward or backward gives NaN/inf.

    The error names the operator, its input shapes and the line of user code that created it.
    When the mode is off, operators pay one attribute read for it.
    """
    previous = mode.anomaly
    mode.anomaly = True
    try:
        yield
    finally:
        mode.anomaly = previous


class Node:
    """One recorded application of an operator: the unit the backward pass walks."""

    __slots__ = (
        "op", "edges", "saved", "params", "versions", "shape", "dtype",
        "name", "retain", "trace", "ans_tangents", "consts", "__weakref__",
    )

    def __init__(self, op, edges, saved, params, versions, shape, dtype):
        self.op = op
        self.edges = edges          # per input: Node, leaf Tensor, or None
        self.saved = saved          # what op.saves declared, in order; None once freed
        self.params = params        # keyword parameters of the operator (dict)
        self.versions = versions    # ((position in saved, tensor, version), ...) or None
        self.shape = shape          # the output's shape and dtype (for checks and zeros)
        self.dtype = dtype
        self.name = None            # the output tensor's name, once the user sets one
        self.retain = None          # weakrefs of tensors that asked for retain_grad()
        self.trace = None           # where user code created it (detect_anomaly only)
        self.ans_tangents = None    # forward-mode tangents of the output, when saved
        self.consts = None          # ((position, weakref), ...) of constant tensor inputs

    def __repr__(self) -> str:
        label = f" {self.name}" if self.name else ""
        return f"<Node {self.op.name}{label} shape={self.shape} dtype={self.dtype}>"

    def unpack(self, create_graph: bool, tensor_type, raw: bool = False) -> tuple:
        """Return the saved values as the VJP takes them, checking none was changed in place.

        With ``raw`` (a first-order backward), tensors are replaced by their arrays.
        """
        saved = self.saved
        if saved is None:
            raise GraphError(
                f"backward() through the graph of '{self.op.name}' (output shape {self.shape}), "
                "which was already freed by an earlier backward(); pass retain_graph=True to the "
                "first backward() or grad() if you need to go through the graph twice"
            )
        versions = self.versions
        for position, value in enumerate(saved):
            if isinstance(value, tensor_type):
                now = value._version if value._base is None else value._base._version
                then = versions.get(position, 0) if versions else 0
                if now != then:
                    raise GraphError(
                        f"'{self.op.name}' saved input {position} (shape {value.shape}, dtype "
                        f"{value.dtype}) for backward, and it (or the tensor whose memory it "
                        f"views) was changed in place afterwards (version {then} -> {now}); "
                        "compute the gradient before changing it, or change a copy"
                    )
        ans_at = self.op._ans_at
        if versions and "ans" in versions:
            raise GraphError(
                f"'{self.op.name}' saved its output (shape {self.shape}, dtype {self.dtype}) for "
                "backward, and it was changed in place afterwards; compute the gradient before "
                "changing it, or change a copy"
            )
        if raw:
            return tuple(v._data if isinstance(v, tensor_type) else v for v in saved)
        if ans_at < 0:
            return saved
        ans = tensor_type._wrap(saved[ans_at], self if create_graph else None)
        if self.ans_tangents is not None:
            ans._tangents = self.ans_tangents
        return saved[:ans_at] + (ans,) + saved[ans_at + 1:]

    def release(self) -> None:
        """Drop what was saved for backward (after the backward pass used it)."""
        if self.op.saves:
            self.saved = None
            self.versions = None
            self.ans_tangents = None


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector inside a graph walk.

    The walks allocate a little per node while a large graph is alive, and every full
    collection would rescan that whole graph (measured: 3.3 us per node with it on, 0.8 off,
    for a 300,000-node graph).  Graphs hold no reference cycles, so reference counting frees
    everything as usual meanwhile; the collector is switched back on at the end.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def toposort(roots: Sequence[Node]) -> list[Node]:
    """Nodes reachable from ``roots``, each after all of its inputs' nodes (explicit stack)."""
    order: list[Node] = []
    seen: set[int] = set()
    for root in roots:
        if id(root) in seen:
            continue
        seen.add(id(root))
        stack = [(root, iter(root.edges))]
        while stack:
            node, edges = stack[-1]
            for edge in edges:
                if type(edge) is Node and id(edge) not in seen:
                    seen.add(id(edge))
                    stack.append((edge, iter(edge.edges)))
                    break
            else:
                stack.pop()
                order.append(node)
    return order


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def user_frames(stack: traceback.StackSummary) -> str:
    """The innermost frames of ``stack`` outside chainrule itself, formatted."""
    frames = [f for f in stack if not os.path.abspath(f.filename).startswith(_PACKAGE_DIR)]
    return "".join(traceback.format_list(frames[-2:]))


def _anomaly_check(node: Node, i: int, grad) -> None:
    data = getattr(grad, "_data", grad)
    if not bool(data.dtype.kind != "f" or backend.xp.isfinite(data).all()):
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
    from .tensor import Tensor

    raw = not create_graph and not mode.fwd_levels
    pending: dict = {}
    root_nodes = []
    for root, g in zip(roots, grads):
        if raw:
            g = g._data
        key = id(root._node if root._node is not None else root)
        pending[key] = g if key not in pending else _accumulate(pending[key], g)
        if root._node is not None:
            root_nodes.append(root._node)
    order = toposort(root_nodes)

    targets: dict[int, int] | None = None
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
        order = _prune(order, targets)

    previous = mode.grad_enabled
    anomaly = mode.anomaly
    mode.grad_enabled = create_graph
    mode.anomaly = False        # checked per node below, so the error names the node's op
    mode.raw = raw              # VJP rules run on arrays: the same rules, NumPy's speed
    stored: set[int] = set()    # arrays already handed out as a .grad (never share one)
    try:
        for node in reversed(order):
            g = pending.pop(id(node), None)
            if g is None:
                continue
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
            for i, edge in enumerate(node.edges):
                if edge is None:
                    continue
                gi = (op.vjp(i, g, *saved, **params) if op.variadic
                      else op.vjp[i](g, *saved, **params))
                if raw and isinstance(gi, Tensor):
                    gi = gi._data
                if type(edge) is Node:
                    if gi.shape != edge.shape:
                        _bad_shape(node, i, gi, edge.shape)
                    if gi.dtype != edge.dtype:
                        gi = gi.astype(edge.dtype)
                    if anomaly:
                        _anomaly_check(node, i, gi)
                    key = id(edge)
                    current = pending.get(key)
                    pending[key] = gi if current is None else _accumulate(current, gi)
                    continue
                data = edge._data
                if gi.shape != data.shape:
                    _bad_shape(node, i, gi, data.shape)
                if gi.dtype != data.dtype:
                    gi = gi.astype(data.dtype)
                if anomaly:
                    _anomaly_check(node, i, gi)
                if targets is None:
                    _store_grad(edge, gi, raw, stored)
                elif id(edge) in targets:
                    key = id(edge)
                    current = pending.get(key)
                    pending[key] = gi if current is None else _accumulate(current, gi)
            if not retain_graph:
                node.release()
    finally:
        mode.grad_enabled = previous
        mode.anomaly = anomaly
        mode.raw = False

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


def _prune(order: list[Node], targets: dict[int, int]) -> list[Node]:
    """Keep only the nodes from which some target can be reached (inputs come first in order)."""
    useful: set[int] = set()
    kept = []
    for node in order:
        if id(node) in targets or any(
            e is not None and (id(e) in useful or id(e) in targets) for e in node.edges
        ):
            useful.add(id(node))
            kept.append(node)
    return kept


def _accumulate(current, g):
    """The sum of two gradients reaching one variable along different paths (fan-out)."""
    return current + g


def _as_array(g):
    return g if isinstance(g, backend.ndarray_types) else backend.xp.asarray(g)


def _store_grad(t, g, raw: bool, stored: set) -> None:
    """Accumulate ``g`` (an array when ``raw``, else a tensor) into ``t.grad``.

    A gradient stored on a tensor is its own writeable array: views into the graph and arrays
    already handed to another tensor in this backward are copied first.
    """
    data = _as_array(g) if raw else g._data
    if t.grad is not None:
        total = t.grad._data + data if raw else (t.grad + g)._data
        t.grad = type(t)._wrap(total) if raw else t.grad + g
        return
    if not data.flags.writeable or data.base is not None or id(data) in stored:
        data = data.copy()
    stored.add(id(data))
    t.grad = type(t)._wrap(data, None if raw else g._node)


def _bad_shape(node: Node, i: int, gi, shape) -> None:
    raise GraphError(
        f"vjp of '{node.op.name}' returned a gradient of shape {gi.shape} for its "
        f"input {i} of shape {shape}; this is a bug in the operator's rule"
    )


def retain(tensor) -> None:
    """Keep the gradient of a non-leaf tensor in ``.grad`` during backward."""
    node = tensor._node
    if node is None:
        return
    if node.retain is None:
        node.retain = []
    node.retain.append(weakref.ref(tensor))
