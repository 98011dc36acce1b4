"""``chainrule graph``, ``explain`` and ``memory`` take ``--model lenet`` as ``train`` does."""

from __future__ import annotations

import re

import pytest

from chainrule.cli import main


@pytest.mark.parametrize("model", ["lenet", "lenet-relu"])
def test_graph_draws_lenet_with_its_convolutions(model, tmp_path, capsys):
    out = tmp_path / "lenet.dot"
    assert main(["graph", "--model", model, "--out", str(out)]) == 0
    dot = out.read_text()
    assert "conv2d" in dot and "features.0.weight" in dot and "(6, 1, 5, 5)" in dot
    assert ("avg_pool2d" if model == "lenet" else "max_pool2d") in dot


def test_memory_sizes_lenet(capsys):
    assert main(["memory", "--model", "lenet", "--batch-size", "1", "256"]) in (0, None)
    out = capsys.readouterr().out
    assert out.startswith("chainrule memory: LeNet (lenet)")
    peaks = [int(m.replace(",", "")) for m in re.findall(r"training step .*?([\d,]+) B", out)]
    assert len(peaks) == 2 and peaks[1] > 20 * peaks[0]      # it grows with the batch


def test_an_unknown_model_is_one_line_on_stderr(capsys):
    with pytest.raises(SystemExit) as info:
        main(["memory", "--model", "resnet"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "--model" in err[-1] and "Traceback" not in "".join(err)


def test_explain_derives_lenet_with_correlations_and_transposed_convolutions(capsys):
    assert main(["explain", "--model", "lenet", "--batch-size", "2"]) == 0
    out = capsys.readouterr().out
    # the kernel's gradient is a correlation of the input with the output gradient, the
    # input's a transposed convolution, each line with its shape
    kernel = next(line for line in out.splitlines() if line.strip().startswith(
        "dJ/dfeatures.3.weight"))
    assert "corr(p1, dJ/dc2)" in kernel and kernel.rstrip().endswith("(16, 6, 5, 5)")
    back = next(line for line in out.splitlines() if line.strip().startswith("dJ/dp1 "))
    assert "conv^T(dJ/dc2, features.3.weight)" in back and back.rstrip().endswith(
        "(2, 6, 14, 14)")
    assert "avgpool^T(dJ/dp2)" in out


@pytest.mark.parametrize("command", ["graph", "explain"])
@pytest.mark.parametrize("flags", [["--hidden", "7"], ["--bias"]])
def test_the_chapter_networks_flags_are_refused_with_a_cnn(command, flags, capsys):
    assert main([command, "--model", "lenet", *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and flags[0] in err[0] and "--model lenet" in err[0]
