"""Checks that a gradient is right: :func:`gradcheck` and :func:`gradgradcheck` compare the
reverse and forward modes with central differences; :func:`check_graph` checks every node of a
recorded graph.  The generated operator-table tests are built on them."""

from .gradcheck import gradcheck, gradgradcheck
from .graph import GraphCheckReport, check_graph

__all__ = ["gradcheck", "gradgradcheck", "check_graph", "GraphCheckReport"]
