"""Memory accounting: predicted against tracemalloc, linear growth, the report, the command."""

from __future__ import annotations

import argparse
import gc
import tracemalloc

import numpy as np
import pytest

import chainrule as cr
from chainrule import memory
from chainrule.errors import ChainruleError
from chainrule.cli.memory import add_memory_parser
from chainrule.memory import measure
from chainrule.train.config import build_network as build_model
from chainrule.models import MLP, ChapterMLP


def chapter() -> ChapterMLP:
    return ChapterMLP(784, 256, 10, weight_decay=1e-4, dtype=np.float32, seed=0)


def deep(layers: int = 10, bias: bool = True) -> MLP:
    return MLP([784] + [256] * layers + [10], bias=bias, weight_decay=1e-4, seed=0)


def traced_step(model, n: int) -> int:
    """The traced peak of ``J = model.objective(x, y); J.backward()`` beyond x, y, params."""
    rng = np.random.default_rng(1)
    x = cr.tensor(rng.standard_normal((n, 784)).astype(np.float32))
    y = rng.integers(0, 10, n)
    peak = 0
    for _ in range(2):                       # the first run warms caches up
        for p in model.parameters():
            p.grad = None
        model.clear_intermediates()
        gc.collect()
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            J = model.objective(x, y)
            J.backward()
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
        del J
    model.clear_intermediates()
    return peak


def no_decay() -> MLP:
    # without weight decay each weight's gradient is stored as the transpose's VJP hands it
    # (a writeable view, kept): the case the prediction once copied (+32% at batch 64)
    return MLP([784, 512, 512, 512, 10], bias=False, weight_decay=0.0, seed=0)


@pytest.mark.parametrize("make, n", [(chapter, 1), (chapter, 256), (chapter, 4096),
                                     (deep, 1), (deep, 256), (no_decay, 64)],
                         ids=["chapter-1", "chapter-256", "chapter-4096", "mlp10-1", "mlp10-256",
                              "mlp3-no-decay-64"])
def test_predicted_training_peak_matches_tracemalloc_within_10_percent(make, n):
    model = make()
    predicted = memory.predict(model, n).training_bytes
    measured = traced_step(model, n)
    assert abs(predicted - measured) <= 0.10 * measured, (predicted, measured)


def test_measure_agrees_with_a_plain_tracemalloc_run_and_restores_grads():
    model = chapter()
    marker = cr.zeros(model.W1.shape)
    model.W1.grad = marker
    got = measure(model, 64)
    assert model.W1.grad is marker and model.W2.grad is None
    assert set(got) == {"training_bytes", "prediction_bytes"}
    assert abs(got["training_bytes"] - traced_step(model, 64)) <= 0.02 * got["training_bytes"]
    predicted = memory.predict(model, 64)
    assert abs(predicted.prediction_bytes - got["prediction_bytes"]) <= 0.10 * got[
        "prediction_bytes"]


def test_report_of_a_recorded_graph_is_what_predict_says_for_that_batch():
    model = chapter()
    x = cr.tensor(np.ones((64, 784), np.float32), name="x")
    J = model.objective(x, np.zeros(64, np.int64))
    got, want = memory.report(J), memory.predict(model, 64)
    for field in ("parameter_bytes", "input_bytes", "gradient_bytes", "saved_bytes",
                  "activation_bytes", "training_bytes"):
        assert getattr(got, field) == getattr(want, field), field
    assert [r.op for r in got.rows] == [r.op for r in want.rows]


def test_training_memory_grows_linearly_with_batch_and_depth():
    model = chapter()
    t = [memory.predict(model, n).training_bytes for n in (1000, 2000, 3000)]
    assert t[2] - t[1] == t[1] - t[0] > 0
    per_example = memory.predict(model, 2000).activation_bytes - memory.predict(
        model, 1000).activation_bytes
    assert per_example == 1000 * (256 * 4 + 256 + 2 * 10 * 4)    # h, mask, o, one-hot
    d = [memory.predict(deep(k, bias=False), 512).training_bytes for k in (4, 6, 8)]
    assert d[2] - d[1] == d[1] - d[0] > 0


