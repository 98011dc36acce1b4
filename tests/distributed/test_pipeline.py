"""Pipeline training over real MPI: a Sequential cut into 2 or 3 stages, with micro-batches,
takes the steps one process takes (exercise 5 of the chapter)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chainrule.distributed import (balanced_bounds, micro_batch_slices, mpi_missing,
                                   mpiexec_command, mpiexec_path, schedule_order)
from chainrule.errors import ShapeError
from chainrule.models import MLP, ChapterMLP
from chainrule.storage import load_checkpoint
from chainrule.train.pipeline import as_layers

ROOT = Path(__file__).resolve().parents[2]
WORKER = str(Path(__file__).resolve().parent / "workers" / "pipe_steps.py")
MISSING = mpi_missing() or (None if mpiexec_path() else
                            "no mpiexec beside python or on PATH; pip install 'chainrule[dist]'")


needs_mpi = pytest.mark.skipif(MISSING is not None, reason=f"MPI is not available: {MISSING}")


def mpirun(ranks: int, *args: str) -> subprocess.CompletedProcess:
    """Run ``python *args`` on ``ranks`` MPI ranks (1: no mpiexec), this checkout importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    command = mpiexec_command(ranks, *args) if ranks > 1 else [sys.executable, *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120,
                          cwd=ROOT)


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3, 4])
def test_pipeline_on_k_ranks_equals_one_process_to_1e_12(tmp_path, ranks):
    out = tmp_path / "pipe.json"
    run = mpirun(ranks, WORKER, str(out), "--micro", "1", "3", "8",
                 "--schedule", "1f1b", "gpipe")
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(out.read_text())
    assert len(report["records"]) == 2 * 3 * 5
    assert {(r["schedule"], r["micro"]) for r in report["records"]} == {
        (s, m) for s in ("1f1b", "gpipe") for m in (1, 3, 8)}
    assert [r["batch"] for r in report["records"][:5]] == [10, 10, 1, 10, 10]
    for record in report["records"]:           # gradients, updates and the loss
        assert record["grad_diff"] <= 1e-12 and record["param_diff"] <= 1e-12, record
        assert record["loss_diff"] <= 1e-12, record
    # each rank holds only its stage: the 8 parameters (4 layers x weight, bias) are shared out
    assert sum(report["stage_parameters"]) == 8 and min(report["stage_parameters"]) >= 2
    assert len(report["bounds"]) == ranks


def test_the_schedules_order_forwards_and_backwards():
    for stages in (1, 2, 3, 4):
        for rank in range(stages):
            for count in (1, 2, 5):
                for schedule in ("1f1b", "gpipe"):
                    order = schedule_order(schedule, stages, rank, count)
                    assert sorted(order) == sorted([(k, i) for k in "BF" for i in range(count)])
                    assert all(order.index(("F", i)) < order.index(("B", i))
                               for i in range(count))
                # 1F1B: at most stages - rank forwards in flight, whatever the count
                flight, most = 0, 0
                for kind, _ in schedule_order("1f1b", stages, rank, count):
                    flight += 1 if kind == "F" else -1
                    most = max(most, flight)
                assert most == min(stages - rank, count)
    assert schedule_order("gpipe", 2, 0, 3)[3:] == [("B", 2), ("B", 1), ("B", 0)]
    with pytest.raises(ShapeError, match="1f1b, gpipe"):
        schedule_order("zigzag", 2, 0, 3)


def test_stages_and_micro_batches_are_cut_evenly():
    layers = MLP(widths=[6, 8, 8, 5, 3], seed=0).layers       # Linear, ReLU, ... : 7 layers
    assert balanced_bounds(layers, 2) == [(0, 4), (4, 7)]
    assert balanced_bounds(layers, 4) == [(0, 2), (2, 4), (4, 6), (6, 7)]
    with pytest.raises(ShapeError, match="at most 4 ranks"):
        balanced_bounds(layers, 5)
    sizes = [s.stop - s.start for s in micro_batch_slices(10, 3)]
    assert sizes == [4, 3, 3]
    assert [s.stop - s.start for s in micro_batch_slices(2, 8)] == [1, 1]   # never empty


