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

    __slots__ = ("grad_enabled", "anomaly", "fwd_levels")

    def __init__(self) -> None:
        self.grad_enabled = True
        self.anomaly = False
        self.fwd_levels: list[int] = []


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
        "name", "retain", "trace", "ans_tangents", "__weakref__",
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

    def __repr__(self) -> str:
        label = f" {self.name}" if self.name else ""
        return f"<Node {self.op.name}{label} shape={self.shape} dtype={self.dtype}>"

    def unpack(self, create_graph: bool) -> tuple:
        """Return the saved values as the VJP takes them, checking none was changed in place."""
        saved = self.saved
        if saved is None:
            raise GraphError(
                f"backward() through the graph of '{self.op.name}' (output shape {self.shape}), "
                "which was already freed by an earlier backward(); pass retain_graph=True to the "
                "first backward() or grad() if you need to go through the graph twice"
            )
        if self.versions is not None:
            for position, tensor, version in self.versions:
                if tensor is None:
                    raise GraphError(
                        f"'{self.op.name}' saved its output (shape {self.shape}, dtype "
                        f"{self.dtype}) for backward, and it was changed in place afterwards; "
                        "compute the gradient before changing it, or change a copy"
                    )
                if tensor._version != version:
                    raise GraphError(
                        f"'{self.op.name}' saved input {position} (shape {tensor.shape}, dtype "
                        f"{tensor.dtype}) for backward, and it was changed in place afterwards "
                        f"(version {version} -> {tensor._version}); compute the gradient before "
                        "changing it, or change a copy"
                    )
        ans_at = self.op._ans_at
        if ans_at < 0:
            return saved
        from .tensor import Tensor

        ans = Tensor._wrap(saved[ans_at], self if create_graph else None)
        if self.ans_tangents is not None:
            ans._tangents = self.ans_tangents
        return saved[:ans_at] + (ans,) + saved[ans_at + 1:]

    def release(self) -> None:
        """Drop what was saved for backward (after the backward pass used it)."""
        if self.op.saves:
            self.saved = None
            self.versions = None
            self.ans_tangents = None


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
    data = grad._data
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
    """Backpropagate ``grads`` from the tensors ``roots``.

    With ``inputs=None`` the gradients are accumulated into the ``.grad`` of every leaf (and of
    every tensor that called ``retain_grad()``).  With ``inputs`` a list of tensors, nothing is
    accumulated and a tuple with the gradient of each input is returned (``None`` for an input
    the roots do not depend on, when ``allow_unused``).
    """
    from .tensor import Tensor

    pending: dict[int, Tensor] = {}
    root_nodes = []
    for root, g in zip(roots, grads):
        key = root._node if root._node is not None else root
        _accumulate(pending, id(key), g)
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
    try:
        for node in reversed(order):
            g = pending.pop(id(node), None)
            if g is None:
                continue
            if node.retain is not None:
                for ref in node.retain:
                    t = ref()
                    if t is not None:
                        t.grad = g if t.grad is None else t.grad + g
            if targets is not None and id(node) in targets:
                results[targets[id(node)]] = g
            saved = node.unpack(create_graph)
            op = node.op
            params = node.params
            for i, edge in enumerate(node.edges):
                if edge is None:
                    continue
                gi = op.vjp_at(i)(g, *saved, **params)
                gi = _conform(node, i, edge, gi)
                if anomaly:
                    _anomaly_check(node, i, gi)
                if type(edge) is Node:
                    _accumulate(pending, id(edge), gi)
                elif targets is None:
                    edge.grad = _fresh(gi) if edge.grad is None else edge.grad + gi
                elif id(edge) in targets:
                    _accumulate(pending, id(edge), gi)
            if not retain_graph:
                node.release()
    finally:
        mode.grad_enabled = previous
        mode.anomaly = anomaly

    if targets is None:
        return None
    for key, position in targets.items():
        if results[position] is None and key in pending:
            results[position] = pending[key]
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


def _accumulate(pending: dict, key: int, g) -> None:
    current = pending.get(key)
    pending[key] = g if current is None else current + g


def _conform(node: Node, i: int, edge, gi):
    """Check a VJP's result against its input's shape; cast to the input's dtype."""
    if type(edge) is Node:
        shape, dtype = edge.shape, edge.dtype
    else:
        shape, dtype = edge._data.shape, edge._data.dtype
    if gi._data.shape != shape:
        raise GraphError(
            f"vjp of '{node.op.name}' returned a gradient of shape {gi._data.shape} for its "
            f"input {i} of shape {shape}; this is a bug in the operator's rule"
        )
    if gi._data.dtype != dtype:
        gi = gi.astype(dtype)
    return gi


def _fresh(g):
    """A gradient to store on a leaf: its own writeable array, never a view into the graph."""
    data = g._data
    if not data.flags.writeable or data.base is not None:
        g = type(g)._wrap(data.copy(), g._node)
    return g


def retain(tensor) -> None:
    """Keep the gradient of a non-leaf tensor in ``.grad`` during backward."""
    node = tensor._node
    if node is None:
        return
    if node.retain is None:
        node.retain = []
    node.retain.append(weakref.ref(tensor))
