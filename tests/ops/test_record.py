"""Every operator's record carries what the drawings, the derivation and the memory model read,
and those consumers read the record instead of branching on operator names."""

from __future__ import annotations

import ast
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import chainrule as cr
from chainrule.core.fields import RESULTS, ROLES, Book, Memory
from chainrule.ops import OPS

ROOT = Path(cr.__file__).parent
CONSUMERS = ("viz", "memory")
# string constants that equal an operator's name but do not name one
NOT_OPERATORS = {
    ("derivation.py", "where"),                 # the legend's word: "where phi = tanh"
    ("examples.py", "tanh"), ("examples.py", "relu"),
    ("examples.py", "sigmoid"),                 # build_mlp(activation=...) picks a function
}


def _step(op, sample):
    """The memory model's view of one call of ``op`` (sizes only)."""
    ans = np.asarray(op.forward(*sample.args, **sample.params))
    size = math.prod(ans.shape)
    itemsize = ans.dtype.itemsize
    return SimpleNamespace(shape=ans.shape, itemsize=itemsize, params=sample.params,
                           in_shapes=[np.shape(a) for a in sample.args], size=size,
                           nbytes=size * itemsize, big=False, cast_buffer=itemsize * size)


@pytest.mark.parametrize("op", list(OPS.values()), ids=lambda op: op.name)
def test_every_operator_declares_the_fields_the_features_read(op):
    assert isinstance(op.view, bool) or callable(op.view), op.name
    assert isinstance(op.book, Book), op.name
    assert op.book.role in ROLES, op.name
    assert op.book.symbol is None or isinstance(op.book.symbol, str), op.name
    assert op.book.forward is None or callable(op.book.forward), op.name
    assert op.book.vjp is None or callable(op.book.vjp), op.name
    assert isinstance(op.memory, Memory), op.name
    assert op.memory.region is None or callable(op.memory.region), op.name
    if op.name == "checkpoint":           # its samples need a function; the region says it
        assert op.memory.region is not None
        return
    for sample in op.samples(np.random.default_rng(0)):
        step = _step(op, sample)
        assert op.memory.forward_temps(step) >= 0, op.name
        for i in range(len(sample.args)):
            assert op.memory.vjp_temps(step, i) >= 0, op.name
            assert op.memory.returns(step, i) in RESULTS, op.name


@pytest.mark.parametrize("op", [op for op in OPS.values() if op.name != "checkpoint"],
                         ids=lambda op: op.name)
def test_the_view_field_says_when_the_output_shares_memory(op):
    for sample in op.samples(np.random.default_rng(0)):
        x = sample.args[0]
        ans = op.forward(*sample.args, **sample.params)
        declared = op.is_view(sample.params, [np.shape(a) for a in sample.args], np.shape(ans))
        assert declared == (isinstance(ans, np.ndarray) and np.may_share_memory(ans, x)), (
            f"{op.name} {sample.params}: view field says {declared}")


def _literals(tree: ast.AST):
    """Each string constant compared with something, or listed in a set, tuple or dict."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            continue
        if isinstance(node, ast.Compare):
            items = [node.left, *node.comparators]
        elif isinstance(node, (ast.Set, ast.Tuple, ast.List)):
            items = node.elts
        elif isinstance(node, ast.Dict):
            items = [k for k in node.keys if k is not None]
        else:
            continue
        for item in items:
            if isinstance(item, ast.Constant) and isinstance(item.value, str):
                yield item


def _all_names(tree: ast.AST) -> set[int]:
    """ids of the string constants that sit in an ``__all__`` list."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            out |= {id(c) for c in ast.walk(node.value)}
    return out


def test_no_consumer_branches_on_an_operator_name():
    found = []
    for package in CONSUMERS:
        for path in sorted((ROOT / package).glob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            skip = _all_names(tree)
            for c in _literals(tree):
                if (c.value in OPS and id(c) not in skip
                        and (path.name, c.value) not in NOT_OPERATORS):
                    found.append(f"{path.relative_to(ROOT.parent)}:{c.lineno}: {c.value!r}")
    assert not found, ("compare the Op record's fields, not operator names:\n"
                       + "\n".join(found))


def test_the_name_check_can_fail():
    tree = ast.parse('if node.op.name == "transpose":\n    pass\nKINDS = ("add", "x")\n')
    assert sorted(c.value for c in _literals(tree) if c.value in OPS) == ["add", "transpose"]
