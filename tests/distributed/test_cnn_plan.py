"""The partition planner on CNNs: cuts between convolution units, the bytes across each cut
(the map's nbytes, computed here by running the layers), stages covering every layer in
order, and each stage's predicted step peak against tracemalloc in one process."""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pytest

from chainrule import functional as F
from chainrule.core.modes import no_grad
from chainrule.core.tensor import Tensor
from chainrule.distributed.planner import PlanError, cnn_layers, plan_cnn, plan_partition
from chainrule.distributed.stage_memory import layer_shapes, stage_cost
from chainrule.models import build_cnn
from chainrule.nn.module import Sequential


@pytest.mark.parametrize("model, devices", [("lenet", 2), ("lenet-relu", 3), ("vgg", 2),
                                            ("vgg", 4)])
def test_cuts_carry_the_map_the_next_layer_reads(model, devices):
    batch = 96
    plan = plan_cnn(model, batch, devices, 2**30, 4, schedule="1f1b")
    items = list(cnn_layers(build_cnn(model)))
    # the stages cover every layer once, in order
    assert plan.bounds[0][0] == 0 and plan.bounds[-1][1] == len(items)
    assert all(a[1] == b[0] for a, b in zip(plan.bounds, plan.bounds[1:]))
    assert len(plan.stages) == devices and len(plan.cuts) == devices - 1
    x = Tensor(np.random.default_rng(0).random((batch, 1, 28, 28), dtype=np.float32))
    with no_grad():
        maps = [x]
        for layer in items:
            maps.append(layer(maps[-1]))
    for cut in plan.cuts:
        crossing = maps[cut.layer].numpy()            # what layer cut.layer reads
        assert items[cut.layer].parameters(), cut     # a unit starts there: never mid-unit
        assert cut.shape == crossing.shape[1:] and cut.width == crossing[0].size
        assert cut.forward_bytes == cut.backward_bytes == crossing.nbytes
    text = plan.format()
    for cut in plan.cuts:
        assert f"({batch}, {', '.join(map(str, cut.shape))}) float32" in text


def test_lenets_cut_is_the_first_pooled_map_and_its_bytes():
    plan = plan_cnn("lenet", 256, 2, 2**30, 4)
    assert plan.bounds == [(0, 3), (3, 12)]       # conv1 alone: the most even bottleneck
    cut = plan.cuts[0]
    assert (cut.layer, cut.shape, cut.before) == (3, (6, 14, 14), "Conv2d(6, 16, 5)")
    assert cut.bytes_per_step == 2 * 256 * 6 * 14 * 14 * 4 == 2408448
    assert plan.stages[0].flops == 4 * 256 * 6 * 28 * 28 * 25    # no input gradient


def _traced_step(items: list, start: int, stop: int, n: int, shapes: list) -> int:
    """The traced peak of one stage's forward and backward on ``n`` examples, in one
    process (no micro-batches, no penalty): its input made before, as a received map is."""
    part = Sequential(*items[start:stop])
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((n, *shapes[start])).astype(np.float32),
               requires_grad=start > 0)
    y = rng.integers(0, 10, n)
    peak = 0
    for _ in range(2):                                # the first run warms caches up
        for p in part.parameters():
            p.grad = None
        x.grad = None
        gc.collect()
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            out = part(x)
            if stop == len(items):
                (F.cross_entropy(out, y) * 0.5).backward()
            else:
                out.backward(Tensor(np.ones(out.shape, np.float32)))
            del out
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
    return peak


@pytest.mark.parametrize("model, start, stop", [("lenet", 0, 3), ("lenet", 3, 12),
                                                ("vgg", 0, 5), ("vgg", 5, 12)])
def test_a_stages_predicted_step_peak_is_within_10_percent_of_tracemalloc(model, start, stop):
    n = 128
    items = list(cnn_layers(build_cnn(model)))
    shapes = layer_shapes(items, (1, 28, 28))
    cost = stage_cost(items, start, stop, n, 1, weight_decay=False, shapes=shapes)
    # the replay holds the received input inside the step; here it was made before
    predicted = cost.step_bytes - (n * int(np.prod(shapes[start])) * 4 if start else 0)
    measured = _traced_step(items, start, stop, n, shapes)
    assert abs(predicted / measured - 1) < 0.10, (predicted, measured)
    assert cost.in_shape == shapes[start] and cost.out_shape == shapes[stop]


def test_a_cnn_without_its_input_shape_or_with_too_many_devices_is_refused():
    items = cnn_layers(build_cnn("lenet"))
    with pytest.raises(PlanError, match=r"Conv2d.*input_shape.*\(1, 28, 28\)"):
        plan_partition(items, 64, 2, 2**30)
    with pytest.raises(PlanError, match="at most 5 devices"):
        plan_cnn("lenet", 64, 6, 2**30)
    with pytest.raises(PlanError, match="needs") as caught:
        plan_cnn("vgg", 256, 2, 2**20, 4)
    assert plan_cnn("vgg", 256, 2, caught.value.needed, 4).peak_bytes == caught.value.needed
