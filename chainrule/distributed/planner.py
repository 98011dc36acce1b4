"""Planning a pipeline: where to cut a Sequential so that every stage fits its device.

Exercise 5 of the chapter: the graph is too large for one device.  For a Sequential trained
by :class:`~chainrule.distributed.Pipeline` with a batch of ``B`` in ``m`` micro-batches on
``k`` devices of ``M`` bytes, :func:`plan_partition` picks the ``k - 1`` cuts and reports per
stage what it holds at its peak and computes, and per cut the bytes crossing it per step
(``2 x B x width x itemsize``: activations forward, gradients back).  :func:`plan_mlp` does
it for an MLP of given depth and width, :func:`plan_cnn` for LeNet or the VGG blocks;
``chainrule partition`` prints :meth:`Plan.format`.

**Where a cut may fall**: before a layer with parameters, never elsewhere.  A stage is whole
units, each a layer with parameters and the parameter-free layers after it: a Linear and its
activation, or a convolution, its activation and the pool that follows it (and the Flatten
after the last pool).  So a map is never sent between its activation and its pool (which
would cost 4 times the bytes of the pooled map); inside a VGG block, whose convolutions
follow each other unpooled, a cut may fall between two convolutions.  What crosses a CNN's
cut is the map the next convolution reads: ``B x C x H x W x itemsize`` each way.

**What a stage holds** (as ``Pipeline.step`` runs it): parameters, their gradients, the
optimizer state (SGD: none, or a momentum buffer per parameter); the part of the batch it
reads, as it is given (``x`` on the first stage, float32 images: ``input_itemsize``; the
labels on the last); for each micro-batch from its forward to its backward, the input
received (or copied from ``x``), what its graph saved and its output; in backward, one
received gradient, one walk's temporaries, the out-of-place ``.grad`` sums (old, new and
contribution for an instant) and the input gradient sent (until the next is sent); then the
weight-decay penalty's backward.  How many micro-batches are in flight at once is the
schedule's: all ``m`` under GPipe, at most ``k - r`` on stage ``r`` under 1F1B
(:func:`~chainrule.distributed.pipeline.schedule_order`).  This is what ``chainrule train``
reports per rank in ``metrics.json`` (``peak_memory_per_rank``), and the tests hold the two
to 5% for both schedules on 2 and 3 ranks.

**Predicted from the engine, not a hand formula**: the stage's own layers are traced at
micro-batch 2 and 3, each shape moved to each micro-batch's size (as
:func:`chainrule.memory.predict` does), and that schedule replayed on array sizes with
:mod:`chainrule.memory.simulate`'s forward and backward walks
(:mod:`chainrule.distributed.stage_memory`).  ``step_bytes`` is the replay's
peak (plus the Python objects of ``m`` graphs); ``peak_bytes`` adds parameters, optimizer
state and batch to the larger of it and the SGD update's (the gradients and one temporary as
large as the largest parameter).  The tests check ``step_bytes`` against :mod:`tracemalloc`
on every rank of real ``mpiexec`` runs, to 15% (measured: within 1%, but 11% on a tiny net).

**The objective: throughput first, then headroom, then evenness.**  A step (GPipe or 1F1B)
takes ``m + k - 1`` micro-batch slots of the *slowest* stage, so the bottleneck stage's FLOPs
(matmuls, forward and backward) set the step time, while memory is a constraint: a stage fits
under ``M`` or the plan is useless.  So (1) find the smallest bottleneck FLOPs ``F*`` over
the cuts that fit; (2) among those fitting with every stage at most ``1.05 F*``, the smallest
largest peak (equal speed, the most memory to spare, the smallest device that runs it); (3)
among those, the least sum of squared shares of FLOPs and of peak (the bottleneck, e.g. a
narrow MLP's first layer, may be fixed: the other stages should still be even).  Each is an
iterative dynamic program over contiguous stages (no recursion); a stage's cost is computed
once per layer pattern.  If no cut fits, :class:`PlanError` names the smallest budget that
would (step (1) minimising the peak instead) and what more devices, more micro-batches or a
smaller batch would need.  Asked to choose the schedule and ``m`` too (``None``), it plans
each schedule at each of :data:`MICRO_BATCH_CHOICES` and keeps the fastest predicted step
(:func:`step_time`), then the smallest peak, then the fewest micro-batches.

>>> from chainrule.distributed.planner import plan_mlp
>>> plan = plan_mlp(layers=2, hidden=64, batch_size=32, devices=2, memory_per_device=2**20)
>>> plan.bounds, plan.cuts[0].bytes_per_step
([(0, 2), (2, 5)], 16384)
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import ChainruleError
from ..models import MLP
from ..nn.module import Sequential
from ..memory import format_bytes
from .pipeline import SCHEDULES
from .stage_memory import StageCost, layer_name, layer_shapes, stage_cost, stage_flops

__all__ = ["PlanError", "StageCost", "Cut", "Plan", "plan_partition", "plan_mlp", "plan_cnn",
           "stage_cost", "step_time", "SPEED_TOLERANCE", "MICRO_BATCH_CHOICES"]

SPEED_TOLERANCE = 0.05      # cuts this close to the fastest count as equally fast
MICRO_BATCH_CHOICES = (1, 2, 4, 8, 16)      # what the planner tries when asked to choose


class PlanError(ChainruleError, ValueError):
    """No partition fits the budget (or the model cannot be cut as asked); the message names
    the smallest budget that would fit and the other ways out."""

    def __init__(self, message: str, needed: int | None = None) -> None:
        super().__init__(message)
        self.needed = needed


@dataclass
class Cut:
    """A cut before layer ``layer``: ``width`` activations per example cross it, an array of
    ``shape`` per example (``(width,)`` for an MLP, ``(C, H, W)`` for a feature map)."""

    layer: int
    width: int
    forward_bytes: int          # activations sent forward per step
    backward_bytes: int         # their gradients sent back per step
    shape: tuple = ()
    before: str = ""            # the layer after the cut, e.g. "Conv2d(6, 16, 5)"

    @property
    def bytes_per_step(self) -> int:
        """Bytes that cross the cut in one step, both ways."""
        return self.forward_bytes + self.backward_bytes


@dataclass
class Plan:
    """A partition: its stages (:class:`StageCost`), its cuts (:class:`Cut`) and the inputs."""

    stages: list
    cuts: list
    batch_size: int
    micro_batches: int
    budget: int
    dtype: str
    momentum: bool
    description: str = ""
    schedule: str = "1f1b"
    chosen: str = ""            # what the planner chose among, when it chose
    layers: list = field(default_factory=list)  # each layer's name, listed by format()

    @property
    def bounds(self) -> list[tuple[int, int]]:
        """Each stage's ``(start, stop)``, as :class:`Pipeline` takes them."""
        return [(s.start, s.stop) for s in self.stages]

    @property
    def peak_bytes(self) -> int:
        """The largest stage peak: the smallest device this plan runs on."""
        return max(s.peak_bytes for s in self.stages)

    def format(self) -> str:
        """The plan as a table: one row per stage, then one line per cut."""
        m, b = self.micro_batches, self.batch_size
        rows = [f"partition plan: {self.description or 'a Sequential'}, {self.dtype}, batch "
                f"{b} in {m} micro-batches, {self.schedule} schedule, {len(self.stages)} "
                f"devices of {format_bytes(self.budget)}, SGD"
                f"{' with momentum' if self.momentum else ''}",
                *([f"{self.chosen}: the fastest step ((m + k - 1) / m slots of the slowest "
                   "stage), then the smallest peak"] if self.chosen else []),
                "objective: the fastest bottleneck stage (FLOPs), then the smallest largest "
                "peak, then the most even stages",
                "",
                f"{'stage':<6}{'layers':<10}{'params':>11}{'grads':>11}{'optim':>11}"
                f"{'batch':>11}{'saved':>11}{'recv':>11}{'sent':>11}{'step peak':>11}"
                f"{'peak':>11}{'budget':>8}{'GFLOP':>9}"]
        for i, s in enumerate(self.stages):
            cells = [s.parameter_bytes, s.gradient_bytes, s.optimizer_bytes, s.batch_bytes,
                     s.saved_bytes, s.received_bytes, s.sent_bytes, s.step_bytes, s.peak_bytes]
            rows.append(f"{i:<6}{f'{s.start}-{s.stop - 1}':<10}"
                        + "".join(f"{format_bytes(c):>11}" for c in cells)
                        + f"{s.peak_bytes / self.budget:>8.0%}{s.flops / 1e9:>9.3f}")
        rows.append("")
        for c in self.cuts:
            what = f"width {c.width}" if not self.layers else \
                f"{c.before}: ({self.batch_size}, {', '.join(map(str, c.shape))}) {self.dtype}"
            rows.append(f"cut before layer {c.layer} ({what}): "
                        f"{format_bytes(c.bytes_per_step)} per step = "
                        f"{format_bytes(c.forward_bytes)} activations forward + "
                        f"{format_bytes(c.backward_bytes)} gradients back")
        if not self.cuts:
            rows.append("one device: no cuts, nothing crosses")
        if self.layers:
            rows += ["", "layers: " + ", ".join(f"{i} {name}"
                                                for i, name in enumerate(self.layers))]
        return "\n".join(rows)


