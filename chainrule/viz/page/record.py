"""The steps of the page: a recorded graph's forward and backward pass, one operator at a time.

:func:`record` reads the graph that computed a tensor (it runs nothing but the gradients it
shows) and returns the page's data, a dict ready for JSON:

- ``steps``: one **forward** step per recorded node in the order the operators ran (its
  operator, the circle and box of the drawing it lights, the value it made as a summary, the
  equation from :func:`~chainrule.viz.derivation.explain`), then one **backward** step per
  node in the order :mod:`chainrule.core.backward` calls their VJP rules (the gradients
  completed there, each with its chain-rule line in the page's language);
- ``held_bytes`` per step: what the graph holds for backward.  Forward, the running sum of
  :func:`chainrule.memory.report`'s rows (each buffer counted once, parameters and inputs
  included), so it ends at the report's ``saved_bytes``; backward, each node's saved values
  are let go after its VJP (:meth:`Node.release`), a buffer when its last node is done;
- ``nograd_bytes`` per forward step: the activations alive in the same forward run under
  ``no_grad`` (nothing saved, each intermediate freed after its last use), replayed on the
  memory plan as :func:`chainrule.memory.report` does; its peak plus the Python objects is the
  report's ``prediction_bytes``;
- ``second``: the graph of a gradient (``create_graph=True``, exercise 4) beside the forward
  graph, from :func:`~chainrule.viz.second_order.second_order_report`.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping

import numpy as np

from ...autodiff import grad
from ...core.graph import Node
from ...core.tensor import Tensor
from ...errors import ChainruleError, GraphError
from ...memory.plan import build_plan
from ...memory.report import report as memory_report
from ...memory.simulate import Heap, replay_forward
from ..derivation import WORDS, Derivation
from ..dot import to_dot
from ..render import render_svg
from ..second_order import second_order_report
from ..view import GraphTooLarge
from .summary import node_values, summarize

__all__ = ["record", "svg_with_ids", "nograd_bytes", "EXTERNAL"]

EXTERNAL = ("param", "input")       # buffers the forward pass did not make


def svg_with_ids(svg: str | None, prefix: str = "cr-") -> str | None:
    """Graphviz's SVG with each node's ``<g>`` given the id ``prefix + its DOT name``, the XML
    prologue dropped (the SVG goes inline in HTML)."""
    if svg is None:
        return None
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r'<g id="node\d+" class="node">(\s*)<title>([^<]*)</title>',
                 lambda m: f'<g id="{prefix}{m.group(2)}" class="node">{m.group(1)}'
                           f'<title>{m.group(2)}</title>', svg)
    return re.sub(r"<!--.*?-->\n?", "", svg, flags=re.S)


def nograd_bytes(plan) -> tuple[list[int], int]:
    """Bytes of activations alive after each step of ``plan`` run under ``no_grad``, and the
    peak (temporaries included), as :func:`chainrule.memory.simulate.replay_forward` counts."""
    steps = plan.steps
    heap = Heap()
    last_use = {id(b): k for k, s in enumerate(steps) for b in s.ins if b is not None}
    keep = {id(steps[-1].out)}
    alive = []
    for k, step in enumerate(steps):
        fresh = step.out is not None and all(step.out is not b for b in step.ins)
        heap.touch(step.op.memory.forward_temps(step) + (step.out.nbytes if fresh else 0))
        if step.inner is not None:
            region = Heap()
            replay_forward(step.inner, region, training=False)
            heap.touch(region.peak)
        if fresh:
            heap.hold(step.out)
            last_use.setdefault(id(step.out), k)
        for buf in {id(b): b for b in [*step.ins, step.out] if b is not None}.values():
            if last_use.get(id(buf)) == k and id(buf) not in keep and buf.kind == "out":
                heap.drop(buf)
        alive.append(heap.current)
    return alive, heap.peak


def _held(plan) -> tuple[list, list]:
    """``(all, made by forward)`` bytes held for backward after each forward step, and after
    each backward step (a buffer goes when the last node that saved it has run its VJP)."""
    users: dict[int, int] = {}
    per_step = []
    forward, seen, total, made = [], set(), 0, 0
    for step in plan.steps:
        bufs = {id(b): b for _, b in step.saved}
        per_step.append(bufs)
        for key, buf in bufs.items():
            users[key] = users.get(key, 0) + 1
            if key not in seen:
                seen.add(key)
                total += buf.nbytes
                made += buf.nbytes if buf.kind not in EXTERNAL else 0
        forward.append((total, made))
    backward = []
    for bufs in reversed(per_step):
        for key, buf in bufs.items():
            users[key] -= 1
            if users[key] == 0:
                total -= buf.nbytes
                made -= buf.nbytes if buf.kind not in EXTERNAL else 0
        backward.append((total, made))
    return forward, backward


def _block(text: str, header: str, count: int) -> list[str]:
    """The ``count`` equation lines under ``header`` in explain's text, tidied."""
    lines = text.splitlines()
    start = lines.index(header) + 1
    tidy = [re.sub(r"^(\S+)\s+= ", r"\1 = ", line.strip()) for line in lines[start:start + count]]
    return [re.sub(r"\s{3,}(\([^()]*\)|\?)$", r"   \1", line) for line in tidy]


