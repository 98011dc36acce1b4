"""Tensor: creation rules, properties, operators, indexing and in-place methods."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr


def test_dtype_rules():
    assert cr.tensor(1.5).dtype == np.float32
    assert cr.tensor([1.0, 2.0]).dtype == np.float32
    assert cr.tensor(np.zeros(2)).dtype == np.float64
    assert cr.tensor(np.zeros(2, np.float32)).dtype == np.float32
    assert cr.tensor(np.float64(1.0)).dtype == np.float64
    assert cr.tensor([1, 2]).dtype == np.int64
    assert cr.tensor([True]).dtype == np.bool_
    assert cr.tensor([1.0], dtype=np.float64).dtype == np.float64
    assert isinstance(cr.tensor(1.0).dtype, np.dtype)
    with pytest.raises(cr.DTypeError, match="not numeric"):
        cr.tensor(["a"])


def test_tensor_copies_numpy_data():
    a = np.ones(3)
    t = cr.tensor(a)
    a[0] = 5.0
    assert t.numpy()[0] == 1.0


def test_properties():
    t = cr.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True, name="W")
    assert (t.shape, t.ndim, t.size, t.name, t.is_leaf) == ((2, 3), 2, 6, "W", True)
    assert t.T.shape == (3, 2) and t.transpose((1, 0)).shape == (3, 2)
    assert t.reshape(3, 2).shape == (3, 2) and t.reshape((6,)).shape == (6,)
    assert t.sum().item() == 15.0 and t.mean(axis=0).shape == (3,)
    assert t.max().item() == 5.0 and t.min(axis=1, keepdims=True).shape == (2, 1)
    assert t.detach().requires_grad is False and t.detach().is_leaf
    assert "name='W'" in repr(t) and "requires_grad=True" in repr(t)
    assert "op='mul'" in repr(t * 2)
    with pytest.raises(cr.GraphError, match="one element"):
        t.item()
    with pytest.raises(cr.GraphError, match="leaf"):
        (t * 2).requires_grad = False


def test_operators_with_scalars_and_numpy_arrays_on_either_side():
    t = cr.tensor(np.array([1.0, 2.0]))
    a = np.array([10.0, 20.0])
    for got, want in [(2 + t, [3, 4]), (t - 1, [0, 1]), (1 - t, [0, -1]), (2 * t, [2, 4]),
                      (t / 2, [0.5, 1]), (2 / t, [2, 1]), (t ** 2, [1, 4]), (2 ** t, [2, 4]),
                      (-t, [-1, -2]), (a + t, [11, 22]), (a * t, [10, 40]), (a - t, [9, 18]),
                      (a / t, [10, 10])]:
        assert isinstance(got, cr.Tensor)
        np.testing.assert_allclose(got.numpy(), want)
    assert isinstance(a @ t, cr.Tensor) and (a @ t).item() == 50.0
    assert (cr.tensor([1.0], dtype=np.float32) * 2.5).dtype == np.float32


def test_comparisons_are_bool_and_not_recorded():
    t = cr.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    for r in (t < 2, t <= 2, t > 2, t >= 2, t == 2, t != 2):
        assert r.dtype == bool and not r.requires_grad
    assert (t > 1.5).tolist() == [False, True, True]
    assert {t: 1}[t] == 1                       # still hashable by identity


def test_indexing():
    t = cr.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    assert t[1].tolist() == [4, 5, 6, 7]
    assert t[:, 1:3].shape == (3, 2) and t[None].shape == (1, 3, 4)
    assert t[[0, 2], [1, 3]].tolist() == [1.0, 11.0]
    assert t[cr.tensor([2, 0])].shape == (2, 4)
    assert t[t > 5].shape == (6,)
    t[[0, 0, 2], [1, 1, 3]].sum().backward()      # repeated indices add up
    assert t.grad.numpy()[0, 1] == 2.0 and t.grad.numpy()[2, 3] == 1.0
    assert len(t) == 3 and [r.shape for r in t] == [(4,)] * 3


def test_in_place_methods_bump_the_version():
    t = cr.tensor(np.ones(3))
    v = t._version
    t.add_(1.0).mul_(2.0).sub_(1.0, alpha=0.5)
    t[0] = 0.0
    t.copy_(np.full(3, 7.0))
    t.zero_()
    assert t._version == v + 6 and t.tolist() == [0, 0, 0]


def test_leaf_gradient_is_its_own_writeable_array():
    x = cr.tensor(np.ones((2, 3)), requires_grad=True)
    x.sum().backward()
    assert x.grad.numpy().flags.writeable and x.grad.numpy().base is None


def test_constructors_and_seeded_random():
    assert cr.zeros(2, 3).shape == (2, 3) and cr.ones((2,)).dtype == np.float32
    assert cr.full((2,), 3.0).tolist() == [3.0, 3.0]
    assert cr.arange(3).tolist() == [0, 1, 2]
    cr.random.seed(5)
    a = cr.randn(3).numpy()
    cr.random.seed(5)
    assert np.array_equal(a, cr.randn(3).numpy())
    state = cr.random.get_state()
    b = cr.rand(2).numpy()
    cr.random.set_state(state)
    assert np.array_equal(b, cr.rand(2).numpy())
    assert cr.randn(2, 2, requires_grad=True).requires_grad


def test_bool_of_a_multi_element_tensor_is_an_error():
    with pytest.raises(cr.GraphError, match="ambiguous"):
        bool(cr.tensor([1.0, 2.0]))
    assert bool(cr.tensor([1.0]))
