"""Deep graphs: a chain of n multiplications on a one-element tensor, each size in a fresh process.

``python -m benchmarks.deep_graph --lib chainrule --n 1000000`` builds ``y = y * c`` n times
from a one-element float64 leaf, backpropagates, drops the graph, and prints one line
``RESULT {json}``.  In that process:

* the first run is measured by the process's peak resident set size: the peak after it minus
  the RSS just before it (the peak is reset first through ``/proc/self/clear_refs``; the peak
  is ``VmHWM``, see :func:`_maxrss`); it is the whole process's memory, so it counts the
  allocator's slack too;
* every run is timed (forward, backward, and freeing the graph), ``--repeats`` runs in all;
* for chainrule, one more run under :mod:`tracemalloc` gives the bytes the graph holds after
  forward and the traced peak (tracemalloc slows Python down, so that run is not timed).
  PyTorch's allocations are invisible to tracemalloc, so torch reports RSS only.

:func:`deep_graph` (the ``deep`` workload) spawns one such process per size and library.
This module imports NumPy and torch only inside the child's functions, after pinning threads.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from typing import Any

from . import threads
from .harness import ROOT, Result, Row, Settings, Target, align, format_value

__all__ = ["deep_graph", "run_child", "main"]

FACTOR = 1.0 + 1e-7        # c: the product stays finite (about e^0.1 at 10^6 operators)


def _status(key: str) -> int | None:
    """A size from ``/proc/self/status`` (``VmHWM``, ``VmRSS``) in bytes; None without one."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _maxrss() -> int:
    """This process image's peak resident set size in bytes.

    ``VmHWM`` from ``/proc/self/status`` where there is one: ``ru_maxrss`` reports the same
    high-water mark but also inherits the parent's peak across fork and exec (a parent that
    imported torch would hide the child's whole chain), and a reset does not clear that.
    Elsewhere, ``ru_maxrss``.
    """
    peak = _status("VmHWM")
    if peak is not None:
        return peak
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _rss() -> int:
    """This process's resident set size now, in bytes (``VmRSS``; 0 where there is none)."""
    return _status("VmRSS") or 0