def _gradients(root: Tensor, view) -> dict[int, np.ndarray]:
    """``id(var) -> dJ/dvar`` for every variable that takes a gradient (one backward pass)."""
    targets, keys = [], []
    for var in view.vars:
        if not var.takes_grad:
            continue
        if var.node is not None:
            targets.append(Tensor._wrap(np.zeros((), var.node.dtype), var.node))
        elif var.tensor is not None and var.tensor.requires_grad:
            targets.append(var.tensor)
        else:
            continue
        keys.append(id(var))
    seed = np.ones(root.shape, root.dtype)
    found = grad(root, targets, grad_outputs=seed, retain_graph=True, allow_unused=True)
    return {k: (g._data if g is not None else None) for k, g in zip(keys, found)}


def _second(root: Tensor, view, names) -> dict | None:
    """The graph of ``dJ/dW`` for the first parameter, drawn beside the forward graph."""
    wrt = next((v for v in view.vars if v.kind == "leaf" and v.tensor is not None
                and v.tensor.requires_grad and v.dtype.kind == "f"), None)
    if wrt is None or root.shape != ():
        return None
    try:
        rep = second_order_report(root, wrt.tensor, names=names)
    except ChainruleError as exc:
        return {"error": str(exc)}
    return {"wrt": wrt.label, "forward_nodes": rep.forward_nodes,
            "forward_bytes": rep.forward_bytes, "grad_nodes": rep.grad_nodes,
            "grad_new_nodes": rep.grad_new_nodes, "grad_bytes": rep.grad_bytes,
            "text": rep.text, "svg": svg_with_ids(render_svg(rep.dot), "cr2-")}


