"""Elementwise operators: unary maps, binary arithmetic, ``where``, ``clip`` and comparisons.

Every rule is one line in chainrule's own operators, so it can be differentiated again.  The
Jacobians are diagonal, so forward mode is ``ELEMENTWISE``: the VJP rules applied to tangents.
"""

from __future__ import annotations

import numpy as np

from .. import backend as B
from ..errors import DTypeError, ShapeError
from ..core.fields import (ACTIVATION, ALIAS, COMBINE, NEW, SCALE, SQUARE, Book, Memory,
                           cast_buffer, elided)
from ..core.op import ELEMENTWISE, LINEAR, BadInput, Op, Sample
from .samples import BINARY_SHAPES, binary, unary, uniform

_BROADCAST_HINT = "make the trailing dimensions equal or 1 (reshape one input, or use .T)"
_BAD_BINARY = lambda: [  # noqa: E731
    BadInput((np.ones((3, 4)), np.ones(5)), {}, ShapeError, "(3, 4)"),
    BadInput((np.ones((2, 3)), np.array(["a", "b", "c"])), {}, DTypeError, "<U1"),
]


def _unary_bad():
    return [BadInput((np.array(["a"]),), {}, DTypeError, "<U1")]


# the chapter's phi: an activation, and its derivative phi'
_PHI = Book(ACTIVATION, forward=lambda n, a: n.phi(a[0]),
            vjp=lambda n, i, g, a, out: n.hadamard(g, n.phi_prime(a[0])))
_NO_TEMPS = Memory(vjp=0)           # a VJP that makes its result and nothing else


def _three_and_mask(step, i=0):
    """Three arrays the size of the output and a one-byte mask, alive at once."""
    return 3 * step.nbytes + step.size


neg = Op("neg", "negative", inputs=("x",),
         vjp=(lambda g: -g,), jvp=LINEAR, samples=unary(), bad_inputs=_unary_bad,
         book=Book(symbol="-", forward=lambda n, a: n.neg(a[0]),
                   vjp=lambda n, i, g, a, out: n.neg(g)),
         memory=_NO_TEMPS, doc="``-x``, elementwise.")

exp = Op("exp", "exp", inputs=("x",), promotes="float", saves=("ans",),
         vjp=(lambda g, ans: g * ans,), jvp=ELEMENTWISE, samples=unary(),
         bad_inputs=_unary_bad, book=Book(vjp=lambda n, i, g, a, out: n.hadamard(g, out)),
         memory=_NO_TEMPS, doc="``e**x``, elementwise.")

log = Op("log", "log", inputs=("x",), promotes="float", saves=("x",),
         vjp=(lambda g, x: g / x,), jvp=ELEMENTWISE, samples=unary(0.2, 3.0),
         bad_inputs=_unary_bad, book=Book(vjp=lambda n, i, g, a, out: n.div(g, a[0])),
         memory=_NO_TEMPS, doc="Natural logarithm, elementwise.")

sqrt = Op("sqrt", "sqrt", inputs=("x",), promotes="float", saves=("ans",),
          vjp=(lambda g, ans: 0.5 * g / ans,), jvp=ELEMENTWISE, samples=unary(0.2, 3.0),
          bad_inputs=_unary_bad, memory=Memory(vjp=elided), doc="Square root, elementwise.")

abs = Op("abs", "abs", inputs=("x",),  # noqa: A001  (the public name)
         residuals=lambda ans, x: (B.xp.sign(x),),
         vjp=(lambda g, sign: g * sign,), jvp=ELEMENTWISE, samples=unary(gap=0.1),
         bad_inputs=_unary_bad, memory=_NO_TEMPS,
         book=Book(vjp=lambda n, i, g, a, out: n.hadamard(g, n.call("sign", a[0]))),
         doc="Absolute value, elementwise (gradient 0 at 0).")

sin = Op("sin", "sin", inputs=("x",), promotes="float", saves=("x",),
         vjp=(lambda g, x: g * cos(x),), jvp=ELEMENTWISE, samples=unary(),
         bad_inputs=_unary_bad, memory=Memory(vjp=elided),
         book=Book(vjp=lambda n, i, g, a, out: n.hadamard(g, n.call("cos", a[0]))),
         doc="Sine, elementwise.")

