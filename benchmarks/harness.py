"""Timing, results and reporting: interleaved medians, result rows, the table, machine info.

Timing: :func:`interleaved` runs each candidate (chainrule, the NumPy reference, PyTorch...) for
one *sample* in turn, A B C A B C ..., so slow drifts of the machine (other processes, clock
changes) hit every candidate alike, and reports the median per-call time of each.  A sample
repeats a call enough times to last ``min_sample`` seconds (calibrated once per candidate after
a warm-up call), so the clock's resolution never matters.  The cyclic garbage collector stays on,
as it is in real use.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import threads

__all__ = ["Settings", "Timing", "Target", "Row", "Result", "BenchmarkCheckError",
           "interleaved", "relative_gap", "format_table", "format_value", "machine_info",
           "source_digest", "write_json"]

ROOT = Path(__file__).resolve().parent.parent


class BenchmarkCheckError(RuntimeError):
    """A reference did not compute the same numbers as chainrule, so no ratio is meaningful."""


@dataclass
class Settings:
    """How hard to measure: ``rounds`` interleaved samples, each >= ``min_sample`` seconds."""

    rounds: int = 21
    min_sample: float = 0.1
    warmup: int = 1
    threads: int = 1
    torch: bool = True
    deep_sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000)
    deep_repeats: int = 3
    torch_1e6: bool = True

    @classmethod
    def quick(cls, **changes: Any) -> Settings:
        """Few rounds and short samples: a quick look, not figures to quote."""
        return cls(**{"rounds": 5, "min_sample": 0.02, "deep_sizes": (10_000, 100_000),
                      "deep_repeats": 1, **changes})

    @classmethod
    def once(cls, **changes: Any) -> Settings:
        """Every call exactly once, no warm-up: for the smoke test."""
        return cls(**{"rounds": 1, "min_sample": 0.0, "warmup": 0, "torch": False,
                      "deep_sizes": (100,), "deep_repeats": 1, **changes})


@dataclass
class Timing:
    """The per-call times of one candidate: median, quartiles, every sample, calls per sample."""

    median: float
    q1: float
    q3: float
    samples: list[float]
    calls: int
    phases: dict[str, float] = field(default_factory=dict)   # median per-call time per phase


def _quartiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], q[2]


def _sample(fn: Callable[[], Any], calls: int) -> tuple[float, dict[str, float]]:
    """Seconds per call over ``calls`` calls, and the mean of any phase times ``fn`` returned."""
    phases: dict[str, float] = {}
    start = time.perf_counter()
    for _ in range(calls):
        out = fn()
        if isinstance(out, dict):
            for key, value in out.items():
                phases[key] = phases.get(key, 0.0) + value
    elapsed = time.perf_counter() - start
    return elapsed / calls, {key: value / calls for key, value in phases.items()}


def interleaved(candidates: dict[str, Callable[[], Any]], settings: Settings) -> dict[str, Timing]:
    """Time every candidate in interleaved rounds; the median per-call time of each.

    A candidate may return a dict of phase durations in seconds (e.g. ``{"forward": ...,
    "backward": ...}``); their per-call medians land in :attr:`Timing.phases`.
    """
    calls = {}
    for name, fn in candidates.items():
        for _ in range(settings.warmup):
            fn()
        once, _ = _sample(fn, 1)
        calls[name] = max(1, int(settings.min_sample / max(once, 1e-9)))
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    phases: dict[str, dict[str, list[float]]] = {name: {} for name in candidates}
    for _ in range(settings.rounds):
        gc.collect()
        for name, fn in candidates.items():
            seconds, parts = _sample(fn, calls[name])
            samples[name].append(seconds)
            for key, value in parts.items():
                phases[name].setdefault(key, []).append(value)
    timings = {}
    for name, values in samples.items():
        q1, q3 = _quartiles(values)
        timings[name] = Timing(statistics.median(values), q1, q3, values, calls[name],
                               {k: statistics.median(v) for k, v in phases[name].items()})
    return timings


def relative_gap(a, b) -> float:
    """``max|a - b| / max|b|``: the largest difference relative to the largest value of ``b``."""
    import numpy as np

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = float(np.max(np.abs(b))) or 1.0
    return float(np.max(np.abs(a - b))) / scale


# ------------------------------------------------------------------------------ results
@dataclass
class Target:
    """A target from the issue: ``kind`` "ratio" (chainrule / reference) or "max" (absolute)."""

    kind: str
    limit: float
    for_scale: str = ""     # the PyTorch figure

    def met(self, row: Row) -> bool | None:
        value = row.ratio if self.kind == "ratio" else row.chainrule
        return None if value is None else value <= self.limit * (1 + 1e-12)

    def describe(self, unit: str) -> str:
        if self.kind == "ratio":
            return f"<= {self.limit:.2f}x"
        return f"<= {format_value(self.limit, unit)}"


@dataclass
class Row:
    """One line of the table: a figure for chainrule, its reference and PyTorch's."""

    workload: str
    unit: str                       # "s", "s/op", "B", "B/op", "x", "GFLOP/s"
    chainrule: float | None
    reference: float | None = None  # the hand-written NumPy figure
    torch: float | None = None
    target: Target | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.chainrule is None or not self.reference:
            return None
        return self.chainrule / self.reference

    @property
    def torch_ratio(self) -> float | None:
        if self.torch is None or not self.reference:
            return None
        return self.torch / self.reference

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["ratio"], out["torch_ratio"] = self.ratio, self.torch_ratio
        out["target"] = None if self.target is None else {
            "kind": self.target.kind, "limit": self.target.limit,
            "text": self.target.describe(self.unit), "for_scale": self.target.for_scale,
            "met": self.target.met(self)}
        return out


