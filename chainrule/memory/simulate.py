"""The replay behind :mod:`chainrule.memory`: a training step simulated on array sizes.

:func:`report` reads a recorded graph; :func:`predict` traces a model at batch 2 and 3 and
moves every shape to the batch asked for (each dimension is affine in the batch).  The peaks
are found by replaying the engine's own schedule on array sizes, not by running it:

- **forward**: each operator allocates its output (a view, nothing), its residuals and its
  temporaries (the fused cross-entropy holds two N x C arrays for an instant), as its
  record's ``memory`` field says (:class:`chainrule.core.fields.Memory`); an
  intermediate dies after its last use unless the graph saved it or the caller holds it;
- **backward**: the walk of :mod:`chainrule.core.backward`, consumers first.  Each VJP allocates
  its result and the temporaries its rule makes (``g * y * x ** (y - 1)`` holds two arrays;
  NumPy reuses a temporary of 256 KiB or more in place); fan-out sums and ``.grad``
  accumulation are out of place; a transposed or broadcast gradient is copied before it
  becomes a ``.grad``; the loop's locals ``g``, ``saved`` and ``gi`` keep their arrays until
  reassigned; saved values go after their node's VJP when :meth:`Node.release` drops them;
  a checkpoint replays its region's forward and backward inside its VJP;
- Python objects (nodes, tensors, array headers): :data:`NODE_BYTES` per node and
  :data:`FIXED_BYTES` per step, measured once with :mod:`tracemalloc` on the chapter's network
  and a 10-layer MLP at batch 1.

Both peaks are beyond the parameters and inputs that already exist.  The SGD update is not
part of the step (it writes the parameters in place); ``chainrule memory --measure`` checks
the figures against :mod:`tracemalloc` (:func:`chainrule.cli.memory.measure`).
"""

from __future__ import annotations

import math

from ..core.fields import ALIAS, NEW, NEWVIEW, READONLY, TRANSPOSED
from ..core.graph import Node
from .plan import _EXTERNAL, ELIDE_BYTES, Buf, Plan, Step, buffer_bytes

__all__ = ["NODE_BYTES", "FIXED_BYTES", "FORWARD_BYTES", "ELIDE_BYTES", "Heap", "new_grad",
           "replay_forward", "replay_backward", "overhead", "training_peak", "prediction_peak"]

NODE_BYTES = 1100         # Python objects per recorded node
FIXED_BYTES = 8192        # ... and per step (the backward walk's own bookkeeping)
FORWARD_BYTES = 3584      # Python objects alive in a forward pass under no_grad


# ---------------------------------------------------------------------------- the replay
class Heap:
    """Reference-counted buffers: the bytes alive now, and the most ever alive at once."""

    def __init__(self) -> None:
        self.count: dict[int, int] = {}
        self.current = self.peak = 0

    def hold(self, buf: Buf | None) -> None:
        if buf is not None and buf.kind not in _EXTERNAL:
            n = self.count.get(id(buf), 0)
            self.count[id(buf)] = n + 1
            if n == 0:
                self.current += buf.nbytes
                self.peak = max(self.peak, self.current)

    def drop(self, buf: Buf | None) -> None:
        if buf is not None and buf.kind not in _EXTERNAL:
            self.count[id(buf)] -= 1
            if self.count[id(buf)] == 0:
                self.current -= buf.nbytes

    def forget(self, bufs) -> None:
        """Let ``bufs`` go whoever holds them (a graph that was dropped as a whole)."""
        for buf in bufs:
            if self.count.get(id(buf), 0) > 0 and buf.kind not in _EXTERNAL:
                self.count[id(buf)] = 0
                self.current -= buf.nbytes

    def touch(self, extra: int) -> None:
        """An instant with ``extra`` bytes of temporaries alive beside the rest."""
        self.peak = max(self.peak, self.current + extra)


def _drops_saved(op) -> bool:
    """Whether :meth:`Node.release` drops this operator's saved values (asked, not assumed)."""
    if op.name not in _RELEASES:
        node = Node(op, (), (None,), {}, None, (), None)
        node.release()
        _RELEASES[op.name] = node.saved is None
    return _RELEASES[op.name]


_RELEASES: dict[str, bool] = {}


def replay_forward(plan: Plan, heap: Heap, training: bool, last: int | None = None) -> None:
    """Replay the forward pass (up to step ``last``); saved values stay when ``training``."""
    steps = plan.steps
    if last is not None:                 # only what ``last`` depends on
        need, stack = {last}, [last]
        while stack:
            for src in steps[stack.pop()].srcs:
                if src is not None and src not in need:
                    need.add(src)
                    stack.append(src)
        steps = [s for k, s in enumerate(steps) if k in need]
    last_use = {id(b): k for k, s in enumerate(steps) for b in s.ins if b is not None}
    keep = {id(b) for b in plan.held} if training else {id(steps[-1].out)}
    for k, step in enumerate(steps):
        fresh = step.out is not None and all(step.out is not b for b in step.ins)
        heap.touch(step.op.memory.forward_temps(step) + (step.out.nbytes if fresh else 0))
        if step.inner is not None:       # a checkpoint runs its region under no_grad
            region = Heap()
            replay_forward(step.inner, region, training=False)
            heap.touch(region.peak)
        if fresh:
            heap.hold(step.out)
            last_use.setdefault(id(step.out), k)     # never read: dies now unless held
        for _, buf in step.saved if training else ():
            heap.hold(buf)
        for buf in {id(b): b for b in [*step.ins, step.out] if b is not None}.values():
            if last_use.get(id(buf)) == k and id(buf) not in keep and buf.kind == "out":
                heap.drop(buf)