# -------------------------------------------------------------------- the search
def _signature(items: list, start: int, stop: int) -> tuple:
    pattern = tuple((type(layer).__name__, *(tuple(p.shape) for p in layer.parameters()))
                    for layer in items[start:stop])
    return start == 0, stop == len(items), pattern


def _best_cuts(n: int, stages: int, cost, allowed, combine=max) -> tuple[float, list[int]]:
    """Cut units ``0..n`` into ``stages`` contiguous runs minimising the ``combine`` (``max``
    or ``operator.add``) of ``cost(i, j, s)`` over runs ``[i, j)``, stage ``s``, with
    ``allowed(i, j, s)``;
    returns the value and the run starts (``math.inf`` and [] when nothing is allowed).
    Iterative dynamic programming, O(stages n^2) calls."""
    best = [[math.inf] * (n + 1) for _ in range(stages + 1)]
    choice = [[-1] * (n + 1) for _ in range(stages + 1)]
    best[0][0] = 0.0
    for s in range(1, stages + 1):
        for j in range(s, n - (stages - s) + 1):
            for i in range(s - 1, j):
                if best[s - 1][i] == math.inf or not allowed(i, j, s - 1):
                    continue
                value = combine(best[s - 1][i], cost(i, j, s - 1))
                if value < best[s][j]:
                    best[s][j], choice[s][j] = value, i
    if best[stages][n] == math.inf:
        return math.inf, []
    starts, j = [], n
    for s in range(stages, 0, -1):
        j = choice[s][j]
        starts.append(j)
    return best[stages][n], starts[::-1]


