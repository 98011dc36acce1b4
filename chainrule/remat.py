"""Trading compute for memory: ``checkpoint(fn, *args)`` recomputes ``fn`` during backward.

A region run through :func:`checkpoint` is one node of the graph, the ``checkpoint`` operator.
Its forward runs ``fn`` under ``no_grad()``, so none of the region's intermediates are kept:
the node saves only its inputs.  Its VJP runs ``fn`` again on those inputs, this time
recording, backpropagates the incoming gradient through that short-lived graph with
:func:`chainrule.grad`, and lets it go.  The gradients are the plain call's, bit for bit: the
same operators run on the same arrays in the same order.  (One exception: an input used more
than once inside the region *and* outside it gets its in-region terms summed first, so its
gradient can differ from the plain one in the last bits, as any change of summation order.)

- One recomputation serves every input: the VJP of the first input that needs a gradient
  computes them all and hands the others out as the walk asks for them.
- Any order: under ``create_graph=True`` the recomputation is recorded and connected to the
  saved inputs, so the gradient can be differentiated again; forward mode (``cr.jvp``) runs
  ``fn`` under the tangent's level.
- ``fn`` must return one tensor, and take every tensor that needs a gradient as an argument:
  a tensor it reaches from outside (a closure) would silently get no gradient, so the
  recomputation checks and raises :class:`~chainrule.errors.GraphError`.
- The cost: one extra forward of the region per backward (``python -m benchmarks.remat``).
"""

from __future__ import annotations

from typing import Callable

from . import backend as B
from .autodiff import grad, jvp
from .errors import ChainruleError, GraphError, ShapeError
from .functional import tanh
from .core.fields import Memory
from .core.graph import Node
from .core.modes import mode
from .core.op import BadInput, Op, Sample
from .ops.samples import uniform
from .ops.shape import identity
from .core.tensor import Tensor

__all__ = ["checkpoint", "inner_tensor"]


def _label(fn) -> str:
    return getattr(fn, "__name__", None) or type(fn).__name__


def _call(fn: Callable, args: list) -> Tensor:
    out = fn(*args)
    if not isinstance(out, Tensor):
        raise GraphError(f"checkpoint({_label(fn)}): fn must return one Tensor, got "
                         f"{type(out).__name__}; checkpoint each output separately")
    return out


def _forward(*arrays, fn: Callable, needs: tuple | None = None):
    """Run ``fn`` on the arrays as constant tensors, recording nothing; return its array."""
    m = mode
    state = (m.grad_enabled, m.raw, m.fwd_levels)
    m.grad_enabled, m.raw, m.fwd_levels = False, False, []
    try:
        out = _call(fn, [Tensor._wrap(a) if isinstance(a, B.ndarray_types) else a
                         for a in arrays])
    except ChainruleError as exc:
        raise _in_region(exc, fn) from exc
    finally:
        m.grad_enabled, m.raw, m.fwd_levels = state
    return out._data


def _in_region(exc: ChainruleError, fn) -> ChainruleError:
    """The same error, saying it happened inside a checkpointed region."""
    if str(exc).startswith("checkpoint("):
        return exc
    try:
        return type(exc)(f"checkpoint({_label(fn)}): {exc}")
    except TypeError:               # an error class with a signature of its own
        return exc


class _Stash:
    """The gradients of a region's other inputs, kept from its one recomputation."""

    def __init__(self) -> None:
        self.key: tuple | None = None
        self.grads: dict[int, object] = {}

    def put(self, g, saved: tuple, grads: dict) -> None:
        self.key, self.grads = ((g, saved), grads) if grads else (None, {})

    def take(self, i: int, g, saved: tuple):
        if self.key is None or i not in self.grads:
            return None
        kg, ks = self.key
        if kg is not g or len(ks) != len(saved) or any(a is not b for a, b in zip(ks, saved)):
            return None
        value = self.grads.pop(i)
        if not self.grads:
            self.key = None
        return value


_stash = _Stash()


def _vjp(i: int, g, *saved, fn: Callable, needs: tuple | None = None):
    """The gradient for input ``i``: recompute ``fn`` recording, and backpropagate ``g``."""
    found = _stash.take(i, g, saved)
    if found is not None:
        return found
    wanted = [j for j, need in enumerate(needs) if need] if needs else [i]
    if i not in wanted:
        wanted = [i]
    grads = _recompute(fn, saved, g, wanted)
    _stash.put(g, saved, {j: v for j, v in grads.items() if j != i})
    return grads[i]


def _recompute(fn: Callable, saved: tuple, g, wanted: list[int]) -> dict:
    m = mode
    raw = m.raw                     # a first-order backward: arrays in, arrays out
    state = (m.grad_enabled, m.raw)
    m.grad_enabled, m.raw = True, False
    try:
        args = [Tensor._wrap(a) if raw and isinstance(a, B.ndarray_types) else a for a in saved]
        leaves = []
        for j in wanted:
            if raw:                 # a fresh leaf on the saved array: no copy
                leaf = Tensor._wrap(saved[j])
                leaf._rg = True
            else:                   # connected to the saved tensor: differentiable again
                leaf = identity(saved[j])
            args[j] = leaf
            leaves.append(leaf)
        out = _call(fn, args)
        _check_closure(fn, out, [a for a in args if isinstance(a, Tensor)])
        seed = Tensor._wrap(g) if raw else g
        grads = grad([out], leaves, [seed], create_graph=state[0], allow_unused=True)
    except ChainruleError as exc:
        raise _in_region(exc, fn) from exc
    finally:
        m.grad_enabled, m.raw = state
    result = {}
    for j, gj, leaf in zip(wanted, grads, leaves):
        if gj is None:
            gj = Tensor._wrap(B.xp.zeros_like(leaf._data))
        result[j] = gj._data if raw else gj
    return result


