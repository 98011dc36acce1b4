"""Layers: Linear, the activations, Dropout and the loss modules."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import ChainruleError, ShapeError


def test_linear_shapes_follow_the_chapter():
    layer = nn.Linear(784, 256, generator=0)
    assert layer.weight.shape == (256, 784) and layer.bias.shape == (256,)
    assert layer.weight.dtype == np.float32 and np.all(layer.bias.data == 0)
    assert nn.Linear(3, 2, bias=False).bias is None
    assert [n for n, _ in nn.Linear(3, 2, bias=False).named_parameters()] == ["weight"]
    assert nn.Linear(3, 2, dtype=np.float64).weight.dtype == np.float64


@pytest.mark.parametrize("bias", [True, False])
def test_linear_forward_is_x_times_w_transposed_plus_b(bias):
    rng = np.random.default_rng(1)
    layer = nn.Linear(5, 3, bias=bias, dtype=np.float64, generator=2)
    if bias:
        with cr.no_grad():
            layer.bias.copy_(rng.standard_normal(3))
    x = rng.standard_normal((4, 5))
    b = layer.bias.data if bias else 0.0
    np.testing.assert_allclose(layer(x).data, x @ layer.weight.data.T + b, rtol=1e-14)
    np.testing.assert_allclose(layer(x[0]).data, layer.weight.data @ x[0] + b, rtol=1e-14)
    assert layer(x[0]).shape == (3,)


def test_linear_gradients_are_the_closed_forms():
    rng = np.random.default_rng(2)
    layer = nn.Linear(5, 3, dtype=np.float64, generator=3)
    x = rng.standard_normal((4, 5))
    g = rng.standard_normal((4, 3))
    (layer(x) * g).sum().backward()
    np.testing.assert_allclose(layer.weight.grad.data, g.T @ x, rtol=1e-13)
    np.testing.assert_allclose(layer.bias.grad.data, g.sum(axis=0), rtol=1e-13)


def test_linear_rejects_inputs_of_the_wrong_width_with_its_own_message():
    layer = nn.Linear(5, 3)
    with pytest.raises(ShapeError, match=r"Linear\(in_features=5.*\(N, 5\)"):
        layer(np.ones((2, 4), dtype=np.float32))
    with pytest.raises(ShapeError):
        layer(np.ones((2, 2, 5), dtype=np.float32))


@pytest.mark.parametrize("bad", [dict(in_features=0, out_features=2),
                                 dict(in_features=2.0, out_features=2),
                                 dict(in_features=2, out_features=2, init="he")])
def test_linear_rejects_bad_options(bad):
    with pytest.raises(ShapeError):
        nn.Linear(**bad)


def test_linear_inits_have_their_documented_spread():
    fan_in, fan_out = 400, 300
    kaiming = nn.Linear(fan_in, fan_out, init="kaiming", generator=0).weight.data
    xavier = nn.Linear(fan_in, fan_out, init="xavier", generator=0).weight.data
    normal = nn.Linear(fan_in, fan_out, init="normal", generator=0).weight.data
    assert np.abs(kaiming).max() <= np.sqrt(6 / fan_in)
    assert np.abs(kaiming).max() > 0.99 * np.sqrt(6 / fan_in)
    assert np.abs(xavier).max() <= np.sqrt(6 / (fan_in + fan_out))
    assert normal.std() == pytest.approx(0.01, rel=0.02)


def test_linear_init_is_reproducible_from_a_seed_or_cr_random():
    a = nn.Linear(6, 4, generator=7).weight.data
    assert np.array_equal(a, nn.Linear(6, 4, generator=7).weight.data)
    assert not np.array_equal(a, nn.Linear(6, 4, generator=8).weight.data)
    cr.random.seed(11)
    b = nn.Linear(6, 4).weight.data
    cr.random.seed(11)
    assert np.array_equal(b, nn.Linear(6, 4).weight.data)


@pytest.mark.parametrize("module, reference", [
    (nn.ReLU(), lambda x: np.maximum(x, 0)),
    (nn.Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
    (nn.Tanh(), np.tanh),
])
def test_activations_compute_their_functions(module, reference):
    x = np.linspace(-3, 3, 13)
    np.testing.assert_allclose(module(x).data, reference(x), rtol=1e-12)
    np.testing.assert_allclose(module(cr.tensor(x)).data, reference(x), rtol=1e-12)


def test_activation_by_name_lists_the_valid_names():
    assert isinstance(nn.activation("tanh"), nn.Tanh)
    with pytest.raises(ShapeError, match="relu, sigmoid, tanh"):
        nn.activation("gelu")


def test_dropout_is_the_identity_in_eval_mode_and_for_p_zero():
    x = cr.tensor(np.ones((3, 4)), requires_grad=True)
    drop = nn.Dropout(0.5).eval()
    assert drop(x) is x
    assert nn.Dropout(0.0)(x) is x


def test_dropout_drops_a_fraction_p_and_rescales_the_rest():
    cr.random.seed(0)
    x = cr.tensor(np.ones((200, 500)), requires_grad=True)
    y = nn.Dropout(0.3)(x)
    kept = y.data != 0
    assert kept.mean() == pytest.approx(0.7, abs=0.01)
    np.testing.assert_allclose(y.data[kept], 1 / 0.7, rtol=1e-15)
    assert y.data.mean() == pytest.approx(1.0, abs=0.02)         # the expectation is kept
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, y.data)            # same mask, same scale
    assert y.dtype == np.float64


def test_dropout_masks_come_from_cr_random():
    x = np.ones((4, 5), dtype=np.float32)
    cr.random.seed(3)
    a = nn.Dropout(0.5)(x).data
    cr.random.seed(3)
    assert np.array_equal(a, nn.Dropout(0.5)(x).data) and a.dtype == np.float32


@pytest.mark.parametrize("p", [1.0, -0.1, 1.5, True, "0.5"])
def test_dropout_rejects_p_outside_zero_one(p):
    with pytest.raises(ShapeError, match="0, 1") as info:
        nn.Dropout(p)
    assert isinstance(info.value, ValueError) and isinstance(info.value, ChainruleError)


def test_loss_modules_wrap_the_functions():
    rng = np.random.default_rng(4)
    logits, labels = cr.tensor(rng.standard_normal((5, 3))), np.array([0, 2, 1, 1, 0])
    assert nn.CrossEntropyLoss()(logits, labels).item() == cr.cross_entropy(logits,
                                                                             labels).item()
    a, b = cr.tensor(rng.standard_normal(4)), cr.tensor(rng.standard_normal(4))
    assert nn.MSELoss()(a, b).item() == pytest.approx(np.mean((a.data - b.data) ** 2),
                                                      rel=1e-14)
