"""Check every operator of a recorded graph against central differences, one node at a time.

:func:`check_graph` walks a recorded graph (inputs first, no recursion) and, at each node and
each input that takes a gradient, compares the operator's VJP rule with central differences of
its forward, in float64, by inner products with a random cotangent ``u`` and direction ``v``::

    <vjp(u), v>   against   (<u, f(x + eps v)> - <u, f(x - eps v)>) / (2 eps)

The input values come from what the graph saved (the values backward itself would use), from the
leaves and live constants, and otherwise by replaying the recorded forward in topological order;
a node whose inputs cannot be recovered is reported as skipped, not passed.  The report names
each node by its operator and its output's name, and :func:`chainrule.viz.to_dot` draws the
nodes it found wrong in red (``to_dot(J, highlight=report)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import backend as B
from ..core.modes import mode as _mode
from ..errors import GradientCheckError
from ..core.graph import Node, toposort
from ..core.tensor import Tensor

__all__ = ["check_graph", "GraphCheckReport", "NodeCheck"]

_MISSING = object()


@dataclass
class NodeCheck:
    """One input of one node: both sides of the inner-product check, and the verdict."""

    index: int               # position of the node in the forward order, from 1
    node: Node
    input: int
    input_name: str
    analytic: float | None = None
    numeric: float | None = None
    ok: bool | None = None   # None: skipped (see reason)
    reason: str = ""

    @property
    def name(self) -> str:
        """The operator, and the output's name when it has one: ``relu h``."""
        return self.node.op.name + (f" {self.node.name}" if self.node.name else "")


