"""A recorded graph as sizes: the plan :mod:`chainrule.memory.simulate` walks.

:func:`_plan` reads a recorded graph (never running it) into steps (:class:`_Step`), one
per node in topological order, each with its output and input buffers (:class:`_Buf`: shape,
element size, kind), the step that made each input, and the buffers its node saved for
backward, labelled as the memory table prints them.  A view's output is its input's buffer;
arrays that share one base are one buffer; a checkpoint node carries the plan of the region
it recomputes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..core.graph import Node, toposort
from ..ops.shape import is_basic
from ..core.tensor import Tensor

__all__ = ["base_buffer"]

_EXTERNAL = ("param", "input")


def base_buffer(a):
    """The array that owns ``a``'s memory: ``a`` itself, or the base its views lead to."""
    while isinstance(getattr(a, "base", None), np.ndarray):
        a = a.base
    return a


# ---------------------------------------------------------------------------- the plan
@dataclass(eq=False)
class _Buf:
    """An array buffer: shape, element size, kind and a label for the table."""

    shape: tuple
    itemsize: int
    kind: str                   # "param", "input", "out", "residual" or "grad"
    label: str = ""

    @property
    def nbytes(self) -> int:
        return self.itemsize * math.prod(self.shape)


@dataclass(eq=False)
class _Step:
    """A recorded node as sizes.  Per input: its buffer, producing step, shape and edge
    (``None``, a step index, or the leaf's buffer); ``saved`` is ``[(label, buffer)]``."""

    op: object
    params: dict
    name: str | None
    shape: tuple
    itemsize: int
    out: _Buf | None = None     # the output's buffer (its input's, for a view)
    ins: list = field(default_factory=list)
    srcs: list = field(default_factory=list)
    in_shapes: list = field(default_factory=list)
    edges: list = field(default_factory=list)
    saved: list = field(default_factory=list)
    inner: _Plan | None = None  # a checkpoint's region, as it is recomputed


@dataclass(eq=False)
class _Plan:
    steps: list
    buffers: list               # every _Buf, in order of creation (to scale them)
    held: list                  # the buffers the caller keeps (the root, named outputs)
    root: int
    output: int                 # the step a prediction ends at
    args: list = field(default_factory=list)   # a checkpoint region's inputs


def _plan(root: Tensor, held=None, output: Tensor | None = None, args=()) -> _Plan:
    """The plan of the graph that computed ``root``."""
    from ..remat import inner_tensor

    order = toposort([root._node])
    index = {id(n): k for k, n in enumerate(order)}
    buffers: list[_Buf] = []
    by_base: dict[int, _Buf] = {}

    def new(shape, itemsize, kind, label, base=None) -> _Buf:
        buffers.append(_Buf(tuple(shape), int(itemsize), kind, label))
        if base is not None:
            by_base[id(base)] = buffers[-1]
        return buffers[-1]

    def external(t: Tensor, kind: str) -> _Buf:
        base = base_buffer(t._data)
        return by_base.get(id(base)) or new(base.shape, base.itemsize, kind, t.name or kind,
                                            base)

    steps: list[_Step] = []
    for node in order:
        consts = {i: ref() for i, ref in node.consts or ()}
        step = _Step(node.op, node.params, node.name, tuple(node.shape),
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
        name = node.op.name
        view = (name in ("reshape", "transpose", "broadcast_to", "identity")
                or (name == "getitem" and is_basic(node.params.get("index", ())))
                or (name == "sum_to" and step.in_shapes[0] == step.shape))
        step.out = step.ins[0] if view else new(node.shape, step.itemsize, "out",
                                                node.name or name)
        steps.append(step)
        step.saved = _saved(node, step, steps, index, by_base, new, external)
        region = inner_tensor(node) if name == "checkpoint" else None
        if region is not None and region[0]._node is not None:
            step.inner = _plan(region[0], (), None, region[1])
    if held is None:                     # named outputs: the chapter's models keep them
        keep = [s.out for s in steps if s.name] + [steps[-1].out]
    else:
        keep = [steps[index[id(t._node)]].out for t in [root, *held]
                if isinstance(t, Tensor) and id(t._node) in index]
    last = index.get(id(output._node), len(steps) - 1) if output is not None else len(steps) - 1
    inputs = [external(t, "param" if t.requires_grad else "input")
              if isinstance(t, Tensor) else None for t in args]
    return _Plan(steps, buffers, keep, len(steps) - 1, last, inputs)


def _saved(node, step, steps, index, by_base, new, external) -> list:
    """``[(label, _Buf)]`` for each array ``node`` saved for backward."""
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
