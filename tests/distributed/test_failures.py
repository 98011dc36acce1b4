"""Failure is loud, never a hang: one rank's error or death ends the whole MPI job at once.

Each job runs as a subprocess with a hard timeout; the bound asserted on its wall time
(under 10 s) is a correctness property here: a job that hangs has failed the test.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chainrule.distributed import mpi_missing, mpiexec_command, mpiexec_path

ROOT = Path(__file__).resolve().parents[2]
WORKER = str(Path(__file__).resolve().parent / "workers" / "fail.py")
MISSING = mpi_missing() or (None if mpiexec_path() else
                            "no mpiexec beside python or on PATH; pip install 'chainrule[dist]'")
pytestmark = pytest.mark.skipif(MISSING is not None, reason=f"MPI is not available: {MISSING}")
BOUND = 10.0                    # seconds: the whole job, failure detected and every rank ended


def mpirun(ranks: int, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``python *args`` on ``ranks`` ranks; return the result and its wall time."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    started = time.monotonic()
    run = subprocess.run(mpiexec_command(ranks, *args), capture_output=True, text=True,
                         env=env, timeout=3 * BOUND, cwd=ROOT)
    return run, time.monotonic() - started


@pytest.mark.parametrize("ranks", [2, 4])
def test_a_rank_that_raises_aborts_the_job_naming_rank_and_error(ranks):
    run, seconds = mpirun(ranks, WORKER, "raise", "1")
    assert run.returncode != 0 and seconds < BOUND, (seconds, run.stderr)
    assert "ValueError: rank 1 was told to fail at step 20" in run.stderr
    assert f"rank 1 of {ranks} failed with ValueError" in run.stderr


def test_a_rank_killed_with_sigkill_ends_the_job():
    run, seconds = mpirun(4, WORKER, "kill", "2")
    assert run.returncode != 0 and seconds < BOUND, (seconds, run.stdout, run.stderr)
    said = run.stdout + run.stderr                 # Hydra reports on stdout
    assert "BAD TERMINATION" in said and re.search(r"Killed \(signal 9\)|EXIT CODE: 9", said)


def test_a_rank_that_fails_before_mpi_starts_ends_the_job():
    # Hydra would wait for ever for a rank that exits before MPI_Init; the hook ends it by
    # a signal, which Hydra does notice
    run, seconds = mpirun(4, WORKER, "raise-before-mpi", "3")
    assert run.returncode != 0 and seconds < BOUND, (seconds, run.stderr)
    assert "rank 3 of 4 failed before MPI started, with ValueError" in run.stderr


def test_bad_input_on_every_rank_is_one_line_and_every_rank_exits_non_zero():
    run, seconds = mpirun(4, WORKER, "bad-input-all")
    assert run.returncode == 1 and seconds < BOUND
    assert run.stderr.strip().splitlines() == [
        "fail.py: error: /nonexistent/chainrule-test-input.npz: no such file; pass an "
        "existing --input"]


def test_bad_input_on_one_rank_is_one_line_naming_that_rank():
    run, seconds = mpirun(4, WORKER, "bad-input-one", "2")
    assert run.returncode == 1 and seconds < BOUND
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fail.py: error: rank 2: /nonexistent/")


def test_without_mpi_the_hook_leaves_errors_as_python_shows_them():
    code = "import chainrule.distributed\nraise KeyError('plain')"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, env=dict(os.environ, PYTHONPATH=str(ROOT)), cwd=ROOT)
    assert run.returncode == 1 and run.stderr.rstrip().endswith("KeyError: 'plain'")
    assert "chainrule.distributed" not in run.stderr.replace("import chainrule.distributed", "")


# ------------------------------------------------------------------ chainrule train, on MPI
@pytest.mark.parametrize("flags", [["--epochs", "x"], ["--dataset", "cifar"], ["--lr", "-1"]])
def test_a_bad_flag_under_mpiexec_is_one_line_from_rank_zero(flags):
    run, seconds = mpirun(2, "-m", "chainrule", "train", "--no-progress", *flags)
    assert run.returncode != 0 and seconds < BOUND
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr


def test_a_missing_checkpoint_under_mpiexec_is_one_line_from_rank_zero(tmp_path):
    run, seconds = mpirun(2, "-m", "chainrule", "train", "--no-progress", "--resume",
                          "--out", str(tmp_path / "never-ran"))
    assert run.returncode == 1 and seconds < BOUND
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "no checkpoint at" in lines[0], run.stderr
