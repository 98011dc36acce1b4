"""The training program end to end, on the embedded digits: reports, resume, interrupts."""

from __future__ import annotations

import json
import re
import os
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest

from chainrule.storage import load_checkpoint
from chainrule.cli import main
from chainrule.data import datasets
from chainrule.train import (CHECKPOINT, CURVE, GRAPH, METRICS, Config, TrainingInterrupted,
                             train)

SMALL = dict(dataset="digits", hidden=32, batch_size=64, progress=False, log=False)


def _arrays(folder):
    arrays, meta = load_checkpoint(folder / CHECKPOINT)
    return arrays, meta


def test_a_run_writes_metrics_curve_and_checkpoint(tmp_path):
    metrics = train(Config(epochs=2, out=str(tmp_path), **SMALL))
    on_disk = json.loads((tmp_path / METRICS).read_text())
    assert on_disk["test_accuracy"] == metrics["test_accuracy"] > 0.5
    assert [e["epoch"] for e in on_disk["epochs"]] == [1, 2]
    assert {"train_loss", "train_accuracy", "test_accuracy", "examples_per_second"} <= set(
        on_disk["epochs"][0])
    assert (tmp_path / CURVE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    drawn = tmp_path / GRAPH                  # the SVG, or its DOT where no renderer runs
    text = drawn.read_text() if drawn.exists() else drawn.with_suffix(".dot").read_text()
    for name in ("x", "W1", "z", "h", "W2", "o", "y", "L", "s", "J"):
        assert re.search(rf'(>|label="){name}\b', text), name
    arrays, meta = _arrays(tmp_path)
    assert arrays["model.W1"].shape == (32, 64) and meta["step"] == 2 * 23


def test_metrics_report_memory_communication_time_and_examples(tmp_path):
    metrics = train(Config(epochs=2, out=str(tmp_path), layers=2, **SMALL))
    on_disk = json.loads((tmp_path / METRICS).read_text())
    assert on_disk["bytes_communicated"] == {"total": 0, "per_rank": [0]}   # one process
    assert on_disk["examples_seen"] == 2 * 1437
    assert len(on_disk["epoch_seconds"]) == 2 and all(t > 0 for t in on_disk["epoch_seconds"])
    assert on_disk["test_accuracy"] == metrics["test_accuracy"]
    # the peak holds at least the parameters, their gradients and the hidden activations of
    # a batch of 64: 2 hidden layers of 32, float32
    arrays, _ = _arrays(tmp_path)
    weights = sum(v.nbytes for k, v in arrays.items() if k.startswith("model."))
    [peak] = on_disk["peak_memory_per_rank"]
    assert 2 * weights + 2 * 64 * 32 * 4 < peak < 50 * weights
    assert sorted(k for k in arrays if k.startswith("model.")) == [
        "model.layers.0.weight", "model.layers.2.weight", "model.layers.4.weight"]


def test_resume_equals_the_uninterrupted_run_bit_for_bit(tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    train(Config(epochs=4, out=str(straight), **SMALL))
    train(Config(epochs=2, out=str(split), **SMALL))
    train(Config(epochs=4, out=str(split), resume=True, **SMALL))
    a, meta_a = _arrays(straight)
    b, meta_b = _arrays(split)
    assert a.keys() == b.keys()
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    strip = [{k: v for k, v in e.items() if "seconds" not in k and k != "examples_per_second"}
             for e in meta_a["history"]]
    assert strip == [{k: v for k, v in e.items()
                      if "seconds" not in k and k != "examples_per_second"}
                     for e in meta_b["history"]]


@pytest.mark.parametrize("extra", [{}, {"layers": 2, "dtype": "float64"}],
                         ids=["chapter-float32", "mlp-float64"])
def test_compiled_steps_equal_eager_steps_bit_for_bit(tmp_path, monkeypatch, extra):
    from chainrule import replay

    eager, replayed = tmp_path / "eager", tmp_path / "replayed"
    a_metrics = train(Config(epochs=2, out=str(eager), **SMALL, **extra))
    runs, run = [], replay.Plan.run
    monkeypatch.setattr(replay.Plan, "run", lambda plan, arrays: runs.append(1) or run(plan,
                                                                                     arrays))
    b_metrics = train(Config(epochs=2, out=str(replayed), compile=True, **SMALL, **extra))
    assert len(runs) == 2 * 23 - 2              # every step but the two traced ones replayed
    a, meta_a = _arrays(eager)
    b, meta_b = _arrays(replayed)
    assert a.keys() == b.keys()
    for key in a:                    # 46 steps, batches of 64 and a last one of 29: two plans
        assert np.array_equal(a[key], b[key]), key
    assert a_metrics["test_accuracy"] == b_metrics["test_accuracy"]
    assert [e["train_loss"] for e in meta_a["history"]] == \
        [e["train_loss"] for e in meta_b["history"]]


def test_compile_with_a_pipeline_is_refused(tmp_path):
    from chainrule.errors import ChainruleError

    with pytest.raises(ChainruleError, match="compile.*pipeline"):
        train(Config(epochs=1, out=str(tmp_path), compile=True, pipeline=True, **SMALL))


def test_interrupt_anywhere_then_resume_equals_the_straight_run(tmp_path):
    straight, cut = tmp_path / "straight", tmp_path / "cut"
    config = dict(SMALL, batch_size=8)
    timer = threading.Timer(0.4, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        with pytest.raises(TrainingInterrupted) as stop:
            train(Config(epochs=1000, out=str(cut), **config))
    finally:
        timer.cancel()
    assert stop.value.signum == signal.SIGTERM and "--resume" in str(stop.value)
    _, meta = _arrays(cut)
    assert meta["step"] > 0
    epochs = len(meta["history"]) + 2           # however fast training is, resume goes on
    train(Config(epochs=epochs, out=str(straight), **config))
    train(Config(epochs=epochs, out=str(cut), resume=True, **config))
    a, _ = _arrays(straight)
    b, _ = _arrays(cut)
    for key in a:
        assert np.array_equal(a[key], b[key]), key


def _run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "chainrule", *args], capture_output=True,
                          text=True, env=env, timeout=120)


@pytest.mark.parametrize("flags", [["--epochs", "x"], ["--dataset", "cifar"],
                                   ["--lr", "-1"], ["--resume"], ["--layers", "0"],
                                   ["--dtype", "float16"], ["--micro-batches", "2"],
                                   ["--pipeline", "--distributed"],
                                   ["--pipeline", "--compile"]])
def test_bad_flags_fail_with_one_line(flags):
    run = _run("train", "--no-progress", *flags)
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr


def test_missing_fashion_mnist_fails_with_one_clear_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(datasets, "SYSTEM_DATA_DIRS", (tmp_path / "none",))
    monkeypatch.delenv("CHAINRULE_DATA", raising=False)
    status = main(["train", "--dataset", "fashion-mnist", "--data-dir", str(tmp_path),
                   "--no-progress", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert status == 1 and "dataset-fashion-mnist" in err and "Traceback" not in err


def test_without_fashion_mnist_the_main_job_falls_back_to_digits(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "SYSTEM_DATA_DIRS", (tmp_path / "none",))
    monkeypatch.delenv("CHAINRULE_DATA", raising=False)
    metrics = train(Config(epochs=1, hidden=16, out=str(tmp_path / "run"), progress=False,
                           log=False))
    assert metrics["dataset"] == "digits" and metrics["config"]["batch_size"] == 32


def test_resume_from_a_damaged_checkpoint_is_refused(tmp_path, capsys):
    train(Config(epochs=1, out=str(tmp_path), **SMALL))
    data = bytearray((tmp_path / CHECKPOINT).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / CHECKPOINT).write_bytes(bytes(data))
    status = main(["train", "--resume", "--out", str(tmp_path), "--epochs", "2",
                   "--no-progress"])
    err = capsys.readouterr().err
    assert status == 1 and str(tmp_path / CHECKPOINT) in err and "Traceback" not in err


def test_sigint_in_a_subprocess_writes_a_checkpoint_and_exits_cleanly(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "chainrule", "train", "--dataset", "digits", "--epochs", "500",
         "--batch-size", "8", "--hidden", "16", "--no-progress", "--out", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()            # the run has started once it says where to
    assert "digits" in first
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGINT
    assert "Traceback" not in err and "--resume" in err
    assert (tmp_path / CHECKPOINT).exists()


DIGITS = ["train", "--dataset", "digits", "--no-progress"]


def test_a_diverging_run_stops_at_the_first_nan_with_one_line_and_no_checkpoint(tmp_path):
    run = _run(*DIGITS, "--epochs", "1", "--lr", "1e10", "--out", str(tmp_path))
    assert run.returncode not in (0, 2) and run.returncode < 128, run.stderr
    [line] = run.stderr.strip().splitlines()
    assert re.search(r"diverged at epoch 1, step \d+: the loss is (nan|inf)", line), line
    assert "smaller --lr" in line and "no checkpoint was written" in line
    assert not (tmp_path / CHECKPOINT).exists()


def test_divergence_after_a_good_epoch_keeps_that_epochs_checkpoint(tmp_path):
    train(Config(epochs=1, out=str(tmp_path), **SMALL))
    good = (tmp_path / CHECKPOINT).read_bytes()
    arrays, meta = _arrays(tmp_path)
    config = dict(meta["config"], epochs=3, out=str(tmp_path), resume=False)
    from chainrule.train.run import Run, TrainingDiverged

    run = Run(Config(**config))
    run._restore(arrays, meta)
    with pytest.raises(TrainingDiverged, match="epoch 2.*the last good checkpoint") as info:
        run.config.lr = 1e10
        for group in run.optimizer.param_groups:
            group["lr"] = 1e10
        run.train_epoch(1, [])
    assert info.value.status == 3 and (tmp_path / CHECKPOINT).read_bytes() == good
    a, _ = _arrays(tmp_path)
    assert all(np.isfinite(v).all() for v in a.values())


@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory):
    """A folder holding a one-epoch run with --lr 0.05 --hidden 16 --batch-size 64."""
    folder = tmp_path_factory.mktemp("one-epoch")
    first = _run(*DIGITS, "--epochs", "1", "--lr", "0.05", "--hidden", "16", "--batch-size",
                 "64", "--out", str(folder))
    assert first.returncode == 0, first.stderr
    return folder


@pytest.mark.parametrize(("flag", "value", "saved"), [("--lr", "0.5", "0.05"),
                                                      ("--hidden", "8", "16"),
                                                      ("--batch-size", "16", "64"),
                                                      # named, though equal to the default
                                                      ("--hidden", "256", "16"),
                                                      ("--lr", "0.1", "0.05")])
def test_resume_with_a_different_setting_is_refused_naming_both_values(one_epoch, flag, value,
                                                                       saved):
    before = (one_epoch / CHECKPOINT).read_bytes()
    run = _run(*DIGITS, "--epochs", "2", "--resume", "--out", str(one_epoch), flag, value)
    assert run.returncode == 1
    [line] = run.stderr.strip().splitlines()
    assert f"{flag} {value} differs from the checkpoint's {saved}" in line, line
    assert (one_epoch / CHECKPOINT).read_bytes() == before


def test_resume_with_the_same_settings_or_none_goes_on(one_epoch, tmp_path):
    import shutil

    for k, flags in enumerate([["--lr", "0.05", "--hidden", "16", "--batch-size", "64"], []]):
        folder = tmp_path / str(k)
        shutil.copytree(one_epoch, folder)
        run = _run(*DIGITS, "--epochs", "2", "--resume", "--out", str(folder), *flags)
        assert run.returncode == 0, run.stderr
        assert len(_arrays(folder)[1]["history"]) == 2


def test_an_explicit_data_dir_without_the_files_is_refused(tmp_path):
    run = _run("train", "--dataset", "fashion-mnist", "--data-dir", "/nonexistent",
               "--no-progress", "--epochs", "1", "--out", str(tmp_path / "run"))
    assert run.returncode == 1 and "(as asked)" not in run.stdout
    [line] = run.stderr.strip().splitlines()
    assert "--data-dir /nonexistent" in line and "Traceback" not in run.stderr
