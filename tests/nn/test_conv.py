"""nn's convolution, pooling and batch-norm layers: PyTorch's state_dict keys and shapes, its
initialisation bounds, its outputs and gradients with the same weights, and buffers that
load, save and move as PyTorch's."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

torch = pytest.importorskip("torch", reason="PyTorch is not installed: nothing to compare with")


def _pair(ours, theirs, shape, seed=0):
    """Load PyTorch's state into ours, run both on one input; compare outputs and gradients."""
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    xo = cr.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    out, ref = ours(xo), theirs(xt)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-4, atol=1e-5)
    u = np.random.default_rng(seed + 1).standard_normal(ref.shape).astype(np.float32)
    (out * cr.tensor(u)).sum().backward()
    (ref * torch.tensor(u)).sum().backward()
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-4)
    params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), params[name].grad.numpy(), rtol=1e-4,
                                   atol=1e-3)


@pytest.mark.filterwarnings("ignore:Using padding=.same.")
@pytest.mark.parametrize("args, kwargs, shape", [
    ((1, 6, 5), {"padding": 2}, (4, 1, 28, 28)),
    ((6, 16, 5), {}, (4, 6, 14, 14)),
    ((4, 6, 3), {"stride": 2, "padding": 1, "groups": 2, "bias": False}, (2, 4, 9, 9)),
    ((3, 5, (3, 2)), {"dilation": (2, 1), "padding": "same"}, (2, 3, 8, 7)),
])
def test_conv2d_layer_matches_torch(args, kwargs, shape):
    ours = nn.Conv2d(*args, **kwargs, generator=0)
    theirs = torch.nn.Conv2d(*args, **kwargs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    _pair(ours, theirs, shape)


def test_conv_transpose2d_layer_matches_torch():
    ours = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2,
                              generator=0)
    theirs = torch.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1,
                                      groups=2)
    assert ours.weight.shape == tuple(theirs.weight.shape)
    _pair(ours, theirs, (2, 4, 5, 5))


def test_conv2d_initialisation_is_pytorchs():
    conv = nn.Conv2d(6, 16, 5, generator=0)
    bound = 1 / math.sqrt(6 * 25)
    for p in (conv.weight, conv.bias):
        values = p.numpy()
        assert np.abs(values).max() <= bound
        assert np.abs(values).max() > 0.9 * bound        # uniform over the whole range
    assert conv.weight.dtype == np.float32


@pytest.mark.parametrize("ours, theirs, shape", [
    (nn.MaxPool2d(2), torch.nn.MaxPool2d(2), (2, 3, 8, 8)),
    (nn.MaxPool2d(3, 2, 1, ceil_mode=True), torch.nn.MaxPool2d(3, 2, 1, ceil_mode=True),
     (2, 3, 9, 8)),
    (nn.AvgPool2d(2, 2), torch.nn.AvgPool2d(2, 2), (2, 3, 8, 8)),
    (nn.AvgPool2d(3, 2, 1, count_include_pad=False),
     torch.nn.AvgPool2d(3, 2, 1, count_include_pad=False), (2, 3, 9, 8)),
    (nn.AdaptiveAvgPool2d((3, 2)), torch.nn.AdaptiveAvgPool2d((3, 2)), (2, 3, 7, 8)),
])
def test_pooling_layers_match_torch(ours, theirs, shape):
    _pair(ours, theirs, shape)


@pytest.mark.parametrize("ours, theirs, shape", [
    (nn.BatchNorm2d(3), torch.nn.BatchNorm2d(3), (4, 3, 5, 5)),
    (nn.BatchNorm1d(3, momentum=None), torch.nn.BatchNorm1d(3, momentum=None), (6, 3)),
    (nn.BatchNorm1d(3, affine=False), torch.nn.BatchNorm1d(3, affine=False), (6, 3, 4)),
])
def test_batch_norm_layers_train_and_evaluate_as_torch(ours, theirs, shape):
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for step in range(3):                               # the running statistics move alike
        _pair(ours, theirs, shape, seed=step)
        ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    theirs_state = theirs.state_dict()
    for key, value in ours.state_dict().items():
        np.testing.assert_allclose(value, theirs_state[key].numpy(), rtol=1e-5, atol=1e-6)
    assert int(ours.state_dict()["num_batches_tracked"]) == 3
    ours.eval()
    theirs.eval()
    _pair(ours, theirs, shape, seed=9)


def test_buffers_round_trip_through_state_dict_and_are_not_parameters():
    bn = nn.BatchNorm2d(2)
    bn(np.random.default_rng(0).standard_normal((4, 2, 3, 3)).astype(np.float32))
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    fresh = nn.BatchNorm2d(2)
    fresh.load_state_dict(bn.state_dict())
    np.testing.assert_array_equal(fresh.running_mean.numpy(), bn.running_mean.numpy())
    assert fresh.running_mean.numpy().any()
    with pytest.raises(cr.ShapeError, match="running_var"):
        fresh.load_state_dict({k: v for k, v in bn.state_dict().items() if k != "running_var"})


def test_a_torch_cnn_ports_by_changing_the_import():
    def build(nn_):
        return nn_.Sequential(nn_.Conv2d(1, 4, 3, padding=1), nn_.BatchNorm2d(4), nn_.ReLU(),
                              nn_.MaxPool2d(2), nn_.Conv2d(4, 8, 3), nn_.AvgPool2d(2),
                              nn_.AdaptiveAvgPool2d(1))
    ours, theirs = build(nn), build(torch.nn)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    _pair(ours, theirs, (3, 1, 12, 12))


def test_bad_layer_arguments_are_typed_errors():
    with pytest.raises(cr.ShapeError, match="groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(cr.ShapeError, match="kernel_size"):
        nn.Conv2d(3, 4, 0)
    with pytest.raises(cr.ShapeError, match="BatchNorm2d"):
        nn.BatchNorm2d(3)(np.ones((2, 4, 3, 3), dtype=np.float32))
