"""Seeing the recorded graph: drawings, the backward graph, memory, second derivatives.

- :func:`to_dot` / :func:`draw`: the graph as the chapter draws it (variables as boxes,
  operators as circles, input lower left, output upper right), or with ``backward=True`` the
  graph backpropagation runs; SVG or PNG through Graphviz's ``dot`` (see :mod:`.render`).
- :class:`GraphView`: variables, collapsed operators and the bytes each holds for backward.
- :func:`second_order_report`: exercise 4, the graph of a gradient and what it costs.
- :func:`build_chapter_graph`, :func:`build_mlp`: example graphs with the chapter's names.
- :func:`show`: one self-contained HTML page that steps through forward and backward
  (:mod:`.page`).
- :func:`~chainrule.viz.derivation.explain`: the derivation in the book's notation;
  :mod:`.chapter`: the chapter's network checked against its closed forms;
  :mod:`.notebook`: what a notebook shows for a tensor or a model.

>>> from chainrule.viz import build_chapter_graph, to_dot
>>> g = build_chapter_graph(hidden=8)
>>> sum(" [shape=box," in line for line in to_dot(g["J"], names=g).splitlines())
10
"""

from .dot import draw, repr_svg, to_dot
from .examples import build_chapter_graph, build_mlp
from .render import RendererNotFound, RenderError, find_renderer
from .page import show
from .second_order import SecondOrderReport, second_order_report
from .view import GraphTooLarge, GraphView
from . import notebook  # noqa: F401  (puts the notebook drawings in core.tensor.DISPLAY)

__all__ = [
    "to_dot", "draw", "repr_svg", "find_renderer",
    "RendererNotFound", "RenderError", "GraphTooLarge", "GraphView",
    "second_order_report", "SecondOrderReport", "build_chapter_graph", "build_mlp", "show",
]
