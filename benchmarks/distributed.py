"""Training on several MPI ranks: allreduce time, scaling efficiency and the pipeline's bubble.

    python -m benchmarks.distributed              # about 2 minutes on 2 cores
    python -m benchmarks.distributed --quick      # fewer steps and epochs: a look, not figures

Three measurements, each in subprocesses started with the ``mpiexec`` of this environment
(this process never starts MPI itself); results go to ``benchmarks/results/distributed.json``:

1. **Allreduce per step** (data-parallel, the chapter's network, hidden 256, batch 256, 2
   ranks, one BLAS thread each): the seconds :class:`~chainrule.distributed.DataParallel`
   spends in ``MPI_Allreduce`` per training step (waiting for the slower rank included), and
   the same buffer's allreduce alone, in a loop; medians over ranks of per-rank means.
2. **Scaling efficiency**: ``chainrule train`` epoch times (``metrics.json``'s
   ``epoch_seconds``, the fastest epoch) of 2 ranks against 1 process with 1 BLAS thread and
   against 1 process with 2 (on 2 cores, BLAS threads already use both):
   ``efficiency = T(1 process) / (2 * T(2 ranks))``.  Also a pipelined run
   (``--pipeline``, 2 ranks, 4 micro-batches): its epoch time and accuracy beside one process.
3. **Pipeline schedules**: an MLP 784-256-256-256-10 on 2 and 4 stages, batch 256, GPipe
   and 1F1B at 2, 4 and 8 micro-batches: the step time (the slowest rank's median),
   :attr:`~chainrule.distributed.Pipeline.bubble` (the fraction of a step a stage waits,
   median over steps, mean over the stages) beside the ideal ``(k - 1) / (m + k - 1)``, and
   each stage's peak memory (parameters, its part of the batch, and :mod:`tracemalloc`'s
   peak of one warm step with its update) beside the planner's prediction.  4 ranks share
   2 cores here, so their times say little.
4. **Restart**: ``chainrule launch -n 2 --max-restarts 1 -- train --checkpoint-every 20``,
   one rank killed with SIGKILL: seconds from the kill until every rank has ended and the
   restart begins, and until the restarted job is training again.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .harness import ROOT, machine_info, write_json

__all__ = ["main"]

RESULTS = ROOT / "benchmarks" / "results" / "distributed.json"
MICRO_BATCHES = (2, 4, 8)
WIDTHS = [784, 256, 256, 256, 10]


# ------------------------------------------------------------------------------ the workers
def _dataset():
    from chainrule.data import find_fashion_mnist, load_dataset

    name = "fashion-mnist" if find_fashion_mnist() is not None else "digits"
    return name, load_dataset(name)


def _worker_allreduce(out: Path, steps: int) -> None:
    """Data-parallel steps of the chapter's network (plain steps on 1 rank); rank 0 writes
    the per-rank timings."""
    import numpy as np

    from chainrule.data import ArrayDataset, DataLoader
    from chainrule.distributed import Comm, DataParallel
    from chainrule.models import ChapterMLP
    from chainrule.optim import SGD

    comm = Comm()
    name, (x_train, y_train, _, _) = _dataset()
    model = ChapterMLP(x_train.shape[1], 256, 10, weight_decay=1e-4, seed=0)
    optimizer = SGD(model.parameters(), lr=0.1)
    dp = DataParallel(model, comm) if comm.size > 1 else None
    loader = DataLoader(ArrayDataset(x_train, y_train), 256, shuffle=True, seed=0,
                        rank=comm.rank, world_size=comm.size)
    batches = iter(loader)
    times, warmup = [], 10
    for number in range(warmup + steps):
        if number == warmup:
            comm.barrier()
            spent = dp.allreduce_seconds if dp else 0.0
        x, y = next(batches)
        started = time.perf_counter()
        optimizer.zero_grad()
        model.objective(x, y).backward()
        if dp is not None:
            dp.sync_gradients(count=len(y))
        optimizer.step()
        model.clear_intermediates()
        times.append(time.perf_counter() - started)
    in_training = (dp.allreduce_seconds - spent) / steps if dp else 0.0
    buffer = dp.buckets[0].buffer.copy() if dp else np.zeros(0, np.float32)
    alone = [0.0]
    comm.barrier()
    for _ in range(steps if dp else 0):
        started = time.perf_counter()
        comm.allreduce_(buffer)
        alone.append(time.perf_counter() - started)
    every = comm.gather({"step": statistics.median(times[warmup:]), "in_training": in_training,
                         "alone": statistics.median(alone)})
    if comm.is_root:
        out.write_text(json.dumps({"dataset": name, "bytes": int(buffer.nbytes),
                                   "ranks": every}))


def _worker_bubble(out: Path, steps: int) -> None:
    """Pipeline steps of the MLP for each schedule and micro-batch count (k ranks), or plain
    steps (1): step time, bubble, and each stage's peak memory beside the planner's."""
    import gc
    import tracemalloc

    import numpy as np

    from chainrule import functional as F
    from chainrule.distributed import SCHEDULES, Comm, Pipeline
    from chainrule.distributed.planner import stage_cost
    from chainrule.models import MLP
    from chainrule.optim import SGD

    comm = Comm()
    rng = np.random.default_rng(0)
    x = rng.random((256, WIDTHS[0]), dtype=np.float32)
    y = rng.integers(0, WIDTHS[-1], 256)
    model = MLP(WIDTHS, bias=False, seed=0)
    report: dict = {}
    if comm.size == 1:
        optimizer = SGD(model.parameters(), lr=0.01)
        times = []
        for _ in range(10 + steps):
            started = time.perf_counter()
            optimizer.zero_grad()
            F.cross_entropy(model.layers(x), y).backward()
            optimizer.step()
            times.append(time.perf_counter() - started)
        report["one_process_step"] = statistics.median(times[10:])
    for schedule in SCHEDULES if comm.size > 1 else ():
        for m in MICRO_BATCHES:
            pipe = Pipeline(model.layers, comm, micro_batches=m, schedule=schedule)
            optimizer = SGD(pipe.parameters(), lr=0.01)
            bubbles, times, peak = [], [], 0
            comm.barrier()
            for number in range(6 + steps):
                traced = number == 4                   # one step, warm, not timed
                if traced:
                    gc.collect()
                    tracemalloc.start()
                started = time.perf_counter()
                optimizer.zero_grad()
                pipe.step(x, y)
                optimizer.step()
                if traced:
                    peak = tracemalloc.get_traced_memory()[1]
                    tracemalloc.stop()
                elif number >= 6:
                    times.append(time.perf_counter() - started)
                    bubbles.append(pipe.bubble)
            start, stop = pipe.bounds[comm.rank]
            held = sum(p.data.nbytes for p in pipe.parameters())
            held += (x.nbytes if pipe.first else 0) + (y.nbytes if pipe.last else 0)
            planned = stage_cost(model.layers, start, stop, 256, m, schedule=schedule,
                                 stage=comm.rank, stages=comm.size, weight_decay=False,
                                 input_itemsize=4).peak_bytes
            every = comm.gather((statistics.median(bubbles), statistics.median(times),
                                 held + peak, planned))
            if comm.is_root:
                report[f"{schedule} {m}"] = {
                    "bubble_per_rank": [e[0] for e in every],
                    "step": max(e[1] for e in every),
                    "peak_per_rank": [e[2] for e in every],
                    "planned_per_rank": [e[3] for e in every]}
    if comm.is_root:
        out.write_text(json.dumps(report))


def _restart_timing(folder: Path, kill_after: float = 3.0) -> dict:
    """``chainrule launch -n 2 --max-restarts 1`` on Fashion-MNIST (digits if missing) with a
    checkpoint every 20 steps; rank 1 is sent SIGKILL ``kill_after`` seconds into training.
    Times from the kill to the supervisor's restart line (every rank ended) and to the
    restarted job's first line about its ranks (its setup done, training again)."""
    import signal
    import threading

    out = folder / "restart"
    command = [sys.executable, "-m", "chainrule", "launch", "-n", "2", "--max-restarts", "1",
               "--", "train", "--no-progress", "--epochs", "2", "--checkpoint-every", "20",
               "--out", str(out)]
    job = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=_env(1), cwd=ROOT)
    seen: list[tuple[float, str]] = []

    def read(stream) -> None:
        for line in stream:
            seen.append((time.monotonic(), line))

    readers = [threading.Thread(target=read, args=(s,), daemon=True)
               for s in (job.stdout, job.stderr)]
    for reader in readers:
        reader.start()
    while not any("rank:pid" in line for _, line in seen):
        if job.poll() is not None:
            raise RuntimeError("the launched job ended before training")
        time.sleep(0.05)
    line = next(line for _, line in seen if "rank:pid" in line)
    pid = int(line.split("rank:pid ")[1].split()[1].split(":")[1].rstrip(")"))
    time.sleep(kill_after)
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    status = job.wait(timeout=1800)
    for reader in readers:
        reader.join()
    restart = next(t for t, line in seen if "restarting from" in line)
    again = [t for t, line in seen if "rank:pid" in line][1]
    said = next(line for _, line in seen if "restarting from" in line).strip()
    return {"status": status, "line": said, "to_restart_s": restart - killed,
            "to_training_s": again - killed}


