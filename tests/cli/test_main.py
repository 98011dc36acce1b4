"""The command line: the chapter's report, and clean failures."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from chainrule.cli import main


def test_chapter_report_shows_every_gradient_agreeing_with_its_closed_form(capsys):
    assert main(["chapter", "--hidden", "32"]) == 0
    out = capsys.readouterr().out
    for name in ("dJ/do", "dJ/dW2", "dJ/dh", "dJ/dz", "dJ/dW1"):
        assert name in out
    diffs = [float(d) for d in re.findall(r"closed form\| <= ([0-9.e+-]+)", out)]
    assert len(diffs) == 5 and max(diffs) < 1e-12
    assert "(32, 784)" in out


def test_bad_flag_exits_non_zero_with_one_line():
    run = subprocess.run([sys.executable, "-m", "chainrule", "chapter", "--hidden", "x"],
                         capture_output=True, text=True)
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert "--hidden" in run.stderr


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "chapter" in capsys.readouterr().out


def test_hidden_must_be_positive():
    with pytest.raises(SystemExit):
        main(["chapter", "--hidden", "0"])