class _Val:
    """A gradient array of the replay: its buffer, and what kind of view it is."""

    def __init__(self, buf: Buf, view: str = NEW):
        self.buf, self.view, self.transposed = buf, view != NEW, view == TRANSPOSED
        self.readonly = view == READONLY             # a broadcast: .grad gets a copy


def new_grad(shape, itemsize: int, view: str = NEW) -> _Val:
    return _Val(Buf(tuple(shape), itemsize, "grad"), view)


def replay_backward(plan: Plan, heap: Heap, seed: _Val | None = None, targets=False) -> dict:
    """Replay :func:`chainrule.core.backward.backward`, first order: into ``.grad``, or with
    ``targets`` as ``grad(out, leaves)`` does (the leaves' gradients returned, held)."""
    steps, slots = plan.steps, {"g": (), "gi": (), "saved": ()}

    def assign(slot: str, values: tuple) -> None:    # a local of the walk, reassigned
        for v in values:
            heap.hold(v.buf if isinstance(v, _Val) else v)
        for v in slots[slot]:
            heap.drop(v.buf if isinstance(v, _Val) else v)
        slots[slot] = values

    root = steps[plan.root]
    seed = seed or new_grad(root.shape, root.itemsize)
    heap.hold(seed.buf)
    pending: dict = {plan.root: seed}
    grads: dict[int, _Val] = {}
    stored: set[int] = set()
    cache: list[_Val] = []
    for k in range(plan.root, -1, -1):
        step, g = steps[k], pending.pop(k, None)
        assign("g", (g,) if g is not None else ())
        if g is None:
            continue
        heap.drop(g.buf)                             # pending's reference went to `g`
        assign("saved", tuple(buf for _, buf in step.saved))
        for i, edge in enumerate(step.edges):
            if edge is None:
                continue
            shape, itemsize = step.in_shapes[i], (step.ins[i] or step.out).itemsize
            memory = step.op.memory
            kind = None if memory.region is not None else memory.returns(step, i)
            if kind is None:                         # a checkpoint: its region, replayed
                gi = _recompute(step, i, heap, g, cache)
            elif kind in (NEW, NEWVIEW):
                heap.touch(memory.vjp_temps(step, i) + itemsize * math.prod(shape))
                gi = new_grad(shape, itemsize, kind)
            else:
                gi = g if kind == ALIAS else _Val(g.buf, kind)
            assign("gi", (gi,))
            if isinstance(edge, int) or targets:     # a sum over fan-out, out of place
                key = edge if isinstance(edge, int) else ("leaf", id(edge))
                current = pending.get(key)
                if current is not None and current.transposed != gi.transposed:
                    heap.touch(buffer_bytes(shape, itemsize) + itemsize * math.prod(shape))
                new = gi if current is None else new_grad(shape, itemsize)
            else:                                    # into .grad, copied if a view
                key, current = None, grads.get(id(edge))
                if current is not None:
                    # as backward._store_grad: a .grad made by this walk is added to in
                    # place; mixed memory orders go through NumPy's 8192-element buffer
                    if current.transposed != gi.transposed:
                        heap.touch(buffer_bytes(shape, itemsize))
                    new = current
                else:
                    # a read-only view, or memory already handed to another .grad, makes a
                    # new array; a writeable view of a fresh one is kept
                    copy = gi.readonly or id(gi.buf) in stored
                    new = new_grad(edge.shape, edge.itemsize) if copy else gi
                    stored.add(id(new.buf))
            heap.hold(new.buf)
            if current is not None:
                heap.drop(current.buf)
            if key is None:
                grads[id(edge)] = new
            else:
                pending[key] = new
        if _drops_saved(step.op):
            for _, buf in step.saved:
                heap.drop(buf)
    for slot in slots:                               # the walk returns: its locals go
        assign(slot, ())
    return {key[1]: v for key, v in pending.items() if isinstance(key, tuple)}


def _recompute(step: Step, i: int, heap: Heap, g: _Val, cache: list) -> _Val:
    """A checkpoint's VJP: its region replayed once, every input's gradient kept till asked."""
    edges = [j for j, e in enumerate(step.edges) if e is not None]
    if i == edges[0]:
        inner, results = step.inner, {}
        if inner is not None:
            replay_forward(inner, heap, training=True)
            results = replay_backward(inner, heap, seed=g, targets=True)
            heap.forget(inner.buffers)               # the recomputed graph is let go
        else:                                        # its inputs were freed: a guess
            heap.touch(2 * step.itemsize * math.prod(step.shape))
        cache[:] = []
        for j in edges:
            buf = inner.args[j] if inner is not None else None
            value = results.get(id(buf)) if buf is not None else None
            if value is None:
                value = new_grad(step.in_shapes[j], (step.ins[j] or step.out).itemsize)
                heap.hold(value.buf)
            cache.append(value)
    value = cache.pop(0)
    heap.drop(value.buf)                             # the caller's `gi` holds it now
    return value


def overhead(plan: Plan) -> int:
    return FIXED_BYTES + NODE_BYTES * len(plan.steps)


def training_peak(plan: Plan) -> int:
    heap = Heap()
    replay_forward(plan, heap, training=True)
    replay_backward(plan, heap)
    return heap.peak + overhead(plan)


def prediction_peak(plan: Plan) -> int:
    heap = Heap()
    replay_forward(plan, heap, training=False, last=plan.output)
    return heap.peak + FORWARD_BYTES