# ------------------------------------------------------------------------------ the driver
def _env(threads: int | None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(name, None)
        if threads is not None:
            env[name] = str(threads)
    return env


def _run(ranks: int, args: list[str], threads: int | None = 1) -> None:
    from chainrule.distributed import mpiexec_command

    command = mpiexec_command(ranks, *args)
    done = subprocess.run(command, capture_output=True, text=True, env=_env(threads),
                          cwd=ROOT, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n"
                           f"{done.stdout}{done.stderr}")


def _worker(kind: str, ranks: int, steps: int, folder: Path) -> dict:
    out = folder / f"{kind}-{ranks}.json"
    _run(ranks, ["-m", "benchmarks.distributed", "--worker", kind, "--steps", str(steps),
                 "--out", str(out)])
    return json.loads(out.read_text())


def _train(ranks: int, threads: int, epochs: int, folder: Path, *flags: str) -> dict:
    out = folder / f"train-{ranks}-{threads}{'-'.join(flags)}"
    _run(ranks, ["-m", "chainrule", "train", "--no-progress", "--epochs", str(epochs),
                 "--out", str(out), *flags], threads=threads)
    return json.loads((out / "metrics.json").read_text())


def _summary(metrics: dict) -> dict:
    return {"epoch_seconds": metrics["epoch_seconds"],
            "fastest_epoch": min(metrics["epoch_seconds"]),
            "test_accuracy": metrics["test_accuracy"],
            "bytes_communicated": metrics["bytes_communicated"],
            "peak_memory_per_rank": metrics["peak_memory_per_rank"]}


def measure(steps: int, epochs: int) -> dict:
    """Every figure of the module docstring, as a dict."""
    with tempfile.TemporaryDirectory(prefix="chainrule-bench-") as name:
        folder = Path(name)
        allreduce = _worker("allreduce", 2, steps, folder)
        single = _worker("allreduce", 1, steps, folder)
        plain = _worker("bubble", 1, steps, folder)
        pipelines = {k: _worker("bubble", k, steps, folder) for k in (2, 4)}
        restart = _restart_timing(folder)
        runs = {"1 process, 1 thread": _train(1, 1, epochs, folder),
                "1 process, 2 threads": _train(1, 2, epochs, folder),
                "2 ranks, data-parallel": _train(2, 1, epochs, folder),
                "2 ranks, pipeline (4 micro-batches)": _train(2, 1, epochs, folder,
                                                              "--pipeline")}
    ranks = allreduce["ranks"]
    runs = {label: _summary(metrics) for label, metrics in runs.items()}
    two = runs["2 ranks, data-parallel"]["fastest_epoch"]
    return {
        "dataset": allreduce["dataset"],
        "allreduce": {
            "bytes": allreduce["bytes"],
            "ms_per_step_in_training": statistics.median(r["in_training"] for r in ranks) * 1e3,
            "ms_alone": statistics.median(r["alone"] for r in ranks) * 1e3,
            "step_ms_2_ranks": max(r["step"] for r in ranks) * 1e3,
            "step_ms_1_process": single["ranks"][0]["step"] * 1e3,
        },
        "epochs": runs,
        "scaling_efficiency": {
            "vs_1_thread": runs["1 process, 1 thread"]["fastest_epoch"] / (2 * two),
            "vs_2_threads": runs["1 process, 2 threads"]["fastest_epoch"] / (2 * two),
        },
        "pipeline": {
            "widths": WIDTHS, "batch": 256,
            "one_process_step_ms": plain["one_process_step"] * 1e3,
            **{f"{k} stages, {key}": {
                "bubble": statistics.mean(r["bubble_per_rank"]),
                "bubble_per_rank": r["bubble_per_rank"],
                "ideal_bubble": (k - 1) / (int(key.split()[1]) + k - 1),
                "step_ms": r["step"] * 1e3,
                "peak_per_rank": r["peak_per_rank"],
                "planned_per_rank": r["planned_per_rank"]}
               for k, report in pipelines.items() for key, r in report.items()},
        },
        "restart": restart,
    }


def _print(result: dict) -> None:
    a, e = result["allreduce"], result["scaling_efficiency"]
    print(f"benchmarks.distributed on {result['dataset']}, 2 cores:")
    print(f"  allreduce of the chapter's gradients ({a['bytes'] / 1e6:.2f} MB, one call a "
          f"step), 2 ranks: {a['ms_alone']:.2f} ms alone; {a['ms_per_step_in_training']:.2f}"
          f" ms a step in training")
    print(f"  a step, batch 256: {a['step_ms_1_process']:.2f} ms in 1 process (1 thread), "
          f"{a['step_ms_2_ranks']:.2f} ms on 2 ranks")
    for label, run in result["epochs"].items():
        print(f"  chainrule train, {label:<36} fastest epoch {run['fastest_epoch']:.2f} s, "
              f"test accuracy {run['test_accuracy']:.4f}")
    print(f"  scaling efficiency of 2 ranks: {e['vs_1_thread']:.0%} against 1 process with "
          f"1 thread, {e['vs_2_threads']:.0%} against 1 process with 2 threads")
    p = result["pipeline"]
    print(f"  pipeline, MLP {'-'.join(map(str, p['widths']))}, batch 256 (one process: "
          f"{p['one_process_step_ms']:.1f} ms a step); peak per stage, measured / planned:")
    for label, r in p.items():
        if isinstance(r, dict):
            peaks = " ".join(f"{a / 2**20:.2f}/{b / 2**20:.2f}"
                             for a, b in zip(r["peak_per_rank"], r["planned_per_rank"]))
            print(f"    {label:<22} step {r['step_ms']:6.1f} ms  bubble {r['bubble']:4.0%} "
                  f"(ideal {r['ideal_bubble']:.0%})  MiB {peaks}")
    r = result["restart"]
    print(f"  restart: rank 1 killed; every rank ended and the restart began after "
          f"{r['to_restart_s']:.2f} s, training again after {r['to_training_s']:.2f} s "
          f"(exit {r['status']})")


def main(argv: list[str] | None = None) -> int:
    """Measure and print the figures, and write them to ``benchmarks/results``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.distributed",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and epochs")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (200; quick 40)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs a run (3; quick 1)")
    parser.add_argument("--worker", choices=["allreduce", "bubble"], help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    steps = args.steps or (40 if args.quick else 200)
    if args.worker == "allreduce":
        _worker_allreduce(args.out, steps)
        return 0
    if args.worker == "bubble":
        _worker_bubble(args.out, steps)
        return 0
    result = measure(steps, args.epochs or (1 if args.quick else 3))
    _print(result)
    write_json(RESULTS, {"machine": machine_info(), "quick": args.quick, "steps": steps,
                         **result})
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
