"""A recorded graph as sizes: the plan :mod:`chainrule.memory.simulate` walks.

:func:`build_plan` reads a recorded graph (never running it) into steps (:class:`Step`), one
per node in topological order, each with its output and input buffers (:class:`Buf`: shape,
element size, kind), the step that made each input, and the buffers its node saved for
backward, labelled as the memory table prints them.  What each operator does to memory is
read from its record: a view's output (``op.is_view``) is its input's buffer; arrays that
share one base are one buffer; an operator whose VJP recomputes a region
(``op.memory.region``, the checkpoint) carries the plan of that region.  A step also gives
the sizes the record's ``memory`` functions read (:mod:`chainrule.core.fields`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..core.fields import base_buffer
from ..core.graph import Node, toposort
from ..core.tensor import Tensor

__all__ = ["Buf", "Step", "Plan", "build_plan", "base_buffer", "buffer_bytes", "ELIDE_BYTES"]

_EXTERNAL = ("param", "input")
ELIDE_BYTES = 256 * 1024  # NumPy reuses a temporary operand this large for the result


def buffer_bytes(shape, itemsize: int) -> int:
    """A ufunc that casts (a bool mask) or mixes memory orders buffers 8192 elements."""
    return itemsize * min(math.prod(shape), 8192)


# ---------------------------------------------------------------------------- the plan
@dataclass(eq=False)
class Buf:
    """An array buffer: shape, element size, kind and a label for the table."""

    shape: tuple
    itemsize: int
    kind: str                   # "param", "input", "out", "residual" or "grad"
    label: str = ""

    @property
    def nbytes(self) -> int:
        return self.itemsize * math.prod(self.shape)


@dataclass(eq=False)
class Step:
    """A recorded node as sizes.  Per input: its buffer, producing step, shape and edge
    (``None``, a step index, or the leaf's buffer); ``saved`` is ``[(label, buffer)]``."""

    op: object
    params: dict
    name: str | None
    shape: tuple
    itemsize: int
    out: Buf | None = None     # the output's buffer (its input's, for a view)
    ins: list = field(default_factory=list)
    srcs: list = field(default_factory=list)
    in_shapes: list = field(default_factory=list)
    edges: list = field(default_factory=list)
    saved: list = field(default_factory=list)
    inner: Plan | None = None  # a checkpoint's region, as it is recomputed

    # what the record's memory functions read (chainrule.core.fields)
    @property
    def size(self) -> int:
        """Elements of the output."""
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        """Bytes of the output."""
        return self.itemsize * math.prod(self.shape)

    @property
    def big(self) -> bool:
        """Whether NumPy reuses a temporary this large in place of a new result."""
        return self.nbytes >= ELIDE_BYTES

    @property
    def cast_buffer(self) -> int:
        """Bytes of a ufunc's casting buffer over the output."""
        return buffer_bytes(self.shape, self.itemsize)


@dataclass(eq=False)
class Plan:
    steps: list
    buffers: list               # every Buf, in order of creation (to scale them)
    held: list                  # the buffers the caller keeps (the root, named outputs)
    root: int
    output: int                 # the step a prediction ends at
    args: list = field(default_factory=list)   # a checkpoint region's inputs


def build_plan(root: Tensor, held=None, output: Tensor | None = None, args=()) -> Plan:
    """The plan of the graph that computed ``root``."""
    order = toposort([root._node])
    index = {id(n): k for k, n in enumerate(order)}
    buffers: list[Buf] = []
    by_base: dict[int, Buf] = {}

    def new(shape, itemsize, kind, label, base=None) -> Buf:
        buffers.append(Buf(tuple(shape), int(itemsize), kind, label))
        if base is not None:
            by_base[id(base)] = buffers[-1]
        return buffers[-1]

    def external(t: Tensor, kind: str) -> Buf:
        base = base_buffer(t._data)
        return by_base.get(id(base)) or new(base.shape, base.itemsize, kind, t.name or kind,
                                            base)

    steps: list[Step] = []
    for node in order:
        consts = {i: ref() for i, ref in node.consts or ()}
        step = Step(node.op, node.params, node.name, tuple(node.shape),
                     np.dtype(node.dtype).itemsize)
        for i, edge in enumerate(node.edges):
            if type(edge) is Node:
                src = index[id(edge)]
                buf, shape, edge = steps[src].out, steps[src].shape, src
            else:
                src, t = None, edge if edge is not None else consts.get(i)
                known = t is not None
                buf = external(t, "input" if edge is None else "param") if known else None
                shape = tuple(t.shape) if known else None
                edge = buf if edge is not None else None
            step.ins.append(buf)
            step.srcs.append(src)
            step.in_shapes.append(shape)
            step.edges.append(edge)
        op = node.op
        view = op.is_view(node.params, step.in_shapes, step.shape)
        step.out = step.ins[0] if view else new(node.shape, step.itemsize, "out",
                                                node.name or op.name)
        steps.append(step)
        step.saved = _saved(node, step, steps, index, by_base, new, external)
        region = op.memory.region(node) if op.memory.region is not None else None
        if region is not None and region[0]._node is not None:
            step.inner = build_plan(region[0], (), None, region[1])
    if held is None:                     # named outputs: the chapter's models keep them
        keep = [s.out for s in steps if s.name] + [steps[-1].out]
    else:
        keep = [steps[index[id(t._node)]].out for t in [root, *held]
                if isinstance(t, Tensor) and id(t._node) in index]
    last = index.get(id(output._node), len(steps) - 1) if output is not None else len(steps) - 1
    inputs = [external(t, "param" if t.requires_grad else "input")
              if isinstance(t, Tensor) else None for t in args]
    return Plan(steps, buffers, keep, len(steps) - 1, last, inputs)


def _saved(node, step, steps, index, by_base, new, external) -> list:
    """``[(label, Buf)]`` for each array ``node`` saved for backward."""
    out, names = [], list(node.op.saves)
    for p, value in enumerate(node.saved or ()):
        what = (f"input {p}" if "*" in names and p < len(node.edges)
                else names[p] if p < len(names) else "residual")
        if isinstance(value, Tensor) and id(value._node) in index:
            src = steps[index[id(value._node)]]
            of = (f"{src.op.name}({src.out.label})" if src.out is not None
                  and src.out.kind in _EXTERNAL else f"{src.op.name} output")
            out.append((value.name or src.name or of, src.out))
        elif isinstance(value, Tensor):
            out.append((value.name or what, external(value, "input")))
        elif isinstance(value, np.ndarray) and what == "ans":
            out.append(("output", step.out))
        elif isinstance(value, np.ndarray):
            base = base_buffer(value)
            buf = by_base.get(id(base)) or new(base.shape, base.itemsize, "residual",
                                               f"{what} ({base.dtype})", base)
            out.append((buf.label, buf))
    return out
