"""Failure is loud, never a hang: one rank's error or death ends the whole MPI job at once.

Each job runs as a subprocess with a hard timeout; the bound asserted on its wall time
(under 10 s) is a correctness property here: a job that hangs has failed the test.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from chainrule.distributed import mpi_missing, mpiexec_command, mpiexec_path
from chainrule.storage import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
WORKER = str(Path(__file__).resolve().parent / "workers" / "fail.py")
MISSING = mpi_missing() or (None if mpiexec_path() else
                            "no mpiexec beside python or on PATH; pip install 'chainrule[dist]'")
pytestmark = pytest.mark.skipif(MISSING is not None, reason=f"MPI is not available: {MISSING}")
BOUND = 10.0                    # seconds: the whole job, failure detected and every rank ended


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def mpirun(ranks: int, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``python *args`` on ``ranks`` ranks; return the result and its wall time."""
    env = _env()
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


# ------------------------------------------------------------------ the pipeline
PIPE_WORKER = str(Path(__file__).resolve().parent / "workers" / "pipe_fail.py")


def _pids(stdout: str) -> dict[int, int]:
    """``{rank: pid}`` from the workers' ``rank R pid P`` lines."""
    return {int(r): int(p) for r, p in re.findall(r"^rank (\d+) pid (\d+)$", stdout, re.M)}


def test_a_pipeline_stage_that_raises_mid_step_aborts_the_job_naming_it():
    # stage 1 of 3 raises in a forward pass: stage 0 waits for its gradients, stage 2 for
    # its activations, both in MPI_Recv
    run, seconds = mpirun(3, PIPE_WORKER, "raise", "1")
    assert run.returncode != 0 and seconds < BOUND, (seconds, run.stderr)
    assert "ValueError: stage 1 was told to fail mid-step" in run.stderr
    assert "rank 1 of 3 failed with ValueError" in run.stderr


def test_a_pipeline_stage_killed_mid_step_ends_the_job_naming_its_pid():
    run, seconds = mpirun(2, PIPE_WORKER, "kill", "1")
    assert run.returncode != 0 and seconds < BOUND, (seconds, run.stdout, run.stderr)
    said = run.stdout + run.stderr
    assert "BAD TERMINATION" in said and re.search(r"Killed \(signal 9\)|EXIT CODE: 9", said)
    pids = _pids(run.stdout)
    assert sorted(pids) == [0, 1], run.stdout
    # Hydra names the pid that died; the rank:pid lines say which rank that is
    assert re.findall(r"PID (\d+) RUNNING AT", said) == [str(pids[1])], said


PIPE_TRAIN = ["-m", "chainrule", "train", "--pipeline", "--no-progress"]


def test_pipeline_on_more_ranks_than_weight_matrices_is_one_line_on_every_rank(tmp_path):
    run, seconds = mpirun(3, *PIPE_TRAIN, "--dataset", "digits", "--out", str(tmp_path))
    assert run.returncode == 1 and seconds < BOUND, run.stderr
    assert run.stderr.strip().splitlines() == [
        "chainrule train: error: --pipeline on 3 ranks: the network has 2 weight matrices "
        "(--layers 1 hidden, then the output layer) and a stage needs at least one; pass "
        "--layers 2 or more, or start at most 2 ranks"]
    assert not (tmp_path / "metrics.json").exists()


def test_a_broken_dataset_under_pipeline_is_one_line_on_every_rank(tmp_path):
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / name).write_bytes(b"")         # found, but empty: every rank fails to read
    run, seconds = mpirun(2, *PIPE_TRAIN, "--dataset", "fashion-mnist", "--data-dir",
                          str(tmp_path), "--out", str(tmp_path / "run"))
    assert run.returncode == 1 and seconds < BOUND, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "truncated IDX file" in lines[0], run.stderr
    assert lines[0].startswith(f"chainrule train: error: {tmp_path / 'train-images-idx3-ubyte'}")


def test_a_pipelined_run_stopped_by_sigterm_resumes_to_the_same_parameters(tmp_path):
    straight, cut = tmp_path / "straight", tmp_path / "cut"
    small = [*PIPE_TRAIN, "--dataset", "digits", "--hidden", "16", "--batch-size", "8",
             "--micro-batches", "2"]
    run, _ = mpirun(2, *small, "--epochs", "2", "--out", str(straight))
    assert run.returncode == 0, run.stderr
    job = subprocess.Popen(mpiexec_command(2, *small, "--epochs", "50", "--out", str(cut)),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=_env(), cwd=ROOT)
    try:
        assert "chainrule train" in job.stdout.readline()     # training is about to start
        job.send_signal(signal.SIGTERM)                       # Hydra passes it to every rank
        _, err = job.communicate(timeout=3 * BOUND)
    finally:
        job.kill()
    assert job.returncode == 128 + signal.SIGTERM, err
    assert err.count("--resume") == 1 and "--pipeline --micro-batches 2" in err, err
    _, meta = load_checkpoint(cut / "checkpoint.npz")
    if len(meta["history"]) >= 2:
        pytest.fail("the signal came too late to test resuming")
    run, _ = mpirun(2, *PIPE_TRAIN, "--epochs", "2", "--out", str(cut), "--resume")
    assert run.returncode == 0, run.stderr
    a, _ = load_checkpoint(straight / "checkpoint.npz")
    b, meta = load_checkpoint(cut / "checkpoint.npz")
    assert meta["config"]["micro_batches"] == 2          # the checkpoint's, not the default
    assert sorted(a) == sorted(b) == ["model.W1", "model.W2"]
    for key in a:
        assert np.array_equal(a[key], b[key]), key
