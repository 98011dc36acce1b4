"""Fused primitives for stability and speed: ``softmax`` and ``cross_entropy``.

Each has a composite twin written from simpler primitives (``exp(x - logsumexp(x))`` and
``-mean(log_softmax(logits)[range, labels])``); the tests check the two agree, first and second
order.  The fused forms compute in one stable pass, keep less for backward, and give the
chapter's loss ``l(o, y)`` one node in the graph, with the labels ``y`` as its second input.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from .. import backend as B
from ..errors import DTypeError, ShapeError
from .reduce import sum as _sum
from ..core.fields import Book, Memory, elided, one_array
from ..core.modes import mode
from ..core.op import ELEMENTWISE, OPS, BadInput, Op, Sample
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


class _Handoff(threading.local):
    """The probabilities one call's forward computed, for the residual function of the same
    call (per thread): the backward then needs no second softmax.  Only a call made through
    :func:`cross_entropy_keeping` hands them over, and that call clears them at its end,
    used or not, so nothing outlives it."""

    wanted = False
    logits = None
    p = None
    at = None       # the labels' positions in the flattened logits (NumPy), or None


_HANDOFF = _Handoff()


def _positions(labels, shape):
    """The flat positions ``i * classes + labels[i]`` on NumPy, found by one C pass that also
    refuses any label outside ``[0, classes)``, a negative one included (which indexing would
    wrap round): ``cr.cross_entropy`` needs no reduction of its own to check them.  None
    elsewhere, and for labels that are not integers (indexing then says what is wrong)."""
    if B.xp is not np or type(labels) is not np.ndarray or labels.dtype.kind not in "iu":
        return None
    return np.ravel_multi_index((np.arange(shape[0]), labels.astype(np.intp, copy=False)),
                                shape)


def _cross_entropy(logits, labels):
    xp = B.xp
    if logits.dtype == np.float16:   # accumulate in float32, as PyTorch does
        return _cross_entropy(logits.astype(np.float32), labels).astype(np.float16)
    n = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    at = _positions(labels, logits.shape)
    picked = shifted[xp.arange(n), labels] if at is None else shifted.reshape(-1)[at]
    e = xp.exp(shifted)
    sums = e.sum(axis=1)
    loss = (xp.log(sums) - picked).sum() / n
    handoff = _HANDOFF
    if handoff.wanted and mode.grad_enabled:     # a node may be recorded: keep softmax for it
        e /= sums[:, None]
        handoff.logits, handoff.p, handoff.at = logits, e, at
    return loss


def _direction(ans, logits, labels):
    """The residual: ``softmax(logits) - onehot(labels)``, the direction of the gradient
    (the same size as the one-hot it replaces), made in place in the forward's
    probabilities when this call's forward left them (else computed again, as a replay's
    residual step does)."""
    handoff = _HANDOFF
    p, at = (handoff.p, handoff.at) if handoff.logits is logits else (None, None)
    handoff.logits = handoff.p = handoff.at = None
    if p is None:
        p = _softmax(logits, axis=1)
    if at is not None:
        p.reshape(-1)[at] -= 1       # p is the forward's own contiguous array
    else:
        p[B.xp.arange(logits.shape[0]), labels] -= 1
    return (p,)


def cross_entropy_keeping(logits, labels):
    """``cross_entropy(logits, labels)``, its forward handing softmax(logits) to the node it
    records (what :func:`chainrule.cross_entropy` calls): the backward is then one product."""
    handoff = _HANDOFF
    handoff.wanted = True
    try:
        return cross_entropy(logits, labels)
    finally:
        handoff.wanted = False
        handoff.logits = handoff.p = handoff.at = None


def _one_hot(probabilities, direction):
    """``onehot(labels)`` again from the residual: ``softmax(logits) - direction``, rounded
    (exact: it differs from 0 or 1 by a rounding of the probabilities).  The operators are
    recorded, so a traced backward (``cr.compile``) replays it from the replayed residual."""
    return OPS["round"](probabilities - direction)       # ops/rounding.py


def _ce_vjp(g, logits, direction):
    """``(softmax(logits) - onehot) g / n``: on arrays (a first-order backward), the saved
    direction times ``g / n``; on tensors (a backward that is recorded: differentiated again,
    or traced), from ``softmax`` recorded, so its second derivative flows."""
    n = direction.shape[0]
    if isinstance(logits, B.ndarray_types):
        return direction * (g / n)
    p = softmax(logits, axis=1)
    return (p - _one_hot(p, direction)) * (g / n)


def _ce_jvp(t, logits, direction):
    """``sum((softmax(logits) - onehot) * t) / n``: the directional derivative of the loss."""
    p = softmax(logits, axis=1)
    return _sum((p - _one_hot(p, direction)) * t, axis=None, keepdims=False) / direction.shape[0]


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
    residuals=_direction,
    vjp=(_ce_vjp, None),
    jvp=lambda t, logits, direction: _ce_jvp(t[0], logits, direction),
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

__all__ = ["softmax", "cross_entropy", "cross_entropy_keeping", "DTypeError"]
