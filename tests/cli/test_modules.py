"""The command line's shape: one parser, one module per subcommand, one set of checks; and the
training modules import one way."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import chainrule
from chainrule.cli.main import _parser

COMMANDS = ["train", "chapter", "graph", "explain", "memory", "partition"]
PACKAGE = Path(chainrule.__file__).parent


@pytest.mark.parametrize("command", COMMANDS)
def test_each_subcommand_is_a_module_that_adds_its_parser(command):
    module = importlib.import_module(f"chainrule.cli.{command}")
    add = getattr(module, f"add_{command}_parser")
    args = _parser().parse_args([command] + (["--memory-per-device", "1GiB"]
                                             if command == "partition" else []))
    assert args.func.__module__ == module.__name__ and add.__module__ == module.__name__


def _imports(path: Path) -> set[str]:
    """The modules a file imports, relative ones as written (``.run``, ``..memory``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            found.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_subcommands_share_the_argument_checks_and_define_none_of_their_own():
    for command in COMMANDS:
        tree = ast.parse((PACKAGE / "cli" / f"{command}.py").read_text())
        types = {kw.value.id for node in ast.walk(tree) if isinstance(node, ast.Call)
                 for kw in node.keywords if kw.arg == "type" and isinstance(kw.value, ast.Name)}
        local = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        assert not types & local, (command, types & local)


def test_train_loop_and_pipeline_do_not_import_each_other():
    train = PACKAGE / "train"
    assert ".loop" not in _imports(train / "pipeline.py")
    assert not {".loop", ".pipeline"} & _imports(train / "run.py")
    assert ".run" in _imports(train / "pipeline.py") and ".run" in _imports(train / "loop.py")


def test_measure_is_a_memory_feature():
    from chainrule.memory import measure

    assert measure.__module__ == "chainrule.memory.measure"
