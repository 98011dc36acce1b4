"""What one pipeline stage holds and computes in a step: the engine's replay, per stage.

:func:`stage_cost` traces a stage's own layers at micro-batch 2 and 3, moves every shape to
each micro-batch's size (as :func:`chainrule.memory.predict` does) and replays the stage's
part of :meth:`chainrule.distributed.Pipeline.step`, in its schedule's order
(:func:`~chainrule.distributed.pipeline.schedule_order`, GPipe or 1F1B), on array sizes with
:mod:`chainrule.memory.simulate`'s walks.  A forward holds its input, its saved values and
its output; a backward holds the gradient received, the first walk makes each ``.grad``, the
later ones sum into it out of place as the engine does (``p.grad = p.grad + g`` the moment
``g`` is made), and the input gradient sent back lives until the next one is sent.  What the
step's variables keep is kept too: the last forward's input and output (``inp``, ``out``), the
last gradient received (``g``), on the last stage every micro-batch's logits.  Then the
weight-decay penalty's backward (:data:`PENALTY_TEMPORARIES` times the largest weight beside
the gradients).  :mod:`chainrule.distributed.planner` chooses the cuts from these costs.

A CNN's stage receives and sends feature maps, not rows: ``shapes`` (from
:func:`layer_shapes`) gives each layer's input shape per example, so a stage starting at a
convolution is traced on (n, C, H, W); a convolution's FLOPs are those of its im2col product.
"""

from __future__ import annotations

from dataclasses import dataclass

import math

import numpy as np

from .. import functional as F
from ..errors import ShapeError
from ..core.modes import no_grad, set_grad_enabled
from ..memory.report import scale_plan
from ..memory.plan import Buf, build_plan
from ..memory.simulate import (FIXED_BYTES, NODE_BYTES, Heap, new_grad, replay_backward,
                               replay_forward)
from ..nn.module import Sequential
from ..core.tensor import Tensor
from .pipeline import micro_batch_slices, schedule_order

__all__ = ["StageCost", "stage_cost", "stage_flops", "layer_shapes", "layer_name",
           "PENALTY_TEMPORARIES"]

# backpropagating lambda/2 sum(W**2) for one weight W holds about 2 |W| beside the gradients
# (2 W g and the new .grad sum, out of place: measured 2.0 |W| with tracemalloc)
PENALTY_TEMPORARIES = 2


@dataclass
class StageCost:
    """What one stage holds and computes in one step (bytes, FLOPs); the planner's module
    doc says what each field counts."""

    start: int                  # layers [start, stop) of the Sequential
    stop: int
    in_width: int
    out_width: int
    parameter_bytes: int
    gradient_bytes: int
    optimizer_bytes: int
    batch_bytes: int            # x on the first stage, the labels on the last
    saved_bytes: int            # saved for backward, all m micro-batches (made by forward)
    received_bytes: int         # activations received and alive at once + one gradient
    sent_bytes: int             # outputs kept for backward + the input gradients in flight
    step_bytes: int             # the replayed peak of Pipeline.step beyond what existed
    update_bytes: int           # the SGD update's: the gradients and one temporary
    flops: int                  # matmul FLOPs per step, forward and backward
    schedule: str = "1f1b"      # the order replayed
    in_flight: int = 0          # the most micro-batches whose graphs were held at once
    in_shape: tuple = ()        # what one example's input is (in_width elements), and output
    out_shape: tuple = ()

    @property
    def peak_bytes(self) -> int:
        """The stage's peak: parameters, optimizer state and batch, plus the larger of the
        step's peak and the update's."""
        return (self.parameter_bytes + self.optimizer_bytes + self.batch_bytes
                + max(self.step_bytes, self.update_bytes))


def _in_width(layers: list) -> int:
    width = getattr(layers[0], "in_features", None)
    if width is None:
        raise ShapeError(f"planner: a stage starts with {type(layers[0]).__name__}, which does "
                        "not say its input width; stages must start at a Linear layer")
    return int(width)


def layer_shapes(layers: Sequential | list, example: tuple) -> list[tuple]:
    """Each layer's input shape for one example of shape ``example``, then the last output's:
    ``len(layers) + 1`` shapes, found by running the layers once on one example of zeros
    (no graph is recorded).

    >>> from chainrule import nn
    >>> layer_shapes([nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 3)], (1, 4, 4))
    [(1, 4, 4), (2, 2, 2), (8,), (3,)]
    """
    items = list(layers)
    params = [p for layer in items for p in layer.parameters()]
    x = Tensor(np.zeros((1, *example), params[0].dtype if params else np.float32))
    shapes = [tuple(example)]
    with no_grad():
        for layer in items:
            x = layer(x)
            shapes.append(tuple(x.shape[1:]))
    return shapes


