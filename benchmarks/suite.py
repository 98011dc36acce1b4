"""Run the selected workloads, print the table and the detail sections, write the JSON report.

Imported by ``benchmarks/__main__.py`` only after the thread counts are pinned.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from . import ALIASES, WORKLOADS
from . import reference_torch as tref
from .deep_graph import deep_graph
from .harness import BenchmarkCheckError, Result, Settings, format_table, machine_info, write_json
from .memory import memory
from .hvp import second_order
from .workloads import chapter_step, per_operator

__all__ = ["select", "settings_from", "run"]

RUNNERS = {
    "step": lambda s, tm: chapter_step(s, torch_module=tm),
    "perop": lambda s, tm: per_operator(s, torch_module=tm),
    "deep": lambda s, tm: deep_graph(s, torch_available=tm is not None),
    "hvp": lambda s, tm: second_order(s, torch_module=tm),
    "memory": lambda s, tm: memory(s),
}


def select(only: list[str] | None) -> list[str]:
    """The workloads to run, in the suite's order; ``only`` may hold names, aliases, commas."""
    if not only:
        return list(WORKLOADS)
    wanted = set()
    for item in only:
        for name in filter(None, (part.strip() for part in item.split(","))):
            name = ALIASES.get(name.replace("-", "_"), name)
            if name not in WORKLOADS:
                known = ", ".join([*WORKLOADS, *ALIASES])
                raise SystemExit(f"benchmarks: unknown workload {name!r}; choose from {known}")
            wanted.add(name)
    return [name for name in WORKLOADS if name in wanted]


def settings_from(args: argparse.Namespace, torch_module: Any) -> Settings:
    """The measuring settings the command line asks for."""
    changes: dict[str, Any] = {"threads": args.threads, "torch": torch_module is not None,
                               "torch_1e6": args.torch_1e6}
    if args.deep_sizes:
        changes["deep_sizes"] = tuple(int(float(v)) for v in args.deep_sizes.split(","))
    if args.rounds:
        changes["rounds"] = args.rounds
    return Settings.quick(**changes) if args.quick else Settings(**changes)


def _header(info: dict[str, Any], settings: Settings) -> str:
    load = " ".join(f"{v:.2f}" for v in info["load_average"])
    torch = f"PyTorch {info['torch']}" if info["torch"] else "PyTorch not measured"
    dirty = (f" + uncommitted changes (chainrule sources {info['chainrule_source_sha256']})"
             if info["git_dirty"] else "")
    return "\n".join([
        f"chainrule benchmarks, {info['date']}, commit {info['git_commit']}{dirty}",
        f"machine: {info['cpu']}, {info['cores']} cores ({info['cores_usable']} usable), "
        f"{info['memory']}; Python {info['python']}, NumPy {info['numpy']} ({info['blas']}), "
        f"{torch}",
        f"threads: {settings.threads} for every library (OMP/OPENBLAS/MKL/VECLIB/NUMEXPR set "
        f"before NumPy was imported; torch.set_num_threads({settings.threads})); "
        f"load average at start: {load}",
        f"each time: median of {settings.rounds} interleaved rounds (chainrule, NumPy by hand, "
        f"PyTorch, ...), each sample >= {settings.min_sample * 1e3:.0f} ms; ratio = chainrule "
        "/ NumPy by hand, torch ratio = PyTorch / NumPy by hand, both from the same run",
    ])


def run(args: argparse.Namespace) -> int:
    """Run the workloads ``args`` selects; print and save the report; 1 if a check failed."""
    torch_module = tref.load(args.threads) if args.torch else None
    if args.torch and torch_module is None:
        print("benchmarks: PyTorch is not installed; its columns stay empty", file=sys.stderr)
    settings = settings_from(args, torch_module)
    names = select(args.only)
    info = machine_info(torch_module)
    print(_header(info, settings), flush=True)
    results: dict[str, Result] = {}
    errors: dict[str, str] = {}
    seconds: dict[str, float] = {}
    loads: dict[str, tuple[float, float, float]] = {}      # the load average after each
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            results[name] = RUNNERS[name](settings, torch_module)
        except BenchmarkCheckError as error:
            errors[name] = str(error)
        seconds[name] = time.perf_counter() - start
        loads[name] = os.getloadavg()
    load_end = os.getloadavg()
    rows = [row for result in results.values() for row in result.rows]
    print()
    if rows:
        print(format_table(rows))
    notes = [f"  {row.workload}: {row.note}" for row in rows if row.note]
    if notes:
        print("notes:\n" + "\n".join(notes))
    for result in results.values():
        for section in result.sections:
            print("\n" + section)
    print(f"\nload average at end: {' '.join(f'{v:.2f}' for v in load_end)}; 1-minute load "
          "after each workload: " + ", ".join(f"{k} {loads[k][0]:.2f} ({v:.0f} s)"
                                              for k, v in seconds.items()))
    for name, message in errors.items():
        print(f"CHECK FAILED in {name}: {message}")
    report = {
        "machine": info, "load_average_end": load_end,
        "settings": {**vars(settings), "workloads": names},
        "rows": [row.as_json() for row in rows],
        "details": {name: result.details for name, result in results.items()},
        "sections": {name: result.sections for name, result in results.items()},
        "seconds": seconds, "load_after": loads, "errors": errors,
    }
    path = Path(args.json)
    write_json(path, report)
    print(f"written to {path}")
    return 1 if errors else 0
