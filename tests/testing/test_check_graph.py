"""check_graph(): every operator of a recorded graph against central differences."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import GradientCheckError
from chainrule.ops import OPS
from chainrule.testing.graph import check_graph
from chainrule.viz import build_chapter_graph, build_mlp, to_dot


@pytest.mark.parametrize("batch_size", [None, 3])
def test_the_chapter_network_passes_at_every_operator(batch_size):
    g = build_chapter_graph(hidden=16, batch_size=batch_size)
    report = check_graph(g["J"])
    assert report.ok and report.bad_nodes == []
    assert all(r.ok for r in report.rows)               # none skipped, none wrong
    assert {r.name for r in report.rows} >= {"relu h", "cross_entropy L", "add J", "mul s"}
    assert "0 wrong, 0 skipped" in report.text


def test_a_deeper_mlp_passes():
    g = build_mlp(widths=(5, 4, 4, 2), activation="sigmoid")
    assert check_graph(g["L"]).ok


def test_a_planted_wrong_vjp_is_found_and_named(monkeypatch):
    monkeypatch.setattr(OPS["relu"], "vjp", (lambda g, mask: g * 2.0 * mask,))
    g = build_chapter_graph(hidden=16)
    report = check_graph(g["J"])
    assert not report.ok
    assert report.bad_nodes == [g["h"].grad_fn]
    wrong = [line for line in report.text.splitlines() if "WRONG" in line]
    assert len(wrong) == 1 and "relu h" in wrong[0]
    red = [line for line in to_dot(g["J"], names=g, highlight=report).splitlines()
           if 'color="red"' in line]
    assert len(red) == 1 and 'label="relu"' in red[0]
    with pytest.raises(GradientCheckError, match="relu h"):
        check_graph(g["J"], raise_on_failure=True)


def test_a_wrong_rule_for_one_input_of_two_is_found(monkeypatch):
    good = OPS["matmul"].vjp
    monkeypatch.setattr(OPS["matmul"], "vjp", (good[0], lambda g, a, b: good[1](g, a, b) * 1.01))
    g = build_chapter_graph(hidden=8, batch_size=2)
    report = check_graph(g["J"])
    bad = [r for r in report.rows if r.ok is False]
    assert {r.name for r in bad} == {"matmul z", "matmul o"} and {r.input for r in bad} == {1}


def test_a_rule_that_raises_is_reported_not_crashed(monkeypatch):
    def broken(g, ans):
        raise ValueError("oops")
    monkeypatch.setattr(OPS["tanh"], "vjp", (broken,))
    w = cr.tensor([0.3, -0.2], requires_grad=True, name="w")
    h = cr.tanh(w)
    h.name = "h"
    report = check_graph(h.sum())
    assert report.bad_nodes == [h.grad_fn] and "raised ValueError: oops" in report.text


def test_float32_graphs_are_checked_in_float64():
    w = cr.tensor(np.linspace(-1, 1, 5).astype(np.float32), requires_grad=True, name="w")
    y = (cr.exp(w) * cr.sin(w)).astype(np.float64).sum()
    assert w.dtype == np.float32 and check_graph(y).ok


def test_a_freed_graph_is_replayed_from_its_leaves_and_constants():
    w = cr.tensor([0.5, -1.0, 2.0], requires_grad=True, name="w")
    x = cr.tensor([1.0, 2.0, 3.0], name="x")
    J = (cr.tanh(w * x) * w).sum()
    J.backward()                                        # frees every saved value
    report = check_graph(J)
    assert [r.name for r in report.rows] == ["mul", "tanh", "mul", "mul", "sum"]
    assert all(r.ok for r in report.rows)


def test_a_freed_chapter_graph_lost_its_scalar_constants_and_says_so():
    g = build_chapter_graph(hidden=8, batch_size=2)
    g["J"].backward()                                   # lambda/2 and the exponent 2 are gone
    report = check_graph(g["J"])
    verdicts = {r.name: r.ok for r in report.rows}
    assert verdicts["relu h"] and verdicts["matmul z"] and verdicts["cross_entropy L"]
    assert verdicts["mul s"] is None and verdicts["add J"] is None


def test_inputs_that_cannot_be_recovered_are_skipped_not_passed():
    o = cr.tensor(np.zeros((2, 3)), requires_grad=True, name="o")
    L = cr.cross_entropy(cr.tanh(o), np.array([0, 2]))  # plain labels: never saved
    L.name = "L"
    L.backward()                                        # frees the saved logits too
    report = check_graph(L)
    skipped = [r for r in report.rows if r.ok is None]
    assert [r.name for r in skipped] == ["cross_entropy L"]
    assert "not recoverable" in skipped[0].reason and report.ok