def record(tensor: Tensor, *, names: Mapping[str, Tensor] | Iterable[Tensor] | None = None,
           lang: str = "en", second_order: bool = True, title: str | None = None) -> dict:
    """The page's data for the graph that computed ``tensor`` (see the module doc).

    Call it before ``backward()`` frees the graph.  ``names`` names tensors the graph keeps
    only as anonymous views (as in :func:`~chainrule.viz.dot.to_dot`); their values are shown.

    >>> import chainrule as cr
    >>> w = cr.tensor([1.0, -2.0], requires_grad=True, name="w")
    >>> y = cr.tanh(w * w).sum(); y.name = "y"
    >>> data = record(y, second_order=False)
    >>> [(s["phase"], s["op"]) for s in data["steps"]]
    [('forward', 'power'), ('forward', 'tanh'), ('forward', 'sum'), ('backward', 'sum'), \
('backward', 'tanh'), ('backward', 'power')]
    >>> data["steps"][-1]["lines"]
    ["dy/dw = prod(dy/dy, dy/dw) = 2 phi'(w^2) (.) w   (2,)"]
    """
    if not isinstance(tensor, Tensor) or tensor._node is None:
        raise GraphError("viz.show() needs a tensor computed from inputs that require grad, "
                         "outside no_grad(), before backward() frees its graph; got "
                         f"{type(tensor).__name__}")
    if lang not in WORDS:
        raise ValueError(f"viz.show: lang={lang!r}; use one of {sorted(WORDS)}")
    derivation = Derivation(tensor, names)
    view = derivation.view
    order = view.order
    text = derivation.render(lang)
    words = WORDS[lang]
    fwd_lines = dict(zip((id(v) for v, _ in derivation.forward),
                         _block(text, words["forward"], len(derivation.forward))))
    back_lines = dict(zip((id(v) for v, _, _ in derivation.backward),
                          _block(text, words["backward"], len(derivation.backward))))
    plan = build_plan(tensor)
    rep = memory_report(tensor)
    rows = rep.rows
    held_fwd, held_back = _held(plan)
    alive, nograd_peak = nograd_bytes(plan)
    named = list(names.values()) if isinstance(names, Mapping) else list(names or ())
    values = node_values(order, [tensor, *named])
    grads = _gradients(tensor, view)

    def ident(var):
        return f"cr-v{var.index}" if var is not None else None

    def out_var(node: Node):
        return view.var_of[id(node)] if view.is_var_node(node) else None

    start, start_ids = {}, {}
    for var in view.vars:
        if var.kind != "node":
            start_ids[var.label] = ident(var)
            data = var.tensor._data if var.tensor is not None else None
            start[var.label] = summarize(data) if data is not None else _shape_only(var)
    steps = []
    for k, node in enumerate(order):
        var = out_var(node)
        value = values.get(id(node))
        summary = summarize(value) if value is not None else _shape_only(var, node)
        steps.append({
            "phase": "forward", "op": node.op.name,
            "node": f"cr-op{view.region_of[id(node)].index}",
            "var": ident(var), "out": var.label if var is not None else None,
            "shape": list(node.shape), "value": summary, "eq": fwd_lines.get(id(var)),
            "saved_bytes": rows[k].saved_bytes, "saved": rows[k].what,
            "held_bytes": held_fwd[k][0], "held_made_bytes": held_fwd[k][1],
            "nograd_bytes": alive[k]})
    first_user: dict[int, int] = {}
    for k, node in enumerate(order):
        for i in range(len(node.edges)):
            src = view.source(node, i)
            if hasattr(src, "kind") and src.kind != "node":
                first_user.setdefault(id(src), k)
    leaves_at: dict[int, list] = {}
    for var in view.vars:
        if var.kind != "node" and var.takes_grad and id(var) in first_user:
            leaves_at.setdefault(first_user[id(var)], []).append(var)
    for j, node in enumerate(reversed(order)):
        k = len(order) - 1 - j
        done = ([out_var(node)] if out_var(node) is not None else []) + leaves_at.get(k, [])
        new = {v.label: summarize(grads[id(v)]) for v in done
               if grads.get(id(v)) is not None}
        steps.append({
            "phase": "backward", "op": node.op.name,
            "node": f"cr-op{view.region_of[id(node)].index}", "var": ident(out_var(node)),
            "shape": list(node.shape), "grads": new, "grad_vars": [ident(v) for v in done],
            "grad_shapes": [list(e.shape) for e in node.edges if e is not None],
            "lines": [back_lines[id(v)] for v in done if id(v) in back_lines],
            "held_bytes": held_back[j][0], "held_made_bytes": held_back[j][1]})
    return {
        "title": title or f"{view.root_var.label}: {len(order)} operators",
        "lang": lang, "root": view.root_var.label, "operators": len(order),
        "svg": _drawing(tensor, names),
        "start": start, "start_ids": start_ids, "steps": steps,
        "memory": {"saved_bytes": rep.saved_bytes, "activation_bytes": rep.activation_bytes,
                   "made_peak_bytes": max(m for _, m in held_fwd),
                   "parameter_bytes": rep.parameter_bytes, "input_bytes": rep.input_bytes,
                   "training_bytes": rep.training_bytes,
                   "prediction_bytes": rep.prediction_bytes,
                   "nograd_peak_bytes": nograd_peak, "table": str(rep)},
        "derivation": text,
        "second": _second(tensor, view, names) if second_order else None,
        "training": None,
    }


def _drawing(tensor: Tensor, names) -> str | None:
    """The forward drawing as inline SVG; None without a renderer or past ``MAX_NODES``."""
    try:
        return svg_with_ids(render_svg(to_dot(tensor, names=names)))
    except GraphTooLarge:
        return None


def _shape_only(var, node: Node | None = None) -> dict:
    """A summary with the shape alone (a value the graph no longer has)."""
    shape = node.shape if node is not None else (var.shape if var is not None else None)
    return {"shape": list(shape) if shape is not None else None, "min": None, "max": None,
            "mean": None, "norm": None}

