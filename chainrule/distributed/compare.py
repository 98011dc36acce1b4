"""The measured side of exercise 5: a k-way pipeline against a k-times smaller batch and
against data-parallel training, on this machine.

One run trains an MLP one way and writes what it measured as JSON (rank 0)::

    mpiexec -n k python -m chainrule.distributed.compare --mode pipeline --out a.json ...
    python -m chainrule.distributed.compare --mode single --batch-size B/k --out b.json ...
    mpiexec -n k python -m chainrule.distributed.compare --mode data-parallel --out c.json ...

``chainrule partition --compare`` starts the three (the pipeline twice: GPipe and 1F1B)
and prints the table (:func:`run`).  Each
mode sees the same examples (``--epochs`` passes over the same training set, the same seeded
shuffle) with plain SGD on the mean cross-entropy, and reports:

* ``peak_bytes``: per rank, the :mod:`tracemalloc` peak of the first training steps beyond
  what existed before the model was built (the dataset is not counted, nor the moment a
  pipeline rank held the whole MLP before keeping its stage): parameters,
  gradients, optimizer state, the batch, saved intermediates, buffers sent and received.
  These steps run on a throw-away copy of the model, so the timed run is not slowed by
  tracing and trains from the same start as the others;
* ``epoch_seconds``: the mean wall time of an epoch (rank 0, after a barrier); every rank,
  and the one process, gets ``1/k`` of this machine's cores for BLAS (one device each);
* ``bytes``: bytes handed to MPI per epoch, summed over the ranks (the pipeline's
  point-to-point sends; data-parallel's allreduce buffers; none for one process);
* ``accuracy``: test accuracy of the trained model (the pipeline's stages gathered on rank 0).
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from ..errors import ChainruleError

__all__ = ["MODES", "run", "main"]

MODES = ("pipeline", "single", "data-parallel")
PROBE_STEPS = 2


def _accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    from ..core.modes import no_grad

    correct = 0
    with no_grad():
        for start in range(0, len(y), 2048):
            logits = model(x[start:start + 2048]).numpy()
            correct += int((logits.argmax(axis=1) == y[start:start + 2048]).sum())
    return correct / max(1, len(y))


class _Trainer:
    """One mode's model, optimizer and step, on this rank."""

    def __init__(self, args, comm, inputs: int) -> None:
        from ..models import MLP
        from ..optim import SGD
        from .data_parallel import DataParallel
        from .pipeline import Pipeline

        widths = [inputs] + [args.hidden] * args.layers + [10]
        self.model = MLP(widths, bias=False, dtype=np.dtype(args.dtype), seed=args.seed)
        self.pipe = self.dp = None
        if args.mode == "pipeline":
            self.pipe = Pipeline(self.model.layers, comm, micro_batches=args.micro_batches,
                                 bounds=[tuple(b) for b in json.loads(args.bounds)]
                                 if args.bounds else None, schedule=args.schedule)
            params = self.pipe.parameters()
            self.model = None                    # this rank keeps its stage only
        else:
            if args.mode == "data-parallel":
                self.dp = DataParallel(self.model, comm)
            params = self.model.parameters()
        self.optimizer = SGD(params, lr=args.lr)

    def step(self, x: np.ndarray, y: np.ndarray) -> None:
        self.optimizer.zero_grad()
        if self.pipe is not None:
            self.pipe.step(x, y)
        else:
            if len(y):
                self.model.objective(x, y).backward()
            if self.dp is not None:
                self.dp.sync_gradients(count=len(y))
        self.optimizer.step()

    def sent(self, comm) -> int:
        if self.pipe is not None:
            return self.pipe.bytes_sent
        return comm.allreduce_bytes if self.dp is not None else 0


def _loader(args, train, comm):
    from ..data import DataLoader
    from .data_parallel import shard_loader

    if args.mode == "data-parallel":
        return shard_loader(train, args.batch_size, comm, seed=args.seed)
    return DataLoader(train, args.batch_size, shuffle=True, seed=args.seed)


