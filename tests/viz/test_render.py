"""Rendering with Graphviz: real SVG and PNG, the layout, a missing or failing renderer, CLI."""

from __future__ import annotations

import argparse
import os
import stat
import subprocess

import pytest

from chainrule.viz import (RendererNotFound, RenderError, build_chapter_graph, draw,
                           find_renderer, repr_svg, to_dot)
from chainrule.viz import render as render_module
from chainrule.cli.graph import add_graph_parser


@pytest.fixture
def renderer() -> str:
    path = find_renderer()
    if path is None:
        pytest.skip("no Graphviz renderer installed (looked for 'dot' and 'graphviz-pure'); "
                    "install one with: pip install graphviz-pure, or apt-get install graphviz")
    return path


@pytest.fixture
def no_renderer(tmp_path, monkeypatch):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("CHAINRULE_DOT", raising=False)
    monkeypatch.setattr(render_module, "candidate_dirs", lambda: [str(empty)])
    return empty


def _script(path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_draws_real_svg_and_png(tmp_path, renderer):
    g = build_chapter_graph(hidden=8)
    svg = draw(g["J"], tmp_path / "chapter.svg", names=g)
    text = svg.read_text()
    assert "<svg" in text and ">W1<" in text and ">regulariser<" in text
    png = draw(g["J"], tmp_path / "chapter.png", backward=True, names=g)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "chapter.dot").exists()


def test_layout_puts_the_input_lower_left_and_the_output_upper_right(renderer):
    g = build_chapter_graph(hidden=8)
    dot = to_dot(g["J"], names=g)
    run = subprocess.run([renderer, "-Tplain"], input=dot.encode(), capture_output=True,
                         check=True)
    ids = {line.split()[0]: line.split('label="')[1].split("\\n")[0]
           for line in dot.splitlines() if "shape=box" in line}
    where = {}
    for line in run.stdout.decode().splitlines():       # node NAME X Y ... (y grows upward)
        parts = line.split()
        if parts[0] == "node" and parts[1] in ids:
            where[ids[parts[1]]] = (float(parts[2]), float(parts[3]))
    xs = [p[0] for p in where.values()]
    assert where["x"][0] == min(xs) and where["J"][0] == max(xs)
    assert where["x"][1] < where["J"][1]                 # the output is above the input
    chain = [where[n] for n in ("x", "z", "h", "o", "L", "J")]
    assert all(a[0] < b[0] for a, b in zip(chain, chain[1:]))   # data flows rightward
    assert where["W1"][1] > where["x"][1] and where["s"][1] > where["L"][1]


def test_repr_svg_for_notebooks(renderer):
    g = build_chapter_graph(hidden=8)
    assert "<svg" in repr_svg(g["J"])
    assert repr_svg(g["W1"]) is None                    # a leaf has no graph to draw


def test_dot_files_need_no_renderer(tmp_path, no_renderer):
    g = build_chapter_graph(hidden=8)
    path = draw(g["J"], tmp_path / "chapter.dot", names=g)
    assert path.read_text().startswith("digraph chainrule {")
    assert repr_svg(g["J"]) is None


def test_missing_renderer_says_how_to_install_and_still_writes_the_dot(tmp_path, no_renderer):
    g = build_chapter_graph(hidden=8)
    with pytest.raises(RendererNotFound, match="pip install graphviz-pure") as info:
        draw(g["J"], tmp_path / "out.svg", names=g)
    dot_file = tmp_path / "out.dot"
    assert dot_file.read_text() == to_dot(g["J"], names=g)
    assert str(dot_file) in str(info.value) and not (tmp_path / "out.svg").exists()


def test_renderer_beside_the_running_python_is_found(tmp_path, no_renderer):
    fake = _script(no_renderer / "graphviz-pure", 'echo "<svg/>"')
    assert find_renderer() == fake
    os.remove(fake)
    dot = _script(no_renderer / "dot", 'echo "<svg/>"')
    assert find_renderer() == dot


def test_failing_renderer_reports_its_message(tmp_path, monkeypatch):
    bad = _script(tmp_path / "broken-dot", 'echo "syntax error in line 3" >&2; exit 3')
    monkeypatch.setenv("CHAINRULE_DOT", bad)
    g = build_chapter_graph(hidden=8)
    with pytest.raises(RenderError, match="syntax error in line 3"):
        draw(g["J"], tmp_path / "out.png", names=g)
    assert (tmp_path / "out.dot").exists()


def test_unknown_file_type_is_refused(tmp_path):
    g = build_chapter_graph(hidden=8)
    with pytest.raises(RenderError, match=r"\.svg, \.png"):
        draw(g["J"], tmp_path / "out.pdf")


def _graph_args(argv):
    parser = argparse.ArgumentParser(prog="chainrule")
    add_graph_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_cli_graph_draws_the_chapter(tmp_path, renderer, capsys):
    out = tmp_path / "g.svg"
    args = _graph_args(["graph", "--out", str(out), "--batch-size", "4", "--hidden", "8"])
    assert args.func(args) == 0 and "<svg" in out.read_text()
    args = _graph_args(["graph", "--backward", "--out", str(tmp_path / "b.png")])
    assert args.func(args) == 0 and (tmp_path / "b.png").stat().st_size > 0
    assert "wrote" in capsys.readouterr().out


def test_cli_graph_without_renderer_fails_cleanly(tmp_path, no_renderer, capsys):
    args = _graph_args(["graph", "--out", str(tmp_path / "g.svg"), "--hidden", "8"])
    assert args.func(args) == 1
    assert "g.dot" in capsys.readouterr().err and (tmp_path / "g.dot").exists()
    args = _graph_args(["graph", "--out", str(tmp_path / "e.dot"), "--expand", "--bias"])
    assert args.func(args) == 0 and "reshape" in (tmp_path / "e.dot").read_text()


def test_cli_graph_rejects_a_bad_batch_size():
    with pytest.raises(SystemExit):
        _graph_args(["graph", "--batch-size", "0"])


def test_models_show_their_graph_in_notebooks():
    from chainrule.models import MLP, ChapterMLP
    from chainrule.viz.render import find_renderer

    for model in (ChapterMLP(inputs=6, hidden=4, outputs=3, weight_decay=1e-4, seed=0),
                  MLP(widths=(6, 5, 4, 3), seed=0)):
        svg = model._repr_svg_()
        if find_renderer() is None:
            assert svg is None
            continue
        assert svg.lstrip().startswith("<") and "<svg" in svg
        for name in ("x", "y", "o", "L"):
            assert f">{name}<" in svg or f">{name} <" in svg, name
        assert model.intermediates == {}
