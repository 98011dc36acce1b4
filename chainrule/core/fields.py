"""What the drawings, the derivation and the memory model read from an operator's record.

Beside its rules, an :class:`~chainrule.core.op.Op` declares

- ``view``: whether its output shares its first input's memory: a bool, or
  ``view(params, in_shapes, shape) -> bool`` when the call decides (``getitem`` with a basic
  index, ``sum_to`` to the shape it already has); read by :meth:`Op.is_view`;
- ``book``: a :class:`Book`, how the chapter writes it: its role in a drawing's labels, its
  symbol, and its forward and VJP in the book's notation, written as functions of a notation
  object that the drawing passes in (:class:`chainrule.viz.rules.Notation`), so that core and
  ops never import the drawings;
- ``memory``: a :class:`Memory`, what the memory model replays: the temporaries of its forward
  and of each VJP, what a VJP returns (``g`` itself, a view of it, a new array), and, for an
  operator whose VJP recomputes a region (``checkpoint``), how to record that region.

The memory fields are constants or functions of a *step*: the memory model's record of one
call, with ``shape``, ``itemsize``, ``in_shapes`` and ``params`` as recorded, and ``size``
(elements of the output), ``nbytes`` (its bytes), ``big`` (large enough for NumPy to reuse a
temporary operand in place) and ``cast_buffer`` (the bytes of a ufunc's casting buffer).
A new operator is one declaration in :mod:`chainrule.ops`; these fields default to a generic
function call in the book (``f(x)``, ``vjp_f(g)``) and to one new array per VJP.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

__all__ = ["Book", "Memory", "base_buffer", "BOOKKEEPING", "ACTIVATION", "SQUARES", "SQUARE",
           "TOTAL", "COMBINE", "SCALE", "ROLES", "ALIAS", "VIEW", "NEWVIEW", "TRANSPOSED",
           "READONLY", "NEW", "RESULTS", "one_array", "elided", "cast_buffer"]

# ---------------------------------------------------------------------------- the book
BOOKKEEPING = "bookkeeping"  # shapes and dtypes only: left out of a region's label
ACTIVATION = "activation"    # the chapter's phi
SQUARES = "squares"          # a sum of squares in one step, |x|_F^2
SQUARE = "square"            # x ** k, a square when k is 2
TOTAL = "total"              # a sum over axes
COMBINE = "combine"          # x + y
SCALE = "scale"              # x * c and x / c
ROLES = frozenset({None, BOOKKEEPING, ACTIVATION, SQUARES, SQUARE, TOTAL, COMBINE, SCALE})


class Book(NamedTuple):
    """How the chapter writes an operator; every field may be left out.

    ``forward(n, args)`` is its output written from its inputs' expressions ``args``;
    ``vjp(n, i, g, args, out)`` the gradient it passes to input ``i`` from its output's
    gradient ``g`` (``out``: its output's expression), or None where the book has no rule.
    ``n`` is the notation: ``add``, ``neg``, ``hadamard``, ``div``, ``matmul``, ``transpose``,
    ``power``, ``scale``, ``norm2`` and ``call`` build expressions; ``number(e)`` is the value
    of a constant (or None), ``note`` adds to the legend, ``params``, ``shape`` and
    ``in_shapes`` describe the recorded call.
    """

    role: str | None = None      # one of ROLES: how a drawing's label counts it
    symbol: str | None = None    # a lone arithmetic operator's label in a drawing ("+")
    forward: Callable | None = None
    vjp: Callable | None = None


# ---------------------------------------------------------------------------- the memory
ALIAS = "alias"              # the VJP returns g itself
VIEW = "view"                # a view of g
NEWVIEW = "newview"          # a view of an array it made (sum_to reshapes its sum)
TRANSPOSED = "transposed"    # a transposed view of g
READONLY = "readonly"        # a broadcast view of g: a .grad gets a copy
NEW = "new"                  # a new array
RESULTS = frozenset({ALIAS, VIEW, NEWVIEW, TRANSPOSED, READONLY, NEW})


def one_array(step, i: int = 0) -> int:
    """One temporary the size of the output (what a VJP makes unless told otherwise)."""
    return step.nbytes


def elided(step, i: int = 0) -> int:
    """One temporary the size of the output, which NumPy reuses in place when it is big."""
    return 0 if step.big else step.nbytes


def cast_buffer(step, i: int = 0) -> int:
    """A ufunc's casting buffer (multiplying by a bool mask)."""
    return step.cast_buffer


class Memory(NamedTuple):
    """What the memory model replays for an operator (see the module doc)."""

    forward: int | Callable = 0          # bytes of temporaries beside the output: fn(step)
    vjp: int | Callable = one_array      # ... beside VJP i's result: fn(step, i)
    result: str | Callable = NEW         # what VJP i returns, one of RESULTS: fn(step, i)
    region: Callable | None = None       # region(node): (output, inputs) of the region its
                                         # VJP recomputes, recorded again; None once freed

    def forward_temps(self, step) -> int:
        """Bytes of temporaries alive at the peak of the forward, beside the output."""
        f = self.forward
        return f(step) if callable(f) else f

    def vjp_temps(self, step, i: int) -> int:
        """Bytes of temporaries alive at the peak of VJP ``i``, beside its result."""
        f = self.vjp
        return f(step, i) if callable(f) else f

    def returns(self, step, i: int) -> str:
        """What VJP ``i`` returns: one of :data:`RESULTS`."""
        f = self.result
        return f(step, i) if callable(f) else f


def base_buffer(a):
    """The array that owns ``a``'s memory: ``a`` itself, or the base its views lead to."""
    while getattr(a, "base", None) is not None and hasattr(a.base, "shape"):
        a = a.base
    return a
