"""The second-order workload: a Hessian-vector product of J with respect to W1.

Both of chainrule's modes (forward-over-reverse and reverse-over-reverse), eager and replayed,
against the hand-written R-op in NumPy and PyTorch's two HVPs, checked once to agree, then
timed interleaved (see :mod:`benchmarks.workloads` for the pattern).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import chainrule as cr
from chainrule.models import ChapterMLP

from . import reference_numpy as ref
from . import reference_torch as tref
from .harness import BenchmarkCheckError, Result, Row, Settings, Target, interleaved, relative_gap
from .workloads import CLASSES, INPUTS, LAM, make_data

__all__ = ["HvpSetup", "second_order"]


class HvpSetup:
    """``H V`` for J with respect to W1: chainrule (both modes), NumPy's hand R-op, torch."""

    def __init__(self, n: int = 256, hidden: int = 256, d: int = INPUTS, classes: int = CLASSES,
                 dtype=np.float32, torch_module: Any = None, seed: int = 0) -> None:
        self.dtype = np.dtype(dtype)
        self.x, self.y = make_data(n, d, classes, dtype, seed)
        model = ChapterMLP(d, hidden, classes, weight_decay=LAM, dtype=dtype, seed=seed)
        self.W1, self.W2 = model.W1.data.copy(), model.W2.data.copy()
        self.V = np.random.default_rng(seed + 1).standard_normal(self.W1.shape).astype(dtype)
        self.xt, self.W1t, self.W2t = cr.tensor(self.x), cr.tensor(self.W1), cr.tensor(self.W2)
        self.Vt = cr.tensor(self.V)
        self.compiled: dict[str, Any] = {}
        self.torch = None
        if torch_module is not None:
            self.torch = (tref.tensor(self.W1), tref.tensor(self.W2), tref.tensor(self.x),
                          torch_module.from_numpy(self.y.copy()), tref.tensor(self.V))

    def objective(self, W1):
        """J as a function of W1 alone, in the operators ``ChapterMLP`` uses."""
        h = cr.relu(self.xt @ W1.T)
        o = h @ self.W2t.T
        s = LAM / 2 * (cr.sumsq(W1) + cr.sumsq(self.W2t))
        return cr.cross_entropy(o, self.y) + s

    def chainrule(self, mode: str = "fwd-rev"):
        return cr.hvp(self.objective, self.W1t, self.Vt, mode=mode)

    def replayed(self, mode: str = "fwd-rev"):
        """The same HVP, captured once per mode and replayed (``cr.compile``)."""
        if mode not in self.compiled:
            self.compiled[mode] = cr.compile(
                lambda W1, V: cr.hvp(self.objective, W1, V, mode=mode))
        return self.compiled[mode](self.W1t, self.Vt)

    def numpy(self):
        return ref.hvp(self.W1, self.W2, self.x, self.y, self.V, LAM)

    def pytorch(self, func: bool = False):
        W1, W2, x, y, V = self.torch
        return (tref.hvp_func if func else tref.hvp)(W1, W2, x, y, V, LAM)

    def check(self) -> dict[str, float]:
        """Every H V must agree with the hand R-op (relative to its largest entry).

        Tolerance: 1e-4 in float32 (an HVP is four large products deep, and PyTorch sums in
        its own order), 1e-12 in float64.
        """
        J, Hv = self.numpy()
        tol = 1e-4 if self.dtype == np.float32 else 1e-12
        found = {f"chainrule {mode}": self.chainrule(mode) for mode in ("fwd-rev", "rev-rev")}
        for mode in ("fwd-rev", "rev-rev"):
            self.replayed(mode)                                   # traced
            found[f"replayed {mode}"] = self.replayed(mode)       # checked against eager
        if self.torch is not None:
            found["torch autograd.functional.hvp"] = self.pytorch()
            found["torch.func jvp(grad)"] = self.pytorch(func=True)
        gaps = {}
        for name, (value, hv) in found.items():
            hv = hv.detach().numpy() if hasattr(hv, "detach") else hv.data
            gaps[name] = relative_gap(hv, Hv)
            if value is not None:           # torch.func's jvp gives no value
                value = value.item()
                gaps[name] = max(gaps[name], abs(value - float(J)) / abs(float(J)))
            if gaps[name] > tol:
                raise BenchmarkCheckError(f"HVP: {name} differs from the hand-written R-op by "
                                          f"{gaps[name]:.2e} (tolerance {tol:g}, {self.dtype})")
        return gaps


def second_order(settings: Settings, n: int = 256, hidden: int = 256, d: int = INPUTS,
                 dtype=np.float32, torch_module: Any = None) -> Result:
    """H V with respect to W1 at batch ``n``: both chainrule modes against the hand R-op."""
    setup = HvpSetup(n, hidden, d, CLASSES, dtype, torch_module)
    gaps = setup.check()
    candidates = {"fwd-rev": setup.chainrule, "rev-rev": lambda: setup.chainrule("rev-rev"),
                  "replayed fwd-rev": setup.replayed,
                  "replayed rev-rev": lambda: setup.replayed("rev-rev"),
                  "numpy": setup.numpy}
    if setup.torch is not None:
        candidates["torch.func"] = lambda: setup.pytorch(func=True)
        candidates["torch"] = setup.pytorch
    t = interleaved(candidates, settings)
    target = Target("ratio", 1.5, "1.6x")
    rows = []
    twins = {"fwd-rev": ("torch.func", "torch.func.jvp of torch.func.grad (fwd-rev)"),
             "rev-rev": ("torch", "torch.autograd.functional.hvp (double backward)")}
    for mode, (twin, what) in twins.items():
        rows.append(Row(f"HVP of J wrt W1  N={n} {mode}", "s", t[mode].median, t["numpy"].median,
                        t[twin].median if twin in t else None, target,
                        note=f"PyTorch column: {what}" if twin in t else ""))
    for mode, (twin, _) in twins.items():
        rows.append(Row(f"HVP of J wrt W1  N={n} {mode} replayed", "s",
                        t[f"replayed {mode}"].median, t["numpy"].median,
                        t[twin].median if twin in t else None, target,
                        note="cr.compile: captured once, replayed"))
    return Result(rows, details={"check_gaps": gaps,
                                 "timings": {k: vars(v) for k, v in t.items()}})
