"""A small symbolic algebra: just enough to write the chapter's equations from a recorded graph.

Expressions print as text (``dJ/do h^T + lambda W2``) and as LaTeX with the chapter's symbols
(``\\frac{\\partial J}{\\partial \\mathbf{o}} \\mathbf{h}^\\top + \\lambda \\mathbf{W}^{(2)}``).
The constructors simplify as they build: a unit gradient disappears from products, scalar
factors gather in front (``2 * lambda/2 = lambda``), ``(A^T)^T = A`` and
``(A B)^T = B^T A^T``.  Expressions are built for one collapsed region of a graph at a time,
so they stay a few levels deep.
"""

from __future__ import annotations

import re
from fractions import Fraction

__all__ = ["Coef", "Expr", "Atom", "ONE", "ONES", "call", "matmul", "hadamard", "scale",
           "transpose", "add", "neg", "div", "power", "norm2", "latex_name", "grad_atom"]

SUM, PRODUCT, POSTFIX, ATOM = 0, 1, 2, 3
_GREEK = {"lambda", "phi", "sigma", "alpha", "beta", "gamma", "theta", "mu", "eta", "tau"}


class Coef:
    """A scalar factor ``num * lambda**lam``; ``num`` is None when its value is unknown."""

    def __init__(self, num: float | None = 1.0, lam: int = 0):
        self.num = num
        self.lam = lam

    def __mul__(self, other: Coef) -> Coef:
        num = None if self.num is None or other.num is None else self.num * other.num
        return Coef(num, self.lam + other.lam)

    def is_one(self) -> bool:
        return self.num == 1 and self.lam == 0

    def _parts(self, lam_text: str) -> tuple[str, str]:
        if self.num is None:
            number = "c"
        elif self.num == int(self.num):
            number = str(int(self.num))
        else:
            frac = Fraction(self.num).limit_denominator(1000)
            close = abs(float(frac) - self.num) <= 1e-12 * abs(self.num)
            number = (f"{frac.numerator}/{frac.denominator}" if close and self.lam == 0
                      else f"{self.num:.4g}")
        if self.lam == 0:
            return number, ""
        sym = lam_text if self.lam == 1 else f"{lam_text}^{self.lam}"
        return number, sym

    def text(self) -> str:
        number, sym = self._parts("lambda")
        if not sym:
            return number
        if number == "0.5":
            return f"{sym}/2"
        return {"1": sym, "-1": f"-{sym}"}.get(number, f"{number} {sym}")

    def latex(self) -> str:
        number, sym = self._parts(r"\lambda")
        if not sym:
            top, _, bottom = number.partition("/")
            return rf"\frac{{{top}}}{{{bottom}}}" if bottom else number
        if number == "0.5":
            return rf"\frac{{{sym}}}{{2}}"
        return {"1": sym, "-1": f"-{sym}"}.get(number, f"{number} {sym}")


class Expr:
    """A symbolic expression with a text and a LaTeX form."""

    prec = ATOM
    scalar = False

    def text(self) -> str:
        raise NotImplementedError

    def latex(self) -> str:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.text()}>"


def _wrap(e: Expr, below: int, latex: bool) -> str:
    body = e.latex() if latex else e.text()
    if e.prec >= below:
        return body
    return rf"\left({body}\right)" if latex else f"({body})"


class Atom(Expr):
    """A name: a variable, a gradient, a number."""

    def __init__(self, text: str, latex: str | None = None, scalar: bool = False):
        self._text = text
        self._latex = latex if latex is not None else text
        self.scalar = scalar

    def text(self) -> str:
        return self._text

    def latex(self) -> str:
        return self._latex


ONE = Atom("1", "1", scalar=True)               # a unit gradient: vanishes from products
ONES = Atom("1", r"\mathbf{1}")                 # a vector of ones (summing over the batch)


class Call(Expr):
    """A function applied to arguments: ``phi'(z)``, ``softmax(o)``, ``l(o, y)``."""

    def __init__(self, name: str, latex_name: str, args: list, scalar: bool = False):
        self.name, self.latex_fn, self.args, self.scalar = name, latex_name, args, scalar

    def text(self) -> str:
        return f"{self.name}({', '.join(a.text() for a in self.args)})"

    def latex(self) -> str:
        return rf"{self.latex_fn}\left({', '.join(a.latex() for a in self.args)}\right)"


