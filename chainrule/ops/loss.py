"""Fused primitives for stability and speed: ``softmax`` and ``cross_entropy``.

Each has a composite twin written from simpler primitives (``exp(x - logsumexp(x))`` and
``-mean(log_softmax(logits)[range, labels])``); the tests check the two agree, first and second
order.  The fused forms compute in one stable pass, keep less for backward, and give the
chapter's loss ``l(o, y)`` one node in the graph, with the labels ``y`` as its second input.
"""

from __future__ import annotations

import math

import numpy as np

from .. import backend as B
from ..errors import DTypeError, ShapeError
from .reduce import sum as _sum
from ..core.fields import Book, Memory, elided, one_array
from ..core.op import ELEMENTWISE, BadInput, Op, Sample
from .samples import uniform


def _softmax(x, *, axis):
    xp = B.xp
    if x.dtype == np.float16:        # the sum in float32: 70,000 equal logits still sum to 1
        return _softmax(x.astype(np.float32), axis=axis).astype(np.float16)
    e = xp.exp(x - x.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


softmax = Op(
    "softmax", _softmax, inputs=("x",), saves=("ans",),
    # the Jacobian diag(p) - p p^T is symmetric, so the VJP rule is the JVP rule too
    vjp=(lambda g, ans, *, axis: ans * (g - _sum(g * ans, axis=(axis,), keepdims=True)),),
    jvp=ELEMENTWISE,
    samples=lambda rng: [Sample((uniform(rng, (3, 4)),), {"axis": 1}),
                         Sample((uniform(rng, (3, 4)),), {"axis": 0}),
                         Sample((uniform(rng, (5,), -30.0, 30.0),), {"axis": 0})],
    bad_inputs=lambda: [BadInput((np.ones((3, 4)),), {"axis": 2}, ShapeError, "(3, 4)")],
    hint="axis must be in range(-x.ndim, x.ndim)",
    memory=Memory(forward=one_array, vjp=elided),         # the forward's e, then e /= ...
    doc="``exp(x) / sum(exp(x))`` over ``axis`` in one stable pass.")


def _cross_entropy(logits, labels):
    xp = B.xp
    if logits.dtype == np.float16:   # accumulate in float32, as PyTorch does
        return _cross_entropy(logits.astype(np.float32), labels).astype(np.float16)
    n = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    lse = xp.log(xp.exp(shifted).sum(axis=1))
    return (lse - shifted[xp.arange(n), labels]).sum() / n


def _one_hot(ans, logits, labels):
    target = B.xp.zeros(logits.shape, dtype=logits.dtype)
    target[B.xp.arange(logits.shape[0]), labels] = 1
    return (target,)


def _ce_samples(rng):
    return [Sample((uniform(rng, (4, 3)), np.array([0, 2, 2, 1]))),
            Sample((uniform(rng, (2, 5), -3.0, 3.0), np.array([4, 0])))]


def _ce_book_vjp(n, i, g, a, out):
    """``g (softmax(o) - onehot(y)) / n`` for the logits; the labels take no gradient."""
    if i != 0:
        return None
    e = n.add(n.call("softmax", a[0]), n.neg(n.call("onehot", a[1])))
    rows = n.in_shapes[0][0] if n.in_shapes[0] else 1
    if rows != 1:
        e = n.div(e, n.note("n", str(rows), n.symbol("n", scalar=True)))
    return n.hadamard(g, e)


def _ce_temps(step, i=0):
    """The shifted logits, and their exp."""
    return 2 * step.itemsize * math.prod(step.in_shapes[0])


cross_entropy = Op(
    "cross_entropy", _cross_entropy, inputs=("logits", "labels"), saves=("logits",),
    residuals=_one_hot,
    vjp=(lambda g, logits, target: (softmax(logits, axis=1) - target) * (g / target.shape[0]),
         None),
    jvp=lambda t, logits, target: _sum((softmax(logits, axis=1) - target) * t[0], axis=None,
                                       keepdims=False) / target.shape[0],
    samples=_ce_samples,
    bad_inputs=lambda: [
        BadInput((np.ones((2, 3)), np.array([0, 3])), {}, ShapeError, "(2, 3)"),
        BadInput((np.ones((2, 3)), np.array([0.0, 1.0])), {}, ShapeError, "float64")],
    hint="labels must be integer class indices in [0, classes), one per row of logits",
    book=Book(forward=lambda n, a: n.note("l", "cross-entropy",
                                          n.call("l", a[0], a[1], latex="l", scalar=True)),
              vjp=_ce_book_vjp),
    memory=Memory(forward=_ce_temps),
    doc="Mean over the batch of ``-log softmax(logits)[label]``: the loss ``l(o, y)``.")

__all__ = ["softmax", "cross_entropy", "DTypeError"]
