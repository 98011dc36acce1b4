"""The optimizers: ``SGD`` (momentum, Nesterov, L2), ``Adam`` (L2) and ``AdamW`` (decoupled
decay), each an :class:`~chainrule.optim.optimizer.Optimizer` with PyTorch's update equations,
written out in its docstring."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from .. import backend
from ..errors import ShapeError
from ..core.tensor import Tensor
from .optimizer import Optimizer, check_option

__all__ = ["SGD", "Adam", "AdamW"]


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov momentum and L2 decay.

    With ``g = grad + weight_decay * p`` (the L2 term), and when ``momentum > 0``::

        b = g                                      (first step)
        b = momentum * b + (1 - dampening) * g     (later steps)
        g = g + momentum * b   if nesterov   else   b

    then ``p = p - lr * g``.  With ``weight_decay = lambda`` this is the same as adding the
    chapter's ``s = lambda / 2 * ||p||^2`` to the objective.

    >>> from chainrule import tensor
    >>> w = tensor([1.0, 2.0], requires_grad=True)
    >>> (w * w).sum().backward()
    >>> _ = SGD([w], lr=0.25).step()
    >>> w.tolist()
    [0.5, 1.0]
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float,
                 momentum: float = 0.0, dampening: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "nesterov": nesterov, "weight_decay": weight_decay})

    def _check_group(self, group: dict[str, Any]) -> None:
        check_option("SGD", "lr", group["lr"], lambda v: v >= 0,
                     "pass a learning rate >= 0, e.g. 0.1")
        check_option("SGD", "momentum", group["momentum"], lambda v: v >= 0,
                     "pass momentum >= 0 (0 turns it off; 0.9 is usual)")
        check_option("SGD", "dampening", group["dampening"], lambda v: 0 <= v <= 1,
                     "pass dampening in [0, 1]")
        check_option("SGD", "weight_decay", group["weight_decay"], lambda v: v >= 0,
                     "pass weight_decay >= 0")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ShapeError(f"SGD: nesterov=True needs momentum > 0 and dampening=0, got "
                             f"momentum={group['momentum']}, dampening={group['dampening']}; "
                             "pass e.g. momentum=0.9, or nesterov=False")

    def _update(self, p: Tensor, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        momentum, decay = group["momentum"], group["weight_decay"]
        if decay != 0:
            g = g + decay * p._data
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.copy()
            else:
                buf *= momentum
                buf += (1 - group["dampening"]) * g
            g = g + momentum * buf if group["nesterov"] else buf
        p.sub_(g, alpha=group["lr"])


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015) with PyTorch's bias correction; ``weight_decay`` is L2.

    With ``g = grad + weight_decay * p`` and ``t`` the step count (from 1)::

        m = m + (1 - beta1) * (g - m)              (= beta1 m + (1 - beta1) g)
        v = beta2 * v + (1 - beta2) * g * g
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)
    """

    decoupled = False

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps,
                                  "weight_decay": weight_decay})

    def _check_group(self, group: dict[str, Any]) -> None:
        where = type(self).__name__
        check_option(where, "lr", group["lr"], lambda v: v >= 0,
                     "pass a learning rate >= 0, e.g. 1e-3")
        check_option(where, "eps", group["eps"], lambda v: v >= 0, "pass eps >= 0, e.g. 1e-8")
        betas = tuple(group["betas"])
        if len(betas) != 2:
            raise ShapeError(f"{where}: betas={group['betas']!r} must be a pair (beta1, beta2), "
                             "e.g. (0.9, 0.999)")
        for k, beta in enumerate(betas):
            check_option(where, f"betas[{k}]", beta, lambda v: 0 <= v < 1,
                         "each beta must lie in [0, 1), e.g. betas=(0.9, 0.999)")
        group["betas"] = betas
        check_option(where, "weight_decay", group["weight_decay"], lambda v: v >= 0,
                     "pass weight_decay >= 0")

    def _update(self, p: Tensor, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, (beta1, beta2), decay = group["lr"], group["betas"], group["weight_decay"]
        if not state:
            state["step"] = 0
            xp = backend.module_of(p._data)
            state["exp_avg"] = xp.zeros_like(p._data)
            state["exp_avg_sq"] = xp.zeros_like(p._data)
        if decay != 0 and self.decoupled:
            p.mul_(1 - lr * decay)
        elif decay != 0:
            g = g + decay * p._data
        state["step"] += 1
        t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
        m += (1 - beta1) * (g - m)
        v *= beta2
        v += (1 - beta2) * g * g
        denom = backend.module_of(v).sqrt(v) / math.sqrt(1 - beta2 ** t) + group["eps"]
        p.sub_(m / denom, alpha=lr / (1 - beta1 ** t))


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter, 2019).

    Before each Adam step (which then has no L2 term): ``p = p * (1 - lr * weight_decay)``.
    """

    decoupled = True

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
