"""Pipeline training: a ``Sequential`` cut into stages, one stage per rank (exercise 5).

When the graph is too large for one device, the chapter's last exercise asks to partition it.
:class:`Pipeline` cuts a :class:`~chainrule.nn.Sequential` into ``comm.size`` contiguous
stages; rank ``r`` keeps only stage ``r``'s layers, parameters and saved intermediates.  A step
splits the batch into ``micro_batches`` parts (sizes differing by at most one).  A micro-batch's
forward on a stage receives its input activations from the rank before it (``MPI_Recv``),
computes, and starts sending its output to the rank after it (``MPI_Isend``); the last stage
computes its loss, weighted by its share of the batch (so the sum is the mean loss over the
whole batch, as one process computes it).  Its backward receives the gradient of the stage's
output, backpropagates through the stage's own graph (gradients accumulate in its parameters
over the micro-batches), lets that graph go and sends the gradient of its input back.  The
``schedule`` orders them (:func:`schedule_order`):

* ``"gpipe"``: every forward, then every backward in reverse.  A stage holds the graphs of
  all ``m`` micro-batches at the end of the forwards: its peak grows with ``m``.
* ``"1f1b"`` (one forward, one backward; PipeDream-Flush, Megatron): stage ``r`` of ``k``
  runs ``min(k - r - 1, m)`` forwards, then alternates one forward and one backward, then
  the remaining backwards.  It holds at most ``k - r`` graphs at once, whatever ``m``, and
  idles as long as GPipe does.  The default.

Both orders compute the same sums (a parameter's gradient is summed over the micro-batches
in the same order, 0 to m-1, in 1F1B, and m-1 to 0 in GPipe: equal up to rounding).  A sent
buffer lives until it is received: an output until its gradient comes back, an input
gradient until the next one is sent.

With ``weight_decay`` (lambda), each stage then adds its own share of the chapter's penalty,
``s_r = lambda/2 sum |W|^2`` over its weights, and backpropagates it: ``s`` is a sum over the
weights, so the stages' shares add up to the whole network's ``s`` and no message is needed.
Then each rank's optimizer updates its own stage.  With ``k`` stages and ``m`` micro-batches a
stage idles for ``k - 1`` of every ``m + k - 1`` micro-batch slots (the *bubble*);
:attr:`Pipeline.bubble` is the fraction measured in the last step.  :meth:`Pipeline.predict`
runs the forward pass alone through the stages (no graph is kept) for evaluation.

    pipe = Pipeline(model.layers, micro_batches=4)            # under mpiexec -n k
    optimizer = SGD(pipe.parameters(), lr=0.1)
    for x, y in DataLoader(train_set, 256, shuffle=True, seed=0):   # the whole batch, every rank
        optimizer.zero_grad()
        loss = pipe.step(x, y)                                # a float on the last rank
        optimizer.step()
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import backend
from .. import functional as F
from ..creation import tensor
from ..errors import ShapeError
from ..nn.module import Sequential
from ..core.tensor import Tensor
from .comm import Comm

__all__ = ["Pipeline", "SCHEDULES", "balanced_bounds", "micro_batch_slices", "schedule_order"]

SCHEDULES = ("1f1b", "gpipe")


def schedule_order(schedule: str, stages: int, rank: int, count: int) -> list[tuple[str, int]]:
    """The order in which stage ``rank`` of ``stages`` runs the forwards (``"F", i``) and
    backwards (``"B", i``) of ``count`` micro-batches under ``schedule`` (see the module doc).

    >>> schedule_order("1f1b", 2, 0, 3)
    [('F', 0), ('F', 1), ('B', 0), ('F', 2), ('B', 1), ('B', 2)]
    >>> schedule_order("gpipe", 2, 1, 2)
    [('F', 0), ('F', 1), ('B', 1), ('B', 0)]
    """
    if schedule not in SCHEDULES:
        raise ShapeError(f"Pipeline: schedule={schedule!r}: choose one of "
                         f"{', '.join(SCHEDULES)}")
    if schedule == "gpipe":
        return [("F", i) for i in range(count)] + [("B", i) for i in reversed(range(count))]
    warm = min(stages - rank - 1, count)
    order = [("F", i) for i in range(warm)]
    for i in range(count - warm):
        order += [("F", warm + i), ("B", i)]
    return order + [("B", i) for i in range(count - warm, count)]


def balanced_bounds(layers: Sequential, stages: int) -> list[tuple[int, int]]:
    """Cut ``layers`` into ``stages`` contiguous ``(start, stop)`` ranges holding about equal
    numbers of parameters (for an MLP, about equal work); each stage starts at a layer with
    parameters, and a layer without them stays with the one before it."""
    items = list(layers)
    sizes = [sum(p.size for p in layer.parameters()) for layer in items]
    weighted = [i for i, size in enumerate(sizes) if size]
    if stages < 1 or stages > len(weighted):
        raise ShapeError(f"Pipeline: cannot cut {len(weighted)} layers with parameters into "
                         f"{stages} stages; run on at most {len(weighted)} ranks, or pass "
                         "bounds=[(start, stop), ...]")
    total = sum(sizes)
    starts, k = [0], 0                     # k: index in weighted of the last stage's start
    for s in range(1, stages):
        target = s * total / stages
        last_choice = len(weighted) - (stages - s)          # leave a layer for each stage after
        options = range(k + 1, last_choice + 1)
        k = min(options, key=lambda j: abs(sum(sizes[:weighted[j]]) - target))
        starts.append(weighted[k])
    return list(zip(starts, starts[1:] + [len(items)]))


def micro_batch_slices(size: int, parts: int) -> list[slice]:
    """``parts`` contiguous slices of ``range(size)`` differing in length by at most one (no
    empty slice: fewer parts when ``size < parts``)."""
    parts = max(1, min(parts, size))
    base, extra = divmod(size, parts)
    edges = [0]
    for i in range(parts):
        edges.append(edges[-1] + base + (1 if i < extra else 0))
    return [slice(a, b) for a, b in zip(edges, edges[1:])]


class Pipeline:
    """Train ``layers`` (a Sequential) cut into one stage per rank, with micro-batches, in
    ``schedule`` order (``"1f1b"`` or ``"gpipe"``, see the module doc).

    ``bounds`` gives each rank's ``(start, stop)`` layers (default :func:`balanced_bounds`).
    ``stage`` holds this rank's layers only; :meth:`parameters` are theirs, for this rank's
    optimizer.  ``loss`` maps the last stage's output and the labels to a mean loss
    (default: cross-entropy).  ``weight_decay`` (lambda) adds ``lambda/2 |W|^2`` of each of
    this stage's ``penalized`` parameters (default: those with 2 or more dimensions, the
    weight matrices) to the objective.  After :meth:`step`: ``penalty`` is this stage's share
    of ``s`` (0.0 without weight decay) and, on the last rank, ``output`` holds the batch's
    logits (a NumPy array).  Counters: ``bytes_sent`` by this rank (every message, evaluation
    included), ``bubble`` of the last step (the fraction of its time this rank waited).
    """

    def __init__(self, layers: Sequential, comm: Comm | None = None, micro_batches: int = 4,
                 bounds: list[tuple[int, int]] | None = None,
                 loss: Callable[[Tensor, Any], Tensor] = F.cross_entropy,
                 weight_decay: float = 0.0, penalized: list[Tensor] | None = None,
                 schedule: str = "1f1b") -> None:
        if not isinstance(layers, Sequential):
            raise ShapeError(f"Pipeline: expected an nn.Sequential to cut into stages, got "
                             f"{type(layers).__name__}; pass e.g. model.layers")
        if isinstance(micro_batches, bool) or not isinstance(micro_batches, int) \
                or micro_batches < 1:
            raise ShapeError(f"Pipeline: micro_batches={micro_batches!r} must be an int >= 1")
        schedule_order(schedule, 1, 0, 0)          # refuses an unknown schedule
        if not weight_decay >= 0:
            raise ShapeError(f"Pipeline: weight_decay={weight_decay!r} must be >= 0 (lambda in "
                             "s = lambda/2 |W|^2)")
        self.comm = comm if comm is not None else Comm()
        self.bounds = list(bounds) if bounds is not None else balanced_bounds(
            layers, self.comm.size)
        if len(self.bounds) != self.comm.size:
            raise ShapeError(f"Pipeline: {len(self.bounds)} stages for {self.comm.size} ranks; "
                             "give one (start, stop) per rank")
        start, stop = self.bounds[self.comm.rank]
        self.stage = Sequential(*list(layers)[start:stop])
        self.micro_batches = micro_batches
        self.schedule = schedule
        self.loss = loss
        params = self.stage.parameters()
        self.dtype = params[0].dtype if params else np.dtype(np.float32)
        self.first = self.comm.rank == 0
        self.last = self.comm.rank == self.comm.size - 1
        self.weight_decay = float(weight_decay)
        own = {id(p) for p in params}
        self.penalized = ([p for p in penalized if id(p) in own] if penalized is not None
                          else [p for p in params if p.ndim >= 2])
        self.bytes_sent = 0
        self.bubble = 0.0
        self.penalty = 0.0
        self.output: np.ndarray | None = None

    def parameters(self) -> list[Tensor]:
        """This rank's parameters (its stage's), for its optimizer."""
        return self.stage.parameters()

    def _start_send(self, array: Any, dest: int, tag: int) -> tuple:
        """Start sending ``array`` (a plain array, ``t.numpy()``: a ``t.data`` view would keep
        ``t`` and its graph alive); the (request, buffer) pair keeps it alive until
        :meth:`_finish_send`."""
        buffer = np.ascontiguousarray(backend.to_numpy(array))
        self.bytes_sent += buffer.nbytes
        return self.comm.isend(buffer, dest, tag), buffer

    def _finish_send(self, sending: tuple | None) -> None:
        """Wait until a send started by :meth:`_start_send` is done (None: nothing)."""
        if sending is not None:
            self.comm.wait_all([sending[0]])

    def _input(self, x: Any, part: slice) -> Tensor:
        """The first stage's input rows ``part``, floats in the stage's dtype."""
        rows = np.asarray(x)[part]
        if rows.dtype.kind == "f" and rows.dtype != self.dtype:
            rows = rows.astype(self.dtype)
        return tensor(backend.xp.asarray(rows))

    def _penalize(self) -> float:
        """Backpropagate this stage's ``lambda/2 sum |W|^2``, one weight at a time (so about
        two arrays the size of the largest weight are alive beside the gradients, not a
        square of every weight); return its value."""
        total = 0.0
        for w in self.penalized if self.weight_decay else ():
            s = self.weight_decay / 2 * F.sum(w ** 2)
            s.backward()
            total += s.item()
        return total

    def predict(self, x: Any, batch_size: int = 2048) -> np.ndarray | None:
        """The last stage's output for ``x`` (a NumPy array on the last rank, None elsewhere),
        computed through every stage without recording a graph, ``batch_size`` rows a message.

        Every rank passes the same ``x`` (only the first stage reads it)."""
        from ..core.modes import no_grad

        rank, total = self.comm.rank, len(x)
        sends: list = []
        outputs = []
        with no_grad():
            for i, part in enumerate(micro_batch_slices(total, -(-total // batch_size))):
                if self.first:
                    inp = self._input(x, part)
                else:
                    inp = Tensor(backend.xp.asarray(self.comm.recv(
                        rank - 1, i, self.dtype, part.stop - part.start)))
                out = self.stage(inp)
                if self.last:
                    outputs.append(out.numpy())
                else:
                    sends.append(self._start_send(out.numpy(), rank + 1, i))
        for sending in sends:
            self._finish_send(sending)
        if not self.last:
            return None
        return np.concatenate(outputs) if outputs else np.zeros((0, 0), self.dtype)

    def step(self, x: Any, y: Any) -> float | None:
        """Forward and backward over the micro-batches of one batch, in :attr:`schedule`'s
        order; gradients accumulate in this rank's parameters.  Every rank passes the same
        batch (only the first stage reads ``x``, only the last ``y``).  Returns the batch's
        mean loss on the last rank, None elsewhere; the weight-decay share is in
        :attr:`penalty`, the logits in :attr:`output` (last rank)."""
        rank, total = self.comm.rank, len(y)
        if total == 0:
            raise ShapeError("Pipeline.step: empty batch")
        slices = micro_batch_slices(total, self.micro_batches)
        count = len(slices)
        inputs: list = [None] * count
        outputs: list = [None] * count
        losses: list = [None] * count
        logits: list = [None] * count
        forward_sends: list = [None] * count        # (request, buffer) of each output sent
        backward_send = None                        # the last input gradient sent, in flight
        started, busy, value = time.perf_counter(), 0.0, 0.0
        for kind, i in schedule_order(self.schedule, self.comm.size, rank, count):
            rows = slices[i].stop - slices[i].start
            if kind == "F":
                if self.first:
                    inp = self._input(x, slices[i])
                else:
                    received = self.comm.recv(rank - 1, i, self.dtype, rows)
                    inp = Tensor(backend.xp.asarray(received), requires_grad=True)
                t0 = time.perf_counter()
                out = self.stage(inp)
                if self.last:
                    losses[i] = self.loss(out, np.asarray(y)[slices[i]]) * (rows / total)
                    logits[i] = out.numpy()       # the array alone, not its tensor
                busy += time.perf_counter() - t0
                if not self.last:
                    forward_sends[i] = self._start_send(out.numpy(), rank + 1, i)
                inputs[i], outputs[i] = inp, out
                continue
            if self.last:
                t0 = time.perf_counter()
                value += losses[i].item()
                losses[i].backward()
            else:
                g = self.comm.recv(rank + 1, count + i, self.dtype, rows)
                self._finish_send(forward_sends[i])  # received: the next stage has it
                forward_sends[i] = None
                t0 = time.perf_counter()
                outputs[i].backward(Tensor(backend.xp.asarray(g)))
            busy += time.perf_counter() - t0
            if not self.first:
                self._finish_send(backward_send)     # at most one gradient in flight
                backward_send = self._start_send(inputs[i].grad.numpy(), rank - 1,
                                                 count + i)
            inputs[i] = outputs[i] = losses[i] = None   # this micro-batch's graph can go now
        t0 = time.perf_counter()
        self.penalty = self._penalize()
        busy += time.perf_counter() - t0
        self._finish_send(backward_send)
        self.output = np.concatenate(logits) if self.last else None
        wall = time.perf_counter() - started
        self.bubble = max(0.0, 1.0 - busy / wall) if wall > 0 else 0.0
        return value if self.last else None
