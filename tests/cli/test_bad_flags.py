"""Every subcommand's flags against bad values: one line on stderr naming the flag, never a
traceback, and a non-zero status.

The catalogue is generated from one table: each flag with the kind of value it takes, and each
kind with the values it must refuse (not a number, negative, zero, infinite, not a number at
all, too big).  Most cases run :func:`chainrule.cli.main` in this process; a few run the real
``python -m chainrule`` to prove the entry point says the same.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from chainrule.cli import main
from chainrule.storage import load_checkpoint, save_checkpoint
from chainrule.train import CHECKPOINT

WHOLE = ["x", "-1", "0", "inf", "nan", "1.5", "1e3", str(10**30)]    # counts: 1 and up
SEED = ["x", "-1", "-inf", "inf", "nan", "1.5", str(10**30)]          # 0 and up
POSITIVE = ["x", "-1", "0", "-0", "inf", "-inf", "nan", "1e400"]      # finite, above 0
NON_NEGATIVE = ["x", "-1", "-1e-9", "inf", "-inf", "nan", "1e400"]    # finite, 0 and up
SIZE = ["x", "-1", "0", "inf", "nan", "1e400", "12XB", "", "9" * 400]  # bytes, a unit
HUGE = "2000000000"        # a valid count whose network would not fit in any machine here

# subcommand: (flags every case needs, {flag: values it refuses})
TABLE = {
    "train": ([], {"--epochs": WHOLE, "--batch-size": WHOLE, "--hidden": WHOLE,
                   "--layers": WHOLE, "--micro-batches": WHOLE, "--lr": POSITIVE,
                   "--weight-decay": NON_NEGATIVE, "--seed": SEED}),
    "chapter": ([], {"--hidden": WHOLE, "--weight-decay": NON_NEGATIVE, "--seed": SEED}),
    "graph": ([], {"--hidden": WHOLE, "--batch-size": WHOLE}),
    "explain": ([], {"--hidden": WHOLE, "--batch-size": WHOLE}),
    "memory": ([], {"--batch-size": WHOLE, "--hidden": WHOLE, "--layers": WHOLE,
                    "--inputs": WHOLE, "--classes": WHOLE, "--weight-decay": NON_NEGATIVE}),
    "partition": (["--memory-per-device=1GiB"],
                  {"--layers": WHOLE, "--hidden": WHOLE, "--batch-size": WHOLE,
                   "--devices": WHOLE, "--micro-batches": WHOLE, "--inputs": WHOLE,
                   "--classes": WHOLE, "--epochs": WHOLE, "--examples": WHOLE,
                   "--lr": POSITIVE, "--memory-per-device": SIZE}),
}

# sizes each valid alone that make a network too big to build here: (command, flag, extra)
TOO_BIG = [("train", "--hidden", []), ("train", "--layers", []), ("train", "--batch-size", []),
           ("chapter", "--hidden", []), ("graph", "--hidden", []),
           ("graph", "--batch-size", []), ("explain", "--hidden", []),
           ("explain", "--batch-size", []), ("memory", "--hidden", []),
           ("memory", "--layers", []), ("memory", "--inputs", []), ("memory", "--classes", []),
           ("memory", "--batch-size", ["--measure"]),
           ("partition", "--hidden", ["--memory-per-device=1GiB"]),
           ("partition", "--layers", ["--memory-per-device=1GiB"]),
           ("partition", "--inputs", ["--memory-per-device=1GiB"]),
           ("partition", "--classes", ["--memory-per-device=1GiB"])]


def _cases():
    for command, (base, flags) in TABLE.items():
        for flag, values in flags.items():
            for value in values:
                yield pytest.param(command, flag, [*base, f"{flag}={value}"],
                                   id=f"{command} {flag}={value[:12]}")
    for command, flag, extra in TOO_BIG:
        yield pytest.param(command, flag, [*extra, f"{flag}={HUGE}"],
                           id=f"{command} {flag}={HUGE} (too big)")


def _status(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as stop:          # argparse's refusal
        return stop.code


def _assert_one_line(status, err: str, flag: str) -> None:
    lines = err.strip().splitlines()
    assert status not in (0, None), err
    assert "Traceback" not in err
    assert len(lines) == 1, err
    assert flag in lines[0], lines[0]


@pytest.mark.parametrize("command, flag, argv", list(_cases()))
def test_a_bad_value_is_one_line_naming_its_flag(command, flag, argv, capsys, tmp_path,
                                                 monkeypatch):
    monkeypatch.chdir(tmp_path)         # a command that wrongly ran would write here
    status = _status([command, *argv])
    _assert_one_line(status, capsys.readouterr().err, flag)
    assert list(tmp_path.iterdir()) == []


def test_the_catalogue_is_large():
    assert len(list(_cases())) >= 100


# --out: files, folders and places nobody can write
def _out_cases(tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    return {"an existing file": str(a_file), "a folder under a file": str(a_file / "run"),
            "/proc": "/proc/chainrule-run", "/sys": "/sys"}


@pytest.mark.parametrize("where", ["an existing file", "a folder under a file", "/proc", "/sys"])
def test_train_out_that_cannot_be_written_is_refused_before_training(where, tmp_path, capsys):
    out = _out_cases(tmp_path)[where]
    status = _status(["train", "--dataset", "digits", "--hidden", "8", "--epochs", "1",
                      "--no-progress", "--out", out])
    captured = capsys.readouterr()
    _assert_one_line(status, captured.err, "--out")
    assert "epoch" not in captured.out      # nothing trained


@pytest.mark.parametrize("where", ["a folder", "a folder under a file", "a missing /proc one"])
def test_graph_out_that_cannot_be_written_is_refused(where, tmp_path, capsys):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    out = {"a folder": str(tmp_path), "a folder under a file": str(a_file / "g.dot"),
           "a missing /proc one": "/proc/chainrule-none/g.dot"}[where]
    status = _status(["graph", "--hidden", "4", "--out", out])
    _assert_one_line(status, capsys.readouterr().err, "--out")


def test_graph_out_in_a_missing_folder_makes_the_folder(tmp_path, capsys):
    out = tmp_path / "new" / "deeper" / "g.dot"
    assert main(["graph", "--hidden", "4", "--out", str(out)]) == 0
    assert out.read_text().startswith("digraph")
    assert "wrote" in capsys.readouterr().out


# --resume on a checkpoint whose metadata is not what train writes
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    assert main(["train", "--dataset", "digits", "--hidden", "8", "--epochs", "1",
                 "--no-progress", "--out", str(folder)]) == 0
    return load_checkpoint(folder / CHECKPOINT)


def _without(meta: dict, key: str) -> dict:
    return {k: v for k, v in meta.items() if k != key}


DAMAGES = {
    "missing history": lambda meta: _without(meta, "history"),
    "missing config": lambda meta: _without(meta, "config"),
    "an extra key": lambda meta: {**meta, "surprise": 1},
    "an unknown setting": lambda meta: {**meta, "config": {**meta["config"], "momentum": 0.9}},
    "a missing setting": lambda meta: {**meta, "config": _without(meta["config"], "hidden")},
    "config not a dict": lambda meta: {**meta, "config": [1, 2]},
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_resume_from_a_checkpoint_with_wrong_metadata_is_refused(damage, checkpoint, tmp_path,
                                                                 capsys):
    arrays, meta = checkpoint
    save_checkpoint(tmp_path / CHECKPOINT, arrays, DAMAGES[damage](meta))
    status = _status(["train", "--resume", "--out", str(tmp_path), "--epochs", "2",
                      "--no-progress"])
    err = capsys.readouterr().err
    _assert_one_line(status, err, "--resume")
    assert str(tmp_path / CHECKPOINT) in err


# the real entry point, in a process of its own
@pytest.mark.parametrize("argv, flag", [
    (["train", "--seed", "-1"], "--seed"),
    (["train", "--lr", "nan"], "--lr"),
    (["train", "--hidden", "1000000000"], "--hidden"),
    (["train", "--out", "/sys", "--dataset", "digits", "--no-progress"], "--out"),
    (["memory", "--inputs", "x"], "--inputs"),
    (["partition", "--memory-per-device", "inf"], "--memory-per-device"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_python_m_chainrule_says_one_line(argv, flag, tmp_path):
    run = subprocess.run([sys.executable, "-m", "chainrule", *argv], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    _assert_one_line(run.returncode, run.stderr, flag)
