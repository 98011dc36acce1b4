"""The partition planner: its predictions against every rank's measurement under mpiexec, the
cuts it picks under a budget, its error when nothing fits, and ``chainrule partition``."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from chainrule.cli import main
from chainrule.distributed import mpi_missing, mpiexec_command, mpiexec_path
from chainrule.distributed import balanced_bounds
from chainrule.distributed.planner import PlanError, plan_mlp, stage_cost
from chainrule.train.config import build_network
from chainrule.train.pipeline import as_layers
from chainrule.memory import format_bytes
from chainrule.cli.partition import parse_size

ROOT = Path(__file__).resolve().parents[2]
WORKER = str(Path(__file__).resolve().parent / "workers" / "pipe_memory.py")
MISSING = mpi_missing() or (None if mpiexec_path() else
                            "no mpiexec beside python or on PATH; pip install 'chainrule[dist]'")
needs_mpi = pytest.mark.skipif(MISSING is not None, reason=f"MPI is not available: {MISSING}")


@needs_mpi
@pytest.mark.parametrize("ranks, flags", [
    (2, ["--layers", "4", "--hidden", "256", "--batch", "128", "--micro", "4"]),
    (3, ["--layers", "3", "--hidden", "300", "--batch", "100", "--micro", "3",
         "--dtype", "float64", "--bias"]),
])
def test_predicted_memory_of_every_rank_is_within_15_percent(tmp_path, ranks, flags):
    out = tmp_path / "memory.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    run = subprocess.run(mpiexec_command(ranks, WORKER, str(out), *flags),
                         capture_output=True, text=True, env=env, timeout=60, cwd=ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(out.read_text())
    assert len(report["ranks"]) == ranks == len(report["bounds"])
    for rank in report["ranks"]:
        assert rank["measured"] > 100_000, rank          # a real step was measured
        assert abs(rank["predicted"] / rank["measured"] - 1) <= 0.15, rank
        assert rank["parameter_bytes"] == rank["planned_parameter_bytes"], rank
    # what each rank sent in a step is what the plan says crosses its cuts: activations
    # forward over the cut after it, gradients back over the cut before it
    cuts = report["cuts"]
    for r, rank in enumerate(report["ranks"]):
        forward = cuts[r] // 2 if r < ranks - 1 else 0
        backward = cuts[r - 1] // 2 if r > 0 else 0
        assert rank["bytes_sent"] == forward + backward, (r, rank, cuts)


def test_a_budget_moves_the_cuts_and_every_stage_fits():
    free = plan_mlp(6, 256, 64, 2, 2**40)
    assert free.bounds == [(0, 4), (4, 13)]
    budget = free.peak_bytes - 1                           # the fastest cut no longer fits
    tight = plan_mlp(6, 256, 64, 2, budget)
    assert tight.bounds != free.bounds
    assert all(stage.peak_bytes <= budget for stage in tight.stages)
    bottleneck = [max(s.flops for s in p.stages) for p in (free, tight)]
    assert bottleneck[0] < bottleneck[1]                   # speed traded for memory
    assert [s.start for s in tight.stages[1:]] == [c.layer for c in tight.cuts]
    for cut, stage in zip(tight.cuts, tight.stages[1:]):  # 2 x B x width x 4 bytes
        assert cut.bytes_per_step == 2 * 64 * stage.in_width * 4 == 2 * 64 * 256 * 4


def test_an_impossible_budget_names_the_smallest_that_fits():
    with pytest.raises(PlanError) as caught:
        plan_mlp(4, 256, 256, 2, 1_000_000)
    needed = caught.value.needed
    message = str(caught.value)
    assert needed > 1_000_000
    assert f"{needed:,} B" in message and format_bytes(needed) in message
    assert "3 devices need" in message and "batch 128 needs" in message
    assert "micro-batches need" in message
    plan = plan_mlp(4, 256, 256, 2, needed)                # the named budget is enough
    assert plan.peak_bytes == needed
    with pytest.raises(PlanError):
        plan_mlp(4, 256, 256, 2, needed - 1)               # and nothing less is
    with pytest.raises(PlanError, match="at most 5 devices"):
        plan_mlp(4, 256, 256, 6, 2**40)


def test_momentum_and_micro_batches_change_what_a_stage_holds():
    plain, moving = (plan_mlp(3, 128, 64, 2, 2**40, momentum=m) for m in (False, True))
    for a, b in zip(plain.stages, moving.stages):
        assert a.optimizer_bytes == 0 and b.optimizer_bytes == b.parameter_bytes > 0
    few, many = (plan_mlp(3, 128, 64, 2, 2**40, micro_batches=m, weight_decay=False,
                          schedule="gpipe") for m in (1, 8))
    for a, b in zip(few.stages, many.stages):          # the whole batch's share, either way
        assert a.saved_bytes == pytest.approx(b.saved_bytes, rel=0.01)
    # the first stage is mostly its 784 x 128 weight: summing 8 micro-batches' gradients
    # into .grad out of place (old + g + sum at once) costs more than 1 walk's activations
    assert many.stages[0].step_bytes > few.stages[0].step_bytes + 2 * 401408 - 100_000
    text = plain.format()
    assert "cut before layer" in text and text.count("\n0 ") + text.count("\n1 ") == 2


@pytest.mark.parametrize("text, value", [("512MiB", 512 * 2**20), ("1GiB", 2**30),
                                         ("300MB", 300 * 10**6), ("1.5GiB", 3 * 2**29),
                                         ("4096", 4096), ("64 kib", 65536), ("2B", 2)])
def test_sizes_are_parsed(text, value):
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "MiB", "12x", "1.5.0GiB", "-3MiB", "0", "0.1B"])
def test_bad_sizes_are_refused(text):
    with pytest.raises(argparse.ArgumentTypeError):
        parse_size(text)


def test_a_bad_size_is_one_line_on_stderr(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["partition", "--memory-per-device", "lots"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "512MiB" in err and "'lots'" in err


def test_the_command_prints_the_plan_or_one_line_why_not(capsys):
    assert main(["partition", "--layers", "4", "--hidden", "1024", "--batch-size", "256",
                 "--devices", "2", "--memory-per-device", "1GiB"]) == 0
    out = capsys.readouterr().out
    assert "MLP 784-1024x4-10" in out and "2 devices of 1.0 GiB" in out
    assert "cut before layer 4 (width 1024): 2.0 MiB per step" in out
    assert main(["partition", "--layers", "4", "--hidden", "1024", "--memory-per-device",
                 "20MiB", "--schedule", "gpipe", "--micro-batches", "4"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert re.search(r"needs [\d.]+ MiB \([\d,]+ B\) per device", err), err


@needs_mpi
def test_compare_measures_the_three_ways(capsys):
    assert main(["partition", "--layers", "2", "--hidden", "64", "--batch-size", "64",
                 "--devices", "2", "--memory-per-device", "64MiB", "--compare",
                 "--examples", "256", "--dataset", "digits"]) == 0
    out = capsys.readouterr().out
    rows = {}
    for name in ("2-stage pipeline, GPipe", "2-stage pipeline, 1F1B", "1 process, batch / k",
                 "2-rank data-parallel"):
        line = next(line for line in out.splitlines() if line.startswith(name))
        rows[name] = re.split(r"\s{2,}", line[len(name):].strip())
    gpipe, pipe, single, dp = rows.values()
    assert pipe[0] == gpipe[0] == dp[0] == "64" and single[0] == "32"
    assert len(pipe[1].split(" / ")) == 2 == len(dp[1].split(" / "))   # a peak per rank
    for row in rows.values():
        assert len(row) == 5, row
        assert all(float(x) > 0 for x in re.findall(r"[\d.]+", row[1])), row
        assert float(row[2].rstrip(" s")) > 0 and 0 < float(row[4]) <= 1, row
    assert single[3] == "0 B" and float(pipe[3].split()[0]) > 0 and float(dp[3].split()[0]) > 0
    assert pipe[3] == gpipe[3] and pipe[4] == gpipe[4]      # the same messages, the same steps
    # the pipeline and data-parallel take the same steps: the same model, to rounding
    assert abs(float(pipe[4]) - float(dp[4])) <= 0.01


# ------------------------------------------------------------------ the schedules
TRAIN = ["-m", "chainrule", "train", "--pipeline", "--dataset", "digits", "--layers", "3",
         "--hidden", "256", "--batch-size", "256", "--micro-batches", "8", "--dtype", "float64",
         "--epochs", "1", "--no-progress"]


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_metrics_json_peaks_match_the_planner_for_both_schedules(tmp_path, ranks):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    peaks = {}
    for schedule in ("1f1b", "gpipe"):
        out = tmp_path / schedule
        run = subprocess.run(mpiexec_command(ranks, *TRAIN, "--schedule", schedule, "--out",
                                             str(out)),
                             capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)
        assert run.returncode == 0, run.stdout + run.stderr
        peaks[schedule] = json.loads((out / "metrics.json").read_text())["peak_memory_per_rank"]
        # the network chainrule train cuts, in the same stages, planned for this schedule
        layers = as_layers(build_network(256, 3, 64, 10, dtype="float64"))
        for rank, (start, stop) in enumerate(balanced_bounds(layers, ranks)):
            predicted = stage_cost(layers, start, stop, 256, 8, schedule=schedule, stage=rank,
                                   stages=ranks).peak_bytes
            measured = peaks[schedule][rank]
            assert abs(predicted / measured - 1) <= 0.05, (schedule, rank, predicted, measured)
    for one, all_ in zip(peaks["1f1b"], peaks["gpipe"]):    # every rank: fewer graphs held
        assert one < 0.95 * all_, peaks


def test_the_planner_picks_the_schedule_and_micro_batches_that_fit():
    gpipe, one = (plan_mlp(3, 256, 256, 2, 2**40, 8, schedule=s) for s in ("gpipe", "1f1b"))
    assert all(a.peak_bytes < b.peak_bytes for a, b in zip(one.stages, gpipe.stages))
    assert [s.in_flight for s in one.stages] == [2, 1]
    assert [s.in_flight for s in gpipe.stages] == [8, 8]
    # between the two: only 1F1B fits at 8, and the planner, free to choose, finds it
    budget = (one.peak_bytes + gpipe.peak_bytes) // 2
    with pytest.raises(PlanError, match="gpipe"):
        plan_mlp(3, 256, 256, 2, budget, 8, schedule="gpipe")
    chosen = plan_mlp(3, 256, 256, 2, budget, None, schedule=None)
    assert chosen.peak_bytes <= budget and "chosen among 1f1b, gpipe" in chosen.format()
    assert chosen.schedule == "1f1b" and chosen.micro_batches >= 8   # more slots: a shorter
    # with room for anything, GPipe and 1F1B take as long: the smaller peak wins (1F1B)
    assert plan_mlp(3, 256, 256, 2, 2**40, 8, schedule=None).schedule == "1f1b"


def test_partition_schedule_flag_prints_that_schedule(capsys):
    flags = ["partition", "--layers", "3", "--hidden", "256", "--batch-size", "256",
             "--memory-per-device", "1GiB", "--micro-batches", "8"]
    peaks = {}
    for schedule in ("gpipe", "1f1b"):
        assert main([*flags, "--schedule", schedule]) == 0
        out = capsys.readouterr().out
        assert f"8 micro-batches, {schedule} schedule" in out and "chosen among" not in out
        peaks[schedule] = out
    assert peaks["gpipe"] != peaks["1f1b"]
