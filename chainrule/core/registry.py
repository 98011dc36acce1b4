"""The public functions the tensor methods call, by name.

The functions live above the core, so the core never imports them: each function module
registers its functions with :func:`provide` when it is imported (``import chainrule`` imports
them all), and :mod:`chainrule.core.methods` and :mod:`chainrule.core.arraydata` look them up
in :data:`FUNCTIONS` when called.
"""

from __future__ import annotations

from typing import Callable

__all__ = ["FUNCTIONS", "provide"]

#: The public functions the methods call, by name (filled by :func:`provide`).
FUNCTIONS: dict[str, Callable] = {}


def provide(**functions: Callable) -> None:
    """Register public functions for the tensor methods of the same names."""
    FUNCTIONS.update(functions)
