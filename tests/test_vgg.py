"""The VGG-style network of chainrule.models: PyTorch's with the same weights, its names, its
inputs (flat, images, colour) and the errors that name the fix."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.models import VGG


def test_vgg_matches_torch_with_the_same_weights():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    nn = torch.nn
    theirs = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(32 * 7 * 7, 10))
    ours = VGG(seed=0)
    names = [n for n, _ in ours.named_parameters()]
    assert names[:2] == ["features.0.weight", "features.0.bias"]
    assert names[-1] == "classifier.0.bias"
    ours.load_state_dict({n: p.detach().numpy() for n, (_, p)
                          in zip(names, theirs.named_parameters())})
    x = np.random.default_rng(0).random((3, 784), dtype=np.float32)
    y = np.array([0, 3, 9])
    loss = ours.objective(x, y)
    loss.backward()
    ref = nn.functional.cross_entropy(theirs(torch.tensor(x).reshape(3, 1, 28, 28)),
                                      torch.tensor(y))
    ref.backward()
    assert abs(loss.item() - ref.item()) < 1e-5
    for p, (_, q) in zip(ours.parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-3, atol=1e-5)


def test_vgg_names_its_maps_and_takes_flat_rows_images_and_colour():
    net = VGG(seed=0)
    net.objective(np.zeros((2, 784), np.float32), np.array([1, 2]))
    shapes = {k: v.shape for k, v in net.intermediates.items()}
    assert list(shapes) == ["c1", "h1", "c2", "h2", "p1", "c3", "h3", "c4", "h4", "p2", "o"]
    assert shapes["c2"] == (2, 16, 28, 28) and shapes["p2"] == (2, 32, 7, 7)
    assert net(np.zeros((2, 1, 28, 28), np.float32)).shape == (2, 10)
    assert net(np.zeros(784, np.float32)).shape == (10,)
    colour = VGG(3 * 32 * 32, 10, blocks=((8,), (8, 8), (16,)), channels=3, seed=0)
    assert colour(np.zeros((2, 3, 32, 32), np.float32)).shape == (2, 10)
    assert colour.classifier[0].in_features == 16 * 4 * 4


def test_vgg_refuses_what_it_cannot_pool_naming_the_fix():
    with pytest.raises(cr.ShapeError, match=r"inputs=60 .*side\*\*2"):
        VGG(inputs=60)
    with pytest.raises(cr.ShapeError, match="multiple of 8"):
        VGG(inputs=28 * 28, blocks=((4,), (4,), (4,)))      # 28 -> 14 -> 7 -> 3.5
    with pytest.raises(cr.ShapeError, match=r"x.shape=\(2, 3, 28, 28\)"):
        VGG(seed=0)(np.zeros((2, 3, 28, 28), np.float32))
    with pytest.raises(cr.ShapeError, match="blocks"):
        VGG(blocks=((16,), ()))
