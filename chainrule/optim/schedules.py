"""Learning-rate schedules: ``StepLR`` and ``CosineAnnealingLR``, PyTorch's formulas.

A schedule remembers each group's starting learning rate (``base_lrs``) and, on every
``step()`` (once per epoch, after ``optimizer.step()``), sets each group's ``"lr"`` from the
closed form at the new ``last_epoch``:

* ``StepLR``: ``lr = base_lr * gamma ** (last_epoch // step_size)``
* ``CosineAnnealingLR``: ``lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * last_epoch /
  T_max)) / 2`` (past ``T_max`` the cosine goes on, back up, as PyTorch's does)

PyTorch computes the same values recursively from the current ``lr`` (its "chainable" form);
the two agree to rounding as long as nothing else changes the learning rate.

>>> from chainrule import tensor
>>> from chainrule.optim import SGD, StepLR
>>> opt = SGD([tensor([1.0], requires_grad=True)], lr=1.0)
>>> schedule = StepLR(opt, step_size=2, gamma=0.5)
>>> lrs = []
>>> for epoch in range(5):
...     lrs.append(schedule.get_last_lr()[0])
...     schedule.step()
>>> lrs
[1.0, 1.0, 0.5, 0.5, 0.25]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Real
from typing import Any

import numpy as np

from ..errors import ShapeError
from .optimizer import Optimizer

__all__ = ["LRScheduler", "StepLR", "CosineAnnealingLR"]


class LRScheduler:
    """Base class: sets ``optimizer.param_groups[k]["lr"]`` from ``lr_at(last_epoch)``."""

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise ShapeError(f"{type(self).__name__}: expected a chainrule Optimizer, got "
                             f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lrs = [float(group["lr"]) for group in optimizer.param_groups]
        self.last_epoch = 0
        self._last_lr = list(self.base_lrs)

    def lr_at(self, epoch: int) -> list[float]:
        """Each group's learning rate at ``epoch`` (the closed form)."""
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch and set each group's learning rate."""
        self.last_epoch += 1
        self._last_lr = self.lr_at(self.last_epoch)
        for group, lr in zip(self.optimizer.param_groups, self._last_lr):
            group["lr"] = lr

    def get_last_lr(self) -> list[float]:
        """The learning rates set by the last ``step()`` (the base rates before any)."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer, as JSON-serialisable Python values."""
        return {key: (list(value) if isinstance(value, list) else value)
                for key, value in vars(self).items() if key != "optimizer"}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` (the optimizer's own state restores its ``lr``)."""
        own = self.state_dict()
        wrong = sorted(set(state) ^ set(own))
        if wrong:
            raise ShapeError(f"{type(self).__name__}.load_state_dict: keys {wrong} do not "
                             f"match this schedule's {sorted(own)}; was it saved from another "
                             "kind of schedule?")
        for key, value in state.items():
            setattr(self, key, list(value) if isinstance(value, list) else value)

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v}" for k, v in self.state_dict().items()
                            if not k.startswith("_") and k != "base_lrs")
        return f"{type(self).__name__}({options})"


def _positive_int(where: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ShapeError(f"{where}: {name}={value!r} must be a positive int")
    return int(value)


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = _positive_int("StepLR", "step_size", step_size)
        if isinstance(gamma, bool) or not isinstance(gamma, Real) or not gamma > 0:
            raise ShapeError(f"StepLR: gamma={gamma!r} must be a number > 0, e.g. 0.1")
        self.gamma = float(gamma)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> list[float]:
        """``base_lr * gamma ** (epoch // step_size)`` for each group."""
        return [base * self.gamma ** (epoch // self.step_size) for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Anneal from the base rate to ``eta_min`` along half a cosine over ``T_max`` epochs."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        self.T_max = _positive_int("CosineAnnealingLR", "T_max", T_max)
        if isinstance(eta_min, bool) or not isinstance(eta_min, Real) or not eta_min >= 0:
            raise ShapeError(f"CosineAnnealingLR: eta_min={eta_min!r} must be a number >= 0")
        self.eta_min = float(eta_min)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> list[float]:
        """``eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2`` per group."""
        cosine = (1 + math.cos(math.pi * epoch / self.T_max)) / 2
        return [self.eta_min + (base - self.eta_min) * cosine for base in self.base_lrs]