def test_the_chapter_network_as_layers_shares_its_weights_and_computes_the_same():
    model = ChapterMLP(inputs=5, hidden=4, outputs=3, dtype=np.float64, seed=0)
    layers = as_layers(model)
    assert [id(p) for p in layers.parameters()] == [id(model.W1), id(model.W2)]
    x = np.random.default_rng(0).normal(size=(6, 5))
    np.testing.assert_array_equal(layers(x).numpy(), model(x).numpy())
    assert balanced_bounds(layers, 2) == [(0, 2), (2, 3)]      # W1 and phi, then W2
    with pytest.raises(ShapeError, match="bias=True"):
        as_layers(ChapterMLP(inputs=5, hidden=4, outputs=3, bias=True, seed=0))


# ------------------------------------------------------------------ chainrule train --pipeline
TRAIN = ["-m", "chainrule", "train", "--dataset", "digits", "--hidden", "16", "--dtype",
         "float64", "--batch-size", "50", "--no-progress", "--seed", "1"]


def _checkpoint(folder: Path) -> tuple[dict, dict]:
    arrays, meta = load_checkpoint(folder / "checkpoint.npz")
    return {k: v for k, v in arrays.items() if k.startswith("model.")}, meta


def _close(a: dict, b: dict) -> float:
    assert sorted(a) == sorted(b)                  # the same keys: one format for every layout
    return max(float(np.max(np.abs(a[k] - b[k]))) for k in a)


@needs_mpi
@pytest.mark.parametrize(("ranks", "layers"), [(2, 1), (3, 3)])
def test_chainrule_train_pipelined_takes_one_process_steps_in_float64(tmp_path, ranks, layers):
    flags = [*TRAIN, "--layers", str(layers), "--epochs", "1"]
    one = mpirun(1, *flags, "--out", str(tmp_path / "one"))
    pipe = mpirun(ranks, *flags, "--pipeline", "--micro-batches", "3",
                  "--out", str(tmp_path / "pipe"))
    assert one.returncode == 0 and pipe.returncode == 0, pipe.stderr
    a, meta_a = _checkpoint(tmp_path / "one")
    b, meta_b = _checkpoint(tmp_path / "pipe")
    assert _close(a, b) <= 1e-12 and meta_a["step"] == meta_b["step"] == 29
    assert pipe.stdout.count("epoch   1/1") == 1 and f"pipeline of {ranks} stages" in pipe.stdout
    m_one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    m_pipe = json.loads((tmp_path / "pipe" / "metrics.json").read_text())
    assert m_pipe["test_accuracy"] == m_one["test_accuracy"]   # evaluated through the stages
    assert abs(m_pipe["epochs"][0]["objective"] - m_one["epochs"][0]["objective"]) < 1e-12
    assert m_pipe["examples_seen"] == m_one["examples_seen"] == 1437
    assert m_one["bytes_communicated"] == {"total": 0, "per_rank": [0]}
    # each boundary carries every example's activations forward and their gradients back:
    # 1,437 rows of 16 float64 each way
    per_boundary = 1437 * 16 * 8 * 2
    sent = m_pipe["bytes_communicated"]
    assert sent["total"] == per_boundary * (ranks - 1) == sum(sent["per_rank"])
    assert len(m_pipe["peak_memory_per_rank"]) == ranks
    assert all(p > 0 for p in m_pipe["peak_memory_per_rank"] + m_one["peak_memory_per_rank"])
    assert len(m_pipe["epoch_seconds"]) == 1 and m_pipe["epoch_seconds"][0] > 0


@needs_mpi
def test_pipelined_and_one_process_checkpoints_resume_each_other(tmp_path):
    one, pipe = tmp_path / "one", tmp_path / "pipe"
    assert mpirun(1, *TRAIN, "--epochs", "1", "--out", str(one)).returncode == 0
    assert mpirun(2, *TRAIN, "--pipeline", "--epochs", "1", "--out", str(pipe)).returncode == 0
    # swap: one process continues the pipelined run, the pipeline the one-process run
    swapped = [mpirun(1, *TRAIN, "--epochs", "2", "--resume", "--out", str(pipe)),
               mpirun(2, *TRAIN, "--epochs", "2", "--resume", "--pipeline", "--out", str(one))]
    assert all(run.returncode == 0 for run in swapped), [run.stderr for run in swapped]
    a, meta_a = _checkpoint(one)
    b, meta_b = _checkpoint(pipe)
    assert _close(a, b) <= 1e-12 and meta_a["step"] == meta_b["step"] == 2 * 29
    assert meta_a["costs"]["kind"] == "pipeline" and meta_b["costs"]["kind"] == "one process"

