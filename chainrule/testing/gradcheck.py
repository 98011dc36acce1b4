"""Derivative checks against central differences in float64.

:func:`gradcheck` compares, for a random output cotangent ``u`` and a random tangent ``v``:

- reverse mode, element by element: ``grad(<u, f(x)>)[j]`` against
  ``(<u, f(x + eps e_j)> - <u, f(x - eps e_j)>) / 2 eps``;
- forward mode: ``jvp(f, x, v)`` against ``(f(x + eps v) - f(x - eps v)) / 2 eps``;
- the two modes against each other: ``<u, J v> == <J^T u, v>``.

:func:`gradgradcheck` runs the same checks on the gradient function itself, so second order is
checked reverse-over-reverse and forward-over-reverse.  A failure raises
:class:`~chainrule.errors.GradientCheckError` naming the input, the element and both values.

>>> import chainrule as cr
>>> cr.testing.gradcheck(cr.tanh, [[0.1, -0.4, 0.7]])
True
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .. import backend as B
from ..core.device import CPU, device, transfer
from ..core.modes import enable_grad, no_grad
from ..autodiff import grad, jvp
from ..errors import GradientCheckError
from ..core.tensor import Tensor
from .graph import GraphCheckReport, check_graph

__all__ = ["gradcheck", "gradgradcheck", "check_graph", "GraphCheckReport"]


def _label(f) -> str:
    return getattr(f, "name", None) or getattr(f, "__name__", None) or repr(f)


def _is_float(a) -> bool:
    """Whether ``a`` is a variable of the check (Python scalars stay constants)."""
    if isinstance(a, Tensor) or isinstance(a, B.ndarray_types):
        return a.dtype.kind == "f"
    if isinstance(a, (list, tuple)):
        return np.asarray(a).dtype.kind == "f"
    return False


def _outputs(out) -> tuple:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


class _Problem:
    """``f`` with its float inputs (as float64 arrays) made the variables of the check, and
    every input on ``device`` (constant arrays too)."""

    def __init__(self, f, inputs, on=None):
        self.f = f
        self.device = CPU if on is None else device(on)
        self.which = [i for i, a in enumerate(inputs) if _is_float(a)]
        self.x = [np.array(B.to_numpy(a._data if isinstance(a, Tensor) else np.asarray(a)),
                           dtype=np.float64) for a in (inputs[i] for i in self.which)]
        self.inputs = [a if i in self.which else self._constant(a) for i, a in enumerate(inputs)]

    def _constant(self, a):
        if isinstance(a, Tensor):
            return a.to(self.device)
        return self.put(a) if isinstance(a, B.ndarray_types) else a

    def put(self, array):
        """A host array on the device of the check."""
        return transfer(np.asarray(array), self.device)

    def call(self, xs, requires_grad: bool):
        args = list(self.inputs)
        leaves = []
        for i, x in zip(self.which, xs):
            t = Tensor(self.put(x), requires_grad=requires_grad)
            args[i] = t
            leaves.append(t)
        return leaves, _outputs(self.f(*args))

    def values(self, xs) -> list[np.ndarray]:
        with no_grad():
            _, outs = self.call(xs, False)
        return [np.asarray(B.to_numpy(o._data), dtype=np.float64) for o in outs]


def _close(a, n, atol, rtol) -> bool:
    return bool(np.all(np.abs(a - n) <= atol + rtol * np.abs(n)))


def gradcheck(f: Callable, inputs: Sequence, *, eps: float = 1e-6, atol: float = 1e-6,
              rtol: float = 1e-5, modes: Sequence[str] = ("rev", "fwd"), seed: int = 0,
              device=None) -> bool:
    """Check ``f``'s derivatives at ``inputs`` against central differences in float64.

    Every floating-point input is a variable (converted to float64); others pass through as
    constants.  Every input is put on ``device`` (the CPU by default), where ``f`` runs.
    Returns True, or raises :class:`GradientCheckError`.
    """
    problem = _Problem(f, inputs, device)
    rng = np.random.default_rng(seed)
    leaves, outs = problem.call(problem.x, True)
    us = [rng.standard_normal(o.shape) for o in outs]
    name = _label(f)

    def inner(xs) -> float:
        return float(sum(np.sum(u * v) for u, v in zip(us, problem.values(xs))))

    analytic = None
    if "rev" in modes or "fwd" in modes:
        roots = [(o, u) for o, u in zip(outs, us) if o.requires_grad]
        if roots and leaves:
            analytic = grad([o for o, _ in roots], leaves,
                            grad_outputs=[Tensor(problem.put(u.astype(o.dtype)))
                                          for o, u in roots], allow_unused=True)
        else:
            analytic = (None,) * len(leaves)
        analytic = [np.zeros_like(x) if g is None else np.asarray(B.to_numpy(g._data))
                    for g, x in zip(analytic, problem.x)]
        for k, (g, x) in enumerate(zip(analytic, problem.x)):
            if g.shape != x.shape:
                raise GradientCheckError(
                    f"vjp of '{name}': the gradient of input {problem.which[k]} has shape "
                    f"{g.shape} but the input has shape {x.shape}")

    if "rev" in modes:
        for k, x in enumerate(problem.x):
            for j in np.ndindex(*x.shape):
                plus = [a.copy() for a in problem.x]
                minus = [a.copy() for a in problem.x]
                plus[k][j] += eps
                minus[k][j] -= eps
                numeric = (inner(plus) - inner(minus)) / (2 * eps)
                if not _close(analytic[k][j], numeric, atol, rtol):
                    raise GradientCheckError(
                        f"vjp of '{name}' disagrees with finite differences\n"
                        f"  input {problem.which[k]}: shape={x.shape} dtype=float64, element "
                        f"{tuple(int(i) for i in j)}\n"
                        f"  analytical = {analytic[k][j]:.10g}   numerical = {numeric:.10g}"
                        f"   (atol={atol}, rtol={rtol})")

    if "fwd" in modes:
        vs = [rng.standard_normal(x.shape) for x in problem.x]

        def call(*xs):
            args = list(problem.inputs)
            for i, t in zip(problem.which, xs):
                args[i] = t
            return f(*args)

        _, touts = jvp(call, [Tensor(problem.put(x)) for x in problem.x],
                       [problem.put(v) for v in vs])
        touts = _outputs(touts)
        plus = problem.values([x + eps * v for x, v in zip(problem.x, vs)])
        minus = problem.values([x - eps * v for x, v in zip(problem.x, vs)])
        for k, (t, p, m) in enumerate(zip(touts, plus, minus)):
            t = np.asarray(B.to_numpy(t._data))
            numeric = (p - m) / (2 * eps)
            if t.shape != numeric.shape:
                raise GradientCheckError(f"jvp of '{name}': output {k} has tangent shape "
                                         f"{t.shape} but value shape {numeric.shape}")
            if not _close(t, numeric, atol, rtol):
                j = np.unravel_index(int(np.argmax(np.abs(t - numeric))), t.shape)
                raise GradientCheckError(
                    f"jvp of '{name}' disagrees with finite differences\n"
                    f"  output {k}: shape={t.shape}, element {tuple(int(i) for i in j)}\n"
                    f"  analytical = {t[j]:.10g}   numerical = {numeric[j]:.10g}"
                    f"   (atol={atol}, rtol={rtol})")
        u_jv = float(sum(np.sum(u * np.asarray(B.to_numpy(t._data)))
                         for u, t in zip(us, touts)))
        jtu_v = float(sum(np.sum(g * v) for g, v in zip(analytic, vs)))
        if not _close(u_jv, jtu_v, atol, rtol):
            raise GradientCheckError(
                f"forward and reverse mode of '{name}' disagree\n"
                f"  <u, J v> = {u_jv:.10g}   <J^T u, v> = {jtu_v:.10g}   "
                f"(atol={atol}, rtol={rtol})")
    return True


def gradgradcheck(f: Callable, inputs: Sequence, *, eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-4, modes: Sequence[str] = ("rev", "fwd"),
                  seed: int = 1, device=None) -> bool:
    """Check the second derivatives of ``f``: :func:`gradcheck` on ``x -> grad(<u, f(x)>)``.

    Reverse mode here is reverse-over-reverse; forward mode is forward-over-reverse.
    """
    problem = _Problem(f, inputs, device)
    rng = np.random.default_rng(seed)
    _, outs = problem.call(problem.x, True)
    us = [rng.standard_normal(o.shape) for o in outs]

    def first_derivative(*args):
        args = list(args)
        with enable_grad():
            leaves = []
            for i in problem.which:
                a = args[i]
                if not a.requires_grad:
                    a.requires_grad = True
                leaves.append(a)
            outs = _outputs(f(*args))
            roots = [(o, u) for o, u in zip(outs, us) if o.requires_grad]
            if not roots:
                return tuple(Tensor(B.module_of(a._data).zeros_like(a._data)) for a in leaves)
            gs = grad([o for o, _ in roots], leaves,
                      grad_outputs=[Tensor(problem.put(u.astype(o.dtype))) for o, u in roots],
                      create_graph=True, allow_unused=True)
        return tuple(Tensor(B.module_of(a._data).zeros_like(a._data)) if g is None else g
                     for g, a in zip(gs, leaves))

    first_derivative.__name__ = f"grad of {_label(f)}"
    return gradcheck(first_derivative, inputs, eps=eps, atol=atol, rtol=rtol, modes=modes,
                     seed=seed + 1, device=device)
