"""Rematerialisation: checkpointed gradients equal the plain ones, with less memory held."""

from __future__ import annotations

import gc
import tracemalloc
from types import SimpleNamespace

import numpy as np
import pytest

import chainrule as cr
from chainrule import memory
from chainrule.errors import GraphError
from chainrule.core.modes import mode
from chainrule.remat import checkpoint


def _net(dtype=np.float32, n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = cr.tensor(rng.standard_normal((n, 20)).astype(dtype), name="x")
    y = rng.integers(0, 5, n)
    W1 = cr.tensor((rng.standard_normal((16, 20)) * 0.3).astype(dtype), requires_grad=True,
                   name="W1")
    b1 = cr.tensor(np.zeros(16, dtype), requires_grad=True, name="b1")
    W2 = cr.tensor((rng.standard_normal((5, 16)) * 0.3).astype(dtype), requires_grad=True,
                   name="W2")
    return x, y, [W1, b1, W2]


def _hidden(x, W1, b1):
    return cr.relu(cr.tanh(x @ W1.T + b1) * 2.0 - 0.5)


def _twice(x, W1, b1):
    return cr.tanh(x @ W1.T + b1) * cr.relu(x @ W1.T)


def _objective(x, y, params, ckpt: bool):
    W1, b1, W2 = params
    h = checkpoint(_hidden, x, W1, b1) if ckpt else _hidden(x, W1, b1)
    o = h @ W2.T
    s = 1e-3 / 2 * ((W1 ** 2).sum() + (W2 ** 2).sum())      # W1 fans out of the region
    return cr.cross_entropy(o, y) + s


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_first_order_gradients_are_bit_identical(dtype):
    x, y, params = _net(dtype)
    _objective(x, y, params, ckpt=False).backward()
    plain = [p.grad.numpy().copy() for p in params]
    for p in params:
        p.grad = None
    _objective(x, y, params, ckpt=True).backward()
    for p, want in zip(params, plain):
        assert p.grad.dtype == want.dtype and np.array_equal(p.grad.numpy(), want), p.name


def test_an_input_used_twice_inside_sums_its_gradient_in_another_order():
    # inside the region W1's two uses are summed first, then added to the penalty's term;
    # the plain walk adds them one by one: equal up to the rounding of that order
    x, y, (W1, b1, W2) = _net()
    plain = cr.grad(cr.cross_entropy(_twice(x, W1, b1) @ W2.T, y) + (W1 ** 2).sum(), [W1])
    got = cr.grad(cr.cross_entropy(checkpoint(_twice, x, W1, b1) @ W2.T, y)
                  + (W1 ** 2).sum(), [W1])
    np.testing.assert_allclose(got[0].numpy(), plain[0].numpy(), rtol=1e-6, atol=1e-7)


def test_grad_and_retain_graph_agree_bitwise():
    x, y, params = _net()
    plain = cr.grad(_objective(x, y, params, False), params)
    J = _objective(x, y, params, True)
    first = cr.grad(J, params, retain_graph=True)
    again = cr.grad(J, params)
    for a, b, c in zip(plain, first, again):
        assert np.array_equal(a.numpy(), b.numpy()) and np.array_equal(b.numpy(), c.numpy())
    assert mode.raw is False and mode.grad_enabled is True


def test_second_order_through_a_checkpoint_reverse_and_forward():
    x, y, params = _net(np.float64)
    hv = []
    for ckpt in (False, True):
        gs = cr.grad(_objective(x, y, params, ckpt), params, create_graph=True)
        hv.append(cr.grad(sum((g * g).sum() for g in gs), params))
    for a, b in zip(*hv):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-12, atol=1e-15)
    W1, b1, W2 = params
    v = np.ones(W1.shape)
    fns = [lambda w, c=c: _objective(x, y, [w, b1, W2], c) for c in (False, True)]
    for how in ("fwd-rev", "rev-rev"):
        (_, a), (_, b) = (cr.hvp(f, W1, v, mode=how) for f in fns)
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-12, atol=1e-15)


def test_forward_mode_through_a_checkpoint():
    x, _, (W1, b1, _) = _net(np.float64)
    t = np.random.default_rng(3).standard_normal(W1.shape)
    _, want = cr.jvp(lambda w: _hidden(x, w, b1), [W1], [t])
    _, got = cr.jvp(lambda w: checkpoint(_hidden, x, w, b1), [W1], [t])
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)