def _reset_maxrss() -> bool:
    """Reset the peak RSS to the current RSS (Linux: ``echo 5 > /proc/self/clear_refs``).

    Without it, ``ru_maxrss`` still holds the high-water mark of the imports, and a run that
    peaks below it would show no growth at all.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def _chainrule_parts(n: int):
    import numpy as np

    import chainrule as cr

    x = cr.tensor(np.array([1.0]), requires_grad=True)
    return _chain(x, cr.tensor(np.array([FACTOR])), n)


def _torch_parts(n: int, num_threads: int):
    import torch

    torch.set_num_threads(num_threads)
    x = torch.ones(1, dtype=torch.float64, requires_grad=True)
    return _chain(x, torch.tensor([FACTOR], dtype=torch.float64), n)


def _chain(x, c, n: int):
    """``forward()`` building ``x * c * ... * c`` (n operators) and ``backward(y)`` -> dy/dx;
    the same code for chainrule and PyTorch tensors."""
    def forward():
        y = x
        for _ in range(n):
            y = y * c
        return y

    def backward(y):
        y.backward()
        g = x.grad.item()
        x.grad = None
        return g

    return forward, backward


def _timed(forward, backward) -> tuple[dict[str, float], float]:
    start = time.perf_counter()
    y = forward()
    middle = time.perf_counter()
    g = backward(y)
    end = time.perf_counter()
    del y
    freed = time.perf_counter()
    return {"forward": middle - start, "backward": end - middle, "free": freed - end}, g


def plan_bytes(plan) -> int:
    """The bytes of the Python objects a :class:`chainrule.replay.Plan` holds between calls
    (``sys.getsizeof`` of its step list, steps, their tuples and parameter dicts, and its
    registers; each shared object once; the operator functions and cached small ints are
    not the plan's)."""
    seen: set[int] = set()

    def size(obj) -> int:
        if id(obj) in seen or (type(obj) is int and -5 <= obj <= 256):
            return 0
        seen.add(id(obj))
        return sys.getsizeof(obj)

    total = size(plan._steps) + size(plan._initial)
    for step in plan._steps:
        total += size(step) + sum(size(part) for part in step
                                  if isinstance(part, (tuple, dict, int)))
    return total


def run_replayed(n: int, repeats: int) -> dict[str, Any]:
    """The same chain and its gradient captured once by ``cr.compile`` and replayed.

    The first call traces (the eager run plus the tape), the second replays beside eager and
    compares bit for bit; then ``repeats`` replays are timed.  ``plan_bytes`` counts what the
    plan holds between calls (:func:`plan_bytes`); ``plan_rss`` is the RSS growth over the two
    first calls (the plan, plus what the allocator kept of the trace's temporaries);
    ``rss_delta`` the peak of the first timed replay above the RSS before it.
    """
    import numpy as np

    import chainrule as cr

    x = cr.tensor(np.array([1.0]), requires_grad=True)
    c, seed = cr.tensor(np.array([FACTOR])), cr.tensor(np.array([1.0]))

    def chain(x):
        y = x
        for _ in range(n):
            y = y * c
        return y, cr.grad(y, [x], seed)[0]

    step = cr.compile(chain)
    before = _rss()
    start = time.perf_counter()
    step(x)
    traced = time.perf_counter()
    step(x)
    checked = time.perf_counter()
    plan_rss = _rss() - before
    [plan] = step.plans.values()
    reset = _reset_maxrss()
    before = _maxrss()
    runs = []
    for i in range(max(1, repeats)):
        t0 = time.perf_counter()
        _, g = step(x)
        runs.append(time.perf_counter() - t0)
        if i == 0:
            rss = _maxrss() - before
    g = g.item()
    return {"lib": "chainrule replayed", "n": n, "trace": traced - start,
            "checked_replay": checked - traced, "replay": sorted(runs)[len(runs) // 2],
            "runs": runs, "plan_bytes": plan_bytes(plan), "plan_rss": plan_rss,
            "rss_delta": rss, "rss_peak_reset": reset, "plan_steps": len(plan),
            "grad_error": abs(g - FACTOR ** n) / FACTOR ** n}


def run_child(lib: str, n: int, num_threads: int, repeats: int, traced: bool) -> dict[str, Any]:
    """Build, backpropagate and free the chain; times, memory and the gradient's error."""
    if lib == "chainrule":
        forward, backward = _chainrule_parts(n)
    else:
        forward, backward = _torch_parts(n, num_threads)
    reset = _reset_maxrss()
    before = _maxrss()
    runs = []
    for i in range(max(1, repeats)):
        times, g = _timed(forward, backward)
        if i == 0:
            rss = _maxrss() - before
        runs.append(times)
    out = {"lib": lib, "n": n, "runs": runs, "rss_delta": rss, "rss_peak_reset": reset,
           "grad_error": abs(g - FACTOR ** n) / FACTOR ** n}
    for key in ("forward", "backward", "free"):
        out[key] = sorted(r[key] for r in runs)[len(runs) // 2]
    if traced and lib == "chainrule":
        import tracemalloc

        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        y = forward()
        out["traced_held"] = tracemalloc.get_traced_memory()[0] - base
        backward(y)
        del y
        out["traced_peak"] = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
    return out


def main(argv: list[str] | None = None) -> None:
    """The child process: parse, pin threads, run, print ``RESULT {json}``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.deep_graph",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--lib", choices=("chainrule", "torch", "replayed"),
                        default="chainrule", help="replayed: chainrule under cr.compile")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=threads.pinned() or 1)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--no-tracemalloc", dest="traced", action="store_false")
    args = parser.parse_args(argv)
    threads.pin(args.threads)
    result = (run_replayed(args.n, args.repeats) if args.lib == "replayed" else
              run_child(args.lib, args.n, args.threads, args.repeats, args.traced))
    print("RESULT " + json.dumps(result), flush=True)


# ------------------------------------------------------------------------------ the parent
def _spawn(lib: str, n: int, settings: Settings, timeout: float = 1800) -> dict[str, Any]:
    repeats = settings.deep_repeats if n < 1_000_000 else 1
    cmd = [sys.executable, "-m", "benchmarks.deep_graph", "--lib", lib, "--n", str(n),
           "--threads", str(settings.threads), "--repeats", str(repeats)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"lib": lib, "n": n, "failed": f"timed out after {timeout:.0f} s"}
    wall = time.perf_counter() - start
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("RESULT "):
            return {**json.loads(line[7:]), "wall": wall}
    tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return {"lib": lib, "n": n, "failed": f"exit status {done.returncode}: {tail}"}


def _per_op(result: dict[str, Any] | None, key: str) -> float | None:
    if result is None:
        return None
    if "failed" in result:
        return math.inf
    if key == "time":
        return (result["forward"] + result["backward"]) / result["n"]
    if key == "replay":
        return result["replay"] / result["n"]
    return result[key] / result["n"] if key in result else None


def _size(n: int) -> str:
    k = math.log10(n)
    return f"10^{k:.0f}" if k == int(k) else str(n)


def deep_graph(settings: Settings, sizes: tuple[int, ...] | None = None,
               torch_available: bool = False) -> Result:
    """One fresh process per size and library; time and memory per operator."""
    sizes = settings.deep_sizes if sizes is None else sizes
    result = Result()
    table = [["chain", "library", "forward", "backward", "free graph", "held after fwd",
              "traced peak", "RSS delta", "wall"]]
    replays = [["chain", "trace (1st call)", "checked replay", "replay", "plan held",
                "RSS after 2 calls", "RSS delta", "wall"]]
    for n in sizes:
        found: dict[str, dict[str, Any]] = {}
        libs = ["chainrule", "replayed"]
        if torch_available and settings.torch and (n < 1_000_000 or settings.torch_1e6):
            libs.append("torch")
        for lib in libs:
            print(f"  deep graph: {lib}, {_size(n)} operators (fresh process)", file=sys.stderr)
            found[lib] = r = _spawn(lib, n, settings)
            if "failed" in r:
                table.append([_size(n), lib, "failed: " + r["failed"]] + [""] * 6)
            elif lib == "replayed":
                replays.append([_size(n)] + [format_value(r[k] / n, "s/op") for k in
                                             ("trace", "checked_replay", "replay")]
                               + [format_value(r[k] / n, "B/op")
                                  for k in ("plan_bytes", "plan_rss", "rss_delta")]
                               + [format_value(r["wall"], "s")])
            else:
                table.append([_size(n), lib] + [format_value(r[k] / n, "s/op")
                                                for k in ("forward", "backward", "free")]
                             + [format_value(r[k] / n, "B/op") if k in r else "-"
                                for k in ("traced_held", "traced_peak", "rss_delta")]
                             + [format_value(r["wall"], "s")])
        cr_run, torch_run, replayed = found["chainrule"], found.get("torch"), found["replayed"]
        big = n >= 1_000_000
        label = f"deep chain {_size(n)} x mul"
        result.rows += [
            Row(f"{label}  fwd+bwd time", "s/op", _per_op(cr_run, "time"), None,
                _per_op(torch_run, "time"), Target("max", 3e-6, "10.2 us") if big else None),
            Row(f"{label}  traced peak", "B/op", _per_op(cr_run, "traced_peak"), None, None,
                Target("max", 400) if big else None),
            Row(f"{label}  RSS delta", "B/op", _per_op(cr_run, "rss_delta"), None,
                _per_op(torch_run, "rss_delta"), Target("max", 400, "~920 B") if big else None),
            Row(f"{label}  replayed fwd+bwd time", "s/op", _per_op(replayed, "replay"), None,
                _per_op(torch_run, "time"), Target("max", 3e-6, "10.2 us") if big else None,
                note="cr.compile: traced once, then replayed (trace cost in the table below)"),
            Row(f"{label}  replayed: plan held", "B/op", _per_op(replayed, "plan_bytes"), None,
                None, Target("max", 400) if big else None,
                note="the Python objects the plan keeps between calls"),
            Row(f"{label}  replayed: RSS delta", "B/op", _per_op(replayed, "rss_delta"), None,
                None, Target("max", 400) if big else None)]
        result.details[str(n)] = found
    result.sections.append(
        "Deep graph: y = y * c on one float64 element, per operator, one fresh process each "
        "(time: median of runs; traced: tracemalloc, chainrule only; RSS delta: peak RSS "
        "(VmHWM, reset via /proc/self/clear_refs) in the first run minus the RSS before it)\n"
        + align(table, right=tuple(range(2, 9))))
    result.sections.append(
        "Deep graph replayed: the chain and its gradient under cr.compile (trace: the eager "
        "run with the tape, and building the plan; checked replay: the replay beside eager, "
        "compared bit for bit; replay: median of runs; plan held: sys.getsizeof of the plan's "
        "objects; RSS after 2 calls: growth over the trace and the checked replay, allocator "
        "slack included; RSS delta: the peak of a replay above the RSS before it)\n"
        + align(replays, right=tuple(range(1, 8))))
    return result


if __name__ == "__main__":
    main()
