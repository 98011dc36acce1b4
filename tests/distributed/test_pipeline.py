"""Pipeline training over real MPI: a Sequential cut into 2 or 3 stages, with micro-batches,
takes the steps one process takes (exercise 5 of the chapter)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from chainrule.distributed import (balanced_bounds, micro_batch_slices, mpi_missing,
                                   mpiexec_command, mpiexec_path)
from chainrule.errors import ShapeError
from chainrule.models import MLP

ROOT = Path(__file__).resolve().parents[2]
WORKER = str(Path(__file__).resolve().parent / "workers" / "pipe_steps.py")
MISSING = mpi_missing() or (None if mpiexec_path() else
                            "no mpiexec beside python or on PATH; pip install 'chainrule[dist]'")


@pytest.mark.skipif(MISSING is not None, reason=f"MPI is not available: {MISSING}")
@pytest.mark.parametrize("ranks", [2, 3])
def test_pipeline_on_k_ranks_equals_one_process_to_1e_12(tmp_path, ranks):
    out = tmp_path / "pipe.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    run = subprocess.run(mpiexec_command(ranks, WORKER, str(out), "--micro", "3"),
                         capture_output=True, text=True, env=env, timeout=60, cwd=ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(out.read_text())
    assert len(report["records"]) == 5
    assert [r["batch"] for r in report["records"]] == [10, 10, 1, 10, 10]
    for record in report["records"]:           # gradients, updates and the loss
        assert record["grad_diff"] <= 1e-12 and record["param_diff"] <= 1e-12, record
        assert record["loss_diff"] <= 1e-12, record
    # each rank holds only its stage: the 8 parameters (4 layers x weight, bias) are shared out
    assert sum(report["stage_parameters"]) == 8 and min(report["stage_parameters"]) >= 2
    assert len(report["bounds"]) == ranks


def test_stages_and_micro_batches_are_cut_evenly():
    layers = MLP(widths=[6, 8, 8, 5, 3], seed=0).layers       # Linear, ReLU, ... : 7 layers
    assert balanced_bounds(layers, 2) == [(0, 4), (4, 7)]
    assert balanced_bounds(layers, 4) == [(0, 2), (2, 4), (4, 6), (6, 7)]
    with pytest.raises(ShapeError, match="at most 4 ranks"):
        balanced_bounds(layers, 5)
    sizes = [s.stop - s.start for s in micro_batch_slices(10, 3)]
    assert sizes == [4, 3, 3]
    assert [s.stop - s.start for s in micro_batch_slices(2, 8)] == [1, 1]   # never empty
