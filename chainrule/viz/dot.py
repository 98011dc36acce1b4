"""The recorded graph as Graphviz DOT text: the chapter's figure, drawn from the real graph.

Variables are boxes (``shape=box``) labelled with their name first, then shape, dtype and the
bytes the graph holds for them; operators are circles (``shape=circle``) labelled with the
operator.  Every node statement carries its own ``shape=`` and ``label=`` on one line, with no
``node [...]`` defaults, so other tools can read the text line by line.  Data flows left to
right (``rankdir=LR``); constants and parameters are listed before the variables computed from
them, which puts the input at the lower left and the output at the upper right, as in the
chapter's figure.

With ``backward=True`` the drawing is the graph backpropagation runs: a gradient box
(``dJ/dz``) for each variable, one VJP circle for each operator and input, the saved values each
VJP reads (dashed boxes), and a ``+`` circle where gradients from several paths add up.  It is
derived from the recorded graph (``node.edges``, ``node.saved`` and the VJP rules' parameters);
nothing is run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Mapping

from ..core.graph import Node
from ..core.tensor import Tensor
from .render import render, render_svg
from .view import GraphView, Region, Var, format_bytes, rule_reads

__all__ = ["to_dot", "draw", "repr_svg", "graph_statements", "backward_statements",
           "memory_caption", "MAX_NODES"]

MAX_NODES = 1000


def _q(text: str) -> str:
    """A DOT string literal; newlines become DOT's ``\\n``."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def var_label(var: Var) -> str:
    """``name``, then ``shape dtype``, then ``held N B`` (one per line)."""
    lines = [var.name] if var.name else []
    if var.shape is not None:
        lines.append(f"{tuple(var.shape)} {var.dtype}")
    else:
        lines.append(var.note or "constant, freed")
    lines.append(f"held {format_bytes(var.held)}")
    return "\n".join(lines)


def _box(ident: str, label: str, extra: str = "") -> str:
    return f"  {ident} [shape=box, label={_q(label)}{extra}];"


def _circle(ident: str, label: str, extra: str = "") -> str:
    return f"  {ident} [shape=circle, label={_q(label)}{extra}];"


def _bad_ids(highlight) -> set[int]:
    nodes = getattr(highlight, "bad_nodes", highlight) or ()
    return {id(n) for n in nodes if isinstance(n, Node)}


def graph_statements(view: GraphView, prefix: str = "", highlight=()) -> list[str]:
    """The node and edge statements of the forward drawing (no ``digraph {}`` around them)."""
    bad = _bad_ids(highlight)
    out = []
    # Listed outputs first: Graphviz puts the first node of each rank on top, so the
    # output ends up upper right and the input lower left.
    for var in reversed(view.vars):
        out.append(_box(f"{prefix}v{var.index}", var_label(var)))
    for region in reversed(view.regions):
        extra = f", tooltip={_q('held ' + format_bytes(region.held))}" if region.held else ""
        if any(id(n) in bad for n in region.nodes):
            region.bad = True
            extra += ', color="red", fontcolor="red", penwidth=2'
        out.append(_circle(f"{prefix}op{region.index}", region.label, extra))
    heavy = _layout_weights(view)
    for region in view.regions:
        for var in region.inputs:
            weight = heavy.get((var.index, region.index), "")
            out.append(f"  {prefix}v{var.index} -> {prefix}op{region.index}{weight};")
        weight = heavy.get((region.index, region.out.index), "")
        out.append(f"  {prefix}op{region.index} -> {prefix}v{region.out.index}{weight};")
    return out


