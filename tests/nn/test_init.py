"""Initialisers: seeded reproducibility, fans, and the documented bounds and variances."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import GraphError, ShapeError
from chainrule.nn import init

SHAPE = (300, 400)                   # (out, in): fan_in = 400, fan_out = 300
FAN_IN, FAN_OUT = 400, 300

ALL = {
    "normal_": lambda t, g: init.normal_(t, 0.5, 2.0, generator=g),
    "uniform_": lambda t, g: init.uniform_(t, -1.0, 3.0, generator=g),
    "xavier_uniform_": lambda t, g: init.xavier_uniform_(t, generator=g),
    "xavier_normal_": lambda t, g: init.xavier_normal_(t, generator=g),
    "kaiming_uniform_": lambda t, g: init.kaiming_uniform_(t, generator=g),
    "kaiming_normal_": lambda t, g: init.kaiming_normal_(t, generator=g),
}


def _empty(shape=SHAPE, dtype=np.float64):
    return cr.tensor(np.zeros(shape, dtype=dtype))


@pytest.mark.parametrize("name", ALL)
def test_the_same_seed_gives_the_same_values(name):
    fill = ALL[name]
    a, b, c = (fill(_empty((7, 5)), 3), fill(_empty((7, 5)), 3), fill(_empty((7, 5)), 4))
    assert np.array_equal(a.data, b.data) and not np.array_equal(a.data, c.data)
    d = fill(_empty((7, 5)), np.random.default_rng(3))            # a Generator works too
    assert np.array_equal(a.data, d.data)


@pytest.mark.parametrize("name", ALL)
def test_the_default_generator_is_cr_random(name):
    fill = ALL[name]
    cr.random.seed(5)
    a = fill(_empty((7, 5)), None)
    cr.random.seed(5)
    assert np.array_equal(a.data, fill(_empty((7, 5)), None).data)


@pytest.mark.parametrize("name", ALL)
def test_the_tensor_is_filled_in_place_and_keeps_its_dtype(name):
    t = _empty((6, 3), np.float32)
    assert ALL[name](t, 0) is t and t.dtype == np.float32 and np.any(t.data != 0)


def test_fans_of_linear_and_convolution_weights():
    assert init.fans((300, 400)) == (400, 300)
    assert init.fans((16, 3, 5, 5)) == (75, 400)
    with pytest.raises(ShapeError, match="at least 2"):
        init.fans((10,))
    with pytest.raises(ShapeError):
        init.xavier_uniform_(_empty((10,)))


def test_gains():
    assert init.gain("relu") == math.sqrt(2) and init.gain("tanh") == 5 / 3
    assert init.gain("sigmoid") == init.gain("linear") == 1.0
    with pytest.raises(ShapeError, match="relu"):
        init.gain("swish")


def _check_uniform(values, bound):
    assert np.abs(values).max() <= bound
    assert np.abs(values).max() > 0.999 * bound                  # the bound is reached
    assert values.std() == pytest.approx(bound / math.sqrt(3), rel=0.01)
    assert abs(values.mean()) < 0.01 * bound


def _check_normal(values, std):
    assert values.std() == pytest.approx(std, rel=0.01)
    assert abs(values.mean()) < 0.01 * std


def test_xavier_bounds_and_variance():
    _check_uniform(init.xavier_uniform_(_empty(), generator=0).data,
                   math.sqrt(6 / (FAN_IN + FAN_OUT)))
    _check_uniform(init.xavier_uniform_(_empty(), gain=2.0, generator=0).data,
                   2 * math.sqrt(6 / (FAN_IN + FAN_OUT)))
    _check_normal(init.xavier_normal_(_empty(), generator=1).data,
                  math.sqrt(2 / (FAN_IN + FAN_OUT)))


@pytest.mark.parametrize("nonlinearity", ["relu", "tanh", "linear"])
def test_kaiming_bounds_and_variance(nonlinearity):
    gain = init.gain(nonlinearity)
    _check_uniform(init.kaiming_uniform_(_empty(), nonlinearity, generator=0).data,
                   gain * math.sqrt(3 / FAN_IN))
    _check_normal(init.kaiming_normal_(_empty(), nonlinearity, generator=1).data,
                  gain / math.sqrt(FAN_IN))
    _check_normal(init.kaiming_normal_(_empty(), nonlinearity, mode="fan_out",
                                       generator=2).data, gain / math.sqrt(FAN_OUT))


def test_normal_uniform_and_zeros():
    _check_normal(init.normal_(_empty(), std=0.01, generator=0).data, 0.01)
    values = init.uniform_(_empty(), -1.0, 3.0, generator=0).data
    assert values.min() >= -1.0 and values.max() < 3.0
    assert values.mean() == pytest.approx(1.0, abs=0.01)
    t = init.normal_(_empty((3, 3)), generator=0)
    assert np.all(init.zeros_(t).data == 0)


def test_bad_arguments_are_refused():
    with pytest.raises(ShapeError, match="generator"):
        init.normal_(_empty((2, 2)), generator="seed")
    with pytest.raises(ShapeError, match="fan_in"):
        init.kaiming_normal_(_empty((2, 2)), mode="fan")
    with pytest.raises(ShapeError, match="std"):
        init.normal_(_empty((2, 2)), std=-1.0)
    with pytest.raises(ShapeError, match="swap"):
        init.uniform_(_empty((2, 2)), 1.0, 0.0)
    with pytest.raises(ShapeError, match="floating"):
        init.normal_(cr.tensor(np.zeros(3, dtype=np.int64)))


def test_initialising_a_parameter_invalidates_graphs_that_saved_it():
    w = cr.tensor(np.ones(3), requires_grad=True)
    y = (w * w).sum()
    init.normal_(w, generator=0)                  # goes through copy_ inside no_grad
    with pytest.raises(GraphError, match="changed in place"):
        y.backward()
