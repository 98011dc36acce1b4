"""Each operator's forward and backward as the chapter writes them, in symbols.

How the book writes an operator is part of its record (``op.book``, a
:class:`~chainrule.core.fields.Book`): functions of a :class:`Notation`, the algebra of
:mod:`chainrule.viz.symbolic` with what the node recorded, which this module passes in.
:func:`forward_expr` gives what a recorded node computes (``W1 x``, ``phi(z)``, ``l(o, y)``,
``lambda/2 (|W1|_F^2 + |W2|_F^2)``); :func:`vjp_expr` gives the gradient it passes to input
``i`` from the gradient ``g`` of its output (``W2^T dJ/do``, ``dJ/dh (.) phi'(z)``).  Shape
bookkeeping (reshape, broadcast to a shape of the same size, astype) passes gradients through
unchanged, as the chapter's ``prod`` hides transposition and reshaping.  An operator whose
record has no rule prints as ``name(x)`` and ``vjp_name(g)``: honest, if terse.
"""

from __future__ import annotations

from ..core.graph import Node
from . import symbolic
from .symbolic import (ONE, ONES, Atom, Coef, Expr, Norm2, Power, Sum, add, call, div,
                       hadamard, matmul, neg, norm2, transpose)

__all__ = ["Number", "Context", "Notation", "forward_expr", "vjp_expr"]


class Number(Atom):
    """A constant that is not a tensor (``lambda/2``, the exponent 2); ``value`` may be None."""

    def __init__(self, value):
        self.value = value
        if value is None:
            super().__init__("c", "c", scalar=True)
        else:
            v = float(value)
            text = str(int(v)) if v == int(v) else f"{v:.4g}"
            super().__init__(text, text, scalar=True)


class Context:
    """What one derivation learns on the way: symbols to explain, and scale factors found."""

    def __init__(self):
        self.legend: dict[str, str] = {}        # symbol -> its meaning ("phi": "relu")
        self.coefs: dict[int, Coef] = {}        # id(node) -> the factor it multiplies by

    def note(self, symbol: str, meaning: str) -> None:
        known = self.legend.get(symbol)
        if known is None:
            self.legend[symbol] = meaning
        elif meaning not in known.split(", "):
            self.legend[symbol] = f"{known}, {meaning}"


def const_value(node: Node, i: int):
    """The value of input ``i`` of ``node`` when it is a non-tensor constant it saved."""
    name = node.op.inputs[min(i, len(node.op.inputs) - 1)]
    if node.saved is None or name not in node.op.saves:
        return None
    value = node.saved[node.op.saves.index(name)]
    return value if isinstance(value, (int, float)) else None


def _is_regulariser(e: Expr) -> bool:
    terms = e.terms if isinstance(e, Sum) else [e]
    return all(isinstance(t, Norm2) for t in terms)


def _number(e: Expr | None):
    return e if isinstance(e, Number) else None