def test_one_recomputation_serves_every_input():
    x, y, params = _net()
    calls = []

    def counted(*args):
        calls.append(cr.is_grad_enabled())
        return _hidden(*args)

    W1, b1, W2 = params
    J = cr.cross_entropy(checkpoint(counted, x, W1, b1) @ W2.T, y)
    assert calls == [False]                   # forward: nothing recorded inside
    J.backward()
    assert calls == [False, True]             # one recomputation, for W1 and b1 both
    assert W1.grad is not None and b1.grad is not None


def test_nested_checkpoints():
    x, y, params = _net()
    W1, b1, W2 = params
    want = cr.grad(cr.cross_entropy(_hidden(x, W1, b1) @ W2.T, y), params)
    outer = checkpoint(lambda x, W1, b1, W2: checkpoint(_hidden, x, W1, b1) @ W2.T,
                       x, W1, b1, W2)
    got = cr.grad(cr.cross_entropy(outer, y), params)
    for a, b in zip(want, got):
        assert np.array_equal(a.numpy(), b.numpy())


def test_the_graph_keeps_only_the_regions_inputs():
    x, y, params = _net(n=512)
    plain = memory.report(_objective(x, y, params, False), held=())
    J = _objective(x, y, params, True)
    saved = memory.report(J, held=())
    assert saved.saved_bytes < plain.saved_bytes
    assert saved.activation_bytes < plain.activation_bytes
    row = next(r for r in saved.rows if r.op == "checkpoint")
    assert row.saved_bytes == sum(t.data.nbytes for t in (x, *params[:2]))
    assert "x (512, 20) input" in row.what and "W1 (16, 20) parameter" in row.what


def _deep(n=1024, width=64, layers=8):
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.standard_normal((n, width)).astype(np.float32), name="x")
    y = rng.integers(0, 10, n)
    ws = [cr.tensor((rng.standard_normal((width, width)) / 16).astype(np.float32),
                    requires_grad=True) for _ in range(layers)]
    head = cr.tensor(np.zeros((10, width), np.float32), requires_grad=True)
    return x, y, ws, head


def _block(h, *ws):
    for w in ws:
        h = cr.relu(h @ w.T)
    return h


def _deep_objective(x, y, ws, head, every: int | None):
    h = x
    for i in range(0, len(ws), every or len(ws)):
        block = ws[i:i + (every or len(ws))]
        h = checkpoint(_block, h, *block) if every else _block(h, *block)
    return cr.cross_entropy(h @ head.T, y)


def _traced(fn) -> int:
    for _ in range(2):
        gc.collect()
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            fn()
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
    return peak


def test_checkpointing_segments_lowers_the_peak_as_the_report_predicts():
    x, y, ws, head = _deep()
    peaks = {}
    for every in (None, 2):
        def step(every=every):
            for w in [*ws, head]:
                w.grad = None
            _deep_objective(x, y, ws, head, every).backward()

        measured = _traced(step)
        predicted = memory.report(_deep_objective(x, y, ws, head, every), held=())
        assert abs(predicted.training_bytes - measured) <= 0.10 * measured
        peaks[every] = predicted.training_bytes
    assert peaks[2] < 0.85 * peaks[None]


def test_a_closure_over_a_tensor_needing_grad_is_refused():
    x, y, (W1, b1, W2) = _net()
    with pytest.raises(GraphError, match="without taking it as an argument"):
        checkpoint(lambda x: _hidden(x, W1, b1), x)         # seen in the closure at once
    holder = SimpleNamespace(W1=W1)                         # hidden from that look
    J = cr.cross_entropy(checkpoint(lambda h, b: _hidden(h, holder.W1, b), x, b1) @ W2.T, y)
    with pytest.raises(GraphError, match="without taking it as an argument"):
        J.backward()                                        # found by the recomputation
    assert mode.raw is False and mode.grad_enabled is True


def test_bad_regions_raise_clear_errors():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(GraphError, match="one Tensor"):
        checkpoint(lambda v: (v, v), x)
    with pytest.raises(GraphError, match="callable"):
        checkpoint(x, x)
    with pytest.raises(cr.ShapeError, match=r"checkpoint\(.*matmul"):
        checkpoint(lambda a, b: a @ b, cr.ones((2, 3)), cr.ones((2, 3)))


def test_under_no_grad_it_is_a_plain_call():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with cr.no_grad():
        out = checkpoint(lambda v: cr.tanh(v) * v, x)
    assert out.grad_fn is None and not out.requires_grad
    np.testing.assert_allclose(out.numpy(), np.tanh([1.0, 2.0]) * [1.0, 2.0])
