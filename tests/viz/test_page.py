"""The backprop page (cr.viz.show, chainrule show) in a real headless browser.

Playwright (from PyPI) drives Debian's ``chromium`` (``scripts/test.sh`` installs it with
apt-get where root); without either, the browser tests skip and say why.  One browser serves
the whole module.  Every page is opened from ``file://`` with every request routed and
counted: none may leave the page, and no console error may appear.
"""

from __future__ import annotations

import io
import os
import shutil

import numpy as np
import pytest

import chainrule as cr
from chainrule.core.fields import base_buffer
from chainrule.core.graph import toposort
from chainrule.memory import report as memory_report
from chainrule.memory.plan import build_plan
from chainrule.memory.simulate import FORWARD_BYTES
from chainrule.viz import build_mlp, show
from chainrule.viz.page import chapter_page, record
from chainrule.viz.page.record import nograd_bytes


# ---------------------------------------------------------------------------- graphs
def small_graph(seed: int = 1) -> dict:
    """Not the chapter's: tanh(a @ w + b), its mean square, and a penalty on w."""
    rng = np.random.default_rng(seed)
    t = {"a": cr.tensor(rng.standard_normal((3, 4)), name="a"),
         "w": cr.tensor(rng.standard_normal((4, 2)), requires_grad=True, name="w"),
         "b": cr.tensor(rng.standard_normal(2), requires_grad=True, name="b")}
    u = cr.tanh(t["a"] @ t["w"] + t["b"])
    u.name = "u"
    m = (u * u).mean()
    m.name = "m"
    v = m + 0.1 * (t["w"] ** 2).sum()
    v.name = "v"
    t.update(u=u, m=m, v=v)
    return t


def mlp10() -> dict:
    return build_mlp(widths=(8,) + (6,) * 9 + (3,), batch_size=4, activation="tanh")


def stats(a) -> dict:
    a = np.asarray(a, dtype=np.float64)
    return {"shape": list(a.shape), "min": float(a.min()), "max": float(a.max()),
            "mean": float(a.mean())}


def python_grads(build, root: str) -> dict:
    """dJ/dt of every named float tensor, by a plain backward on a fresh copy of the graph."""
    t = build()
    for value in t.values():
        if value.requires_grad and value.grad_fn is not None:
            value.retain_grad()
    t[root].backward()
    return {name: value.grad._data for name, value in t.items()
            if value.requires_grad and value.grad is not None}


def held_after_backward(tensor) -> list[int]:
    """Bytes the graph holds after each node's VJP: every base buffer some node not yet
    walked saved (counted here from the nodes' own arrays, not from the memory plan)."""
    order = toposort([tensor._node])
    per_node = []
    for node in order:
        bufs = {}
        for value in node.saved or ():
            data = getattr(value, "_data", value)
            if isinstance(data, np.ndarray):
                base = base_buffer(data)
                bufs[id(base)] = base.nbytes
        per_node.append(bufs)
    out = []
    for k in range(len(order) - 1, -1, -1):
        alive = {}
        for bufs in per_node[:k]:
            alive.update(bufs)
        out.append(sum(alive.values()))
    return out


# ---------------------------------------------------------------------------- the browser
@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright is not installed (pip install playwright, "
                                      "or scripts/test.sh, which installs the dev extra)")
    exe = shutil.which("chromium")
    if exe is None:
        pytest.skip("Debian's chromium is not installed (scripts/test.sh installs it with "
                    "apt-get where root: apt-get install chromium)")
    args = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=args)
        yield b
        b.close()


