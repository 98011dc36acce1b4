"""Optimizers: the update equations written out by hand, torch.optim step for step, groups,
skipped parameters, bad hyper-parameters, and state that round-trips through a checkpoint."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.storage import load_checkpoint, save_checkpoint
from chainrule.errors import DTypeError, GraphError, ShapeError
from chainrule.optim import (SGD, Adam, AdamW, Optimizer, flatten_state_dict,
                             unflatten_state_dict)

STEPS = 6
SHAPES = [(3, 4), (4,)]


def _start():
    rng = np.random.default_rng(0)
    return [rng.standard_normal(shape) for shape in SHAPES]


def _grad(p: np.ndarray, t: int) -> np.ndarray:
    """A gradient that depends on the parameter and the step, so the paths diverge if wrong."""
    return np.sin(3 * p) + 0.1 * (t + 1) * np.cos(p + t)


def _run(make, steps=STEPS):
    """Run a chainrule optimizer on float64 parameters with gradients from ``_grad``."""
    params = [cr.tensor(a, requires_grad=True) for a in _start()]
    opt = make(params)
    history = []
    for t in range(steps):
        for p in params:
            p.grad = cr.tensor(_grad(p.data, t))
        opt.step()
        history.append([p.data.copy() for p in params])
    return history


def _assert_paths(got, expected, atol=1e-12):
    for t, (a, b) in enumerate(zip(got, expected)):
        for k, (x, y) in enumerate(zip(a, b)):
            np.testing.assert_allclose(x, y, rtol=0, atol=atol, err_msg=f"step {t}, param {k}")


# ----------------------------------------------------------------- by hand
def _sgd_by_hand(lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    params, bufs, history = _start(), [None, None], []
    for t in range(STEPS):
        for k, p in enumerate(params):
            g = _grad(p, t) + weight_decay * p
            if momentum:
                bufs[k] = g.copy() if bufs[k] is None else momentum * bufs[k] + (
                    1 - dampening) * g
                g = g + momentum * bufs[k] if nesterov else bufs[k]
            params[k] = p - lr * g
        history.append([p.copy() for p in params])
    return history


def _adam_by_hand(lr, betas, eps, weight_decay=0.0, decoupled=False):
    (b1, b2), params = betas, _start()
    m, v, history = [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params], []
    for t in range(1, STEPS + 1):
        for k, p in enumerate(params):
            g = _grad(p, t - 1)
            if decoupled:
                p = p * (1 - lr * weight_decay)
            else:
                g = g + weight_decay * p
            m[k] = b1 * m[k] + (1 - b1) * g
            v[k] = b2 * v[k] + (1 - b2) * g * g
            m_hat, v_hat = m[k] / (1 - b1 ** t), v[k] / (1 - b2 ** t)
            params[k] = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        history.append([p.copy() for p in params])
    return history


SGD_CASES = [
    dict(lr=0.1),
    dict(lr=0.1, weight_decay=0.01),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.3),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1),
]
ADAM_CASES = [
    dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8),
    dict(lr=0.05, betas=(0.5, 0.9), eps=1e-6, weight_decay=0.1),
    dict(lr=0.01, betas=(0.0, 0.99), eps=1e-8, weight_decay=0.01),
]


@pytest.mark.parametrize("options", SGD_CASES)
def test_sgd_follows_its_equations(options):
    _assert_paths(_run(lambda ps: SGD(ps, **options)), _sgd_by_hand(**options))


@pytest.mark.parametrize("options", ADAM_CASES)
def test_adam_follows_its_equations(options):
    _assert_paths(_run(lambda ps: Adam(ps, **options)), _adam_by_hand(**options))


@pytest.mark.parametrize("options", ADAM_CASES)
def test_adamw_follows_its_equations(options):
    options = {**options, "weight_decay": options.get("weight_decay", 0.0) + 0.05}
    _assert_paths(_run(lambda ps: AdamW(ps, **options)),
                  _adam_by_hand(**options, decoupled=True))


def test_adamw_decays_by_default_and_adam_does_not():
    assert AdamW([cr.tensor([1.0], requires_grad=True)]).defaults["weight_decay"] == 1e-2
    assert Adam([cr.tensor([1.0], requires_grad=True)]).defaults["weight_decay"] == 0


# ----------------------------------------------------------------- against torch.optim
def _run_torch(torch, make, steps=STEPS):
    params = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in _start()]
    opt = make(params)
    history = []
    for t in range(steps):
        for p in params:
            p.grad = torch.from_numpy(_grad(p.detach().numpy(), t))
        opt.step()
        history.append([p.detach().numpy().copy() for p in params])
    return history


@pytest.mark.parametrize("options", SGD_CASES)
def test_sgd_matches_torch(options):
    torch = pytest.importorskip("torch")
    _assert_paths(_run(lambda ps: SGD(ps, **options)),
                  _run_torch(torch, lambda ps: torch.optim.SGD(ps, **options)))


@pytest.mark.parametrize("options", ADAM_CASES)
@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_adam_and_adamw_match_torch(options, name):
    torch = pytest.importorskip("torch")
    ours, theirs = {"Adam": Adam, "AdamW": AdamW}[name], getattr(torch.optim, name)
    if name == "AdamW":
        options = {**options, "weight_decay": options.get("weight_decay", 0.0) + 0.05}
    _assert_paths(_run(lambda ps: ours(ps, **options), steps=20),
                  _run_torch(torch, lambda ps: theirs(ps, **options), steps=20))


def test_param_groups_match_torch():
    torch = pytest.importorskip("torch")

    def groups(ps):
        return [{"params": [ps[0]], "weight_decay": 0.1, "momentum": 0.9},
                {"params": [ps[1]], "lr": 0.01}]

    _assert_paths(_run(lambda ps: SGD(groups(ps), lr=0.1)),
                  _run_torch(torch, lambda ps: torch.optim.SGD(groups(ps), lr=0.1)))


# ----------------------------------------------------------------- behaviour
def test_parameters_without_gradients_are_skipped():
    a, b = cr.tensor(np.ones(2), requires_grad=True), cr.tensor(np.ones(2), requires_grad=True)
    for opt in (SGD([a, b], lr=0.1, momentum=0.9), Adam([a, b]), AdamW([a, b])):
        a.grad, b.grad = cr.tensor(np.ones(2)), None
        opt.step()
        assert np.array_equal(b.data, np.ones(2)) and not np.array_equal(a.data, np.ones(2))
        assert id(b) not in opt.state or not opt.state[id(b)]
        assert list(opt.state_dict()["state"]) == [0]


def test_zero_grad_forgets_every_gradient():
    ps = [cr.tensor(np.ones(2), requires_grad=True) for _ in range(3)]
    opt = SGD([{"params": ps[:2]}, {"params": ps[2:]}], lr=0.1)
    for p in ps:
        p.grad = cr.tensor(np.ones(2))
    opt.zero_grad()
    assert all(p.grad is None for p in ps)


def test_float32_parameters_stay_float32():
    for make in (lambda ps: SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1), Adam, AdamW):
        p = cr.tensor(np.ones(3, dtype=np.float32), requires_grad=True)
        opt = make([p])
        for _ in range(2):
            p.grad = cr.tensor(np.full(3, 0.5, dtype=np.float32))
            opt.step()
        assert p.dtype == np.float32
        assert all(v.dtype == np.float32 for v in opt.state[id(p)].values()
                   if isinstance(v, np.ndarray))


def test_a_step_invalidates_graphs_that_saved_the_parameter():
    w = cr.tensor(np.ones(3), requires_grad=True)
    loss = (w * w).sum()
    w.grad = cr.tensor(np.ones(3))
    SGD([w], lr=0.1).step()
    with pytest.raises(GraphError, match="changed in place"):
        loss.backward()


def test_step_runs_a_closure_with_recording_on():
    w = cr.tensor(np.array([3.0]), requires_grad=True)
    opt = SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with cr.no_grad():
        assert opt.step(closure).item() == 9.0
    assert w.data.tolist() == [1.5]


BAD = [
    (lambda ps: SGD(ps, lr=-0.1), "lr=-0.1"),
    (lambda ps: SGD(ps, lr=None), "lr=None"),
    (lambda ps: SGD(ps, lr=0.1, momentum=-0.5), "momentum=-0.5"),
    (lambda ps: SGD(ps, lr=0.1, weight_decay=-1.0), "weight_decay=-1.0"),
    (lambda ps: SGD(ps, lr=0.1, nesterov=True), "nesterov=True needs momentum > 0"),
    (lambda ps: SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "dampening=0"),
    (lambda ps: SGD([{"params": ps, "lr": -1.0}], lr=0.1), "lr=-1.0"),
    (lambda ps: Adam(ps, lr=-1e-3), "lr=-0.001"),
    (lambda ps: Adam(ps, betas=(1.0, 0.999)), r"betas\[0\]=1.0"),
    (lambda ps: Adam(ps, betas=(0.9, -0.1)), r"betas\[1\]=-0.1"),
    (lambda ps: Adam(ps, betas=(0.9,)), "pair"),
    (lambda ps: AdamW(ps, eps=-1.0), "eps=-1.0"),
    (lambda ps: AdamW(ps, weight_decay=float("nan")), "weight_decay=nan"),
    (lambda ps: SGD([], lr=0.1), "empty"),
    (lambda ps: SGD(ps + ps, lr=0.1), "twice"),
]


@pytest.mark.parametrize("make, message", BAD)
def test_bad_hyper_parameters_name_the_option(make, message):
    with pytest.raises(ShapeError, match=message) as info:
        make([cr.tensor(np.ones(2), requires_grad=True)])
    assert isinstance(info.value, ValueError)


def test_bad_params_are_refused():
    w = cr.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(DTypeError, match=r"pass \[tensor\]"):
        SGD(w, lr=0.1)
    with pytest.raises(DTypeError, match="leaf"):
        SGD([w * 2], lr=0.1)


def test_repr_lists_the_groups():
    w = cr.tensor(np.ones(2), requires_grad=True)
    assert "group 0: 1 parameter(s), lr=0.1, momentum=0.9" in repr(SGD([w], 0.1, momentum=0.9))
    assert isinstance(SGD([w], 0.1), Optimizer)


# ----------------------------------------------------------------- state
def _train(opt, params, steps, start):
    for t in range(start, start + steps):
        for p in params:
            p.grad = cr.tensor(_grad(p.data, t))
        opt.step()


@pytest.mark.parametrize("make", [
    lambda ps: SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    lambda ps: Adam([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.02}], betas=(0.8, 0.99)),
    lambda ps: AdamW(ps, lr=0.01),
])
def test_state_round_trips_through_a_checkpoint_bit_for_bit(make, tmp_path):
    params = [cr.tensor(a, requires_grad=True) for a in _start()]
    opt = make(params)
    _train(opt, params, 3, 0)
    arrays, meta = flatten_state_dict(opt.state_dict())
    model = {f"p{k}": p.data for k, p in enumerate(params)}
    save_checkpoint(tmp_path / "ckpt.npz", {**model, **arrays}, {"optimizer": meta})

    loaded, loaded_meta = load_checkpoint(tmp_path / "ckpt.npz")
    resumed = [cr.tensor(loaded[f"p{k}"], requires_grad=True) for k in range(len(params))]
    opt2 = make(resumed)
    opt2.load_state_dict(unflatten_state_dict(loaded, loaded_meta["optimizer"]))
    assert opt2.state_dict()["param_groups"] == opt.state_dict()["param_groups"]

    _train(opt, params, 4, 3)
    _train(opt2, resumed, 4, 3)
    for a, b in zip(params, resumed):
        assert np.array_equal(a.data, b.data)


def test_state_dict_is_a_copy_of_arrays_and_scalars():
    w = cr.tensor(np.ones(2), requires_grad=True)
    opt = Adam([w])
    w.grad = cr.tensor(np.ones(2))
    opt.step()
    state = opt.state_dict()
    assert state["state"][0]["step"] == 1 and isinstance(state["state"][0]["step"], int)
    state["state"][0]["exp_avg"][...] = 99.0
    assert not np.any(opt.state[id(w)]["exp_avg"] == 99.0)
    assert state["param_groups"] == [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8,
                                      "weight_decay": 0.0, "params": [0]}]


def test_load_state_dict_lists_every_problem_and_changes_nothing():
    ps = [cr.tensor(a, requires_grad=True) for a in _start()]
    opt = SGD(ps, lr=0.1, momentum=0.9)
    _train(opt, ps, 1, 0)
    state = opt.state_dict()
    state["state"][0]["momentum_buffer"] = np.zeros((2, 2))
    state["state"][1]["momentum_buffer"] = state["state"][1]["momentum_buffer"].astype(
        np.float32)
    state["state"][5] = {"momentum_buffer": np.zeros(1)}
    state["param_groups"].append({"lr": 1.0, "params": []})
    before = opt.state_dict()
    with pytest.raises(ShapeError) as info:
        opt.load_state_dict(state)
    message = str(info.value)
    assert "4 problem(s)" in message
    for piece in ["2 parameter group(s)", "(2, 2)", "float32", "parameter 5"]:
        assert piece in message, piece
    after = opt.state_dict()
    assert all(np.array_equal(before["state"][i]["momentum_buffer"],
                              after["state"][i]["momentum_buffer"]) for i in (0, 1))


def test_momentum_buffers_match_torch_after_a_resume():
    torch = pytest.importorskip("torch")
    params = [cr.tensor(a, requires_grad=True) for a in _start()]
    opt = SGD(params, lr=0.05, momentum=0.9)
    _train(opt, params, 3, 0)
    tparams = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in _start()]
    topt = torch.optim.SGD(tparams, lr=0.05, momentum=0.9)
    for t in range(3):
        for p in tparams:
            p.grad = torch.from_numpy(_grad(p.detach().numpy(), t))
        topt.step()
    theirs = topt.state_dict()["state"]
    for i, entry in opt.state_dict()["state"].items():
        np.testing.assert_allclose(entry["momentum_buffer"],
                                   theirs[i]["momentum_buffer"].numpy(), rtol=0, atol=1e-12)


def test_adam_step_count_matches_torch_state():
    torch = pytest.importorskip("torch")
    p = torch.tensor(np.ones(2), requires_grad=True)
    topt = torch.optim.Adam([p])
    p.grad = torch.ones(2, dtype=torch.float64)
    topt.step()
    w = cr.tensor(np.ones(2), requires_grad=True)
    opt = Adam([w])
    w.grad = cr.tensor(np.ones(2))
    opt.step()
    ours, theirs = opt.state_dict()["state"][0], topt.state_dict()["state"][0]
    assert sorted(ours) == sorted(theirs)
    assert ours["step"] == math.floor(float(theirs["step"]))