def _train(args) -> dict | None:
    from ..data import ArrayDataset, load_dataset
    from .comm import Comm, _share_cores

    comm = Comm() if args.mode != "single" else None
    if comm is None and args.threads:            # one device: a rank's share of the cores
        _share_cores(args.threads)
    x_train, y_train, x_test, y_test = load_dataset(args.dataset, args.data_dir)
    if args.examples:
        x_train, y_train = x_train[:args.examples], y_train[:args.examples]
    x_train, x_test = x_train.astype(args.dtype), x_test.astype(args.dtype)
    train = ArrayDataset(x_train, y_train)
    inputs = x_train.shape[1]

    gc.collect()                                 # the probe: peak memory of the first steps
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    probe = _Trainer(args, comm, inputs)         # (a pipeline rank drops the other stages)
    batches = iter(_loader(args, train, comm))
    gc.collect()
    tracemalloc.reset_peak()                     # not the moment the whole MLP was built
    for _ in range(PROBE_STEPS):
        probe.step(*next(batches))
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    del probe, batches
    gc.collect()

    trainer = _Trainer(args, comm, inputs)       # the timed run, from the same start
    if comm is not None:
        comm.allreduce_bytes = 0
    loader, seconds = _loader(args, train, comm), []
    for _ in range(args.epochs):
        if comm is not None:
            comm.barrier()
        started = time.perf_counter()
        for x, y in loader:
            trainer.step(x, y)
        if comm is not None:
            comm.barrier()
        seconds.append(time.perf_counter() - started)
    sent = trainer.sent(comm)
    if trainer.pipe is not None:                 # put the stages together on rank 0
        stages = comm.gather([p.numpy() for p in trainer.pipe.parameters()])
        if not comm.is_root:
            comm.gather(peak)
            comm.gather(sent)
            return None
        from ..models import MLP

        model = MLP([inputs] + [args.hidden] * args.layers + [10], bias=False,
                    dtype=np.dtype(args.dtype), seed=args.seed)
        for p, value in zip(model.parameters(), [v for part in stages for v in part]):
            p.data[...] = value
    else:
        model = trainer.model
    peaks = comm.gather(peak) if comm is not None else [peak]
    sents = comm.gather(sent) if comm is not None else [sent]
    if comm is not None and not comm.is_root:
        return None
    return {"mode": args.mode, "ranks": len(peaks), "batch_size": args.batch_size,
            "schedule": args.schedule if args.mode == "pipeline" else None,
            "examples": len(y_train), "epochs": args.epochs, "peak_bytes": peaks,
            "epoch_seconds": float(np.mean(seconds)),
            "bytes": int(sum(sents) // args.epochs),
            "accuracy": _accuracy(model, x_test, y_test)}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m chainrule.distributed.compare")
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--out", required=True, help="JSON file rank 0 writes")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--micro-batches", type=int, default=4)
    parser.add_argument("--bounds", default=None, help="JSON [[start, stop], ...]")
    parser.add_argument("--schedule", default="1f1b", help="the pipeline's: 1f1b or gpipe")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--examples", type=int, default=0, help="first N training examples")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0,
                        help="single: act as one of this many ranks (its share of the cores)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Train one way and write what was measured (rank 0)."""
    args = _parser().parse_args(argv)
    result = _train(args)
    if result is not None:
        Path(args.out).write_text(json.dumps(result))
    return 0


def run(devices: int, *, layers: int, hidden: int, batch_size: int, micro_batches: int,
        bounds: list, dtype: str = "float32", epochs: int = 1, examples: int = 0,
        dataset: str = "digits", data_dir: str | None = None, lr: float = 0.1,
        seed: int = 0, timeout: float = 3600) -> list[dict]:
    """Run the three modes (the pipeline, GPipe then 1F1B, and data-parallel under
    ``mpiexec -n devices``, one process with batch ``batch_size // devices``) and return
    their results, in that order."""
    from .launch import mpiexec_command

    common = ["--layers", str(layers), "--hidden", str(hidden), "--dtype", dtype,
              "--epochs", str(epochs), "--examples", str(examples), "--dataset", dataset,
              "--lr", str(lr), "--seed", str(seed)] + (["--data-dir", data_dir]
                                                       if data_dir else [])
    small = max(1, batch_size // devices)
    pipelined = ["--micro-batches", str(micro_batches), "--bounds", json.dumps(bounds)]
    runs = [("pipeline", devices, batch_size, [*pipelined, "--schedule", "gpipe"]),
            ("pipeline", devices, batch_size, [*pipelined, "--schedule", "1f1b"]),
            ("single", 1, small, ["--threads", str(devices)]),
            ("data-parallel", devices, batch_size, [])]
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for mode, ranks, batch, extra in runs:
            out = str(Path(folder) / f"{mode}-{len(results)}.json")
            args = ["-m", "chainrule.distributed.compare", "--mode", mode, "--out", out,
                    "--batch-size", str(batch), *common, *extra]
            command = ([sys.executable, *args] if ranks == 1
                       else mpiexec_command(ranks, *args))
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
            if done.returncode != 0 or not Path(out).exists():
                tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
                raise ChainruleError(f"partition --compare: the {mode} run on {ranks} "
                                     f"rank(s) failed with status {done.returncode}: "
                                     + " | ".join(tail))
            results.append(json.loads(Path(out).read_text()))
    return results


if __name__ == "__main__":
    sys.exit(main())
