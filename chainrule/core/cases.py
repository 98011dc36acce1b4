"""The test cases an operator declares: :class:`Sample` inputs and :class:`BadInput` refusals.

They live apart from :mod:`chainrule.core.op` so that the sample makers in
:mod:`chainrule.ops.samples` need nothing of the engine (and stay out of the import circle
that ``tests/test_layers.py`` measures).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Sample", "BadInput"]


class Sample(NamedTuple):
    """Arguments for one call of an operator in the generated tests."""

    args: tuple
    params: dict = {}


class BadInput(NamedTuple):
    """Arguments that must make an operator raise ``error`` with ``match`` in its message."""

    args: tuple
    params: dict
    error: type
    match: str
