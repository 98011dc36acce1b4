"""A trace refuses what a replay cannot repeat: a tensor turned into a Python value (issue 13).

A plan replays array calls only; a branch taken on a tensor's value, or a number read with
``.item()``, would be frozen at the traced call's value.  Each conversion raises
:class:`ReplayError` naming the user's line instead.  Python numbers that the function reads
from its own objects (``model.weight_decay``) are constants of the plan: pass them as tensors
to make them live inputs, or compile again after changing them (documented in cr.compile).
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ReplayError


def branch(a):
    if a.sum() > 0:
        return a * 2.0
    return a * -1.0


def scaled(a):
    return a * a.sum().item()


def listed(a):
    return cr.tensor(a.tolist()) * 2.0


def as_float(a):
    return a * float(a.sum())


def as_int(a):
    return a * int(a.sum())


def to_numpy(a):
    return a * np.asarray(a).sum()


@pytest.mark.parametrize("fn, what", [
    (branch, "bool()"), (scaled, r"item\(\)"), (listed, r"tolist\(\)"),
    (as_float, r"item\(\)"), (as_int, r"item\(\)"), (to_numpy, r"numpy\(\)"),
])
@pytest.mark.parametrize("how", ["trace", "compile"])
def test_a_python_value_of_a_tensor_inside_a_trace_is_refused_naming_the_line(fn, what, how):
    a = cr.tensor([1.0, 2.0])
    with pytest.raises(ReplayError, match=what) as info:
        if how == "trace":
            cr.trace(fn, a)
        else:
            cr.compile(fn)(a)
    assert "test_guards.py" in str(info.value)       # the user's file and line
    assert "cr.where" in str(info.value)             # and the fix


def test_the_same_functions_run_eagerly():
    a = cr.tensor([1.0, 2.0])
    for fn in (branch, scaled, listed, as_float, as_int, to_numpy):
        assert isinstance(fn(a), cr.Tensor)


def test_a_branch_written_with_where_replays_for_any_input():
    def f(a):
        return cr.where(a.sum() > 0, a * 2.0, a * -1.0)

    step = cr.compile(f)
    for values in ([1.0, 2.0], [-1.0, -2.0], [3.0, -1.0]):
        a = cr.tensor(values)
        np.testing.assert_array_equal(step(a).numpy(), f(a).numpy())
