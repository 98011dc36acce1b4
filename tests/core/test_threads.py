"""Grad mode, anomaly mode and backward's raw arrays are per thread, as in PyTorch.

Each test runs two threads with a tiny switch interval, so that on a process-wide mode the
threads would interleave inside each other's ``no_grad`` blocks and backward passes.
"""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

import chainrule as cr


@pytest.fixture(autouse=True)
def _switch_often():
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def _run(*targets) -> None:
    errors: list = []

    def guard(fn):
        def body():
            try:
                fn()
            except Exception as exc:      # noqa: BLE001 (reported below, with its thread)
                errors.append(exc)
        return body

    threads = [threading.Thread(target=guard(fn)) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def test_no_grad_in_one_thread_leaves_another_threads_graph_whole():
    wrong: list = []
    arrays: list = []

    def predicting():
        for _ in range(3000):
            with cr.no_grad():
                y = cr.tensor([1.0, 2.0]) * 2.0
            if not isinstance(y, cr.Tensor):
                arrays.append(type(y))

    def training():
        for _ in range(1500):
            w = cr.tensor([1.0, 2.0], requires_grad=True)
            (w * w + 3 * w).sum().backward()
            if w.grad.tolist() != [5.0, 7.0]:
                wrong.append(w.grad.tolist())

    _run(predicting, training)
    assert wrong == []
    assert arrays == []          # a backward's raw mode never leaks into the other thread
    assert cr.is_grad_enabled()


def test_overlapping_no_grad_blocks_in_two_threads_restore_grad_mode():
    def toggling():
        for _ in range(3000):
            with cr.no_grad():
                assert not cr.is_grad_enabled()
            assert cr.is_grad_enabled()

    _run(toggling, toggling)
    assert cr.is_grad_enabled()


def test_a_new_thread_starts_with_grad_mode_on_whatever_the_caller_set():
    seen = []
    with cr.no_grad():
        t = threading.Thread(target=lambda: seen.append(cr.is_grad_enabled()))
        t.start()
        t.join()
    assert seen == [True]


def test_two_independent_backward_passes_in_two_threads_give_their_own_gradients():
    rng = np.random.default_rng(0)
    data = [rng.standard_normal((8, 5)) for _ in range(2)]
    wrong: list = []

    def worker(x):
        def body():
            for _ in range(300):
                w = cr.tensor(np.arange(5.0), requires_grad=True)
                loss = cr.tanh(cr.tensor(x) @ w).sum()
                g, = cr.grad(loss, [w])
                expected = x.T @ (1 - np.tanh(x @ np.arange(5.0)) ** 2)
                if not np.allclose(g.numpy(), expected, rtol=1e-12, atol=1e-12):
                    wrong.append(g.numpy())
        return body

    _run(worker(data[0]), worker(data[1]))
    assert wrong == []


def test_anomaly_mode_is_per_thread():
    seen: list = []
    inside = threading.Event()
    done = threading.Event()

    def detecting():
        with cr.detect_anomaly():
            inside.set()
            done.wait(5)

    def other():
        inside.wait(5)
        with np.errstate(invalid="ignore"):
            y = cr.log(cr.tensor([-1.0]))         # a NaN, fine outside detect_anomaly
        seen.append(bool(np.isnan(y.numpy()).all()))
        done.set()

    _run(detecting, other)
    assert seen == [True]
