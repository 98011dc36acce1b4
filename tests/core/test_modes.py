"""Grad-mode switches as PyTorch's: context managers, decorators, and set_grad_enabled as a call."""

import threading

import numpy as np

import chainrule as cr


def test_set_grad_enabled_called_switches_at_once():
    # PyTorch: torch.set_grad_enabled(False) as a plain call turns recording off until turned on
    try:
        cr.set_grad_enabled(False)
        assert not cr.is_grad_enabled()
        w = cr.tensor([1.0], requires_grad=True)
        assert not (w * 2).requires_grad
    finally:
        cr.set_grad_enabled(True)
    assert cr.is_grad_enabled()


def test_set_grad_enabled_block_restores():
    with cr.no_grad():
        with cr.set_grad_enabled(True):
            assert cr.is_grad_enabled()
        assert not cr.is_grad_enabled()
    assert cr.is_grad_enabled()


def test_decorators_switch_only_inside_the_function():
    @cr.no_grad()
    def predict(w):
        return (w * 2).requires_grad, cr.is_grad_enabled()

    @cr.set_grad_enabled(False)
    def off():
        return cr.is_grad_enabled()

    assert cr.is_grad_enabled()          # decorating did not switch anything
    w = cr.tensor([1.0], requires_grad=True)
    assert predict(w) == (False, False)
    assert off() is False
    assert cr.is_grad_enabled()
    with cr.no_grad():
        @cr.enable_grad()
        def on():
            return cr.is_grad_enabled()
        assert on() is True
        assert not cr.is_grad_enabled()


def test_block_restores_after_an_exception():
    try:
        with cr.no_grad():
            raise KeyError("x")
    except KeyError:
        pass
    assert cr.is_grad_enabled()


def test_a_decorated_function_in_another_thread_leaves_this_one_alone():
    seen = []

    @cr.no_grad()
    def work():
        seen.append(cr.is_grad_enabled())

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert seen == [False] and cr.is_grad_enabled()


def test_gc_paused_nests_and_restores():
    import gc

    from chainrule.core.modes import gc_paused
    assert gc.isenabled()
    with gc_paused():
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_square_sum_gradient_one_pass_equals_the_general_rule():
    # (x ** 2).sum() hands the power rule a broadcast scalar; the one-pass product x * 2g
    # must give the same bits as g * 2x (2g and 2x are exact)
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        data = rng.standard_normal((7, 5)).astype(dtype)
        x = cr.tensor(data, requires_grad=True)
        (0.37 * (x ** 2).sum()).backward()
        g = np.broadcast_to(np.asarray(0.37, dtype), data.shape)
        expected = g * (2.0 * data)
        assert x.grad.dtype == dtype
        assert np.array_equal(x.grad.numpy(), expected)
        # and the second-order path (tensors, not arrays) agrees
        y = cr.tensor(data, requires_grad=True)
        (gy,) = cr.grad(0.37 * (y ** 2).sum(), [y], create_graph=True)
        assert np.array_equal(gy.numpy(), expected)
