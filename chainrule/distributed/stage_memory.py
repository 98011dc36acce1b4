"""What one pipeline stage holds and computes in a step: the engine's replay, per stage.

:func:`stage_cost` traces a stage's own layers at micro-batch 2 and 3, moves every shape to
each micro-batch's size (as :func:`chainrule.memory.predict` does) and replays the GPipe
schedule of :meth:`chainrule.distributed.Pipeline.step` on array sizes with
:mod:`chainrule.memory.simulate`'s walks: ``m`` forwards, each keeping its input, its saved
values and its output; then ``m`` backwards in reverse, the first making each ``.grad``, the
later ones summing into it out of place as the engine does (``p.grad = p.grad + g`` the
moment ``g`` is made), and the input gradients sent back kept until the step ends.
:mod:`chainrule.distributed.planner` chooses the cuts from these costs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import functional as F
from ..errors import ShapeError
from ..core.modes import set_grad_enabled
from ..memory.report import scale_plan
from ..memory.plan import Buf, build_plan
from ..memory.simulate import (FIXED_BYTES, NODE_BYTES, Heap, new_grad, replay_backward,
                               replay_forward)
from ..nn.module import Sequential
from ..core.tensor import Tensor
from .pipeline import micro_batch_slices

__all__ = ["StageCost", "stage_cost"]


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
    received_bytes: int         # activations received (all alive) + one gradient micro-batch
    sent_bytes: int             # outputs kept for backward + input gradients sent, kept
    step_bytes: int             # the replayed peak of Pipeline.step beyond what existed
    update_bytes: int           # the SGD update's: the gradients and one temporary
    flops: int                  # matmul FLOPs per step, forward and backward

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


def _trace(layers: list, width: int, n: int, dtype, first: bool, last: bool):
    """The replay plan of the stage's graph at micro-batch ``n``, as Pipeline.step builds it."""
    with set_grad_enabled(True):
        inp = Tensor(np.zeros((n, width), dtype), requires_grad=not first)
        out = Sequential(*layers)(inp)
        root = F.cross_entropy(out, np.zeros(n, np.int64)) * 0.5 if last else out
        return build_plan(root, [out]), int(out.shape[-1])


def _flops(layers: list, batch_size: int, first: bool) -> int:
    total = 0
    for j, layer in enumerate(layers):
        shape = getattr(getattr(layer, "weight", None), "shape", None)
        if shape is not None and len(shape) == 2:
            mac = batch_size * shape[0] * shape[1]
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
    into the ``.grad`` already there as the engine does (``p.grad = p.grad + g`` as soon as
    ``g`` is made).  The walk kept each ``g`` (ids in ``merged``) to return it, with one last
    hold that nothing drops; instead, there, the new sum is alive with the old ``.grad`` and
    ``g`` for an instant, then replaces the old ``.grad`` (same bytes)."""
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


def _replay(a, b, rows: list[int], width: int, out_width: int, itemsize: int,
            last: bool) -> tuple[int, int]:
    """Peak and saved bytes of the GPipe schedule on one stage, replayed on array sizes."""
    heap, plans = Heap(), [scale_plan(a, b, r) for r in rows]
    inputs = [Buf((r, width), itemsize, "out", "input") for r in rows]
    saved: dict[int, Buf] = {}
    for plan, buf in zip(plans, inputs):                 # forward, micro-batch by micro-batch
        heap.hold(buf)
        replay_forward(plan, heap, training=True)
        saved.update({id(x): x for s in plan.steps for _, x in s.saved
                      if x.kind not in ("param", "input")})
    params = [j for j, (p, q) in enumerate(zip(a.buffers, b.buffers))
              if p.kind == "param" and p.shape == q.shape]
    local = None                                         # Pipeline.step's `g`
    for i in reversed(range(len(rows))):                 # backward, in reverse
        plan, seed = plans[i], None
        if not last:
            seed = new_grad((rows[i], out_width), itemsize)
            heap.hold(seed.buf)
            if local is not None:
                heap.drop(local.buf)
            local = seed
        if i == len(rows) - 1:                           # the first walk makes the .grad
            replay_backward(plan, heap, seed=seed, targets=True)   # (and the input's, to send)
        else:
            log = _Log()
            got = replay_backward(plan, log, seed=seed, targets=True)
            merged = {id(got[id(plan.buffers[j])].buf) for j in params
                      if id(plan.buffers[j]) in got}
            _accumulating(heap, log, merged)
            heap.drop(inputs[i])                         # the loop's locals keep the last one
            for buf in {id(x): x for x in plan.held[:1 if last else None]}.values():
                heap.drop(buf)                           # (the last stage keeps the logits)
    if last:                                             # Pipeline.output: them, concatenated
        heap.touch(sum(rows) * out_width * itemsize)
    objects = FIXED_BYTES + NODE_BYTES * len(a.steps) * len(rows)
    return heap.peak + objects, sum(x.nbytes for x in saved.values())


def stage_cost(layers: Sequential | list, start: int, stop: int, batch_size: int,
               micro_batches: int, *, momentum: bool = False) -> StageCost:
    """The cost of the stage ``layers[start:stop]`` in a pipeline over all of ``layers``."""
    items = list(layers)
    mine = items[start:stop]
    first, last = start == 0, stop == len(items)
    params = [p for layer in mine for p in layer.parameters()]
    dtype = params[0].dtype if params else np.dtype(np.float32)
    itemsize = np.dtype(dtype).itemsize
    width = _in_width(mine)
    a, out_width = _trace(mine, width, 2, dtype, first, last)
    b, _ = _trace(mine, width, 3, dtype, first, last)
    rows = [s.stop - s.start for s in micro_batch_slices(batch_size, micro_batches)]
    step, saved = _replay(a, b, rows, width, out_width, itemsize, last)
    param_bytes = sum(p.data.nbytes for p in params)
    along = batch_size * itemsize
    return StageCost(
        start, stop, width, out_width, param_bytes, param_bytes,
        param_bytes if momentum else 0,
        (batch_size * width * itemsize if first else 0) + (8 * batch_size if last else 0),
        saved,
        (0 if first else along * width) + (0 if last else max(rows) * itemsize * out_width),
        (0 if last else along * out_width) + (0 if first else along * width),
        step, param_bytes + max([p.data.nbytes for p in params], default=0),
        _flops(mine, batch_size, first))
