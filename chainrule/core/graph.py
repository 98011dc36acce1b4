"""The recorded computational graph: :class:`Node` and the topological sort.

A :class:`Node` is recorded for each operator applied to at least one input that requires a
gradient.  It holds the operator, one *edge* per input (the input's own node, the leaf tensor
itself, or ``None`` when no gradient flows there), the values the operator declared it saves for
backward (only those that the rules of its inputs taking a gradient read; see
:mod:`chainrule.core.saves`), and its non-tensor parameters.  Nodes point only backwards, to
what made their inputs, so a graph never holds a reference cycle and is freed by reference
counting alone.

:func:`toposort` orders the nodes reachable from the roots with an explicit stack (no
recursion: a chain of a million operators is fine); :mod:`chainrule.core.backward` walks them
back.
"""

from __future__ import annotations

import itertools
import weakref
from typing import Sequence

from ..errors import GraphError

__all__ = ["Node", "toposort", "retain"]

_COUNTER = itertools.count(1)


class Node:
    """One recorded application of an operator: the unit the backward pass walks."""

    __slots__ = (
        "op", "edges", "saved", "params", "versions", "shape", "dtype",
        "name", "retain", "trace", "ans_tangents", "consts", "seq", "__weakref__",
    )

    def __init__(self, op, edges, saved, params, versions, shape, dtype):
        # the order of recording: every edge's node was recorded before this one, so walking
        # nodes from the highest ``seq`` down visits each after all of its consumers
        self.seq = -next(_COUNTER)      # negated: the backward walk's heap pops the smallest
        self.op = op
        self.edges = edges          # per input: Node, leaf Tensor, or None
        self.saved = saved          # what op.saves declared, in order (None where no rule
        #                             of an input taking a gradient reads it); None once freed
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

    def unpack(self, create_graph: bool, tensor_type, raw: bool = False) -> Sequence:
        """Return the saved values as the VJP takes them, checking none was changed in place.

        With ``raw`` (a first-order backward), a list with tensors replaced by their arrays.
        """
        saved = self.saved
        if saved is None:
            self._freed()
        versions = self.versions
        arrays = []
        for position, value in enumerate(saved):
            if isinstance(value, tensor_type):
                base = value._base
                now = value._version if base is None else base._version
                if now != (versions.get(position, 0) if versions else 0):
                    self._check_version(position, value, now)
                if raw:
                    value = value._data
            arrays.append(value)
        if versions and "ans" in versions:
            raise GraphError(
                f"'{self.op.name}' saved its output (shape {self.shape}, dtype {self.dtype}) for "
                "backward, and it was changed in place afterwards; compute the gradient before "
                "changing it, or change a copy"
            )
        ans_at = self.op._ans_at
        if raw or ans_at < 0 or saved[ans_at] is None:
            return arrays
        ans = tensor_type._wrap(saved[ans_at], self if create_graph else None)
        if self.ans_tangents is not None:
            ans._tangents = self.ans_tangents
        arrays[ans_at] = ans
        return arrays

    def _freed(self) -> None:
        raise GraphError(
            f"backward() through the graph of '{self.op.name}' (output shape {self.shape}), "
            "which was already freed by an earlier backward(); pass retain_graph=True to the "
            "first backward() or grad() if you need to go through the graph twice"
        )

    def _check_version(self, position: int, value, now: int) -> None:
        """Raise if saved input ``position`` changed in place since it was saved."""
        then = self.versions.get(position, 0) if self.versions else 0
        if now != then:
            raise GraphError(
                f"'{self.op.name}' saved input {position} (shape {value.shape}, dtype "
                f"{value.dtype}) for backward, and it (or the tensor whose memory it "
                f"views) was changed in place afterwards (version {then} -> {now}); "
                "compute the gradient before changing it, or change a copy"
            )

    def release(self) -> None:
        """Drop what was saved for backward (after the backward pass used it).

        A node that saved nothing at all stays usable, so a second backward through it is
        fine; one that saved anything (inputs, output or residuals such as a ReLU mask) is
        freed, and a second backward through it says so.
        """
        if self.saved:
            self.saved = None
            self.versions = None
            self.ans_tangents = None


def toposort(roots: Sequence[Node]) -> list[Node]:
    """Nodes reachable from ``roots``, each after all of its inputs' nodes (explicit stack).

    The stack is two parallel lists (the node, and how many of its edges were looked at), and
    ``seen`` holds the nodes themselves: a walk down a chain of a million operators allocates
    about 60 bytes per node, where a stack of ``(node, iterator)`` pairs and a set of ids cost
    180.
    """
    order: list[Node] = []
    seen: set[Node] = set()
    nodes: list[Node] = []
    looked: list[int] = []
    for root in roots:
        if root in seen:
            continue
        seen.add(root)
        nodes.append(root)
        looked.append(0)
        while nodes:
            edges = nodes[-1].edges
            k = looked[-1]
            while k < len(edges):
                edge = edges[k]
                k += 1
                if type(edge) is Node and edge not in seen:
                    seen.add(edge)
                    looked[-1] = k
                    nodes.append(edge)
                    looked.append(0)
                    break
            else:
                order.append(nodes.pop())
                looked.pop()
    return order


def retain(tensor) -> None:
    """Keep the gradient of a non-leaf tensor in ``.grad`` during backward."""
    node = tensor._node
    if node is None:
        return
    if node.retain is None:
        node.retain = []
    node.retain.append(weakref.ref(tensor))