@dataclass
class Result:
    """What one workload hands back: table rows, extra printed sections, JSON details."""

    rows: list[Row] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def format_value(value: float | None, unit: str) -> str:
    """``value`` in ``unit`` for a person: seconds as us/ms/s, bytes as B/kB/MB (10^3 steps)."""
    if value is None:
        return "-"
    if value == float("inf"):
        return "failed"
    per = "/op" if unit.endswith("/op") else ""
    base = unit[:-3] if per else unit
    if base == "s":
        for scale, name in ((1e-6, "us"), (1e-3, "ms"), (1.0, "s")):
            if abs(value) < scale * 1000 or name == "s":
                return f"{value / scale:.{3 if value / scale < 10 else 1}f} {name}{per}"
    if base == "B":
        for scale, name in ((1, "B"), (1e3, "kB"), (1e6, "MB"), (1e9, "GB")):
            if abs(value) < scale * 1000 or name == "GB":
                digits = 0 if scale == 1 else 1
                return f"{value / scale:.{digits}f} {name}{per}"
    if base == "x":
        return f"{value:.2f}x"
    return f"{value:.1f} {unit}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def format_table(rows: list[Row]) -> str:
    """The rows as a plain-text table, columns aligned."""
    head = ["workload", "chainrule", "NumPy by hand", "ratio", "target", "", "PyTorch",
            "torch ratio", "issue: torch"]
    lines = [head]
    for row in rows:
        mark = "" if row.target is None else {True: "pass", False: "MISS", None: "-"}[
            row.target.met(row)]
        lines.append([
            row.workload, format_value(row.chainrule, row.unit),
            format_value(row.reference, row.unit), _ratio(row.ratio),
            "" if row.target is None else row.target.describe(row.unit), mark,
            format_value(row.torch, row.unit), _ratio(row.torch_ratio),
            "" if row.target is None else row.target.for_scale])
    return align(lines, right=(1, 2, 3, 6, 7))


def align(lines: list[list[str]], right: tuple[int, ...] = ()) -> str:
    """Columns padded to their widest cell, the ones in ``right`` right-aligned."""
    widths = [max(len(line[k]) for line in lines) for k in range(len(lines[0]))]
    out = []
    for i, line in enumerate(lines):
        cells = [cell.rjust(w) if k in right else cell.ljust(w)
                 for k, (cell, w) in enumerate(zip(line, widths))]
        out.append("  ".join(cells).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


# ------------------------------------------------------------------------------ machine
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _blas() -> str:
    import numpy as np

    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception:        # older NumPy: the BLAS name is only a nicety
        return "unknown"


def machine_info(torch_module: Any = None) -> dict[str, Any]:
    """CPU, cores, memory, versions, thread settings, load, date and git commit."""
    import numpy as np

    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    meminfo = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines()[:3]:
            key, value = line.split(":", 1)
            meminfo[key] = value.strip()
    except OSError:
        pass
    status = _git("status", "--porcelain")
    return {
        "cpu": _cpu_model(), "cores": os.cpu_count(), "cores_usable": affinity,
        "memory": meminfo.get("MemTotal"), "platform": platform.platform(),
        "python": platform.python_version(), "numpy": np.__version__, "blas": _blas(),
        "torch": getattr(torch_module, "__version__", None),
        "threads": {**threads.current(),
                    "torch.get_num_threads": (torch_module.get_num_threads()
                                              if torch_module is not None else None)},
        "load_average": os.getloadavg(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        "chainrule_source_sha256": source_digest(),
    }


def source_digest() -> str:
    """A short SHA-256 of every ``chainrule/**/*.py`` file: which engine was measured, even
    when the working tree has uncommitted changes."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "chainrule").rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def write_json(path: Path, report: dict[str, Any]) -> None:
    """Write ``report`` as indented JSON, making the folder if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=_plain) + "\n")


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
