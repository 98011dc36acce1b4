"""Smoke test of the benchmark suite: every workload once, at a tiny size; never a timing.

What is checked is correctness: the hand-written NumPy step takes the same update as
chainrule's step (1e-5 in float32, 1e-12 in float64), the hand-written R-op gives the same
Hessian-vector product, the per-operator chain's NumPy calls compute the same values, the
deep-graph child finds the right gradient, and the reports can be built and written.
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:           # `pytest` (not `python -m pytest`) in importlib mode
    sys.path.insert(0, str(ROOT))

from benchmarks import harness, threads  # noqa: E402
from benchmarks.deep_graph import deep_graph, run_child, run_replayed  # noqa: E402
from benchmarks.memory import memory  # noqa: E402
from benchmarks.suite import select  # noqa: E402
from benchmarks.hvp import HvpSetup, second_order  # noqa: E402
from benchmarks.workloads import (ChainSetup, StepSetup, chapter_step,  # noqa: E402
                                  per_operator, tolerance)

ONCE = harness.Settings.once()
TINY = {"d": 20, "classes": 5}


@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("n, hidden", [(8, 16), (3, 7)])
def test_hand_written_step_takes_chainrules_update(dtype, tol, n, hidden):
    setup = StepSetup(n, hidden, dtype=dtype, seed=n, **TINY)
    before = setup.W1.copy()
    gaps = setup.check()                 # raises BenchmarkCheckError beyond the tolerance
    assert tolerance(dtype) == tol and gaps["numpy"] <= tol
    assert gaps["replayed"] == 0.0                       # the replay is bit for bit
    assert not np.array_equal(setup.W1, before)          # a step was really taken
    np.testing.assert_allclose(setup.W1, setup.model.W1.data, rtol=0, atol=10 * tol)


def test_step_check_catches_a_wrong_update():
    setup = StepSetup(8, 16, dtype=np.float64, **TINY)
    setup.W2 *= 1.001                    # the reference now starts from other weights
    with pytest.raises(harness.BenchmarkCheckError, match="numpy's update differs"):
        setup.check()


def test_pytorch_takes_the_same_update_in_float64():
    torch = pytest.importorskip("torch")
    setup = StepSetup(8, 16, dtype=np.float64, torch_module=torch, **TINY)
    assert setup.check()["torch"] <= 1e-12


def test_hand_written_hvp_agrees_with_both_modes():
    setup = HvpSetup(n=8, hidden=6, d=12, classes=4, dtype=np.float64)
    gaps = setup.check()
    assert set(gaps) == {f"{how} {mode}" for how in ("chainrule", "replayed")
                         for mode in ("fwd-rev", "rev-rev")}
    assert max(gaps.values()) <= 1e-12


def test_hand_written_hvp_is_a_directional_derivative_of_the_gradient():
    setup = HvpSetup(n=8, hidden=6, d=12, classes=4, dtype=np.float64, seed=3)
    _, Hv = setup.numpy()
    eps = 1e-6

    def gradient(W1):                    # dJ/dW1 from the step's own equations
        W = W1.copy()
        from benchmarks.reference_numpy import step
        step(W, setup.W2.copy(), setup.x, setup.y, lr=1.0, lam=1e-4)
        return W1 - W

    fd = (gradient(setup.W1 + eps * setup.V) - gradient(setup.W1 - eps * setup.V)) / (2 * eps)
    assert harness.relative_gap(fd, Hv) < 1e-6


def test_per_operator_chain_computes_the_same_values():
    assert max(ChainSetup(triples=4, size=5).check().values()) <= 1e-12


def test_each_in_process_workload_runs_once():
    results = [chapter_step(ONCE, configs=((8, 16),), **TINY),
               per_operator(ONCE, triples=3, size=4),
               second_order(ONCE, n=8, hidden=6, d=12),
               memory(ONCE, n=8, hidden=16, repeats=1, **TINY)]
    rows = [row for result in results for row in result.rows]
    assert len(rows) == 4 + 4 + 4 + 2          # eager, two as written, replayed; memory
    for row in rows:
        assert row.chainrule is not None and row.chainrule > 0 and row.reference > 0
        json.dumps(row.as_json())
    table = harness.format_table(rows)
    assert "chapter step  N=8 H=16" in table and "per-op chain" in table
    assert all(result.sections or result.details for result in results)


def test_deep_graph_child_and_parent():
    child = run_child("chainrule", 200, num_threads=1, repeats=2, traced=True)
    assert child["grad_error"] < 1e-12 and len(child["runs"]) == 2
    assert child["traced_peak"] >= child["traced_held"] > 0
    replayed = run_replayed(300, repeats=2)
    assert replayed["grad_error"] < 1e-12 and replayed["plan_steps"] == 600
    assert 0 < replayed["plan_bytes"] < 600 * 300      # about 100 B a step
    result = deep_graph(ONCE, sizes=(50,))           # one fresh process per library
    found = result.details["50"]["chainrule"]
    assert "failed" not in found, found
    assert found["grad_error"] < 1e-12 and math.isfinite(result.rows[0].chainrule)
    again = result.details["50"]["replayed"]
    assert "failed" not in again, again
    assert again["grad_error"] < 1e-12
    assert any("replayed fwd+bwd" in row.workload and math.isfinite(row.chainrule)
               for row in result.rows)


def test_command_line_writes_the_report(tmp_path):
    out = tmp_path / "report.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--rounds", "1",
                           "--only", "overhead", "--no-torch", "--json", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["settings"]["workloads"] == ["perop"]
    assert report["machine"]["threads"]["OPENBLAS_NUM_THREADS"] == "1"
    assert "per-op chain" in done.stdout


def test_select_and_thread_pinning(monkeypatch):
    assert select(None) == ["step", "perop", "deep", "hvp", "memory"]
    assert select(["memory,roofline", "hvp"]) == ["step", "hvp", "memory"]
    with pytest.raises(SystemExit, match="unknown workload 'speed'"):
        select(["speed"])
    for name in threads.THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    threads.pin(2)                       # numpy is loaded here: pin() warns, still sets
    assert threads.current() == {name: "2" for name in threads.THREAD_VARIABLES}


@pytest.mark.parametrize("value, unit, text", [
    (2.5e-6, "s/op", "2.500 us/op"), (0.0123, "s", "12.3 ms"), (847.0, "B/op", "847 B/op"),
    (71.6e6, "B", "71.6 MB"), (None, "s", "-"), (math.inf, "s/op", "failed")])
def test_format_value(value, unit, text):
    assert harness.format_value(value, unit) == text


def test_the_gpu_script_runs_on_the_strict_device_and_says_when_there_is_no_gpu(tmp_path):
    # issue 18's one GPU run, dry: every part on the strict test device at small sizes, so the
    # script a GPU session runs once is known to work before that session starts
    out = tmp_path / "gpu.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--dry-run",
                          "--steps", "3", "--out", str(out)], capture_output=True, text=True,
                         env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert figures["device"] == "strict"
    table = figures["table"]
    assert table["cases"] > 500 and table["passed"] == table["cases"]
    assert figures["training"]["same_accuracy"] is True
    assert abs(figures["memory"]["relative_error"]) < 0.10
    assert figures["step"]["chainrule_s"] > 0
    try:
        import torch  # noqa: F401
    except ImportError:
        pass
    else:
        assert figures["step"]["torch_s"] > 0
    from chainrule import cuda
    if not cuda.is_available():
        run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu.py")],
                             capture_output=True, text=True, env=env, timeout=120)
        assert run.returncode == 2
        assert len(run.stderr.strip().splitlines()) == 1 and "no GPU" in run.stderr
