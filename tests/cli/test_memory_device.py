"""``chainrule memory --measure --device D`` measures the step on D (the strict test device
here; CuPy's pool on a GPU), and refuses a device it cannot use in one line."""

from __future__ import annotations

import re

import pytest

import chainrule as cr
from chainrule import backend
from chainrule.cli import main
from chainrule.testing import strict

strict.register()


@pytest.fixture(autouse=True)
def back_on_the_cpu():
    yield
    backend.activate(backend.CPU)


def _peaks(out: str) -> list[int]:
    """The training step's predicted and measured bytes."""
    line = next(line for line in out.splitlines() if "training step" in line)
    return [int(m.replace(",", "")) for m in re.findall(r"([\d,]+) B", line)]


def test_measure_on_a_device_agrees_with_the_cpu(capsys):
    flags = ["memory", "--batch-size", "64", "--hidden", "64", "--measure"]
    assert main(flags) == 0
    on_cpu = capsys.readouterr().out
    assert main(flags + ["--device", "strict"]) == 0
    on_strict = capsys.readouterr().out
    assert "measured on strict" in on_strict and "measured on" not in on_cpu.splitlines()[0]
    (pc, mc), (ps, ms) = _peaks(on_cpu), _peaks(on_strict)
    assert pc == ps                              # the prediction needs no device
    assert abs(ms - mc) < 0.03 * mc              # measured on the device, as on the CPU


def test_a_device_without_measure_is_refused(capsys):
    assert main(["memory", "--device", "strict"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--measure" in err[0]


@pytest.mark.skipif(cr.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_says_what_to_install(capsys):
    assert main(["memory", "--device", "cuda", "--measure"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "chainrule[cuda]" in err[0]