def call(name: str, *args: Expr, latex: str | None = None, scalar: bool = False) -> Call:
    """``name(args)``; the LaTeX name defaults to ``\\operatorname{name}``."""
    escaped = name.replace("_", r"\_")
    return Call(name, latex or rf"\operatorname{{{escaped}}}", list(args), scalar)


class Transpose(Expr):
    prec = POSTFIX

    def __init__(self, a: Expr):
        self.a = a

    def text(self) -> str:
        return _wrap(self.a, ATOM, False) + "^T"

    def latex(self) -> str:
        body = _wrap(self.a, ATOM, True)
        if "^" in body or "\\frac" in body:
            body = "{" + body + "}"
        return body + r"^\top"


class Product(Expr):
    """Factors side by side (a matrix product) or joined by the elementwise product."""

    prec = PRODUCT

    def __init__(self, factors: list, elementwise: bool):
        self.factors, self.elementwise = factors, elementwise
        self.scalar = all(f.scalar for f in factors)

    def _join(self, latex: bool) -> str:
        sep = (r" \odot " if latex else " (.) ") if self.elementwise else " "
        return sep.join(_wrap(f, POSTFIX if self.elementwise else PRODUCT + 1, latex)
                        if not isinstance(f, Scaled) else _wrap(f, ATOM, latex)
                        for f in self.factors)

    def text(self) -> str:
        return self._join(False)

    def latex(self) -> str:
        return self._join(True)


class Scaled(Expr):
    prec = PRODUCT

    def __init__(self, coef: Coef, a: Expr):
        self.coef, self.a = coef, a
        self.scalar = a.scalar

    def text(self) -> str:
        if self.a is ONE:
            return self.coef.text()
        head = self.coef.text()
        return ("-" if head == "-1" else head + " ") + _wrap(self.a, PRODUCT, False)

    def latex(self) -> str:
        if self.a is ONE:
            return self.coef.latex()
        head = self.coef.latex()
        return ("-" if head == "-1" else head + " ") + _wrap(self.a, PRODUCT, True)


class Sum(Expr):
    prec = SUM

    def __init__(self, terms: list):
        self.terms = terms
        self.scalar = all(t.scalar for t in terms)

    def _join(self, latex: bool) -> str:
        out = ""
        for k, t in enumerate(self.terms):
            negative = isinstance(t, Scaled) and t.coef.num is not None and t.coef.num < 0
            if negative:
                t = scale(Coef(-1.0), t)
            body = _wrap(t, PRODUCT, latex)
            out += (("-" if negative else "") + body if k == 0
                    else (" - " if negative else " + ") + body)
        return out

    def text(self) -> str:
        return self._join(False)

    def latex(self) -> str:
        return self._join(True)


class Quotient(Expr):
    prec = PRODUCT

    def __init__(self, a: Expr, b: Expr):
        self.a, self.b = a, b
        self.scalar = a.scalar

    def text(self) -> str:
        return f"{_wrap(self.a, PRODUCT, False)} / {_wrap(self.b, ATOM, False)}"

    def latex(self) -> str:
        return rf"\frac{{{self.a.latex()}}}{{{self.b.latex()}}}"


class Power(Expr):
    prec = POSTFIX

    def __init__(self, a: Expr, k: str):
        self.a, self.k = a, k
        self.scalar = a.scalar

    def text(self) -> str:
        return f"{_wrap(self.a, ATOM, False)}^{self.k}"

    def latex(self) -> str:
        return f"{{{_wrap(self.a, ATOM, True)}}}^{{{self.k}}}"


class Norm2(Expr):
    """The squared Frobenius norm ``|W|_F^2``."""

    scalar = True

    def __init__(self, a: Expr):
        self.a = a

    def text(self) -> str:
        return f"|{self.a.text()}|_F^2"

    def latex(self) -> str:
        return rf"\|{self.a.latex()}\|_F^2"


# ---------------------------------------------------------------------- constructors
def _split(e: Expr) -> tuple[Coef, Expr]:
    return (e.coef, e.a) if isinstance(e, Scaled) else (Coef(), e)


def scale(c: Coef, e: Expr) -> Expr:
    """``c e`` with the scalar factors gathered in front."""
    inner_c, inner = _split(e)
    c = c * inner_c
    return inner if c.is_one() else Scaled(c, inner)


