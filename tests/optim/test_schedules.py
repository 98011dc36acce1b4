"""Learning-rate schedules: closed forms by hand, torch.optim.lr_scheduler, state, errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ShapeError
from chainrule.optim import SGD, Adam, CosineAnnealingLR, StepLR

EPOCHS = 25


def _optimizer(lrs=(0.1, 0.03)):
    groups = [{"params": [cr.tensor(np.ones(2), requires_grad=True)], "lr": lr} for lr in lrs]
    return SGD(groups, lr=lrs[0], momentum=0.9)


def _lrs(schedule, epochs=EPOCHS):
    """The learning rates each epoch used: read from the optimizer, then step."""
    seen = []
    for _ in range(epochs):
        seen.append([group["lr"] for group in schedule.optimizer.param_groups])
        assert seen[-1] == schedule.get_last_lr()
        schedule.step()
    return seen


def test_step_lr_by_hand():
    got = _lrs(StepLR(_optimizer(), step_size=4, gamma=0.5))
    expected = [[base * 0.5 ** (epoch // 4) for base in (0.1, 0.03)] for epoch in range(EPOCHS)]
    np.testing.assert_allclose(got, expected, rtol=1e-15)


@pytest.mark.parametrize("eta_min", [0.0, 0.001])
def test_cosine_by_hand(eta_min):
    got = _lrs(CosineAnnealingLR(_optimizer(), T_max=10, eta_min=eta_min))
    expected = [[eta_min + (base - eta_min) * (1 + math.cos(math.pi * epoch / 10)) / 2
                 for base in (0.1, 0.03)] for epoch in range(EPOCHS)]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-15)
    assert got[10][0] == pytest.approx(eta_min) and got[20][0] == pytest.approx(0.1)


def _torch_lrs(torch, make_schedule, epochs=EPOCHS):
    ps = [torch.ones(2, dtype=torch.float64, requires_grad=True) for _ in range(2)]
    opt = torch.optim.SGD([{"params": [ps[0]], "lr": 0.1}, {"params": [ps[1]], "lr": 0.03}],
                          lr=0.1, momentum=0.9)
    schedule = make_schedule(opt)
    seen = []
    for _ in range(epochs):
        seen.append([group["lr"] for group in opt.param_groups])
        opt.step()
        schedule.step()
    return seen


@pytest.mark.parametrize("ours, theirs", [
    (lambda o: StepLR(o, step_size=3), lambda t, o: t.optim.lr_scheduler.StepLR(o, 3)),
    (lambda o: StepLR(o, step_size=1, gamma=0.9),
     lambda t, o: t.optim.lr_scheduler.StepLR(o, 1, gamma=0.9)),
    (lambda o: CosineAnnealingLR(o, T_max=7),
     lambda t, o: t.optim.lr_scheduler.CosineAnnealingLR(o, T_max=7)),
    (lambda o: CosineAnnealingLR(o, T_max=10, eta_min=0.002),
     lambda t, o: t.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.002)),
])
def test_schedules_match_torch(ours, theirs):
    torch = pytest.importorskip("torch")
    np.testing.assert_allclose(_lrs(ours(_optimizer())),
                               _torch_lrs(torch, lambda o: theirs(torch, o)), rtol=0,
                               atol=1e-12)


def test_state_dict_is_json_and_resumes_the_schedule():
    schedule = CosineAnnealingLR(_optimizer(), T_max=8, eta_min=0.01)
    for _ in range(3):
        schedule.step()
    state = json.loads(json.dumps(schedule.state_dict()))
    optimizer = _optimizer()
    optimizer.load_state_dict(schedule.optimizer.state_dict())
    resumed = CosineAnnealingLR(optimizer, T_max=8)
    resumed.load_state_dict(state)
    assert resumed.last_epoch == 3 and resumed.eta_min == 0.01
    assert resumed.get_last_lr() == schedule.get_last_lr()
    assert _lrs(resumed, 10) == _lrs(schedule, 10)


def test_load_state_dict_refuses_another_kind_of_schedule():
    step_state = StepLR(_optimizer(), step_size=2).state_dict()
    with pytest.raises(ShapeError, match="another kind"):
        CosineAnnealingLR(_optimizer(), T_max=3).load_state_dict(step_state)


def test_schedules_work_with_any_optimizer():
    opt = Adam([cr.tensor(np.ones(2), requires_grad=True)], lr=0.01)
    schedule = StepLR(opt, step_size=1, gamma=0.5)
    schedule.step()
    assert opt.param_groups[0]["lr"] == 0.005 and schedule.base_lrs == [0.01]
    assert repr(schedule).startswith("StepLR(step_size=1, gamma=0.5")


@pytest.mark.parametrize("make, message", [
    (lambda o: StepLR(o, step_size=0), "step_size=0"),
    (lambda o: StepLR(o, step_size=2.5), "step_size=2.5"),
    (lambda o: StepLR(o, step_size=2, gamma=-0.1), "gamma=-0.1"),
    (lambda o: CosineAnnealingLR(o, T_max=0), "T_max=0"),
    (lambda o: CosineAnnealingLR(o, T_max=5, eta_min=-1.0), "eta_min=-1.0"),
    (lambda o: StepLR("sgd", step_size=1), "Optimizer"),
])
def test_bad_options_are_refused(make, message):
    with pytest.raises(ShapeError, match=message):
        make(_optimizer())