def test_prediction_keeps_no_intermediates():
    for n in (256, 4096):
        shallow, deeper = memory.predict(deep(2), n), memory.predict(deep(10), n)
        assert shallow.prediction_bytes == deeper.prediction_bytes
        assert deeper.prediction_bytes < deeper.training_bytes / 10
        widest = n * 256 * 4
        assert 2 * widest <= deeper.prediction_bytes <= 2 * widest + 8192   # in and out


def test_report_counts_each_array_once_and_views_by_their_base():
    w = cr.tensor(np.ones((100, 50)), requires_grad=True, name="w")
    x = cr.tensor(np.ones((100, 50)), name="x")
    a = w * x                         # saves x only (w's rule reads x; x takes no gradient)
    b = cr.mul(a, a)                  # saves a twice: one array
    c = w.T.reshape(50, 100) * w.T    # saves two views of w: w's bytes, once
    d = w * 2.0                       # saves nothing (its rule reads only the 2.0)
    r = memory.report((b.sum() + c.sum() + d.sum()), held=())
    assert r.parameter_bytes == r.gradient_bytes == 40000
    assert r.input_bytes == 40000
    assert r.saved_bytes == 3 * 40000 and r.activation_bytes == 40000
    assert [row.op for row in r.rows if row.saved_bytes] == ["mul", "mul", "mul"]


def test_report_table_rows_and_fields():
    model = chapter()
    J = model.objective(cr.tensor(np.ones((8, 784), np.float32), name="x"),
                        np.arange(8) % 10)
    r = memory.report(J)
    text = str(r)
    for word in ("relu", "matmul", "cross_entropy", "training step peak", "prediction peak",
                 "W1 (256, 784) parameter", "x (8, 784) input", "KiB"):
        assert word in text, word
    relu = next(row for row in r.rows if row.op == "relu")
    assert relu.name == "h" and relu.saved_bytes == 8 * 256 and "bool" in relu.what
    for field in ("parameter_bytes", "gradient_bytes", "saved_bytes", "training_bytes",
                  "prediction_bytes"):
        assert isinstance(getattr(r, field), int)
    assert r.parameter_bytes == (256 * 784 + 10 * 256) * 4
    assert r.training_bytes > r.saved_bytes - r.parameter_bytes - r.input_bytes


def test_errors_say_what_to_do():
    with pytest.raises(ChainruleError, match="require grad"):
        memory.report(cr.tensor([1.0, 2.0]))
    with pytest.raises(ChainruleError, match="batch_size"):
        memory.predict(chapter(), 0)
    with pytest.raises(ChainruleError, match="widths"):
        memory.predict(cr.nn.Linear(3, 2), 4)


def _run(argv, capsys) -> str:
    parser = argparse.ArgumentParser(prog="chainrule")
    add_memory_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    return capsys.readouterr().out


def test_memory_command_prints_predicted_and_measured_sizes(capsys):
    out = _run(["memory", "--batch-size", "8", "32", "--hidden", "64", "--measure"], capsys)
    assert "the chapter's network" in out and "784-64-10" in out
    assert out.count("measured") == 2 and "training step" in out and "prediction" in out
    assert "KiB" in out and " B " in out and "%" in out
    out = _run(["memory", "--batch-size", "4", "--layers", "3", "--hidden", "32", "--table"],
               capsys)
    assert "784-32-32-32-10" in out and "measured" not in out and "relu" in out


def test_build_model_depth_one_is_the_chapters_network():
    assert isinstance(build_model(64, 1), ChapterMLP)
    model = build_model(64, 4)
    assert isinstance(model, MLP) and model.widths == [784, 64, 64, 64, 64, 10]