def _product(a: Expr, b: Expr, elementwise: bool) -> Expr:
    ca, a = _split(a)
    cb, b = _split(b)
    c = ca * cb
    if a is ONE:
        return scale(c, b)
    if b is ONE:
        return scale(c, a)
    if elementwise and (a.scalar or b.scalar):
        elementwise = False                     # a scalar times a tensor: juxtapose
        if b.scalar and not a.scalar:
            a, b = b, a
    factors = []
    for f in (a, b):
        same = isinstance(f, Product) and f.elementwise == elementwise
        factors.extend(f.factors if same else [f])
    return scale(c, Product(factors, elementwise))


def matmul(a: Expr, b: Expr) -> Expr:
    """The matrix product ``a b``."""
    return _product(a, b, elementwise=False)


def hadamard(a: Expr, b: Expr) -> Expr:
    """The elementwise product ``a (.) b`` (side by side when one factor is a scalar)."""
    return _product(a, b, elementwise=True)


def transpose(e: Expr) -> Expr:
    """``e^T``, simplified: ``(A^T)^T = A``, ``(A B)^T = B^T A^T``, scalars unchanged."""
    c, e = _split(e)
    if isinstance(e, Transpose):
        out = e.a
    elif e.scalar or e is ONE:
        out = e
    elif isinstance(e, Product) and not e.elementwise:
        out = Product([transpose(f) for f in reversed(e.factors)], False)
    else:
        out = Transpose(e)
    return scale(c, out)


def add(*terms: Expr | None) -> Expr | None:
    """The sum of the terms that are not None (nested sums flattened)."""
    flat: list[Expr] = []
    for t in terms:
        if t is None:
            continue
        for term in t.terms if isinstance(t, Sum) else [t]:
            c, base = _split(term)
            for k, seen in enumerate(flat):           # like terms: a x + b x = (a + b) x
                sc, sbase = _split(seen)
                if (sbase.text() == base.text() and sc.lam == c.lam and sc.num is not None
                        and c.num is not None):
                    flat[k] = scale(Coef(sc.num + c.num, c.lam), sbase)
                    break
            else:
                flat.append(term)
    if not flat:
        return None
    return flat[0] if len(flat) == 1 else Sum(flat)


def neg(e: Expr) -> Expr:
    """``-e``."""
    return scale(Coef(-1.0), e)


def div(a: Expr, b: Expr) -> Expr:
    """``a / b``; dividing by a known number scales by its inverse."""
    value = getattr(b, "value", None)
    if isinstance(value, (int, float)) and value != 0:
        return scale(Coef(1.0 / float(value)), a)
    return Quotient(a, b)


def power(a: Expr, k) -> Expr:
    """``a^k``; ``a^1`` is ``a``."""
    if k == 1:
        return a
    return Power(a, str(int(k)) if float(k) == int(k) else f"{k:g}")


def norm2(a: Expr) -> Expr:
    """``|a|_F^2``."""
    return Norm2(a)


# ---------------------------------------------------------------------- names
def latex_name(name: str, ndim: int | None) -> str:
    """A tensor's name as the chapter typesets it: ``W1`` -> ``\\mathbf{W}^{(1)}``.

    Tensors are bold, scalars (and integer labels) are not; a trailing number becomes the
    layer superscript.

    >>> latex_name("W2", 2), latex_name("x", 1), latex_name("L", 0)
    ('\\\\mathbf{W}^{(2)}', '\\\\mathbf{x}', 'L')
    """
    m = re.fullmatch(r"([A-Za-z]+)_?(\d+)", name)
    base, layer = (m.group(1), m.group(2)) if m else (name, "")
    if base in _GREEK:
        body = "\\" + base
    elif re.fullmatch(r"[A-Za-z]", base):
        body = base
    else:
        body = r"\mathrm{" + base.replace("_", r"\_") + "}"
        if ndim:
            return r"\mathbf{" + base.replace("_", r"\_") + "}" + (
                f"^{{({layer})}}" if layer else "")
    if ndim:
        body = r"\mathbf{" + body + "}" if not body.startswith("\\") else body
    return body + (f"^{{({layer})}}" if layer else "")


def grad_atom(root: tuple[str, str], var: tuple[str, str], scalar: bool) -> Atom:
    """The gradient ``droot/dvar`` of a root and a variable given as (text, LaTeX) names."""
    return Atom(f"d{root[0]}/d{var[0]}",
                rf"\frac{{\partial {root[1]}}}{{\partial {var[1]}}}", scalar=scalar)