class GraphCheckReport:
    """What :func:`check_graph` found: ``ok``, ``bad_nodes``, ``rows`` and a ``text`` table."""

    def __init__(self, rows: list[NodeCheck], eps: float, nodes: int):
        self.rows, self.eps, self.nodes = rows, eps, nodes

    @property
    def ok(self) -> bool:
        """True when no checked node disagreed (skipped ones are listed, not failed)."""
        return all(r.ok is not False for r in self.rows)

    @property
    def bad_nodes(self) -> list[Node]:
        """The nodes whose VJP disagrees with central differences, in forward order."""
        out: list[Node] = []
        for r in self.rows:
            if r.ok is False and r.node not in out:
                out.append(r.node)
        return out

    @property
    def text(self) -> str:
        """A table: one line per node and input, wrong ones marked ``WRONG``."""
        bad = sum(r.ok is False for r in self.rows)
        skipped = sum(r.ok is None for r in self.rows)
        head = (f"check_graph: {self.nodes} operators, {len(self.rows)} VJPs: "
                f"{len(self.rows) - bad - skipped} agree, {bad} wrong, {skipped} skipped "
                f"(central differences in float64, eps={self.eps:g})")
        lines = [head, f"  {'#':>3}  {'operator':<22} {'input':<14} {'<vjp(u), v>':>14} "
                       f"{'finite diff.':>14}  verdict"]
        for r in self.rows:
            a = "" if r.analytic is None else f"{r.analytic:.8g}"
            n = "" if r.numeric is None else f"{r.numeric:.8g}"
            verdict = {True: "ok", False: "WRONG", None: "skipped"}[r.ok]
            if r.reason:
                verdict += f" ({r.reason})"
            lines.append(f"  {r.index:>3}  {r.name:<22} {r.input_name:<14} {a:>14} {n:>14}  "
                         f"{verdict}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"<GraphCheckReport ok={self.ok} bad={[r.name for r in self.rows if r.ok is False]}>"


def _as64(a):
    if isinstance(a, Tensor):
        a = a._data
    if isinstance(a, B.ndarray_types) or isinstance(a, np.ndarray):
        a = np.asarray(B.to_numpy(a))
        return a.astype(np.float64) if a.dtype.kind == "f" else a
    return a


def _known_values(order: list[Node]) -> dict[int, object]:
    """Outputs the graph itself saved: a node's own ``ans``, or a consumer's saved input."""
    ids = {id(n) for n in order}
    values: dict[int, object] = {}
    for node in order:
        if node.saved is None:
            continue
        if node.op._ans_at >= 0 and node.saved[node.op._ans_at] is not None:
            values[id(node)] = _as64(node.saved[node.op._ans_at])
        for value in node.saved:
            if isinstance(value, Tensor) and value._node is not None and id(value._node) in ids:
                values.setdefault(id(value._node), _as64(value))
    return values


def _input(node: Node, i: int, values: dict):
    edge = node.edges[i]
    if type(edge) is Node:
        return values.get(id(edge), _MISSING)
    if isinstance(edge, Tensor):
        return _as64(edge)
    for position, ref in node.consts or ():
        if position == i and ref() is not None:
            return _as64(ref())
    name = node.op.inputs[min(i, len(node.op.inputs) - 1)]
    if node.saved is not None and not node.op.variadic and name in node.op.saves:
        value = node.saved[node.op.saves.index(name)]
        if value is not None:       # None: kept for no rule (its input takes no gradient)
            return _as64(value)
    return _MISSING


def _params(node: Node) -> dict:
    params = dict(node.params)
    if "dtype" in params and np.dtype(params["dtype"]).kind == "f":
        params["dtype"] = np.float64          # a float32 round trip would swamp the check
    return params


def _vjp(node: Node, i: int, g, args: list, params: dict, ans):
    """The VJP rule of ``node`` for input ``i`` at ``args``, run on arrays as backward runs it."""
    op = node.op
    wrapped = [Tensor._wrap(a) if isinstance(a, np.ndarray) else a for a in args]
    saved, _ = op._saved_values(wrapped, params, ans)
    saved = tuple(s._data if isinstance(s, Tensor) else s for s in saved)
    mode = _mode
    previous = mode.grad_enabled, mode.raw
    mode.grad_enabled, mode.raw = False, True
    try:
        gi = op.vjp_at(i)(g, *saved, **params)
    finally:
        mode.grad_enabled, mode.raw = previous
    return np.asarray(gi._data if isinstance(gi, Tensor) else gi, dtype=np.float64)


def _check_one(row: NodeCheck, args: list, params: dict, eps: float, rtol: float,
               atol: float, rng) -> None:
    node, i = row.node, row.input
    forward = node.op.forward
    ans = np.asarray(forward(*args, **params))
    u = rng.standard_normal(ans.shape)
    v = rng.standard_normal(np.shape(args[i]))
    try:
        gi = _vjp(node, i, u, args, params, ans)
    except Exception as exc:             # a broken rule is a finding, not a crash
        row.ok, row.reason = False, f"the rule raised {type(exc).__name__}: {exc}"
        return
    if gi.shape != np.shape(args[i]):
        row.ok, row.reason = False, f"gradient shape {gi.shape} != input {np.shape(args[i])}"
        return
    shifted = list(args)
    shifted[i] = args[i] + eps * v
    plus = np.asarray(forward(*shifted, **params), dtype=np.float64)
    shifted[i] = args[i] - eps * v
    minus = np.asarray(forward(*shifted, **params), dtype=np.float64)
    row.analytic = float(np.sum(gi * v))
    row.numeric = float(np.sum(u * (plus - minus)) / (2 * eps))
    scale = max(abs(row.analytic), abs(row.numeric),
                1e-3 * float(np.linalg.norm(u) * np.linalg.norm(v)))
    row.ok = abs(row.analytic - row.numeric) <= atol + rtol * scale


def check_graph(tensor: Tensor, *, eps: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-7,
                seed: int = 0, raise_on_failure: bool = False) -> GraphCheckReport:
    """Check each operator's VJP in the graph of ``tensor`` by central differences in float64.

    Returns a :class:`GraphCheckReport`; with ``raise_on_failure`` a disagreement raises
    :class:`~chainrule.errors.GradientCheckError` with the report's table instead.

    >>> import chainrule as cr
    >>> w = cr.tensor([0.5, -1.0, 2.0], requires_grad=True, name="w")
    >>> h = cr.tanh(w * 3.0); h.name = "h"
    >>> report = check_graph(h.sum())
    >>> report.ok, [r.name for r in report.rows]
    (True, ['mul', 'tanh h', 'sum'])
    """
    order = toposort([tensor._node]) if tensor._node is not None else []
    values = _known_values(order)
    rng = np.random.default_rng(seed)
    rows: list[NodeCheck] = []
    for k, node in enumerate(order, start=1):
        args = [_input(node, i, values) for i in range(len(node.edges))]
        missing = [i for i, a in enumerate(args) if a is _MISSING]
        params = _params(node)
        if not missing and id(node) not in values:
            values[id(node)] = _as64(np.asarray(node.op.forward(*args, **params)))
        for i, edge in enumerate(node.edges):
            if edge is None:
                continue
            source = edge.name if edge.name else ""
            row = NodeCheck(k, node, i, f"{i} {source}".strip())
            rows.append(row)
            if missing:
                row.reason = f"the value of input {missing[0]} is not recoverable"
            elif not (isinstance(args[i], np.ndarray) and args[i].dtype.kind == "f"):
                row.reason = "not a floating-point input"
            else:
                _check_one(row, args, params, eps, rtol, atol, rng)
    report = GraphCheckReport(rows, eps, len(order))
    if raise_on_failure and not report.ok:
        raise GradientCheckError("check_graph: some operators' VJPs disagree with finite "
                                 "differences\n" + report.text)
    return report
