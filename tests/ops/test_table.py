"""Tests generated from the operator table: every operator, every sample, every mode."""

from __future__ import annotations

import re

import numpy as np
import pytest

import chainrule as cr
from chainrule.ops import OPS
from chainrule.testing import gradcheck, gradgradcheck

DIFFERENTIABLE = [op for op in OPS.values() if op.differentiable]


def _cases():
    for op in DIFFERENTIABLE:
        for k, sample in enumerate(op.samples(np.random.default_rng(0))):
            yield pytest.param(op, sample, id=f"{op.name}-{k}")


def _bad_cases():
    for op in OPS.values():
        for k, bad in enumerate(op.bad_inputs() if op.bad_inputs else []):
            yield pytest.param(op, bad, id=f"{op.name}-{k}")


def _is_float(a) -> bool:
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


CASES = list(_cases())
BAD_CASES = list(_bad_cases())


def _bound(op, sample):
    def f(*args):
        return op(*args, **sample.params)
    f.__name__ = op.name
    return f


def test_every_operator_is_complete():
    for op in OPS.values():
        assert op.samples is not None, f"{op.name} declares no samples"
        assert op.bad_inputs is not None, f"{op.name} declares no bad inputs"
        assert op.__doc__, f"{op.name} has no doc"
        if op.differentiable:
            assert op.jvp is not None, f"{op.name} has a VJP but no JVP"
            assert op.samples(np.random.default_rng(0)), f"{op.name} has no samples"


@pytest.mark.parametrize("op, sample", CASES)
def test_vjp_against_central_differences(op, sample):
    assert gradcheck(_bound(op, sample), sample.args, modes=("rev",))


@pytest.mark.parametrize("op, sample", CASES)
def test_jvp_against_finite_differences_and_vjp(op, sample):
    assert gradcheck(_bound(op, sample), sample.args, modes=("rev", "fwd"))


@pytest.mark.parametrize("op, sample", CASES)
def test_second_order_reverse_over_reverse(op, sample):
    assert gradgradcheck(_bound(op, sample), sample.args, modes=("rev",))


@pytest.mark.parametrize("op, sample", CASES)
def test_second_order_forward_over_reverse(op, sample):
    assert gradgradcheck(_bound(op, sample), sample.args, modes=("fwd",))


@pytest.mark.parametrize("op, sample", CASES)
def test_gradient_shapes_and_dtypes_match_inputs(op, sample):
    for dtype in (np.float64, np.float32):
        args = [cr.tensor(np.asarray(a, dtype=dtype), requires_grad=True)
                if _is_float(a) else a for a in sample.args]
        out = op(*args, **sample.params)
        (out * out).sum().backward()
        for a in args:
            if isinstance(a, cr.Tensor):
                assert a.grad is not None
                assert a.grad.shape == a.shape
                assert a.grad.dtype == a.dtype


@pytest.mark.parametrize("op", [op for op in OPS.values() if not op.differentiable],
                         ids=lambda op: op.name)
def test_non_differentiable_operators_record_nothing(op):
    for sample in op.samples(np.random.default_rng(0)):
        args = [cr.tensor(a, requires_grad=True) if isinstance(a, np.ndarray) else a
                for a in sample.args]
        out = op(*args, **sample.params)
        assert out.dtype == bool and out.grad_fn is None and not out.requires_grad


@pytest.mark.parametrize("op, bad", BAD_CASES)
def test_bad_input_raises_declared_error(op, bad):
    with pytest.raises(bad.error, match=re.escape(bad.match)) as info:
        op(*[cr.tensor(a) if isinstance(a, np.ndarray) and a.dtype.kind != "U" else a
             for a in bad.args], **bad.params)
    assert isinstance(info.value, cr.ChainruleError)
    assert op.name in str(info.value)


@pytest.mark.parametrize("op, sample", CASES)
def test_no_grad_records_nothing(op, sample):
    args = [cr.tensor(a, requires_grad=True) if _is_float(a) else a for a in sample.args]
    with cr.no_grad():
        out = op(*args, **sample.params)
    assert out.grad_fn is None and not out.requires_grad