def layer_name(layer) -> str:
    """``Conv2d(6, 16, 5)``, ``Linear(400, 120)`` or ``ReLU``: a layer as a plan lists it."""
    w = getattr(layer, "weight", None)
    sizes = [] if w is None else [w.shape[1], w.shape[0], *w.shape[2:3]]
    return type(layer).__name__ + (f"({', '.join(map(str, sizes))})" if sizes else "")


def _trace(layers: list, shape: tuple, n: int, dtype, first: bool, last: bool):
    """The replay plan of the stage's graph at micro-batch ``n``, as Pipeline.step builds it,
    and the shape of one example's output."""
    with set_grad_enabled(True):
        inp = Tensor(np.zeros((n, *shape), dtype), requires_grad=not first)
        out = Sequential(*layers)(inp)
        root = F.cross_entropy(out, np.zeros(n, np.int64)) * 0.5 if last else out
        return build_plan(root, [out]), tuple(out.shape[1:])


def stage_flops(layers: list, batch_size: int, first: bool, shapes: list | None = None) -> int:
    """Matmul FLOPs of a step of ``layers`` on ``batch_size`` examples, forward and backward
    (no input gradient on the first stage); a convolution's are its im2col product's, which
    needs ``shapes`` (each layer's input shape and the last output's, :func:`layer_shapes`)."""
    total = 0
    for j, layer in enumerate(layers):
        shape = getattr(getattr(layer, "weight", None), "shape", None)
        if shape is not None and len(shape) == 2:
            mac = batch_size * shape[0] * shape[1]
        elif shape is not None and len(shape) == 4 and shapes is not None:
            mac = batch_size * math.prod(shapes[j + 1]) * math.prod(shape[1:])
        else:
            continue
        total += 2 * mac + (2 if first and j == 0 else 4) * mac     # no dx for the data
    return total


class _Log(Heap):
    """A heap that writes down what a walk does, to be applied once its results are known."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list = []

    def hold(self, buf) -> None:
        self.events.append(("hold", buf))

    def drop(self, buf) -> None:
        self.events.append(("drop", buf))

    def touch(self, extra: int) -> None:
        self.events.append(("touch", extra))

    def forget(self, bufs) -> None:
        self.events.append(("forget", list(bufs)))


def _accumulating(heap: Heap, log: _Log, merged: set[int]) -> None:
    """Apply a later micro-batch's backward walk to ``heap``, its parameter gradients summed
    into the ``.grad`` an earlier backward made, out of place as the engine does
    (``p.grad = p.grad + g`` as soon as ``g`` is made).  The walk kept each ``g`` (ids in
    ``merged``) to return it, with one last hold that nothing drops; instead, there, the new
    sum is alive with the old ``.grad`` and ``g`` for an instant, then replaces the old
    ``.grad`` (same bytes)."""
    final = {id(arg): k for k, (kind, arg) in enumerate(log.events)
             if kind == "hold" and id(arg) in merged}
    for k, (kind, arg) in enumerate(log.events):
        if kind == "touch":
            heap.touch(arg)
        elif kind == "forget":
            heap.forget(arg)
        elif kind == "hold" and final.get(id(arg)) == k:
            heap.touch(arg.nbytes)               # old .grad + g + the new sum
        elif kind == "hold":
            heap.hold(arg)
        else:
            heap.drop(arg)


def _replay(a, b, rows: list[int], shape: tuple, out_shape: tuple, itemsize: int, last: bool,
            order: list[tuple[str, int]], penalty_bytes: int) -> tuple[int, int, int]:
    """Peak, saved and held-at-once bytes of one stage's step in ``order`` (its schedule),
    replayed on array sizes, with what :meth:`Pipeline.step`'s variables keep alive."""
    heap, plans = Heap(), [scale_plan(a, b, r) for r in rows]
    inputs = [Buf((r, *shape), itemsize, "out", "input") for r in rows]
    saved: dict[int, Buf] = {}
    params = [j for j, (p, q) in enumerate(zip(a.buffers, b.buffers))
              if p.kind == "param" and p.shape == q.shape]
    local = None              # Pipeline.step's `g`, the gradient received last
    current = None            # the micro-batch its `inp` and `out` name (the last forward)
    sending = None            # the input gradient in flight (`backward_send`)
    grads_in: dict[int, Buf] = {}                       # micro-batch -> its input's .grad
    done: set[int] = set()
    first_walk, flight, most = True, 0, 0

    def release(i: int) -> None:                        # inputs[i] = outputs[i] = None
        heap.drop(inputs[i])
        heap.drop(grads_in.pop(i, None))
        for buf in {id(x): x for x in plans[i].held[:1 if last else None]}.values():
            heap.drop(buf)                              # (the last stage keeps the logits)

    for kind, i in order:
        plan = plans[i]
        mine = {id(plan.buffers[j]) for j in params}
        if kind == "F":
            flight += 1
            most = max(most, flight)
            heap.hold(inputs[i])
            replay_forward(plan, heap, training=True)
            saved.update({id(x): x for s in plan.steps for _, x in s.saved
                          if x.kind not in ("param", "input")})
            if current in done:                         # `inp`, `out` move on to this one
                release(current)
            current = i
            continue
        flight -= 1
        seed = None
        if not last:
            seed = new_grad((rows[i], *out_shape), itemsize)
            heap.hold(seed.buf)
            if local is not None:
                heap.drop(local.buf)
            local = seed
        if first_walk:                                  # the first walk makes the .grad
            got = replay_backward(plan, heap, seed=seed, targets=True)
            first_walk = False
        else:
            log = _Log()
            got = replay_backward(plan, log, seed=seed, targets=True)
            merged = {id(v.buf) for key, v in got.items() if key in mine}
            _accumulating(heap, log, merged)
        own = [v.buf for key, v in got.items() if key not in mine]
        if own:                                         # the input's gradient, sent back
            grads_in[i] = own[0]
            heap.hold(own[0])
            heap.drop(sending)
            sending = own[0]
        done.add(i)
        if i != current:
            release(i)
    if penalty_bytes:                                   # lambda/2 |W|^2, one weight at a time
        heap.touch(penalty_bytes)
    if last:                                            # Pipeline.output: the logits, joined
        heap.touch(sum(rows) * math.prod(out_shape) * itemsize)
    objects = FIXED_BYTES + NODE_BYTES * len(a.steps) * most
    return heap.peak + objects, sum(x.nbytes for x in saved.values()), most