cos = Op("cos", "cos", inputs=("x",), promotes="float", saves=("x",),
         vjp=(lambda g, x: -(g * sin(x)),), jvp=ELEMENTWISE, samples=unary(),
         bad_inputs=_unary_bad, memory=Memory(vjp=elided),
         book=Book(vjp=lambda n, i, g, a, out: n.neg(n.hadamard(g, n.call("sin", a[0])))),
         doc="Cosine, elementwise.")

tanh = Op("tanh", "tanh", inputs=("x",), promotes="float", saves=("ans",),
          vjp=(lambda g, ans: g * (1.0 - ans * ans),), jvp=ELEMENTWISE, samples=unary(),
          bad_inputs=_unary_bad, book=_PHI, doc="Hyperbolic tangent, elementwise.")


def _sigmoid(x):
    xp = B.xp
    e = xp.exp(-xp.abs(x))                   # never overflows
    out = xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return out.astype(x.dtype, copy=False) if x.dtype.kind == "f" else out


sigmoid = Op("sigmoid", _sigmoid, inputs=("x",), promotes="float", saves=("ans",),
             vjp=(lambda g, ans: g * (ans - ans * ans),), jvp=ELEMENTWISE,
             samples=unary(-4.0, 4.0), bad_inputs=_unary_bad, book=_PHI,
             memory=Memory(forward=_three_and_mask),
             doc="Logistic sigmoid ``1 / (1 + e**-x)``, stable for large ``|x|``.")

relu = Op("relu", lambda x: B.xp.maximum(x, 0), inputs=("x",),
          residuals=lambda ans, x: (x > 0,),
          vjp=(lambda g, mask: g * mask,), jvp=ELEMENTWISE, samples=unary(gap=0.1),
          bad_inputs=_unary_bad, book=_PHI, memory=Memory(vjp=cast_buffer),
          doc="``max(x, 0)``; backward keeps a one-byte mask, not the input.")

softplus = Op("softplus", lambda x: B.xp.logaddexp(0, x), inputs=("x",),
              promotes="float", saves=("x",), vjp=(lambda g, x: g * sigmoid(x),),
              jvp=ELEMENTWISE, samples=unary(-4.0, 4.0), bad_inputs=_unary_bad,
              book=_PHI, memory=Memory(vjp=_three_and_mask),
              doc="``log(1 + e**x)``, stable for large ``|x|``.")

add = Op("add", "add", inputs=("x", "y"), promotes="same", elementwise=True,
         vjp=(lambda g: g, lambda g: g), jvp=ELEMENTWISE, samples=binary(),
         bad_inputs=_BAD_BINARY, hint=_BROADCAST_HINT,
         book=Book(COMBINE, "+", lambda n, a: n.add(a[0], a[1]), lambda n, i, g, a, out: g),
         memory=Memory(vjp=0, result=ALIAS), doc="``x + y``, broadcasting.")

sub = Op("sub", "subtract", inputs=("x", "y"), promotes="same", elementwise=True,
         vjp=(lambda g: g, lambda g: -g), jvp=ELEMENTWISE, samples=binary(),
         bad_inputs=_BAD_BINARY, hint=_BROADCAST_HINT,
         book=Book(symbol="-", forward=lambda n, a: n.add(a[0], n.neg(a[1])),
                   vjp=lambda n, i, g, a, out: g if i == 0 else n.neg(g)),
         memory=Memory(vjp=0, result=lambda step, i: ALIAS if i == 0 else NEW),
         doc="``x - y``, broadcasting.")

mul = Op("mul", "multiply", inputs=("x", "y"), promotes="same", elementwise=True,
         saves=("x", "y"), vjp=(lambda g, x, y: _times(g, y), lambda g, x, y: _times(g, x)),
         jvp=ELEMENTWISE, samples=binary(), bad_inputs=_BAD_BINARY, hint=_BROADCAST_HINT,
         book=Book(SCALE, "*", lambda n, a: n.product(a[0], a[1]),
                   lambda n, i, g, a, out: n.product_grad(g, a[1 - i])),
         memory=_NO_TEMPS, doc="``x * y``, broadcasting.")

