"""Exercise 4: what computing second derivatives does to the graph, and what it costs.

With ``create_graph=True`` the backward pass is itself recorded (chainrule's VJP rules are
written in its own operators), so the gradient ``dJ/dW`` is a tensor with a graph of its own:
larger than the forward graph, and holding on to the forward graph's saved values.
:func:`second_order_report` measures that graph (operators, bytes held), times the first
derivative (plain, and recorded) and a second derivative through it (a Hessian-vector product),
and draws the two graphs side by side as two clusters of one DOT file.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from ..autodiff import grad
from ..core.tensor import Tensor
from .dot import graph_statements
from .render import render
from .view import GraphView, format_bytes

__all__ = ["second_order_report", "SecondOrderReport"]


@dataclass
class SecondOrderReport:
    """Sizes of the forward graph and of the gradient's graph, and the measured times (s)."""

    forward_nodes: int
    forward_bytes: int
    grad_nodes: int            # every node the gradient depends on (forward ones included)
    grad_new_nodes: int        # the nodes the recorded backward pass added
    grad_bytes: int
    t_first: float             # dJ/dW, plain backward
    t_first_recorded: float    # dJ/dW with create_graph=True
    t_second: float            # d<dJ/dW, v>/dW: a Hessian-vector product
    dot: str

    @property
    def text(self) -> str:
        """The figures as a few lines of text."""
        return "\n".join([
            "Second derivatives (exercise 4): the backward pass recorded as a graph",
            f"  forward graph:     {self.forward_nodes:6d} operators, holds "
            f"{format_bytes(self.forward_bytes)}",
            f"  gradient's graph:  {self.grad_nodes:6d} operators ({self.grad_new_nodes} new), "
            f"holds {format_bytes(self.grad_bytes)}",
            f"  first derivative:  {self.t_first * 1e3:9.3f} ms plain, "
            f"{self.t_first_recorded * 1e3:.3f} ms recorded (create_graph=True)",
            f"  second derivative: {self.t_second * 1e3:9.3f} ms (Hessian-vector product), "
            f"{self.t_second / max(self.t_first, 1e-12):.1f}x the plain first derivative",
        ])

    def __str__(self) -> str:
        return self.text

    def draw(self, path: str | os.PathLike) -> Path:
        """Draw both graphs, side by side, to ``path`` (.svg, .png or .dot)."""
        return render(self.dot, path)


def _timed(f):
    start = time.perf_counter()
    out = f()
    return out, time.perf_counter() - start


def second_order_report(J: Tensor, wrt: Tensor, *, seed: int = 0,
                        names: Mapping[str, Tensor] | Iterable[Tensor] | None = None
                        ) -> SecondOrderReport:
    """Build ``dJ/dwrt`` with ``create_graph=True`` and report its graph and the time it takes.

    ``J`` must be a scalar whose graph is still alive (not freed by a backward without
    ``retain_graph=True``); ``names`` names anonymous constants, as in
    :func:`~chainrule.viz.dot.to_dot`.

    >>> import chainrule as cr
    >>> w = cr.tensor([0.5, -1.0], requires_grad=True, name="w")
    >>> J = cr.tanh(w * w).sum(); J.name = "J"
    >>> report = second_order_report(J, w)
    >>> report.forward_nodes, report.grad_nodes > report.forward_nodes
    (3, True)
    """
    _, t_first = _timed(lambda: grad(J, [wrt], retain_graph=True))
    (g,), t_recorded = _timed(lambda: grad(J, [wrt], create_graph=True))
    g.name = f"d{J.name or 'J'}/d{wrt.name or 'W'}"
    v = np.random.default_rng(seed).standard_normal(wrt.shape).astype(wrt.dtype)
    forward = GraphView(J, names=names)
    gradient = GraphView(g, names=names)
    forward_ids = {id(n) for n in forward.order}
    _, t_second = _timed(lambda: grad((g * Tensor(v)).sum(), [wrt], retain_graph=True))
    dot = "\n".join(
        ["digraph chainrule {", "  graph [rankdir=LR, nodesep=0.3, ranksep=0.35];",
         "  subgraph cluster_forward {",
         f'  graph [label="{J.name or "J"}: the forward graph ({len(forward.order)} '
         f'operators, holds {format_bytes(forward.held_bytes)})"];']
        + graph_statements(forward, prefix="f_")
        + ["  }", "  subgraph cluster_gradient {",
           f'  graph [label="{g.name}: the graph of the gradient, create_graph=True '
           f'({len(gradient.order)} operators, holds {format_bytes(gradient.held_bytes)})"];']
        + graph_statements(gradient, prefix="g_") + ["  }", "}"]) + "\n"
    return SecondOrderReport(
        forward_nodes=len(forward.order), forward_bytes=forward.held_bytes,
        grad_nodes=len(gradient.order),
        grad_new_nodes=sum(id(n) not in forward_ids for n in gradient.order),
        grad_bytes=gradient.held_bytes, t_first=t_first, t_first_recorded=t_recorded,
        t_second=t_second, dot=dot)
