"""No silently wrong result and no bare traceback from the operators (issue 13, items 3, 4, 7).

Generated where it can be: every operator of the table x a complex, object or text operand;
every reduction x bad axes; shape arguments x bad shapes.  Each case ends in a typed chainrule
error naming the operator or argument, or in a result checked against NumPy (or PyTorch's
documented value).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ChainruleError, DTypeError, ShapeError
from chainrule.ops import OPS

W = np.array([1.0, 2.0])


# ---------------------------------------------------------------- dtypes that cut the graph
@pytest.mark.parametrize("make", [
    lambda w: w * 1j, lambda w: 1j * w, lambda w: w + np.complex128(1), lambda w: w.astype(object),
    lambda w: w.astype(np.complex64), lambda w: cr.mul(w, np.array([1j, 2j])),
    lambda w: cr.where(np.array([True, False]), w, np.array([1j, 1j])),
    lambda w: cr.concatenate([w, np.array([1j])]),
], ids=["mul-1j", "rmul-1j", "add-complex", "astype-object", "astype-complex", "mul-array",
        "where", "concatenate"])
def test_a_complex_or_object_result_from_a_tensor_that_requires_grad_is_refused(make):
    w = cr.tensor(W, requires_grad=True)
    with pytest.raises(DTypeError, match="cannot differentiate.*requires grad"):
        make(w)


def test_the_same_results_are_fine_when_nothing_requires_grad():
    assert (cr.tensor(W) * 1j).dtype == np.complex128
    with cr.no_grad():
        assert (cr.tensor(W, requires_grad=True) * 1j).dtype == np.complex128


def test_masks_and_indices_still_cut_the_graph_without_an_error():
    w = cr.tensor(W, requires_grad=True)
    assert not (w > 1).requires_grad
    assert not w.astype(np.int64).requires_grad


# ---------------------------------------------------------------- numerics
def test_the_mean_of_an_empty_tensor_is_nan_as_in_numpy():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert np.isnan(cr.mean(cr.tensor(np.zeros(0))).item())
        assert np.isnan(cr.mse_loss(cr.tensor(np.zeros(0)), cr.tensor(np.zeros(0))).item())
        got = cr.mean(cr.tensor(np.zeros((0, 3))), axis=0).numpy()
        assert np.isnan(got).all() and got.shape == (3,)


@pytest.mark.parametrize("fn, expected", [
    (lambda x: cr.mean(x), 1.0),
    (lambda x: cr.sum(x[:60000]) / 60000, 1.0),
    (lambda x: cr.softmax(x * 0.0, axis=0).sum(), 1.0),
    (lambda x: cr.sumsq(x[:60000]) / 60000, 1.0),
    (lambda x: cr.cross_entropy(cr.reshape(x * 0.0, (1, 100000)), np.array([3])),
     float(np.log(np.float32(100000)))),
], ids=["mean", "sum", "softmax", "sumsq", "cross_entropy"])
def test_float16_reductions_accumulate_in_float32(fn, expected):
    x = cr.tensor(np.ones(100000, np.float16))
    out = fn(x)
    assert out.dtype == np.float16
    np.testing.assert_allclose(float(out.item()), expected, rtol=2e-3)


@pytest.mark.parametrize("x, y, dx, dy", [
    (0.0, 0.0, 0.0, 0.0), (0.0, 2.0, 0.0, 0.0), (0.0, 3.0, 0.0, 0.0),
    (0.0, 0.5, np.inf, 0.0), (2.0, 3.0, 12.0, 8 * np.log(2.0)), (2.0, 0.0, 0.0, np.log(2.0)),
])
def test_power_gradients_at_zero_are_pytorchs(x, y, dx, dy):
    tx = cr.tensor(x, requires_grad=True, dtype=np.float64)
    ty = cr.tensor(y, requires_grad=True, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        gx, gy = cr.grad(tx ** ty, [tx, ty])
    np.testing.assert_allclose([gx.item(), gy.item()], [dx, dy])


def test_a_constant_zero_exponent_has_a_zero_gradient():
    z = cr.tensor([0.0, 1.0], requires_grad=True, dtype=np.float64)
    g, = cr.grad((z ** 0).sum(), [z])
    assert g.numpy().tolist() == [0.0, 0.0]


def test_the_power_rules_still_pass_second_order_checks_where_they_are_smooth():
    def f(x, y):
        return x ** y

    args = [np.array([0.5, 1.5]), np.array([2.0, -0.5])]
    assert cr.testing.gradcheck(f, args) and cr.testing.gradgradcheck(f, args)


# ---------------------------------------------------------------- typed errors, generated
def _binary_ops():
    return [name for name, op in OPS.items()
            if len(op.inputs) == 2 and not op.variadic and op.elementwise and name != "where"]


@pytest.mark.parametrize("name", _binary_ops())
@pytest.mark.parametrize("bad", [np.array(["a", "b"]), np.array([object(), object()])],
                         ids=["text", "object"])
def test_every_binary_operator_names_itself_for_a_text_or_object_operand(name, bad):
    with pytest.raises(ChainruleError, match=name):
        OPS[name](np.ones(2), bad)


@pytest.mark.parametrize("name", ["neg", "exp", "log", "sqrt", "abs", "sin", "cos", "tanh",
                                  "sigmoid", "relu", "softplus"])
def test_every_unary_operator_names_itself_for_a_text_operand(name):
    with pytest.raises(ChainruleError, match=name):
        OPS[name](np.array(["a", "b"]))


REDUCTIONS = {"sum": cr.sum, "mean": cr.mean, "max": cr.max, "min": cr.min,
              "logsumexp": cr.logsumexp, "softmax": cr.softmax, "log_softmax": cr.log_softmax}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@pytest.mark.parametrize("axis", [1.5, "a", (0, 0), 5, -3, [0.5], True],
                         ids=["float", "text", "repeat", "high", "low", "float-list", "bool"])
def test_every_reduction_refuses_a_bad_axis_naming_itself(name, axis):
    x = cr.tensor(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=name):
        REDUCTIONS[name](x, axis=axis)


@pytest.mark.parametrize("shape", ["ab", (2.5, 2), None, (True, 4), 2.0, ("2", 2)])
def test_reshape_refuses_a_bad_shape(shape):
    with pytest.raises(ShapeError, match="reshape"):
        cr.reshape(cr.tensor(np.ones(4)), shape)


@pytest.mark.parametrize("call, shape", [
    (lambda: cr.reshape([1.0, 2.0, 3.0, 4.0], (2, 2)), (2, 2)),
    (lambda: cr.reshape(3.0, (1,)), (1,)),
    (lambda: cr.transpose([[1.0, 2.0]]), (2, 1)),
    (lambda: cr.transpose(np.ones((2, 3))), (3, 2)),
])
def test_shape_functions_take_lists_and_numbers_as_numpy_does(call, shape):
    assert call().shape == shape


@pytest.mark.parametrize("a, b", [((2, 3, 4), (3, 4, 5)), ((4, 2, 3), (2, 3, 2)),
                                  ((2, 1, 3, 4), (3, 3, 4, 5))])
def test_matmul_of_batches_that_do_not_broadcast_is_a_shape_error(a, b):
    with pytest.raises(ShapeError, match="batch dimensions"):
        cr.matmul(cr.tensor(np.ones(a)), cr.tensor(np.ones(b)))


@pytest.mark.parametrize("axes", ["x", 3, -1, (0,), ([0], "a"), 1.5])
def test_tensordot_refuses_bad_axes(axes):
    with pytest.raises(ShapeError, match="tensordot"):
        cr.tensordot(cr.tensor(np.ones((2, 3))), cr.tensor(np.ones((3, 5))), axes=axes)


@pytest.mark.parametrize("grad", ["a", [1.0, 2.0], np.ones(3), object()])
def test_backward_and_grad_refuse_a_bad_output_gradient(grad):
    w = cr.tensor(W, requires_grad=True)
    with pytest.raises(ChainruleError, match="backward|gradient"):
        (w * w).sum().backward(grad)
    with pytest.raises(ChainruleError, match="grad|gradient"):
        cr.grad((w * w).sum(), [w], grad_outputs=[grad])


@pytest.mark.parametrize("call, error", [
    (lambda t: t.__setitem__(slice(None), np.ones(4)), ShapeError),
    (lambda t: t.__setitem__(0, "x"), DTypeError),
    (lambda t: t.__setitem__(7, 1.0), ShapeError),
    (lambda t: t.add_(np.ones(4)), ShapeError),
    (lambda t: t.add_(np.ones((2, 3))), ShapeError),
    (lambda t: t.mul_(np.array([1j, 1j, 1j])), DTypeError),
    (lambda t: t.copy_(np.ones(4)), ShapeError),
    (lambda t: t.copy_("abc"), DTypeError),
    (lambda t: t.sub_(np.ones(2)), ShapeError),
], ids=["setitem-shape", "setitem-text", "setitem-index", "add_-shape", "add_-rank",
        "mul_-complex", "copy_-shape", "copy_-text", "sub_-shape"])
def test_in_place_methods_refuse_before_writing(call, error):
    t = cr.tensor(np.array([1.0, 2.0, 3.0]))
    with pytest.raises(error):
        call(t)
    assert t.numpy().tolist() == [1.0, 2.0, 3.0] and t.version in (0, 1)


def test_an_int_tensor_refuses_a_fractional_in_place_product():
    t = cr.tensor(np.array([1, 2, 3]))
    with pytest.raises(DTypeError, match="mul_"):
        t.mul_(0.5)
    assert t.numpy().tolist() == [1, 2, 3]


@pytest.mark.parametrize("x, y", [(np.zeros(0), np.zeros(0)), (np.array([1.0, np.nan]), 2.0),
                                  (np.array([np.inf, 1.0]), np.array([1.0, np.nan]))],
                         ids=["empty", "nan", "inf-nan"])
def test_in_place_arithmetic_on_empty_and_non_finite_values_is_numpys(x, y):
    for symbol, ufunc in (("add", np.add), ("sub", np.subtract), ("mul", np.multiply)):
        t = cr.tensor(x.copy())
        with np.errstate(invalid="ignore"):
            expected = ufunc(x, y)
            getattr(t, {"add": "__iadd__", "sub": "__isub__", "mul": "__imul__"}[symbol])(y)
        np.testing.assert_array_equal(t.numpy(), expected)