def stage_cost(layers: Sequential | list, start: int, stop: int, batch_size: int,
               micro_batches: int, *, momentum: bool = False, schedule: str = "1f1b",
               stage: int = 0, stages: int = 1, weight_decay: bool = True,
               input_itemsize: int = 4, traces: dict | None = None,
               shapes: list | None = None) -> StageCost:
    """The cost of the stage ``layers[start:stop]``, number ``stage`` of ``stages``, in a
    pipeline over all of ``layers`` run in ``schedule`` order; ``weight_decay``: the stage
    backpropagates lambda/2 |W|^2 of its weights; ``input_itemsize``: of the batch ``x`` as
    the first stage is given it (4: the loader's float32 images); ``traces``: a dict that
    keeps the stage's traced graphs between calls (a planner tries many schedules);
    ``shapes``: each layer's input shape per example (:func:`layer_shapes`), needed when the
    stage does not start at a Linear layer."""
    items = list(layers)
    mine = items[start:stop]
    first, last = start == 0, stop == len(items)
    params = [p for layer in mine for p in layer.parameters()]
    dtype = params[0].dtype if params else np.dtype(np.float32)
    itemsize = np.dtype(dtype).itemsize
    shape = tuple(shapes[start]) if shapes is not None else (_in_width(mine),)
    width = math.prod(shape)
    key = (tuple(id(layer) for layer in mine), first, last)
    if traces is None or key not in traces:
        found = (*_trace(mine, shape, 2, dtype, first, last),
                 _trace(mine, shape, 3, dtype, first, last)[0])
        if traces is None:
            traces = {}
        traces[key] = found
    a, out_shape, b = traces[key]
    out_width = math.prod(out_shape)
    rows = [s.stop - s.start for s in micro_batch_slices(batch_size, micro_batches)]
    order = schedule_order(schedule, stages, stage, len(rows))
    weights = [p.data.nbytes for p in params if p.ndim >= 2]
    penalty = PENALTY_TEMPORARIES * max(weights) if weight_decay and weights else 0
    step, saved, flight = _replay(a, b, rows, shape, out_shape, itemsize, last, order,
                                  penalty)
    param_bytes = sum(p.data.nbytes for p in params)
    return StageCost(
        start, stop, width, out_width, param_bytes, param_bytes,
        param_bytes if momentum else 0,
        (batch_size * width * input_itemsize if first else 0) + (8 * batch_size if last else 0),
        saved,
        (0 if first else max(rows) * itemsize * width * flight)
        + (0 if last else max(rows) * itemsize * out_width),
        (0 if last else max(rows) * itemsize * out_width * flight)
        + (0 if first else 2 * max(rows) * itemsize * width),
        step, param_bytes + max([p.data.nbytes for p in params], default=0),
        stage_flops(mine, batch_size, first, shapes[start:] if shapes is not None else None),
        schedule, flight, shape, out_shape)
