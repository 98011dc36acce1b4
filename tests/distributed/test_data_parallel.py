"""Data-parallel training over real MPI: N ranks take exactly the steps one process takes.

The MPI runs are subprocesses (``mpiexec -n N python worker.py``, 2 and 4 ranks, 4 of them
on 2 cores), each with a timeout; the test process itself never initialises MPI.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest

from chainrule.distributed import mpi_missing, mpiexec_command, mpiexec_path
from chainrule.distributed.data_parallel import DataParallel, _plan
from chainrule.errors import ShapeError
from chainrule.models import MLP
from chainrule.nn import Module
from chainrule.storage import load_checkpoint
from chainrule.train import CHECKPOINT, METRICS

ROOT = Path(__file__).resolve().parents[2]
WORKERS = Path(__file__).resolve().parent / "workers"
MISSING = mpi_missing() or (None if mpiexec_path() else
                            "no mpiexec beside python or on PATH; pip install 'chainrule[dist]'")
needs_mpi = pytest.mark.skipif(MISSING is not None, reason=f"MPI is not available: {MISSING}")


def mpirun(ranks: int, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``python *args`` on ``ranks`` MPI ranks, with this checkout importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(mpiexec_command(ranks, *args), capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=ROOT)


def _steps(tmp_path, ranks: int, *flags: str) -> dict:
    out = tmp_path / f"steps-{ranks}.json"
    run = mpirun(ranks, str(WORKERS / "dp_steps.py"), str(out), *flags)
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads(out.read_text())


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 4])
def test_five_steps_on_n_ranks_equal_one_process_on_the_whole_batch(tmp_path, ranks):
    report = _steps(tmp_path, ranks, "--steps", "5", "--batch", "10", "--examples", "21")
    records = report["records"]
    assert len(records) == 6                               # the start, then 5 steps
    assert records[0]["max_diff"] == 0.0                   # rank 0's start, broadcast
    for number, record in enumerate(records):
        assert record["identical"], f"ranks differ after step {number}"
        assert record["max_diff"] <= 1e-12, (number, record)
    sizes = [r["sizes"] for r in records[1:]]
    # 21 examples in batches of 10: the parts of 10 differ by one on 4 ranks, and the last
    # batch (1 example) leaves every rank but rank 0 an empty part
    assert sizes[0] == ([5, 5] if ranks == 2 else [3, 3, 2, 2])
    assert sizes[2] == [1] + [0] * (ranks - 1)
    assert all(sum(s) == 10 for i, s in enumerate(sizes) if i != 2)
    # bucketed: a few allreduce calls a step, fewer than there are parameters
    assert 1 < report["buckets"] < report["parameters"]
    assert report["allreduce_calls_per_step"] == report["buckets"]


@needs_mpi
def test_negative_control_equal_weights_on_unequal_parts_do_not_match(tmp_path):
    report = _steps(tmp_path, 4, "--steps", "2", "--unweighted")
    assert all(r["identical"] for r in report["records"])  # still in step with each other...
    assert report["records"][-1]["max_diff"] > 1e-6        # ...but not with one process


def test_buckets_hold_every_parameter_once_in_order():
    params = MLP(widths=[6, 8, 5, 3], dtype=np.float64, seed=0).parameters()
    buckets = _plan(params, bucket_bytes=400)
    slots = [slot for bucket in buckets for slot in bucket.slots]
    assert sorted(index for index, _, _ in slots) == list(range(len(params)))
    for bucket in buckets:
        ends = [0] + [stop for _, _, stop in bucket.slots]
        assert [start for _, start, _ in bucket.slots] == ends[:-1]      # packed, no gaps
        assert bucket.buffer.dtype == np.float64
    assert buckets[0].buffer.size == buckets[0].tail + 1 + len(params)   # count and flags
    assert len(_plan(params, bucket_bytes=2**20)) == 1


def test_bad_arguments_fail_before_any_mpi_call():
    model = MLP(widths=[3, 2], seed=0)
    with pytest.raises(ShapeError, match="bucket_bytes"):
        DataParallel(model, bucket_bytes=0)
    with pytest.raises(ShapeError, match="no parameters"):
        DataParallel(Module())


# ------------------------------------------------------------------ chainrule train, on MPI
TRAIN = ["-m", "chainrule", "train", "--dataset", "digits", "--hidden", "16",
         "--batch-size", "50", "--no-progress", "--seed", "1"]


def _params(folder: Path) -> dict:
    arrays, meta = load_checkpoint(folder / CHECKPOINT)
    return {k: v for k, v in arrays.items() if k.startswith("model.")}, meta


def _assert_same_parameters(one: Path, other: Path) -> None:
    """The two runs' checkpoints hold bit-identical parameters."""
    a, _ = _params(one)
    b, _ = _params(other)
    assert a.keys() == b.keys()
    for key in a:
        assert np.array_equal(a[key], b[key]), key