div = Op("div", "divide", inputs=("x", "y"), promotes="float", elementwise=True,
         saves=("y", "ans"), vjp=(lambda g, y, ans: g / y, lambda g, y, ans: -(g * ans) / y),
         jvp=ELEMENTWISE, samples=binary(-2.0, 2.0, 0.5, 2.0), bad_inputs=_BAD_BINARY,
         hint=_BROADCAST_HINT,
         book=Book(SCALE, "/", lambda n, a: n.div(a[0], a[1]),
                   lambda n, i, g, a, out: n.div(g, a[1]) if i == 0 else
                   n.neg(n.div(n.hadamard(g, out), a[1]))),
         memory=Memory(vjp=lambda step, i: elided(step) if i == 1 else 0),
         doc="``x / y``, broadcasting.")


def _power_samples(rng):
    samples = binary(0.5, 2.0, -1.5, 2.5)(rng)
    samples.append(Sample((uniform(rng, (3, 4)), 2)))      # integer exponent, any sign of x
    samples.append(Sample((uniform(rng, (4,)), 3.0)))
    return samples


def _power_book(n, a):
    k = n.number(a[1])
    return n.power(a[0], k if k is not None else a[1])


def _power_book_vjp(n, i, g, a, out):
    k = n.number(a[1])
    if i == 0 and k is not None:
        return n.scale(float(k), n.hadamard(g, n.power(a[0], float(k) - 1)))
    return n.hadamard(g, n.hadamard(out, n.call("log", a[0]))) if i == 1 else None


def _one_value(g):
    """The number an array ``g`` repeats when it is one value broadcast (every stride 0), as
    the gradient of ``(x ** 2).sum()`` reaches ``x ** 2``; else None (and for a tensor)."""
    if isinstance(g, B.ndarray_types) and g.ndim and g.size and not any(g.strides):
        return g[(0,) * g.ndim]
    return None


def _times(g, v):
    """``g * v``; a sum's gradient (one value broadcast) multiplies ``v`` by that number, which
    NumPy does faster than a product with a broadcast array (the same bits)."""
    one = _one_value(g)
    if one is not None and getattr(v, "shape", None) == g.shape:
        return v * one
    return g * v


def _power_dx(g, x, y, ans):
    """``g y x^(y-1)``, and 0 where ``y == 0`` (PyTorch's value: ``x^0`` is flat, even at 0)."""
    if isinstance(y, (int, float)):                  # a constant exponent: the usual x ** 2
        if y == 2:
            one = _one_value(g)
            if one is not None:                      # a sum's gradient: one pass over x, not
                return x * (2.0 * one)               # two (the same rounding: 2g is exact)
            return g * (2.0 * x)                     # no pow at all: 2.8x faster than x ** 1
        if y == 1:
            return g * 1.0
        return g * y * x ** (y - 1) if y != 0 else g * 0.0
    zero = getattr(y, "_data", y) == 0
    # the exponent is made safe where y is 0, so neither branch of `where` holds 0 * inf
    return where(0.0, g * y * x ** where(0.0, y - 1, cond=zero), cond=zero)


def _power_dy(g, x, y, ans):
    """``g x^y log x``, and 0 where ``x == 0`` (PyTorch's value for ``0 ** y``, y >= 0)."""
    return g * ans * log(where(1.0, x, cond=getattr(x, "_data", x) == 0))


def _pow(x, y):
    # `x ** y`, not np.power: an array's ** squares for y == 2 (3x faster than np.power)
    return x ** y


power = Op("power", _pow, inputs=("x", "y"), promotes="same", elementwise=True,
           saves=("x", "y", "ans"),
           vjp=(_power_dx, _power_dy),
           jvp=ELEMENTWISE, samples=_power_samples, bad_inputs=_BAD_BINARY,
           hint=_BROADCAST_HINT, book=Book(SQUARE, "**", _power_book, _power_book_vjp),
           memory=Memory(vjp=lambda step, i: step.nbytes if step.big else 2 * step.nbytes),
           doc="``x ** y``, broadcasting (``x > 0`` for a tensor ``y``).")


def _tie_weights(x, y, greater: bool):
    win = (x > y) if greater else (x < y)
    dtype = B.xp.result_type(x, y)
    return (win.astype(dtype) + 0.5 * (x == y).astype(dtype),)