def _layout_weights(view: GraphView) -> dict[tuple[int, int], str]:
    """Heavy edges that shape the picture like the chapter's figure.

    The longest chain of operators into the output's last operator (x, z, h, o, L) is kept
    straight along the bottom, and the output is drawn level with that operator's last input
    (s), which sits on top: the data flows rightward, then up to the output.
    """
    if not view.regions:
        return {}
    depth: dict[int, int] = {}
    via: dict[int, Var] = {}
    for region in view.regions:
        best = None
        for var in region.inputs:
            d = depth.get(var.index, 0)
            if best is None or d > depth.get(best.index, 0) or (
                    d == depth.get(best.index, 0) and var.kind == "const"):
                best = var
        depth[region.out.index] = 1 + (depth.get(best.index, 0) if best else 0)
        if best is not None:
            via[region.out.index] = best
    last = view.regions[-1]
    heavy = {(last.index, last.out.index): " [weight=4]"}
    if last.inputs:
        heavy[(last.inputs[-1].index, last.index)] = " [weight=4]"
    producer = {r.out.index: r for r in view.regions}
    var = max(last.inputs, key=lambda v: depth.get(v.index, 0), default=None)
    while var is not None and var.index in producer:
        region = producer[var.index]
        heavy[(region.index, var.index)] = " [weight=3]"
        var = via.get(var.index)
        if var is not None:
            heavy[(var.index, region.index)] = " [weight=3]"
    return heavy


def _reach(view: GraphView, region: Region) -> dict[int, set[int]]:
    """For each node of ``region``: the ids of the input variables it depends on."""
    reach: dict[int, set[int]] = {}
    for node in region.nodes:
        found: set[int] = set()
        for i in range(len(node.edges)):
            src = view.source(node, i)
            if isinstance(src, Var):
                found.add(id(src))
            elif src is not None:
                found |= reach[id(src)]
        reach[id(node)] = found
    return reach


def _reads(view: GraphView, region: Region, var: Var, reach) -> tuple[list, int]:
    """What the VJP of ``region`` for input ``var`` reads: saved variables, residual bytes."""
    owners: list[Var] = []
    residual = 0
    for node in region.nodes:
        if id(var) not in reach[id(node)] or not node.saved:
            continue
        saved_owners = view.saved_owners(node)
        for i, edge in enumerate(node.edges):
            src = view.source(node, i)
            if edge is None or not (src is var or (isinstance(src, Node)
                                                    and id(var) in reach[id(src)])):
                continue
            rule = None if node.op.variadic else node.op.vjp[i]
            read = rule_reads(rule, len(node.saved), layout=False) if rule is not None else None
            for p, value in enumerate(node.saved):
                if read is not None and p not in read:
                    continue
                owner = saved_owners[p]
                if isinstance(owner, Var):
                    if owner not in owners:
                        owners.append(owner)
                elif hasattr(getattr(value, "_data", value), "nbytes"):
                    residual += int(getattr(value, "_data", value).nbytes)
    return owners, residual


def backward_statements(view: GraphView, prefix: str = "", highlight=()) -> list[str]:
    """The statements of the graph backpropagation runs over ``view`` (see the module doc)."""
    bad = _bad_ids(highlight)
    root = view.root_var
    J = root.label
    out = [_box(f"{prefix}g{root.index}",
                f"d{J}/d{J} = 1\n{tuple(root.shape)} {root.dtype}")]
    arrows: dict[int, list[str]] = {}          # var.index -> the circles giving it gradient
    saved_drawn: set[int] = set()
    edges = []
    for region in reversed(view.regions):
        reach = _reach(view, region)
        colour = (', color="red", fontcolor="red", penwidth=2'
                  if any(id(n) in bad for n in region.nodes) else "")
        for var in region.inputs:
            if not var.takes_grad:
                continue
            ident = f"{prefix}b{region.index}_{var.index}"
            out.append(_circle(ident, f"vjp\n{region.label}", colour))
            edges.append(f"  {prefix}g{region.out.index} -> {ident};")
            owners, residual = _reads(view, region, var, reach)
            for owner in owners:
                if owner.index not in saved_drawn:
                    saved_drawn.add(owner.index)
                    out.append(_box(f"{prefix}s{owner.index}", "saved " + var_label(owner),
                                    ", style=dashed"))
                edges.append(f"  {prefix}s{owner.index} -> {ident} [style=dashed];")
            if residual:
                rid = f"{prefix}r{region.index}_{var.index}"
                out.append(_box(rid, f"saved by {region.label}\n{format_bytes(residual)}",
                                ", style=dashed"))
                edges.append(f"  {rid} -> {ident} [style=dashed];")
            arrows.setdefault(var.index, []).append(ident)
    for var in view.vars:
        sources = arrows.get(var.index)
        if not sources:
            continue
        target = f"{prefix}g{var.index}"
        out.append(_box(target, f"d{J}/d{var.label}\n{tuple(var.shape)} {var.dtype}"))
        if len(sources) == 1:
            edges.append(f"  {sources[0]} -> {target};")
            continue
        plus = f"{prefix}sum{var.index}"
        out.append(_circle(plus, "+"))
        edges += [f"  {s} -> {plus};" for s in sources] + [f"  {plus} -> {target};"]
    return out + edges


