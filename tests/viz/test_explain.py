"""explain(): the chapter's backpropagation equations, generated from the recorded graph."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

import chainrule as cr
from chainrule.viz.derivation import explain
from chainrule.viz import build_chapter_graph, build_mlp
from chainrule.cli.explain import add_explain_parser

CHAPTER = [  # the chapter's backpropagation equations, in the order backprop computes them
    ("dJ/do", "prod(dJ/dL, dL/do) = softmax(o) - onehot(y)", "(10,)"),
    ("dJ/dW2", "prod(dJ/do, do/dW2) + prod(dJ/ds, ds/dW2) = dJ/do h^T + lambda W2", "(10, 16)"),
    ("dJ/dh", "prod(dJ/do, do/dh) = W2^T dJ/do", "(16,)"),
    ("dJ/dz", "prod(dJ/dh, dh/dz) = dJ/dh (.) phi'(z)", "(16,)"),
    ("dJ/dW1", "prod(dJ/dz, dz/dW1) + prod(dJ/ds, ds/dW1) = dJ/dz x^T + lambda W1", "(16, 784)"),
]


def equations(text: str) -> list[tuple[str, str, str]]:
    """(lhs, rhs, shape) of each backpropagation line."""
    body = text.split("\n\n")[1].splitlines()[1:]
    out = []
    for line in body:
        lhs, rest = line.strip().split(" = ", 1)
        rhs, shape = rest.rstrip().rsplit("   ", 1)
        out.append((lhs.strip(), rhs.strip(), shape.strip()))
    return out


def test_chapter_network_gives_the_chapters_equations_in_computed_order():
    g = build_chapter_graph(hidden=16)
    text = explain(g["J"], names=g)
    found = equations(text)
    assert found[:2] == [("dJ/ds", "1", "()"), ("dJ/dL", "1", "()")]
    assert found[2:] == CHAPTER
    forward = text.split("\n\n")[0]
    for line in ("z = W1 x", "h = phi(z)", "o = W2 h", "L = l(o, y)",
                 "s = lambda/2 (|W1|_F^2 + |W2|_F^2)", "J = L + s"):
        assert line in forward
    assert "phi = relu" in text and "lambda = 0.0001" in text


def test_minibatch_writes_the_transposes_it_records():
    g = build_chapter_graph(hidden=16, batch_size=4)
    found = dict((lhs, rhs) for lhs, rhs, _ in equations(explain(g["J"], names=g)))
    assert found["dJ/do"].endswith("= (softmax(o) - onehot(y)) / n")
    assert found["dJ/dW2"].endswith("= dJ/do^T h + lambda W2")
    assert found["dJ/dh"].endswith("= dJ/do W2")
    assert found["dJ/dW1"].endswith("= dJ/dz^T x + lambda W1")
    assert "n = 4 (the batch size)" in explain(g["J"], names=g)


@pytest.mark.parametrize("batch_size, expected", [(None, "dJ/dz"), (4, "1^T dJ/dz")])
def test_exercise_2_bias(batch_size, expected):
    g = build_chapter_graph(hidden=8, bias=True, batch_size=batch_size)
    text = explain(g["J"], names=g)
    found = [(lhs, rhs) for lhs, rhs, _ in equations(text)]
    lhs = [f for f, _ in found]
    assert lhs.index("dJ/dz") < lhs.index("dJ/db1") < lhs.index("dJ/dW1")
    assert dict(found)["dJ/db1"] == f"prod(dJ/dz, dz/db1) = {expected}"
    assert ("z = W1 x + b1" if batch_size is None else "z = x W1^T + b1") in text


def test_a_deeper_mlp_is_explained_generically():
    g = build_mlp(widths=(6, 5, 4, 3), activation="tanh")
    found = equations(explain(g["L"], names=g))
    assert [f[0] for f in found] == ["dL/do", "dL/db3", "dL/dW3", "dL/dh2", "dL/dz2", "dL/db2",
                                     "dL/dW2", "dL/dh1", "dL/dz1", "dL/db1", "dL/dW1"]
    rhs = {lhs: r.split(" = ")[-1] for lhs, r, _ in found}
    assert rhs["dL/do"] == "1/3 (o - target)"             # mse over 6 elements: 2/6 (o - t)
    assert rhs["dL/dz1"] == "dL/dh1 (.) phi'(z1)" and rhs["dL/dh1"] == "dL/dz2 W2"
    assert rhs["dL/dW1"] == "dL/dz1^T x" and rhs["dL/db2"] == "1^T dL/dz2"
    shapes = {lhs: s for lhs, _, s in found}
    assert shapes["dL/dW2"] == "(4, 5)" and shapes["dL/dh1"] == "(2, 5)"


def test_latex_uses_the_chapters_symbols():
    g = build_chapter_graph(hidden=16)
    tex = explain(g["J"], format="latex", names=g)
    for piece in (r"\frac{\partial J}{\partial \mathbf{W}^{(2)}}",
                  r"\frac{\partial J}{\partial \mathbf{o}} \mathbf{h}^\top + \lambda "
                  r"\mathbf{W}^{(2)}",
                  r"{\mathbf{W}^{(2)}}^\top \frac{\partial J}{\partial \mathbf{o}}",
                  r"\frac{\partial J}{\partial \mathbf{h}} \odot \phi'\left(\mathbf{z}\right)",
                  r"\text{prod}\left(", r"\in \mathbb{R}^{16 \times 784}",
                  r"s &= \frac{\lambda}{2} \left(\|\mathbf{W}^{(1)}\|_F^2"):
        assert piece in tex
    assert tex.count(r"\begin{aligned}") == tex.count(r"\end{aligned}") == 2


@pytest.mark.parametrize("lang, heading", [("pt", "Propagação reversa"),
                                           ("fr", "Rétropropagation"),
                                           ("en", "Backpropagation")])
def test_languages_change_the_words_not_the_equations(lang, heading):
    g = build_chapter_graph(hidden=16)
    text = explain(g["J"], lang=lang, names=g)
    assert heading in text
    assert equations(text)[2:] == CHAPTER


def test_bad_arguments_are_refused():
    g = build_chapter_graph(hidden=4)
    with pytest.raises(ValueError, match="lang"):
        explain(g["J"], lang="de")
    with pytest.raises(ValueError, match="format"):
        explain(g["J"], format="html")


def test_a_freed_graph_is_still_explained_honestly():
    g = build_chapter_graph(hidden=8)
    g["J"].backward()                   # frees what was saved, the factor lambda/2 included
    found = dict((lhs, rhs) for lhs, rhs, _ in equations(explain(g["J"], names=g)))
    assert found["dJ/dh"].endswith("= W2^T dJ/do")
    assert found["dJ/dW2"].startswith("prod(dJ/do, do/dW2) + prod(dJ/ds, ds/dW2) = dJ/do h^T")
    assert "lambda" not in found["dJ/dW2"]              # no longer known: not claimed


def test_a_region_too_large_to_write_out_is_named_not_expanded():
    x = cr.tensor(np.ones(3), requires_grad=True, name="x")
    y = x
    for _ in range(200):
        y = cr.tanh(y)
    y.name = "y"
    J = y.sum()
    J.name = "J"
    text = explain(J)
    assert "y = f1(x)" in text and "f1 = 200 operators" in text
    assert "dJ/dx = prod(dJ/dy, dy/dx)   (3,)" in text


def test_cli_explain(capsys):
    parser = argparse.ArgumentParser(prog="chainrule")
    add_explain_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["explain", "--lang", "fr", "--latex", "--hidden", "8"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "Rétropropagation" in out and r"\odot" in out
    args = parser.parse_args(["explain", "--batch-size", "2", "--bias", "--hidden", "8"])
    assert args.func(args) == 0 and "dJ/db1 = prod(dJ/dz, dz/db1) = 1^T dJ/dz" in \
        capsys.readouterr().out
