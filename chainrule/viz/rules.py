"""Each operator's forward and backward as the chapter writes them, in symbols.

:func:`forward_expr` gives what a recorded node computes (``W1 x``, ``phi(z)``, ``l(o, y)``,
``lambda/2 (|W1|_F^2 + |W2|_F^2)``); :func:`vjp_expr` gives the gradient it passes to input
``i`` from the gradient ``g`` of its output (``W2^T dJ/do``, ``dJ/dh (.) phi'(z)``).  Shape
bookkeeping (reshape, broadcast to a shape of the same size, astype) passes gradients through
unchanged, as the chapter's ``prod`` hides transposition and reshaping.  An operator without a
rule here prints as ``vjp_name(g)``: honest, if terse.
"""

from __future__ import annotations

from ..core.graph import Node
from ..ops.shape import is_basic
from .symbolic import (ONE, ONES, Atom, Coef, Expr, Norm2, Power, Sum, add, call, div,
                       hadamard, matmul, neg, norm2, power, scale, transpose)

__all__ = ["Number", "Context", "forward_expr", "vjp_expr", "PHI", "PASS"]

PHI = frozenset({"relu", "tanh", "sigmoid", "softplus"})
PASS = frozenset({"reshape", "identity", "astype", "sum_to"})
_UNARY = frozenset({"exp", "log", "sqrt", "sin", "cos", "abs"})


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


def forward_expr(node: Node, args: list, ctx: Context) -> Expr:
    """What ``node`` computes, from the expressions of its inputs."""
    name = node.op.name
    a = args
    if name in PASS or name == "broadcast_to":
        return a[0]
    if name == "getitem":
        return a[0] if is_basic(node.params["index"]) else call("index", a[0])
    if name == "transpose":
        return transpose(a[0])
    if name == "matmul":
        return matmul(a[0], a[1])
    if name in PHI:
        ctx.note("phi", name)
        return call("phi", a[0], latex=r"\phi")
    if name == "add":
        return add(a[0], a[1])
    if name == "sub":
        return add(a[0], neg(a[1]))
    if name == "neg":
        return neg(a[0])
    if name == "mul":
        num, other = (a[0], a[1]) if _number(a[0]) else (a[1], a[0])
        if _number(num) is None:
            return hadamard(a[0], a[1])
        if _is_regulariser(other):
            coef = Coef(0.5, 1)                 # c (|W1|^2 + ...) is lambda/2 (...)
            if num.value is not None:
                ctx.note("lambda", f"{2 * float(num.value):g}")
            else:
                ctx.note("lambda", "2c (the factor was freed by backward)")
        else:
            coef = Coef(None if num.value is None else float(num.value))
        ctx.coefs[id(node)] = coef
        return scale(coef, other)
    if name == "div":
        return div(a[0], a[1])
    if name == "power":
        k = _number(a[1])
        return power(a[0], k.value) if k is not None and k.value is not None else Power(
            a[0], a[1].text())
    if name == "sumsq":
        return norm2(a[0])
    if name == "sum":
        x = a[0]
        if node.params.get("axis") is None and isinstance(x, Power) and x.k == "2":
            return norm2(x.a)
        return call("sum", x, scalar=node.params.get("axis") is None)
    if name == "cross_entropy":
        ctx.note("l", "cross-entropy")
        return call("l", a[0], a[1], latex="l", scalar=True)
    if name in _UNARY or name == "softmax":
        return call(name, a[0])
    return call(name, *[x for x in a if x is not None])


def vjp_expr(node: Node, i: int, g: Expr, args: list, out: Expr, shapes: list,
             ctx: Context) -> Expr:
    """The gradient ``node`` passes to its input ``i`` when its output's gradient is ``g``."""
    name = node.op.name
    a = args
    if name in PASS:
        return g
    if name == "getitem":
        return g if is_basic(node.params["index"]) else call("scatter", g)
    if name == "broadcast_to":
        src, dst = shapes[0], node.shape
        if src is None or tuple(src) == tuple(dst) or (g is ONE and not src):
            return g
        if not src:
            return call("sum", g, scalar=True)
        if tuple(dst[1:]) == tuple(src):
            return matmul(transpose(ONES), g)   # summed over the batch: 1^T G
        return call("sum_to", g)
    if name == "sum":
        return g if g.scalar or node.params.get("axis") is None else call("expand", g)
    if name == "transpose":
        return transpose(g)
    if name == "matmul":
        return matmul(g, transpose(a[1])) if i == 0 else matmul(transpose(a[0]), g)
    if name in PHI:
        return hadamard(g, call("phi'", a[0], latex=r"\phi'"))
    if name == "add":
        return g
    if name == "sub":
        return g if i == 0 else neg(g)
    if name == "neg":
        return neg(g)
    if name == "mul":
        other = a[1 - i]
        if _number(other) is not None:
            return scale(ctx.coefs.get(id(node), Coef(other.value)), g)
        return hadamard(g, other)
    if name == "div":
        return div(g, a[1]) if i == 0 else neg(div(hadamard(g, out), a[1]))
    if name == "sumsq":
        return scale(Coef(2.0), hadamard(g, a[0]))
    if name == "power":
        k = _number(a[1])
        if i == 0 and k is not None and k.value is not None:
            return scale(Coef(float(k.value)), hadamard(g, power(a[0], float(k.value) - 1)))
        if i == 1:
            return hadamard(g, hadamard(out, call("log", a[0])))
    if name == "exp":
        return hadamard(g, out)
    if name == "log":
        return div(g, a[0])
    if name == "sin":
        return hadamard(g, call("cos", a[0]))
    if name == "cos":
        return neg(hadamard(g, call("sin", a[0])))
    if name == "abs":
        return hadamard(g, call("sign", a[0]))
    if name == "cross_entropy" and i == 0:
        e = add(call("softmax", a[0]), neg(call("onehot", a[1])))
        n = shapes[0][0] if shapes[0] else 1
        if n != 1:
            ctx.note("n", str(n))
            e = div(e, Atom("n", "n", scalar=True))
        return hadamard(g, e)
    suffix = f"[{i}]" if len(node.edges) > 1 else ""
    escaped = name.replace("_", r"\_")
    return call(f"vjp_{name}{suffix}", g,
                latex=rf"\operatorname{{vjp}}_{{\mathrm{{{escaped}}}{suffix}}}")