def _search(items: list, batch_size: int, micro_batches: int, devices: int, budget: float,
            options: dict, cache: dict) -> tuple[list[StageCost], int]:

    """The chosen stages under ``budget`` ([] if none fits) and the smallest budget any cut
    would need; ``options``: stage_cost's keywords (momentum, schedule, shapes, ...)."""
    units = [0] + [i for i, layer in enumerate(items) if layer.parameters()][1:]
    edges = units + [len(items)]
    n = len(units)
    # 1F1B: a stage's graphs in flight depend on its place; GPipe: not
    placed = options.get("schedule", "1f1b") == "1f1b"
    traces = cache.setdefault("traces", {})

    def cost(i: int, j: int, s: int) -> StageCost:
        key = (_signature(items, edges[i], edges[j]), batch_size, micro_batches,
               s if placed else 0, tuple(sorted(options.items())))
        if key not in cache:
            cache[key] = stage_cost(items, edges[i], edges[j], batch_size, micro_batches,
                                    stage=s, stages=devices, traces=traces, **options)
        return replace(cache[key], start=edges[i], stop=edges[j])

    def peak(i: int, j: int, s: int) -> int:
        return cost(i, j, s).peak_bytes

    def flops(i: int, j: int, s: int) -> int:
        return cost(i, j, s).flops

    def fits(i: int, j: int, s: int) -> bool:
        return peak(i, j, s) <= budget

    def fast(i: int, j: int, s: int) -> bool:
        return fits(i, j, s) and flops(i, j, s) <= fastest * (1 + SPEED_TOLERANCE)

    def lightest(i: int, j: int, s: int) -> bool:
        return fast(i, j, s) and peak(i, j, s) <= smallest

    def spread(i: int, j: int, s: int) -> float:      # sum of squares: the most even
        return (flops(i, j, s) / total_flops) ** 2 + (peak(i, j, s) / total_peak) ** 2

    needed, _ = _best_cuts(n, devices, peak, lambda i, j, s: True)
    fastest, _ = _best_cuts(n, devices, flops, fits)
    if fastest == math.inf:
        return [], int(needed)
    smallest, _ = _best_cuts(n, devices, peak, fast)
    total_flops, total_peak = max(1, flops(0, n, 0)), max(1, peak(0, n, 0))
    _, starts = _best_cuts(n, devices, spread, lightest, operator.add)
    ends = starts[1:] + [n]
    return [cost(i, j, s) for s, (i, j) in enumerate(zip(starts, ends))], int(needed)


