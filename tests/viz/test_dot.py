"""The DOT text: the chapter's figure, one-line node statements, the backward graph, limits."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule.viz import GraphTooLarge, GraphView, build_chapter_graph, to_dot
from chainrule.viz.second_order import second_order_report

NODE = re.compile(r'^  (\w+) \[shape=(box|circle), label="((?:[^"\\]|\\.)*)"[^\n]*\];$')
EDGE = re.compile(r"^  (\w+) -> (\w+)( \[[^\]]*\])?;$")
CHAPTER = {  # output: (operator label, inputs)
    "z": ("matmul", {"x", "W1"}), "h": ("relu", {"z"}), "o": ("matmul", {"W2", "h"}),
    "L": ("cross_entropy", {"o", "y"}), "s": ("regulariser", {"W1", "W2"}),
    "J": ("+", {"L", "s"}),
}


def parse(dot: str):
    """Nodes {id: (shape, label)} and edges [(a, b, attrs)], checking every line's form."""
    nodes, edges = {}, []
    lines = dot.strip().splitlines()
    assert lines[0] == "digraph chainrule {" and lines[-1] == "}"
    for line in lines[1:-1]:
        assert not line.lstrip().startswith(("node ", "node[", "edge ", "edge[")), line
        if line.lstrip().startswith(("graph [", "subgraph", "}")):
            continue
        node, edge = NODE.match(line), EDGE.match(line)
        assert node or edge, f"not a one-line node or edge statement: {line!r}"
        if node:
            nodes[node.group(1)] = (node.group(2), node.group(3).replace("\\n", "\n"))
        else:
            edges.append((edge.group(1), edge.group(2), edge.group(3) or ""))
    return nodes, edges


def first_word(label: str) -> str:
    return label.split()[0]


def figure(dot: str):
    """{output name: (operator label, set of input names)} read from a forward drawing."""
    nodes, edges = parse(dot)
    name = {k: first_word(label) for k, (shape, label) in nodes.items() if shape == "box"}
    found = {}
    for op, (shape, label) in nodes.items():
        if shape != "circle":
            continue
        outs = [b for a, b, _ in edges if a == op]
        assert len(outs) == 1
        found[name[outs[0]]] = (label, {name[a] for a, b, _ in edges if b == op})
    return found, nodes


@pytest.mark.parametrize("batch_size", [None, 4], ids=["one example", "minibatch"])
def test_chapter_network_is_drawn_as_the_books_figure(batch_size):
    g = build_chapter_graph(batch_size=batch_size, hidden=16)
    found, nodes = figure(to_dot(g["J"], names=g))
    boxes = sorted(first_word(lbl) for shape, lbl in nodes.values() if shape == "box")
    assert boxes == sorted(["x", "W1", "z", "h", "W2", "o", "y", "L", "s", "J"])
    assert sum(shape == "circle" for shape, _ in nodes.values()) == 6
    assert found == CHAPTER


def test_boxes_say_shape_dtype_and_the_bytes_the_graph_holds():
    g = build_chapter_graph(hidden=16)
    _, nodes = figure(to_dot(g["J"], names=g))
    labels = {first_word(lbl): lbl for shape, lbl in nodes.values() if shape == "box"}
    assert labels["W1"] == "W1\n(16, 784) float64\nheld 98.0 KiB"
    assert labels["y"].endswith("held 0 B") and "int64" in labels["y"]
    view = GraphView(g["J"], names=g)
    held = {v.label: v.held for v in view.vars}
    assert held["W1"] == g["W1"].data.nbytes and held["h"] == g["h"].data.nbytes
    assert held["J"] == 0
    # the relu mask and the squares inside the regulariser are held by operators
    assert view.held_bytes == sum(held.values()) + sum(r.held for r in view.regions)
    assert {r.label: r.held for r in view.regions}["relu"] == 16


def test_expanded_drawing_shows_the_bookkeeping_operators():
    one = build_chapter_graph(hidden=8)
    _, nodes = figure(to_dot(one["J"], collapse=False, names=one))
    circles = sorted(lbl for shape, lbl in nodes.values() if shape == "circle")
    assert circles.count("reshape") == 3 and "getitem" in circles and "**" in circles
    batch = build_chapter_graph(hidden=8, batch_size=3)
    _, nodes = figure(to_dot(batch["J"], collapse=False, names=batch))
    assert sum(lbl == "transpose" for _, lbl in nodes.values()) == 2


def test_an_unnamed_value_used_twice_gets_its_own_box():
    w = cr.tensor([1.0, 2.0], requires_grad=True, name="w")
    a = w * 2.0                                      # unnamed, feeds two named tensors
    b = cr.exp(a)
    b.name = "b"
    c = a * a                                        # recorded, and drawn, as a ** 2
    c.name = "c"
    J = (b + c).sum()
    J.name = "J"
    found, nodes = figure(to_dot(J))                 # an unnamed box starts with its shape
    assert found["b"] == ("exp", {"(2,)"}) and found["c"] == ("**", {"(2,)"})
    assert found["(2,)"] == ("*", {"w"}) and found["J"] == ("add, sum", {"b", "c"})