def to_dot(tensor: Tensor, backward: bool = False, collapse: bool = True, *,
           names: Mapping[str, Tensor] | Iterable[Tensor] | None = None, highlight=(),
           max_nodes: int | None = MAX_NODES, title: str | None = None) -> str:
    """The graph that computed ``tensor`` as DOT text (see the module doc).

    ``collapse`` draws each region of unnamed intermediates between named tensors as one
    operator; ``names`` names tensors the graph keeps only as anonymous views (the 1-D ``x``
    of ``W1 @ x``); ``highlight`` (nodes, or a :func:`~chainrule.testing.graph.check_graph`
    report) draws those operators in red; more than ``max_nodes`` boxes and circles raises
    :class:`~chainrule.viz.view.GraphTooLarge` rather than drawing an unreadable picture.

    >>> import chainrule as cr
    >>> w = cr.tensor([1.0, 2.0], requires_grad=True, name="w")
    >>> y = (w * w).sum(); y.name = "y"
    >>> dot = to_dot(y)
    >>> print("\\n".join(line for line in dot.splitlines() if "shape=" in line))
      v2 [shape=box, label="y\\n() float32\\nheld 0 B"];
      v1 [shape=box, label="w\\n(2,) float32\\nheld 8 B"];
      op1 [shape=circle, label="sum of squares"];
    """
    view = GraphView(tensor, collapse=collapse, names=names, max_nodes=max_nodes)
    make = backward_statements if backward else graph_statements
    caption = (title + "\n" if title else "") + memory_caption(view)
    head = ["digraph chainrule {",
            f"  graph [rankdir={'RL' if backward else 'LR'}, nodesep=0.3, ranksep=0.35, "
            f"label={_q(caption)}];"]
    return "\n".join(head + make(view, highlight=highlight) + ["}"]) + "\n"


def memory_caption(view: GraphView) -> str:
    """One line on what the graph holds for backward, in all and inside the operators."""
    inside = sum(r.held for r in view.regions)
    return (f"held for backward: {format_bytes(view.held_bytes)} "
            f"({format_bytes(inside)} inside operators: masks, one-hots, hidden "
            "intermediates)")


def draw(tensor: Tensor, path: str | os.PathLike, backward: bool = False,
         collapse: bool = True, **options) -> Path:
    """Draw the graph of ``tensor`` to ``path``: SVG or PNG by the extension, or ``.dot``.

    Without Graphviz the DOT text is written next to ``path`` (as ``.dot``) and
    :class:`~chainrule.viz.render.RendererNotFound` says how to install a renderer.
    """
    return render(to_dot(tensor, backward=backward, collapse=collapse, **options), path)


def repr_svg(tensor: Tensor) -> str | None:
    """The drawing of ``tensor``'s graph as SVG text for notebooks, or None if unavailable."""
    if tensor.grad_fn is None:
        return None
    try:
        return render_svg(to_dot(tensor))
    except Exception:                    # a notebook display hook must never raise
        return None