def _check_closure(fn, out: Tensor, inputs: list) -> None:
    """Raise if the recomputed graph reaches a tensor needing a gradient that is no input."""
    stop = {id(t._node if t._node is not None else t) for t in inputs}
    stack, seen = [out._node], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen or id(node) in stop:
            continue
        seen.add(id(node))
        for edge in node.edges:
            if edge is None or id(edge) in stop:
                continue
            if type(edge) is Node:
                stack.append(edge)
                continue
            raise GraphError(
                f"checkpoint({_label(fn)}): fn uses a tensor that requires grad (shape "
                f"{edge.shape}{', ' + repr(edge.name) if edge.name else ''}) without taking it "
                "as an argument, so its gradient would be lost; pass it to checkpoint(fn, ...)")


def _jvp(tangents, *saved, fn: Callable, needs: tuple | None = None):
    """Forward mode: run ``fn`` again under a new tangent level."""
    which = [j for j, t in enumerate(tangents) if t is not None]

    def region(*xs):
        args = list(saved)
        for j, x in zip(which, xs):
            args[j] = x
        return _call(fn, args)

    return jvp(region, [saved[j] for j in which], [tangents[j] for j in which])[1]


# ------------------------------------------------------------------ samples for the table
def _tanh_times(x):
    return tanh(x) * x


def _layer(x, w):
    return tanh(x @ w) * x.sum()


def _scaled(x, c):
    return (x * c) ** 2


def _not_a_tensor(x):
    return (x, x)


def _samples(rng):
    return [Sample((uniform(rng, (3, 4)),), {"fn": _tanh_times}),
            Sample((uniform(rng, (3, 4)), uniform(rng, (4, 2))), {"fn": _layer}),
            Sample((uniform(rng, (2, 3)), 1.5), {"fn": _scaled})]


def _bad_inputs():
    import numpy as np

    return [BadInput((np.ones((3, 4)), np.ones((5, 2))), {"fn": _layer}, ShapeError, "(5, 2)"),
            BadInput((np.ones(3),), {"fn": _not_a_tensor}, GraphError, "one Tensor")]


CHECKPOINT = Op(
    "checkpoint", _forward, inputs="*args", saves=("*",), vjp=_vjp, jvp=_jvp,
    samples=_samples, bad_inputs=_bad_inputs,
    memory=Memory(region=lambda node: inner_tensor(node)),    # the region, for the replay
    doc="``fn(*args)``, keeping only the inputs for backward and recomputing the rest.")


def checkpoint(fn: Callable, *args) -> Tensor:
    """``fn(*args)``, with the intermediates inside ``fn`` recomputed in backward, not kept.

    The graph gets one node, which saves only ``args``; gradients equal the plain call's.
    ``fn`` returns one tensor and takes every tensor that needs a gradient as an argument.

    >>> import chainrule as cr
    >>> w = cr.tensor([0.5, -1.0, 2.0], requires_grad=True)
    >>> y = checkpoint(lambda v: (cr.tanh(v) * v).sum(), w)
    >>> y.grad_fn.op.name
    'checkpoint'
    >>> y.backward()
    >>> w.grad.tolist() == cr.grad((cr.tanh(w) * w).sum(), [w])[0].tolist()
    True
    """
    if not callable(fn):
        raise GraphError(f"checkpoint(fn, *args): fn must be callable, got "
                         f"{type(fn).__name__}; call it as checkpoint(fn, x, w)")
    needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
    if mode.grad_enabled:
        _check_captured(fn, args)
    return CHECKPOINT(*args, fn=fn, needs=needs)


def _check_captured(fn, args: tuple) -> None:
    """Refuse a region whose closure holds a tensor that needs a gradient and is no input."""
    cells = [c.cell_contents for c in getattr(fn, "__closure__", None) or ()
             if c.cell_contents is not None]
    owner = getattr(fn, "__self__", None)
    if callable(getattr(owner, "parameters", None)):
        cells.extend(owner.parameters())          # a module's bound method
    inputs = {id(a) for a in args}
    for t in cells:
        if isinstance(t, Tensor) and t.requires_grad and id(t) not in inputs:
            raise GraphError(
                f"checkpoint({_label(fn)}): fn uses a tensor that requires grad (shape "
                f"{t.shape}{', ' + repr(t.name) if t.name else ''}) without taking it as an "
                "argument, so its gradient would be lost; pass it to checkpoint(fn, ...)")


def inner_tensor(node: Node) -> tuple[Tensor, list] | None:
    """Run a checkpoint node's region again, recording, on its saved inputs (for reports).

    Returns the region's output, whose graph is what the recomputation builds and walks, and
    the inputs it ran on; ``None`` when the node's saved inputs were already freed.
    """
    if node.saved is None:
        return None
    needs = node.params.get("needs") or ()
    m = mode
    state = (m.grad_enabled, m.raw)
    m.grad_enabled, m.raw = True, False
    try:
        args = []
        for j, value in enumerate(node.saved):
            data = value._data if isinstance(value, Tensor) else value
            if isinstance(data, B.ndarray_types):
                t = Tensor._wrap(data)
                t._rg = j < len(needs) and bool(needs[j])
                t.name = getattr(value, "name", None)
                value = t
            args.append(value)
        return _call(node.params["fn"], args), args
    finally:
        m.grad_enabled, m.raw = state
