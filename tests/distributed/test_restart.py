"""Restart on failure: ``chainrule launch`` runs the job again from its last checkpoint when a
rank dies, and the run ends as if nothing had happened, bit for bit; a failure that comes back
every time ends the command after ``--max-restarts`` restarts, with the rank's error shown.

Faults are injected by ``workers/faults/sitecustomize.py`` (see there), in the ranks only.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chainrule.cli import main
from chainrule.distributed import mpi_missing, mpiexec_path
from chainrule.distributed.restart import failure_reason
from chainrule.storage import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
FAULTS = str(Path(__file__).resolve().parent / "workers" / "faults")
MISSING = mpi_missing() or (None if mpiexec_path() else
                            "no mpiexec beside python or on PATH; pip install 'chainrule[dist]'")
needs_mpi = pytest.mark.skipif(MISSING is not None, reason=f"MPI is not available: {MISSING}")
# 1,437 digits in batches of 16: 90 steps an epoch, a checkpoint every 10
TRAIN = ["train", "--dataset", "digits", "--hidden", "16", "--batch-size", "16", "--epochs",
         "1", "--dtype", "float64", "--no-progress", "--checkpoint-every", "10"]


def launch(*args: str, fault: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [FAULTS if fault else None, str(ROOT),
                                                      env.get("PYTHONPATH")]))
    env.pop("CHAINRULE_TEST_FAULT", None)
    if fault:
        env["CHAINRULE_TEST_FAULT"] = fault
    return subprocess.run([sys.executable, "-m", "chainrule", "launch", *args],
                          capture_output=True, text=True, env=env, timeout=240, cwd=ROOT)


@needs_mpi
def test_a_rank_killed_mid_epoch_is_restarted_and_ends_bit_identical(tmp_path):
    straight = launch("-n", "2", "--", *TRAIN, "--out", str(tmp_path / "straight"))
    assert straight.returncode == 0, straight.stderr
    assert "restarting" not in straight.stderr
    faulty = launch("-n", "2", "--max-restarts", "1", "--", *TRAIN, "--out",
                    str(tmp_path / "faulty"), fault=f"kill:1:50:{tmp_path / 'killed'}")
    assert faulty.returncode == 0, faulty.stdout + faulty.stderr
    assert (tmp_path / "killed").exists()                    # the fault did happen
    said = [line for line in faulty.stderr.splitlines() if line.startswith("chainrule launch")]
    assert len(said) == 1, faulty.stderr
    assert "rank 1 of 2 was killed by signal 9" in said[0], said
    assert "restarting from step 50 of" in said[0] and "(restart 1 of 1)" in said[0], said
    a, meta_a = load_checkpoint(tmp_path / "straight" / "checkpoint.npz")
    b, meta_b = load_checkpoint(tmp_path / "faulty" / "checkpoint.npz")
    assert meta_a["step"] == meta_b["step"] == 90
    assert sorted(a) == sorted(b)
    for key in a:                                           # parameters and optimizer state
        assert np.array_equal(a[key], b[key]), key
    assert [h["test_accuracy"] for h in meta_a["history"]] == \
        [h["test_accuracy"] for h in meta_b["history"]]


@needs_mpi
def test_a_failure_at_the_same_step_every_time_gives_up_after_max_restarts(tmp_path):
    run = launch("-n", "2", "--max-restarts", "2", "--", *TRAIN, "--out", str(tmp_path),
                 fault="raise:1:30")
    assert run.returncode != 0
    raised = [line for line in run.stderr.splitlines()
              if line.startswith("ValueError: injected fault on rank 1 at step 30")]
    assert len(raised) == 3, run.stderr                    # the traceback, every attempt
    said = [line for line in run.stderr.splitlines() if line.startswith("chainrule launch")]
    assert len(said) == 3, run.stderr
    assert "(restart 1 of 2)" in said[0] and "(restart 2 of 2)" in said[1]
    assert "again, at the same step as before" in said[1]
    assert "rank 1 of 2 failed with ValueError: injected fault" in said[2]
    assert "again at step 30 as before" in said[2] and "giving up after 2 restarts" in said[2]


def test_launch_needs_train_and_its_out_folder(capsys):
    assert main(["launch", "-n", "2", "--", "train", "--epochs", "1"]) == 2
    assert "needs --out DIR" in capsys.readouterr().err
    assert main(["launch", "-n", "2", "--", "partition"]) == 2
    assert "launch runs `chainrule train`" in capsys.readouterr().err
    assert main(["launch", "-n", "2", "--hostfile", "/nonexistent/hosts", "--", "train",
                 "--out", "x"]) == 2
    assert "--hostfile /nonexistent/hosts: no such file" in capsys.readouterr().err


def test_the_failure_is_named_from_what_the_job_printed():
    assert failure_reason(["chainrule train: rank 0 of 3: error: disk full; aborting the MPI "
                           "job"], 1) == "rank 0 of 3: error: disk full"
    hydra = ["BAD TERMINATION OF ONE OF YOUR APPLICATION PROCESSES",
             "PID 4242 RUNNING AT node1", "EXIT CODE: 9",
             "YOUR APPLICATION TERMINATED WITH THE EXIT STRING: Killed (signal 9)"]
    assert failure_reason(hydra, 9, {0: 4141, 1: 4242}) == "rank 1 of 2 was killed by signal 9"
    assert failure_reason(hydra, 9) == "the rank with pid 4242 was killed by signal 9"
    assert failure_reason(["something else"], 7) == "mpiexec ended with status 7"