def _apart(rng):
    # inputs that never tie (a tie has no derivative to check)
    out = []
    for a, b in BINARY_SHAPES[:4]:
        x = uniform(rng, a)
        y = x + rng.choice([-0.5, 0.5], size=np.shape(x)) if a == b else uniform(rng, b)
        out.append(Sample((x, y)))
    return out


maximum = Op("maximum", "maximum", inputs=("x", "y"), promotes="same", elementwise=True,
             residuals=lambda ans, x, y: _tie_weights(x, y, True),
             vjp=(lambda g, w: g * w, lambda g, w: g * (1.0 - w)), jvp=ELEMENTWISE,
             samples=_apart, bad_inputs=_BAD_BINARY, hint=_BROADCAST_HINT,
             memory=Memory(forward=_three_and_mask, vjp=0),
             doc="Elementwise maximum; a tie shares the gradient equally.")

minimum = Op("minimum", "minimum", inputs=("x", "y"), promotes="same", elementwise=True,
             residuals=lambda ans, x, y: _tie_weights(x, y, False),
             vjp=(lambda g, w: g * w, lambda g, w: g * (1.0 - w)), jvp=ELEMENTWISE,
             samples=_apart, bad_inputs=_BAD_BINARY, hint=_BROADCAST_HINT,
             memory=Memory(forward=_three_and_mask, vjp=0),
             doc="Elementwise minimum; a tie shares the gradient equally.")


def _where_samples(rng):
    return [Sample((uniform(rng, (3, 4)), uniform(rng, (3, 4))),
                   {"cond": rng.uniform(size=(3, 4)) > 0.5}),
            Sample((uniform(rng, (4,)), uniform(rng, (3, 1))),
                   {"cond": rng.uniform(size=(3, 4)) > 0.5})]


where = Op("where", lambda a, b, *, cond: B.xp.where(cond, a, b), inputs=("a", "b"),
           promotes="same", elementwise=True,
           vjp=(lambda g, *, cond: where(g, 0.0, cond=cond),
                lambda g, *, cond: where(0.0, g, cond=cond)),
           jvp=ELEMENTWISE, samples=_where_samples,
           bad_inputs=lambda: [BadInput((np.ones(3), np.ones(4)), {"cond": np.ones(3) > 0},
                                        ShapeError, "(4,)")],
           hint="cond, a and b must broadcast together", memory=_NO_TEMPS,
           doc="``a`` where ``cond`` is true, else ``b``; no gradient flows to ``cond``.")


def _clip_forward(x, *, low, high):
    return B.xp.clip(x, low, high)


def _clip_mask(ans, x, *, low, high):
    inside = B.xp.ones(x.shape, dtype=bool)
    if low is not None:
        inside &= x >= low
    if high is not None:
        inside &= x <= high
    return (inside,)


clip = Op("clip", _clip_forward, inputs=("x",), residuals=_clip_mask,
          vjp=(lambda g, inside, *, low, high: g * inside,), jvp=ELEMENTWISE,
          samples=lambda rng: [Sample((uniform(rng, (3, 4), gap=0.05),),
                                      {"low": -1.0, "high": 1.03}),
                               Sample((uniform(rng, (5,)),), {"low": None, "high": 0.51})],
          bad_inputs=lambda: [BadInput((np.array(["a"]),), {"low": 0.0, "high": 1.0},
                                       DTypeError, "<U1")],
          memory=Memory(vjp=cast_buffer),
          doc="Limit values to ``[low, high]`` (either may be None); gradient 0 outside.")


def _comparison(name, ufunc_name, doc):
    return Op(name, ufunc_name, inputs=("x", "y"),
              samples=binary(),
              bad_inputs=lambda: [BadInput((np.ones((3, 4)), np.ones(5)), {}, ShapeError,
                                           "(3, 4)")],
              hint=_BROADCAST_HINT, doc=doc + " Returns a bool tensor; not differentiable.")


less = _comparison("less", "less", "``x < y``.")
less_equal = _comparison("less_equal", "less_equal", "``x <= y``.")
greater = _comparison("greater", "greater", "``x > y``.")
greater_equal = _comparison("greater_equal", "greater_equal", "``x >= y``.")
equal = _comparison("equal", "equal", "``x == y``.")
not_equal = _comparison("not_equal", "not_equal", "``x != y``.")
