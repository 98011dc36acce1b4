"""The recorded graph as drawings and derivations see it: variables, and operators between them.

A :class:`GraphView` reads a recorded graph (it never runs it) and splits it into

- **variables** (boxes): the root, every node whose output has a name, every leaf that requires
  a gradient, every constant tensor input (the data ``x``, the labels ``y``), and every unnamed
  intermediate that feeds two different operators;
- **operators** (circles): with ``collapse=True``, each maximal region of unnamed intermediate
  nodes between variables becomes *one* operator, so ``z = W1 @ x`` (recorded as reshape,
  matmul, reshape) is one circle and ``s = lambda/2 (sum(W1**2) + sum(W2**2))`` another; with
  ``collapse=False`` every recorded node is its own operator and its output its own variable.

It also counts the bytes the graph holds: each value a node saved for backward is charged to
the variable it is (or is a view of), or else, for residuals such as a ReLU mask and for
intermediates hidden inside a collapsed region, to the operator that saved it.  Everything is
computed with loops over :func:`chainrule.core.graph.toposort`, never by recursion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np

from ..errors import ChainruleError
from ..core.fields import BOOKKEEPING, COMBINE, SCALE, SQUARE, SQUARES, TOTAL, base_buffer
from ..core.graph import Node, toposort
from ..core.saves import rule_reads
from ..core.tensor import Tensor
from ..memory.report import format_bytes

__all__ = ["GraphView", "Var", "Region", "GraphTooLarge", "format_bytes", "rule_reads"]


class GraphTooLarge(ChainruleError, ValueError):
    """A graph with more boxes and circles than a readable drawing can hold."""


@dataclass(eq=False)
class Var:
    """A variable of the drawing (a box): a node's output, a leaf, or a constant input."""

    index: int
    kind: str                    # "node", "leaf" or "const"
    name: str | None
    shape: tuple | None
    dtype: object
    node: Node | None = None
    tensor: Tensor | None = None
    held: int = 0                # bytes saved for backward that are this variable's data
    note: str = ""               # e.g. which input of which operator a freed constant was

    @property
    def label(self) -> str:
        """The name, or ``t<index>`` for an unnamed variable."""
        return self.name or f"t{self.index}"

    @property
    def takes_grad(self) -> bool:
        """Whether backpropagation computes a gradient for this variable."""
        return self.kind != "const"


@dataclass(eq=False)
class Region:
    """An operator of the drawing (a circle): one recorded node, or a collapsed region."""

    index: int
    out: Var
    nodes: list = field(default_factory=list)     # recorded nodes, inputs first
    inputs: list = field(default_factory=list)    # distinct input variables, in order of use
    held: int = 0                # saved bytes that belong to no variable (residuals...)
    bad: bool = False            # marked by check_graph

    @property
    def label(self) -> str:
        """What the circle says: the operator, or the operators the region contains."""
        return region_label(self.nodes)


def region_label(nodes: list) -> str:
    """The operators of ``nodes`` in words: bookkeeping (reshape, transpose...) left out.

    A region of squares summed and scaled (the chapter's ``s``) reads "regulariser"; without a
    scale, "sum of squares".  One arithmetic operator reads as its symbol (``+``).  What each
    operator is comes from its record (``op.book.role`` and ``op.book.symbol``).
    """
    core = [n for n in nodes if n.op.book.role != BOOKKEEPING]
    roles = {n.op.book.role for n in core}
    squares = {SQUARES} <= roles <= {SQUARES, COMBINE, SCALE}
    if squares or ({SQUARE, TOTAL} <= roles <= {SQUARE, TOTAL, COMBINE, SCALE}
                   and all(_exponent(n) == 2 for n in core if n.op.book.role == SQUARE)):
        return "regulariser" if SCALE in roles else "sum of squares"
    ops = [n.op for n in core or nodes]
    counts: dict = {}
    for op in ops:
        counts[op] = counts.get(op, 0) + 1
    if len(counts) > 3:
        return f"{len(ops)} operators"
    parts = [(op.book.symbol or op.name) if len(counts) == 1 and c == 1 else
             (op.name if c == 1 else f"{op.name} x{c}") for op, c in counts.items()]
    return ", ".join(parts)


