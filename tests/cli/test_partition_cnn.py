"""``chainrule partition --model lenet|lenet-relu|vgg`` and ``chainrule memory|graph --model
vgg``: the plan printed with the maps across each cut, and every bad combination of flags
refused in one typed line (never a traceback)."""

from __future__ import annotations

import pytest

from chainrule.cli import main

BASE = ["partition", "--memory-per-device", "1GiB", "--batch-size", "256"]


@pytest.mark.parametrize("model", ["lenet", "lenet-relu", "vgg"])
def test_partition_plans_each_cnn(model, capsys):
    assert main([*BASE, "--model", model, "--devices", "2", "--micro-batches", "4"]) == 0
    out = capsys.readouterr().out
    assert "1x28x28 images" in out and "4 micro-batches" in out
    assert "layers: 0 Conv2d(1, " in out and "Flatten" in out
    assert out.count("\ncut before layer ") == 1


def test_partition_lenet_prints_the_pooled_map_and_its_bytes(capsys):
    assert main([*BASE, "--model", "lenet", "--devices", "3", "--micro-batches", "4",
                 "--schedule", "1f1b"]) == 0
    out = capsys.readouterr().out
    # 256 x 6 x 14 x 14 float32 = 1,204,224 B each way; 256 x 400 float32 = 409,600 B
    assert ("cut before layer 3 (Conv2d(6, 16, 5): (256, 6, 14, 14) float32): 2.3 MiB per "
            "step = 1.1 MiB activations forward + 1.1 MiB gradients back") in out
    assert "cut before layer 7 (Linear(400, 120): (256, 400) float32): 800.0 KiB" in out
    assert [line.split()[1] for line in out.splitlines()
            if line[:2] in ("0 ", "1 ", "2 ")] == ["0-2", "3-6", "7-11"]


@pytest.mark.parametrize("flags, named", [
    (["--model", "lenet", "--hidden", "64"], "--hidden"),
    (["--model", "lenet-relu", "--layers", "3"], "--layers"),
    (["--model", "vgg", "--inputs", "3072"], "--inputs"),
    (["--model", "vgg", "--bias"], "--bias"),
    (["--model", "lenet", "--compare"], "--compare"),
])
def test_mlp_flags_and_compare_with_a_cnn_are_one_typed_line(flags, named, capsys):
    assert main([*BASE, *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and named in err[0] and "--model" in err[0], err
    assert "Traceback" not in err[0]


@pytest.mark.parametrize("flags, status, words", [
    (["--model", "resnet"], 2, "--model"),
    (["--model", "lenet", "--devices", "6"], 1, "at most 5 devices"),
    (["--model", "vgg", "--memory-per-device", "1MiB"], 1, "per device"),
    (["--model", "lenet", "--batch-size", "0"], 2, "--batch-size"),
    (["--model", "lenet", "--micro-batches", "x"], 2, "--micro-batches"),
])
def test_bad_cnn_plans_are_one_line_on_stderr(flags, status, words, capsys):
    try:
        got = main([*BASE, *flags])
    except SystemExit as stop:                    # argparse's own refusals
        got = stop.code
    assert got == status
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err


def test_memory_and_graph_take_vgg(tmp_path, capsys):
    assert main(["memory", "--model", "vgg", "--batch-size", "2", "--table"]) == 0
    out = capsys.readouterr().out
    assert "VGG [[16, 16], [32, 32]], 784 inputs" in out and "conv2d" in out
    assert "max_pool2d" in out and "training step" in out
    path = tmp_path / "vgg.dot"
    assert main(["graph", "--model", "vgg", "--out", str(path)]) == 0
    assert path.read_text().count("conv") >= 4
