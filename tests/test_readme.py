"""The README keeps its promises: it opens with the two commands and lists every operator."""

from __future__ import annotations

import re
from pathlib import Path

from chainrule.ops import OPS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_lists_every_operator():
    table = README.split("## The operator table", 1)[1].split("##", 1)[0]
    listed = set(re.findall(r"`([a-z_0-9]+)`", table))
    assert set(OPS) <= listed, f"missing from the README: {sorted(set(OPS) - listed)}"


def test_readme_opens_with_the_main_and_test_commands_and_ci_runs_the_second():
    blocks = re.findall(r"```bash\n(.*?)\n```", README, flags=re.S)
    main, test = blocks[0].split("#")[0].strip(), blocks[1].split("#")[0].strip()
    assert main == "bash scripts/main.sh" and test == "bash scripts/test.sh"
    assert (ROOT / "scripts" / "main.sh").exists()
    assert test in (ROOT / ".ci" / "run").read_text()