def test_names_reach_constants_kept_only_as_views():
    x = cr.tensor(np.arange(3.0), name="x")
    W = cr.tensor(np.ones((2, 3)), requires_grad=True, name="W")
    z = W @ x  # records matmul on x's reshaped view
    z.name = "z"
    found, _ = figure(to_dot(z, names={"x": x}))
    assert found["z"] == ("matmul", {"x", "W"})


def test_a_constant_no_longer_alive_is_still_drawn():
    o = cr.tensor(np.zeros((2, 3)), requires_grad=True, name="o")
    L = cr.cross_entropy(o, cr.tensor(np.array([0, 2])))   # the labels tensor dies here
    L.name = "L"
    _, nodes = figure(to_dot(L))
    assert any("no longer alive" in lbl for _, lbl in nodes.values())


def test_backward_graph_shows_gradients_vjps_and_what_each_reads():
    g = build_chapter_graph(hidden=8)
    nodes, edges = parse(to_dot(g["J"], backward=True, names=g))
    ident = {first_word(lbl): k for k, (shape, lbl) in nodes.items() if shape == "box"
             and not lbl.startswith("saved")}
    for name in ("dJ/dJ", "dJ/dL", "dJ/ds", "dJ/do", "dJ/dh", "dJ/dz", "dJ/dW1", "dJ/dW2"):
        assert name in ident
    assert "dJ/dx" not in ident and "dJ/dy" not in ident      # constants take no gradient

    def feeding(target):
        return [a for a, b, _ in edges if b == target]

    def reads(circle):
        return {first_word(nodes[a][1][len("saved "):]) for a, b, attrs in edges
                if b == circle and "dashed" in attrs and nodes[a][1].startswith("saved ")
                and not nodes[a][1].startswith("saved by")}

    # dJ/dW2 sums two paths: the matmul VJP (reads h) and the regulariser's (reads W2)
    (plus,) = feeding(ident["dJ/dW2"])
    assert nodes[plus] == ("circle", "+")
    vjps = {nodes[c][1]: reads(c) for c in feeding(plus)}
    assert vjps == {"vjp\nmatmul": {"h"}, "vjp\nregulariser": {"W2"}}
    (to_h,) = feeding(ident["dJ/dh"])
    assert reads(to_h) == {"W2"} and ident["dJ/do"] in feeding(to_h)
    (to_z,) = feeding(ident["dJ/dz"])
    assert nodes[to_z][1] == "vjp\nrelu" and any(
        nodes[a][1].startswith("saved by relu") for a in feeding(to_z))


def test_highlight_draws_bad_operators_in_red():
    g = build_chapter_graph(hidden=8)
    dot = to_dot(g["J"], names=g, highlight=[g["h"].grad_fn])
    red = [line for line in dot.splitlines() if 'color="red"' in line]
    assert len(red) == 1 and 'label="relu"' in red[0]


@pytest.fixture(scope="module")
def chain():
    x = cr.tensor([1.0, 2.0], requires_grad=True, name="x")
    y = x
    for _ in range(100_000):
        y = y * 1.00001
    y.name = "y"
    return y


def test_hundred_thousand_operators_collapse_without_recursion(chain):
    # 100,000 operators deep at the default recursion limit: any recursion over the graph
    # would raise RecursionError long before the end
    assert sys.getrecursionlimit() <= 10_000
    dot = to_dot(chain)
    with pytest.raises(GraphTooLarge, match=r"100000 operators.*max_nodes"):
        to_dot(chain, collapse=False)
    back = to_dot(chain, backward=True)
    found, nodes = figure(dot)
    assert found == {"y": ("mul x100000", {"x"})} and len(nodes) == 3
    assert "dy/dx" in back


def test_too_many_named_tensors_refuse_with_advice():
    x = cr.tensor([1.0], requires_grad=True, name="x")
    for k in range(30):
        x = x * 2.0
        x.name = f"x{k}"
    with pytest.raises(GraphTooLarge, match="max_nodes"):
        to_dot(x, max_nodes=40)
    assert to_dot(x, max_nodes=None).count("shape=circle") == 30


def test_second_order_report_measures_and_draws_both_graphs():
    g = build_chapter_graph(hidden=8)
    report = second_order_report(g["J"], g["W1"], names=g)
    assert report.forward_nodes == 15 and report.grad_nodes > report.grad_new_nodes > 0
    assert report.grad_bytes > 0 and report.t_first > 0 and report.t_second > 0
    assert "subgraph cluster_forward" in report.dot and "subgraph cluster_gradient" in report.dot
    nodes, _ = parse(report.dot)
    assert any(lbl.startswith("dJ/dW1\n") for _, lbl in nodes.values())
    assert "Hessian-vector product" in report.text