def _least_flops(items: list, batch_size: int, devices: int, shapes: tuple) -> float:
    """The smallest bottleneck FLOPs of any cut into ``devices`` stages, memory aside."""
    units = [0] + [i for i, layer in enumerate(items) if layer.parameters()][1:]
    edges = units + [len(items)]
    return _best_cuts(len(units), devices,
                      lambda i, j, s: stage_flops(items[edges[i]:edges[j]], batch_size, i == 0,
                                                  shapes[edges[i]:]),
                      lambda i, j, s: True)[0]


def step_time(flops: int, stages: int, micro_batches: int) -> float:
    """A step's time in units of the bottleneck stage's FLOPs: ``m + k - 1`` slots of one
    micro-batch's work (``flops / m``), the same for GPipe and 1F1B."""
    return flops * (micro_batches + stages - 1) / micro_batches


def plan_partition(layers: Sequential, batch_size: int, devices: int, memory_per_device: int,
                   micro_batches: int | None = 4, *, momentum: bool = False,
                   description: str = "", schedule: str | None = "1f1b",
                   weight_decay: bool = True, input_itemsize: int = 4,
                   input_shape: tuple | None = None) -> Plan:
    """Cut ``layers`` into ``devices`` stages that each fit in ``memory_per_device`` bytes,
    run in ``schedule`` order with ``micro_batches``.

    ``schedule=None`` and ``micro_batches=None`` let the planner choose them too: every
    schedule of :data:`~chainrule.distributed.pipeline.SCHEDULES` and every count of
    :data:`MICRO_BATCH_CHOICES` up to the batch is planned, and the plan with the fastest
    predicted step (:func:`step_time`) wins, then, within :data:`SPEED_TOLERANCE`, the
    smallest largest peak, then the fewest micro-batches.  ``weight_decay``: each stage
    backpropagates lambda/2 |W|^2 (as ``chainrule train`` does); ``input_itemsize``: of the
    batch ``x`` the first stage is given (4: float32 images); ``input_shape``: one example's
    (``(1, 28, 28)`` for a CNN on Fashion-MNIST; None: the first Linear's ``in_features``).
    Stages start at layers with parameters (the module doc).  Raises :class:`PlanError`
    when nothing fits, naming the smallest budget that would and what else would fit (more
    devices, more micro-batches, a smaller batch).
    """
    items = list(layers)
    for name, value in (("batch_size", batch_size), ("devices", devices),
                        ("micro_batches", 1 if micro_batches is None else micro_batches),
                        ("memory_per_device", memory_per_device)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise PlanError(f"planner: {name}={value!r} must be a positive int")
    if schedule is not None and schedule not in SCHEDULES:
        raise PlanError(f"planner: schedule={schedule!r}: choose one of {', '.join(SCHEDULES)}"
                        " (or None to let the planner choose)")
    width = getattr(items[0], "in_features", None) if items else None
    if input_shape is None and width is None:
        raise PlanError(f"planner: the first layer is {layer_name(items[0]) if items else 'none'}"
                        ", which does not say its input; pass input_shape, e.g. (1, 28, 28) "
                        "for a CNN on 28x28 images")
    input_shape = (int(width),) if input_shape is None else input_shape
    shapes = tuple(layer_shapes(items, tuple(input_shape)))
    units = 1 + sum(1 for layer in items[1:] if layer.parameters())
    if devices > units:
        raise PlanError(f"planner: {len(items)} layers, {units} of them with parameters, "
                        f"cannot make {devices} stages (each starts at a layer with "
                        f"parameters); use at most {units} devices")
    cache: dict = {}
    schedules = SCHEDULES if schedule is None else (schedule,)
    counts = ([m for m in MICRO_BATCH_CHOICES if m <= batch_size] if micro_batches is None
              else [micro_batches])
    found, closest = [], None            # closest: (needed, schedule, m) when nothing fits
    least = _least_flops(items, batch_size, devices, shapes)  # no bottleneck is smaller
    for order in schedules:
        options = {"momentum": momentum, "schedule": order, "weight_decay": weight_decay,
                   "input_itemsize": input_itemsize, "shapes": shapes}
        for m in sorted(counts, reverse=True):        # the fastest first
            if found and step_time(least, devices, m) > min(f[0] for f in found) * (
                    1 + SPEED_TOLERANCE):
                continue                                # cannot be as fast as one found
            stages, needed = _search(items, batch_size, m, devices, memory_per_device,
                                     options, cache)
            if stages:
                bottleneck = max(stage.flops for stage in stages)
                found.append((step_time(bottleneck, devices, m), max(
                    stage.peak_bytes for stage in stages), m, order, stages))
            elif closest is None or needed < closest[0]:
                closest = (needed, order, m, options)
    if not found:
        needed, order, m, options = closest
        more = []
        for allowed, (n, mm, d, what) in [
                (devices < units, (batch_size, m, devices + 1, f"{devices + 1} devices need")),
                (m < batch_size, (batch_size, min(batch_size, 2 * m), devices,
                                  f"{2 * m} micro-batches need")),
                (batch_size > 1, (batch_size // 2, m, devices,
                                  f"batch {batch_size // 2} needs"))]:
            if allowed:
                need = _search(items, n, mm, d, 0, options, cache)[1]
                more.append(f"{what} {format_bytes(need)} each")
        raise PlanError(
            f"planner: no cut of {description or 'the model'} into {devices} stages fits "
            f"{format_bytes(memory_per_device)} ({memory_per_device:,} B) per device at batch "
            f"{batch_size} in {m} micro-batches ({order}); the best cut needs "
            f"{format_bytes(needed)} ({needed:,} B) per device. Give each device at least "
            f"that, or: {'; '.join(more) or 'a smaller model'}", needed)
    fastest = min(time for time, *_ in found)
    _, _, m, order, stages = min((f for f in found if f[0] <= fastest * (1 + SPEED_TOLERANCE)),
                                 key=lambda f: (f[1], f[2], f[3]))
    itemsize = np.dtype(items[0].parameters()[0].dtype).itemsize
    cuts = [Cut(s.start, s.in_width, batch_size * s.in_width * itemsize,
                batch_size * s.in_width * itemsize, s.in_shape, layer_name(items[s.start]))
            for s in stages[1:]]
    tried = (f"chosen among {', '.join(schedules)} x {', '.join(map(str, counts))} "
             "micro-batches" if len(schedules) * len(counts) > 1 else "")
    return Plan(stages, cuts, batch_size, m, int(memory_per_device),
                str(np.dtype(items[0].parameters()[0].dtype)), momentum, description,
                order, tried, [layer_name(layer) for layer in items] if len(shapes[0]) > 1
                else [])


def plan_mlp(layers: int, hidden: int, batch_size: int, devices: int, memory_per_device: int,
             micro_batches: int | None = 4, *, inputs: int = 784, classes: int = 10,
             dtype: str = "float32", bias: bool = False, momentum: bool = False,
             schedule: str | None = "1f1b", weight_decay: bool = True,
             input_itemsize: int = 4) -> Plan:
    """:func:`plan_partition` for an MLP of ``layers`` hidden layers of ``hidden`` units
    (``inputs``-H-...-H-``classes``, ReLU, no bias by default, as the chapter's network).

    The MLP is built (its parameters, seed 0), never run at ``batch_size``.
    """
    widths = [inputs] + [hidden] * layers + [classes]
    model = MLP(widths, bias=bias, dtype=np.dtype(dtype), seed=0)
    shown = f"{inputs}-{hidden}x{layers}-{classes}" if layers > 2 else \
        "-".join(map(str, widths))
    return plan_partition(model.layers, batch_size, devices, memory_per_device, micro_batches,
                          momentum=momentum, description=f"MLP {shown}", schedule=schedule,
                          weight_decay=weight_decay, input_itemsize=input_itemsize)


def cnn_layers(model) -> Sequential:
    """A CNN (:class:`~chainrule.models.LeNet`, :class:`~chainrule.models.VGG`) as one
    Sequential a pipeline cuts: its ``features``, a Flatten, its ``classifier`` (the same
    layers and parameters), reading images of ``(channels, side, side)``."""
    from ..nn.layers import Flatten

    return Sequential(*model.features, Flatten(), *model.classifier)


def plan_cnn(model: str, batch_size: int, devices: int, memory_per_device: int,
             micro_batches: int | None = 4, *, classes: int = 10, dtype: str = "float32",
             momentum: bool = False, schedule: str | None = "1f1b", weight_decay: bool = True,
             input_itemsize: int = 4) -> Plan:
    """:func:`plan_partition` for the CNN named ``model`` (``"lenet"``, ``"lenet-relu"``,
    ``"vgg"``; :func:`chainrule.models.build_cnn`) on 28x28 images of one channel, stage by
    stage as :func:`cnn_layers` lays it out.  Built (seed 0), never run at ``batch_size``.

    >>> plan = plan_cnn("lenet", 256, 2, 2**30)
    >>> plan.cuts[0].shape, plan.cuts[0].forward_bytes == 256 * 6 * 14 * 14 * 4
    ((6, 14, 14), True)
    """
    from ..models import build_cnn

    net = build_cnn(model, 784, classes, dtype=np.dtype(dtype))
    shown = f"VGG {net.blocks}" if model == "vgg" else f"LeNet ({model})"
    return plan_partition(cnn_layers(net), batch_size, devices, memory_per_device,
                          micro_batches, momentum=momentum, schedule=schedule,
                          description=f"{shown}, 1x28x28 images, {classes} classes",
                          weight_decay=weight_decay, input_itemsize=input_itemsize,
                          input_shape=(1, 28, 28))