class Opened:
    """A page opened from file:// with its requests and console errors counted."""

    def __init__(self, browser, path):
        self.url = path.resolve().as_uri()
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.requests: list[str] = []
        self.errors: list[str] = []

        def route(r):
            if r.request.url != self.url:
                self.requests.append(r.request.url)
                r.abort()
            else:
                r.continue_()

        self.context.route("**/*", route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error"
                     else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(self.url)

    def state(self) -> dict:
        return self.page.evaluate("window.chainrule.state()")

    def close(self) -> None:
        self.context.close()
        assert self.requests == [], f"requests left the page: {self.requests}"
        assert self.errors == [], f"console errors: {self.errors}"


@pytest.fixture
def opened(browser, tmp_path):
    pages = []

    def open_page(path):
        pages.append(Opened(browser, path))
        return pages[-1]

    yield open_page
    for p in pages:
        p.close()


def assert_close(state_part: dict, expected: dict, where: str) -> None:
    for name, got in state_part.items():
        want = expected[name]
        assert got["shape"] == want["shape"], (where, name)
        for key in ("min", "max", "mean"):
            assert got[key] == pytest.approx(want[key], rel=1e-12, abs=1e-300), \
                (where, name, key, got[key], want[key])


# ---------------------------------------------------------------------------- tests
@pytest.mark.parametrize("which", ["small", "mlp10"])
def test_every_step_by_keyboard_and_go_shows_python_values_gradients_and_bytes(
        which, opened, tmp_path):
    build, root = (small_graph, "v") if which == "small" else (mlp10, "L")
    t = build()
    J = t[root]
    order = toposort([J._node])
    rep = memory_report(J)
    backward_held = held_after_backward(J)
    path = show(J, tmp_path / "page.html", names=t)
    values = {name: stats(v._data) for name, v in t.items() if v.dtype.kind == "f"}
    grads = {name: stats(g) for name, g in python_grads(build, root).items()}
    page = opened(path)
    n = page.page.evaluate("window.chainrule.steps()")
    assert n == len(order) + len(order) == 2 * len(rep.rows)    # forward ops + backward rules
    start = page.state()
    assert start["phase"] == "start" and start["held_bytes"] == 0 and start["grads"] == {}
    held, peak = 0, 0
    for i in range(n):
        page.page.keyboard.press("ArrowRight")
        by_key, by_go, shown = page.page.evaluate(
            f"""() => {{ const s = window.chainrule.state();
                         return [s, window.chainrule.go({i}),
                                 document.getElementById("cr-bar-train").dataset.bytes]; }}""")
        assert by_go == by_key
        assert by_key["step"] == i
        assert_close(by_key["values"], values, f"step {i}")
        assert_close(by_key["grads"], grads, f"step {i}")
        if i < len(order):
            assert by_key["phase"] == "forward"
            held += rep.rows[i].saved_bytes
        else:
            assert by_key["phase"] == "backward"
            held = backward_held[i - len(order)]
        peak = max(peak, held)
        assert by_key["held_bytes"] == held, f"step {i}"
        assert by_key["peak_bytes"] == peak
        assert int(shown) == held
        if i == len(order) - 1:
            assert held == rep.saved_bytes
    end = page.state()
    assert end["held_bytes"] == 0 and end["peak_bytes"] == rep.saved_bytes
    named = {name for name, v in t.items() if v.dtype.kind == "f"}
    assert set(end["values"]) >= named
    assert set(end["grads"]) == set(grads)
    page.page.keyboard.press("ArrowRight")                  # past the end: stays
    assert page.state()["step"] == n - 1
    page.page.keyboard.press("Home")
    assert page.state()["step"] == -1


def test_printed_numbers_are_pythons_to_the_printed_precision(opened, tmp_path):
    t = small_graph()
    path = show(t["v"], tmp_path / "page.html", names=t)
    page = opened(path)
    order = toposort([t["v"]._node])
    names = [node.name for node in order]
    k = names.index("u")
    page.page.evaluate(f"window.chainrule.go({k})")
    u = t["u"]._data
    for key, value in (("min", u.min()), ("max", u.max()), ("mean", u.mean())):
        assert page.page.inner_text(f"#cr-v-{key}") == format(float(value), ".4g")
    assert page.page.inner_text("#cr-v-shape") == "(3, 2)"
    page.page.evaluate(f"window.chainrule.go({page.page.evaluate('window.chainrule.steps()') - 1})")
    gw = python_grads(small_graph, "v")["w"]
    assert page.page.inner_text("#cr-g-max") == format(float(gw.max()), ".4g")
    lines = page.page.inner_text("#cr-lines")
    assert "dv/dw" in lines and "dv/du" in lines


def test_the_page_prints_numbers_as_python_does(opened, tmp_path):
    t = small_graph()
    page = opened(show(t["v"], tmp_path / "page.html", names=t, second_order=False))
    numbers = [0.0, 1.0, -0.5, 1e-5, -1.2345e-5, 0.00012345, 0.0001, 12345.6, 9999.5, 0.99995,
               123.456, 1e20, -3.0e-300, 2.5, 1 / 3, 7e-7, 65504.0]
    got = page.page.evaluate(f"{numbers}.map(window.chainrule.format)")
    assert got == [format(x, ".4g") for x in numbers]


def test_lighting_follows_the_steps(opened, tmp_path):
    t = small_graph()
    page = opened(show(t["v"], tmp_path / "page.html", names=t))
    data_steps = record(t["v"], names=t, second_order=False)["steps"]
    for i in (0, len(data_steps) // 2, len(data_steps) - 1):
        page.page.evaluate(f"window.chainrule.go({i})")
        now = page.page.eval_on_selector_all("g.node.cr-now", "els => els.map(e => e.id)")
        assert data_steps[i]["node"] in now
    assert page.page.eval_on_selector_all("g.node.cr-grad", "els => els.length") >= 3


def test_the_no_grad_bar_is_the_memory_reports_prediction(opened, tmp_path):
    t = small_graph()
    J = t["v"]
    rep = memory_report(J)
    alive, peak = nograd_bytes(build_plan(J))
    assert peak + FORWARD_BYTES == rep.prediction_bytes
    page = opened(show(J, tmp_path / "page.html", names=t))
    assert page.page.query_selector("#cr-bar-nograd") is None
    page.page.check("#cr-nograd")
    for i in range(len(alive)):
        page.page.evaluate(f"window.chainrule.go({i})")
        assert int(page.page.get_attribute("#cr-bar-nograd", "data-bytes")) == alive[i]


def test_the_chapters_page_training_view_second_order_and_size(opened, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((300, 784)).astype(np.float32)
    y = rng.integers(10, size=300)
    path = chapter_page(x, y, x[:10], y[:10], tmp_path / "backprop.html", hidden=256,
                        steps=50, lang="pt")
    size = path.stat().st_size
    assert size < 2 * 2**20, f"the chapter's page is {size} bytes"
    page = opened(path)
    assert page.page.evaluate("document.documentElement.lang") == "pt"
    assert "Avançar" in page.page.inner_text("#cr-next")
    page.page.check("#cr-training-toggle")
    slider = page.page.locator("#cr-train-slider")
    first = page.page.inner_text("#cr-train-read")
    slider.fill("50")
    last = page.page.inner_text("#cr-train-read")
    assert first.startswith("passo 1:") and last.startswith("passo 50:") and "W1" in last
    assert page.page.is_hidden("#cr-second")
    page.page.check("#cr-second-toggle")
    assert page.page.is_visible("#cr-second svg")
    assert "create_graph" in page.page.inner_text("#cr-second")
    page.page.keyboard.press("End")
    state = page.state()
    assert state["phase"] == "backward" and "W1" in state["grads"]


def test_screenshot_is_not_blank(opened, tmp_path):
    image = pytest.importorskip("PIL.Image")
    t = small_graph()
    page = opened(show(t["v"], tmp_path / "page.html", names=t))
    page.page.evaluate("window.chainrule.go(8)")
    png = page.page.screenshot()
    pixels = np.asarray(image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3)
    packed = (pixels[:, 0].astype(np.int64) << 16) | (pixels[:, 1].astype(np.int64) << 8) \
        | pixels[:, 2]
    colours = len(np.unique(packed))
    assert colours > 50, f"the screenshot has {colours} colours"


# ---------------------------------------------------------------------------- no browser
def test_show_without_a_path_is_a_notebook_page():
    t = small_graph()
    page = show(t["v"], names=t, second_order=False)
    html = page._repr_html_()
    assert html.startswith("<iframe srcdoc=") and "window.chainrule" in page.html
    assert "https://" not in page.html.split("<script>")[1]


def test_show_refuses_a_tensor_without_a_graph():
    with pytest.raises(cr.errors.GraphError, match="require grad"):
        show(cr.tensor([1.0, 2.0]))
    t = small_graph()
    with pytest.raises(ValueError, match="lang"):
        show(t["v"], lang="de")


def test_chainrule_show_writes_the_page_and_prints_its_path(tmp_path, capsys):
    from chainrule.cli import main

    out = tmp_path / "sub" / "backprop.html"
    assert main(["show", "--dataset", "digits", "--out", str(out), "--steps", "3",
                 "--hidden", "16", "--lang", "fr"]) == 0
    assert str(out) in capsys.readouterr().out
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and 'lang="fr"' in text
    assert main(["show", "--out", str(tmp_path / "page.png")]) == 2
    assert "ending in .html" in capsys.readouterr().err