class Notation:
    """The book's notation for one recorded node: what the ``book`` rules of its record get.

    Builders of :mod:`chainrule.viz.symbolic` (``add``, ``neg``, ``hadamard``, ``div``,
    ``matmul``, ``transpose``, ``norm2``, ``call``), a few that know the chapter's habits
    (``phi``, ``phi_prime``, ``product``, ``power``, ``scale``, ``note``), and what the node
    recorded: ``params``, its output's ``shape`` and its inputs' ``in_shapes`` (the VJP only).
    """

    ONE, ONES = ONE, ONES               # a unit gradient, a vector of ones
    add = staticmethod(add)
    neg = staticmethod(neg)
    hadamard = staticmethod(hadamard)
    div = staticmethod(div)
    matmul = staticmethod(matmul)
    transpose = staticmethod(transpose)
    norm2 = staticmethod(norm2)
    call = staticmethod(call)

    def __init__(self, node: Node, ctx: Context, in_shapes: list | None = None):
        self.node, self.ctx = node, ctx
        self.params, self.shape, self.in_shapes = node.params, node.shape, in_shapes

    @staticmethod
    def number(e: Expr | None):
        """The value of a constant that is not a tensor, or None (not one, or unknown)."""
        return e.value if isinstance(e, Number) else None

    @staticmethod
    def is_scalar(e: Expr) -> bool:
        return e.scalar

    @staticmethod
    def squared(e: Expr) -> Expr | None:
        """``x`` when ``e`` is ``x^2``, else None."""
        return e.a if isinstance(e, Power) and e.k == "2" else None

    @staticmethod
    def symbol(text: str, scalar: bool = False) -> Atom:
        """A symbol that stands for itself (``n``, the batch size)."""
        return Atom(text, text, scalar=scalar)

    def note(self, symbol: str, meaning: str, expr: Expr | None = None) -> Expr | None:
        """Add ``symbol = meaning`` to the legend; returns ``expr``."""
        self.ctx.note(symbol, meaning)
        return expr

    @staticmethod
    def power(a: Expr, k) -> Expr:
        """``a^k`` for a number ``k``, or for a constant of unknown value ``a^c``."""
        return Power(a, k.text()) if isinstance(k, Expr) else symbolic.power(a, k)

    @staticmethod
    def scale(c: float, e: Expr) -> Expr:
        """``c e`` for a number ``c``."""
        return symbolic.scale(Coef(c), e)

    def phi(self, x: Expr) -> Expr:
        """The chapter's activation ``phi(x)``; the legend says which one."""
        self.ctx.note("phi", self.node.op.name)
        return call("phi", x, latex=r"\phi")

    @staticmethod
    def phi_prime(x: Expr) -> Expr:
        return call("phi'", x, latex=r"\phi'")

    def product(self, a: Expr, b: Expr) -> Expr:
        """``a (.) b``; by a constant, a scale factor, and a scaled sum of squared norms is
        the chapter's ``lambda/2 (|W1|_F^2 + ...)``."""
        num, other = (a, b) if _number(a) else (b, a)
        if _number(num) is None:
            return hadamard(a, b)
        if _is_regulariser(other):
            coef = Coef(0.5, 1)                 # c (|W1|^2 + ...) is lambda/2 (...)
            if num.value is not None:
                self.ctx.note("lambda", f"{2 * float(num.value):g}")
            else:
                self.ctx.note("lambda", "2c (the factor was freed by backward)")
        else:
            coef = Coef(None if num.value is None else float(num.value))
        self.ctx.coefs[id(self.node)] = coef
        return symbolic.scale(coef, other)

    def product_grad(self, g: Expr, other: Expr) -> Expr:
        """The gradient of ``x (.) other`` for ``x``: by the scale factor found forward."""
        if _number(other) is not None:
            return symbolic.scale(self.ctx.coefs.get(id(self.node), Coef(other.value)), g)
        return hadamard(g, other)


def forward_expr(node: Node, args: list, ctx: Context) -> Expr:
    """What ``node`` computes, from the expressions of its inputs."""
    rule = node.op.book.forward
    if rule is None:
        return call(node.op.name, *[x for x in args if x is not None])
    return rule(Notation(node, ctx), args)


def vjp_expr(node: Node, i: int, g: Expr, args: list, out: Expr, shapes: list,
             ctx: Context) -> Expr:
    """The gradient ``node`` passes to its input ``i`` when its output's gradient is ``g``."""
    rule = node.op.book.vjp
    gi = None if rule is None else rule(Notation(node, ctx, shapes), i, g, args, out)
    if gi is not None:
        return gi
    name = node.op.name
    suffix = f"[{i}]" if len(node.edges) > 1 else ""
    escaped = name.replace("_", r"\_")
    return call(f"vjp_{name}{suffix}", g,
                latex=rf"\operatorname{{vjp}}_{{\mathrm{{{escaped}}}{suffix}}}")