def _exponent(node: Node):
    """The constant exponent of a recorded ``x ** k`` node, when it saved one."""
    if node.saved is None or len(node.saved) < 2:
        return None
    y = node.saved[1]
    return y if isinstance(y, (int, float)) else None


def _is_view(node: Node) -> bool:
    """Whether ``node``'s output shares its input's memory (reshape, transpose, a slice...)."""
    return node.op.is_view(node.params, [getattr(e, "shape", None) for e in node.edges],
                           node.shape)


class GraphView:
    """Variables and operators of the graph that computed ``root`` (see the module doc)."""

    def __init__(self, root: Tensor, *, collapse: bool = True,
                 names: Mapping[str, Tensor] | Iterable[Tensor] | None = None,
                 max_nodes: int | None = None):
        self.root = root
        self.collapse = collapse
        self._names = _name_list(names)
        self.order: list[Node] = toposort([root._node]) if root._node is not None else []
        if max_nodes is not None and not collapse and 2 * len(self.order) + 1 > max_nodes:
            raise GraphTooLarge(self._too_large(len(self.order), 2 * len(self.order)))
        self.vars: list[Var] = []
        self.regions: list[Region] = []
        self.var_of: dict = {}                  # id(node), id(tensor) or (id, i) -> Var
        self.region_of: dict[int, Region] = {}  # id(node) -> its Region
        self.consumers: dict[int, list[Node]] = {id(n): [] for n in self.order}
        for node in self.order:
            for edge in node.edges:
                if type(edge) is Node:
                    self.consumers[id(edge)].append(node)
        self._assign_regions()
        self._build()
        self._count_bytes()
        size = len(self.vars) + len(self.regions)
        if max_nodes is not None and size > max_nodes:
            raise GraphTooLarge(self._too_large(len(self.order), size))

    @staticmethod
    def _too_large(ops: int, size: int) -> str:
        return (f"this graph has {ops} operators ({size} boxes and circles to draw); draw a "
                "smaller model, name fewer intermediates and keep collapse=True, or pass "
                "max_nodes=... to draw it anyway")

    # ------------------------------------------------------------------ structure
    def _assign_regions(self) -> None:
        """Map each node to the node whose output is its region's variable (outputs first)."""
        rep: dict[int, Node] = {}
        root_node = self.root._node
        for node in reversed(self.order):
            consumers = self.consumers[id(node)]
            targets = {id(rep[id(c)]) for c in consumers}
            if (not self.collapse or node is root_node or node.name or len(targets) != 1):
                rep[id(node)] = node
            else:
                rep[id(node)] = rep[id(consumers[0])]
        self._rep = rep

    def _new_var(self, key, **kw) -> Var:
        var = Var(index=len(self.vars) + 1, **kw)
        self.vars.append(var)
        self.var_of[key] = var
        return var

    def _input_var(self, node: Node, i: int) -> Var | None:
        """The variable at input ``i`` of ``node`` when it is a leaf or a constant tensor."""
        edge = node.edges[i]
        if isinstance(edge, Tensor):
            return self.var_of.get(id(edge)) or self._new_var(
                id(edge), kind="leaf", name=self._name_of(edge), shape=self._shape_of(edge),
                dtype=edge.dtype, tensor=edge)
        for position, ref in node.consts or ():
            if position != i:
                continue
            t = ref()
            if t is None:
                key = (id(node), i)
                return self.var_of.get(key) or self._new_var(
                    key, kind="const", name=None, shape=None, dtype=None,
                    note=f"input '{node.op.inputs[min(i, len(node.op.inputs) - 1)]}' of "
                         f"{node.op.name}, no longer alive")
            return self.var_of.get(id(t)) or self._new_var(
                id(t), kind="const", name=self._name_of(t), shape=self._shape_of(t),
                dtype=t.dtype, tensor=t)
        return None

    def _build(self) -> None:
        for node in self.order:
            for i in range(len(node.edges)):
                self._input_var(node, i)
            if self._rep[id(node)] is node:
                var = self._new_var(id(node), kind="node", name=node.name, shape=node.shape,
                                    dtype=node.dtype, node=node)
                region = Region(index=len(self.regions) + 1, out=var)
                self.regions.append(region)
                self.region_of[id(node)] = region
        for node in self.order:
            region = self.region_of[id(node)] = self.region_of[id(self._rep[id(node)])]
            region.nodes.append(node)
        for region in self.regions:
            for node in region.nodes:
                for i in range(len(node.edges)):
                    var = self.source(node, i)
                    if isinstance(var, Var) and var not in region.inputs:
                        region.inputs.append(var)
        if self.root._node is None:
            self._new_var(id(self.root), kind="leaf" if self.root.requires_grad else "const",
                          name=self._name_of(self.root), shape=self.root.shape,
                          dtype=self.root.dtype, tensor=self.root)

    def source(self, node: Node, i: int) -> Var | Node | None:
        """Input ``i`` of ``node``: a variable, an inner node of its region, or None."""
        edge = node.edges[i]
        if type(edge) is Node:
            if self._rep[id(edge)] is edge:
                return self.var_of[id(edge)]
            return edge
        return self._input_var(node, i)

    def is_var_node(self, node: Node) -> bool:
        """Whether ``node``'s output is a variable (a box) rather than hidden in a region."""
        return self._rep[id(node)] is node

    @property
    def root_var(self) -> Var:
        """The variable of the root tensor."""
        key = id(self.root._node) if self.root._node is not None else id(self.root)
        return self.var_of[key]

    # ------------------------------------------------------------------ names
    def _match(self, t: Tensor) -> Tensor | None:
        for _, candidate in self._names:
            if candidate is t:
                return candidate
        for _, candidate in self._names:
            a, b = getattr(candidate, "_data", None), t._data
            if (a is not None and a.size == b.size and isinstance(a, np.ndarray)
                    and isinstance(b, np.ndarray) and np.may_share_memory(a, b)):
                return candidate
        return None

    def _name_of(self, t: Tensor) -> str | None:
        if t.name:
            return t.name
        found = self._match(t)
        if found is None:
            return None
        return next(name for name, c in self._names if c is found)

    def _shape_of(self, t: Tensor) -> tuple:
        found = None if t.name else self._match(t)
        return tuple((found if found is not None else t).shape)

    # ------------------------------------------------------------------ memory
    def owner(self, value) -> Var | None:
        """The variable a saved tensor is, or is a view of (through reshape...); None if none."""
        if not isinstance(value, Tensor):
            return None
        var = self.var_of.get(id(value))
        if var is not None:
            return var
        node = value._node
        seen = None                 # the first unnamed variable met along a chain of views
        while node is not None and id(node) in self._rep:
            var = self.var_of[id(node)] if self._rep[id(node)] is node else None
            if var is not None and (var.name or not _is_view(node)):
                return var
            seen = seen or var
            if not _is_view(node):
                return seen
            edge = node.edges[0]
            if isinstance(edge, Tensor):
                return self.var_of.get(id(edge))
            node = edge if type(edge) is Node else None
        return seen

    def saved_owners(self, node: Node) -> list:
        """For each value ``node`` saved: its variable, ``"self"`` (the output), or None."""
        saved = node.saved or ()
        ans_at = node.op._ans_at
        out = []
        for p, value in enumerate(saved):
            if p == ans_at:
                out.append(self.var_of[id(node)] if self.is_var_node(node) else "self")
            else:
                out.append(self.owner(value))
        return out

    def _count_bytes(self) -> None:
        seen: set[int] = set()
        for node in self.order:
            region = self.region_of[id(node)]
            for value, owner in zip(node.saved or (), self.saved_owners(node)):
                data = value._data if isinstance(value, Tensor) else value
                if not hasattr(data, "nbytes") or not hasattr(data, "shape"):
                    continue
                key = id(base_buffer(data))
                if key in seen:
                    continue
                seen.add(key)
                if isinstance(owner, Var):
                    owner.held += int(data.nbytes)
                else:
                    region.held += int(data.nbytes)

    @property
    def held_bytes(self) -> int:
        """All the bytes the graph holds for backward (each buffer counted once)."""
        return sum(v.held for v in self.vars) + sum(r.held for r in self.regions)


def _name_list(names) -> list[tuple[str, Tensor]]:
    if names is None:
        return []
    if isinstance(names, Mapping):
        return [(str(k), v) for k, v in names.items() if isinstance(v, Tensor)]
    return [(t.name, t) for t in names if isinstance(t, Tensor) and t.name]