@needs_mpi
def test_chainrule_train_on_two_ranks_matches_one_process(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    single = mpirun(1, *TRAIN, "--epochs", "2", "--out", str(one))
    double = mpirun(2, *TRAIN, "--epochs", "2", "--out", str(two))
    assert single.returncode == 0 and double.returncode == 0, double.stderr
    a, meta_a = _params(one)
    b, meta_b = _params(two)
    for key in a:          # float32: the same steps, summed in another order
        np.testing.assert_allclose(a[key], b[key], rtol=1e-4, atol=1e-6, err_msg=key)
    assert meta_a["step"] == meta_b["step"] == 2 * 29      # 1,437 examples, batches of 50
    assert double.stdout.count("epoch   2/2") == 1         # rank 0 alone speaks
    assert double.stdout.count("chainrule train:") == 1
    metrics = json.loads((two / METRICS).read_text())
    assert abs(metrics["test_accuracy"] - json.loads((one / METRICS).read_text())[
        "test_accuracy"]) < 0.02


@needs_mpi
def test_compiled_steps_on_two_ranks_equal_eager_steps_bit_for_bit(tmp_path):
    eager, replayed = tmp_path / "eager", tmp_path / "replayed"
    assert mpirun(2, *TRAIN, "--epochs", "2", "--out", str(eager)).returncode == 0
    run = mpirun(2, *TRAIN, "--epochs", "2", "--out", str(replayed), "--compile")
    assert run.returncode == 0, run.stderr
    _assert_same_parameters(eager, replayed)    # each rank replays its part (25, then 19/18)


@needs_mpi
def test_resume_on_ranks_equals_the_straight_run_bit_for_bit(tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert mpirun(3, *TRAIN, "--epochs", "2", "--out", str(straight)).returncode == 0
    assert mpirun(3, *TRAIN, "--epochs", "1", "--out", str(split)).returncode == 0
    resumed = mpirun(3, *TRAIN, "--epochs", "2", "--out", str(split), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    _assert_same_parameters(straight, split)


@needs_mpi
def test_sigterm_to_mpiexec_stops_every_rank_together_and_resume_matches(tmp_path):
    straight, cut = tmp_path / "straight", tmp_path / "cut"
    small = [*TRAIN, "--batch-size", "8"]
    assert mpirun(2, *small, "--epochs", "2", "--out", str(straight)).returncode == 0
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    job = subprocess.Popen(mpiexec_command(2, *small, "--epochs", "50", "--out", str(cut)),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                           cwd=ROOT)
    try:
        assert "chainrule train" in job.stdout.readline()     # training has started
        job.send_signal(signal.SIGTERM)                       # Hydra passes it to every rank
        _, err = job.communicate(timeout=30)
    finally:
        job.kill()
    assert job.returncode == 128 + signal.SIGTERM, err
    assert err.count("--resume") == 1 and "Traceback" not in err   # rank 0 alone says so
    _, meta = _params(cut)
    if len(meta["history"]) >= 2:
        pytest.fail("the signal came too late to test resuming")
    resumed = mpirun(2, *small, "--epochs", "2", "--out", str(cut), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    _assert_same_parameters(straight, cut)
