"""Memory of a CNN: the prediction for a VGG-style network against tracemalloc (issue 16).

LeNet's own figures are in tests/test_lenet.py; here the network is two VGG blocks (3x3
convolutions with padding 1, ReLU, 2x2 max pooling) on 1x28x28, where the im2col columns of
the second convolution of each block are the largest arrays of the step.
"""

from __future__ import annotations

import pytest

from chainrule.core.fields import Memory
from chainrule.memory.measure import measure
from chainrule.memory.report import predict
from chainrule.models import VGG
from chainrule.ops import OPS


@pytest.fixture(scope="module")
def vgg() -> VGG:
    return VGG(seed=0)


# batch 1024 is the slow one (about 8 s: the step and the prediction, each run twice); it
# peaks near 1 GB
@pytest.mark.parametrize("batch", [1, 256, 1024], ids=["vgg-1", "vgg-256", "vgg-1024"])
def test_vgg_predicted_peaks_are_within_10_percent_of_tracemalloc(vgg, batch):
    predicted, measured = predict(vgg, batch), measure(vgg, batch)
    for key in ("training_bytes", "prediction_bytes"):
        value = getattr(predicted, key)
        assert abs(value / measured[key] - 1) < 0.10, (key, value, measured[key])


def test_the_check_fails_without_the_convolutions_declared_temporaries(vgg, monkeypatch):
    # negative control: forget conv2d's im2col columns and the prediction misses by far more
    # than the tolerance, so the test above measures the declaration
    measured = measure(vgg, 256)["prediction_bytes"]
    monkeypatch.setattr(OPS["conv2d"], "memory", Memory(forward=0))
    blind = predict(vgg, 256).prediction_bytes
    assert blind < 0.7 * measured, (blind, measured)


def test_vgg_saves_per_example_the_maps_counted_by_hand(vgg):
    # what backward keeps of one example, counted from the layers alone: each relu's mask
    # (1 byte an element); the input of every convolution after the first and of the head
    # (float32: h1, p1, h3, p2); each max pool's int32 argmax; the logits and the softmax
    big, small = 16 * 28 * 28, 32 * 14 * 14
    masks = 2 * big + 2 * small
    conv_inputs = 4 * (big + 16 * 14 * 14 + small + 32 * 7 * 7)
    argmax = 4 * (16 * 14 * 14 + 32 * 7 * 7)
    head = 2 * 4 * 10
    a, b, c = predict(vgg, 100), predict(vgg, 200), predict(vgg, 300)
    per_example = (b.activation_bytes - a.activation_bytes) // 100
    assert per_example == masks + conv_inputs + argmax + head == 150608
    assert c.activation_bytes - b.activation_bytes == b.activation_bytes - a.activation_bytes
    assert a.training_bytes < b.training_bytes < c.training_bytes
