"""The training program: the chapter's network trained by minibatch SGD, as ``chainrule train``.

Forward and backward passes alternate: each step computes ``J = L + s`` on a minibatch,
backpropagates, and lets SGD update ``W1`` and ``W2``.  The run writes to its output folder:

- ``metrics.json``: the configuration, per-epoch figures and the final ``test_accuracy``;
- ``curve.png``: loss and accuracy per epoch (matplotlib, headless);
- ``graph.svg`` and ``backprop.html``: the model's graph, and the page that steps through its
  forward and backward pass on one test example (:func:`chainrule.viz.show`);
- ``checkpoint.npz``: parameters, optimizer state, data order position, RNG state and the
  partial-epoch sums, after every epoch and on Ctrl-C or SIGTERM.

``--resume`` continues from that checkpoint up to ``--epochs``; the result is bit-identical to a
run that was never interrupted.  The checkpoint fixes ``lr``, ``hidden``, ``batch_size``,
``weight_decay``, ``layers``, ``dtype``, ``seed`` and the dataset: a value given with
``--resume`` that differs from the checkpoint's is refused in one line naming the flag and both
values (a value left at its default takes the checkpoint's).  Every file is written atomically.

A run whose loss becomes NaN or infinite (a learning rate far too large, say) stops at that
step with :class:`~chainrule.train.run.TrainingDiverged`, one line naming the epoch and step
and suggesting a smaller ``--lr``; the checkpoint on disk stays the last good one (none is
written after the divergence, nor one whose parameters are not finite).  Its ``status``, 3, is
the exit status meant for ``chainrule train`` (exit statuses: 0 done, 1 an error, 2 a bad
flag, 3 diverged, 128 + N stopped by signal N).

Under ``mpiexec -n N`` (detected, or ``distributed=True``) the run is data-parallel: the batch
stays the global batch, each rank takes its part of it, gradients are averaged by
:class:`~chainrule.distributed.DataParallel` weighted by the parts' sizes, and the per-step
sums behind the metrics are added over the ranks, so N ranks train as one process does.
Rank 0 alone prints, draws and writes; every rank reads the checkpoint on ``--resume``.
With ``pipeline=True`` the network is cut into one stage per rank instead
(:mod:`chainrule.train.pipeline`); either run's state is in :mod:`chainrule.train.run`.
``layers`` > 1 trains an MLP of that many hidden layers (no biases, the penalty on every
weight) in place of the chapter's network.  What the metrics say about memory, communication
and time is in :mod:`chainrule.train.report`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time

import numpy as np

from ..distributed import DataParallel, world
from ..errors import ChainruleError
from .config import (CHECKPOINT, CURVE, FIXED_BY_CHECKPOINT, GRAPH, MEMORY, METRICS, Config,
                     stop_on_signals)
from .pipeline import PipelineRun
from .run import PAGE, Run, TrainingDiverged, evaluate

__all__ = ["train", "evaluate", "TrainingDiverged"]


def _say(config: Config, text: str) -> None:
    if config.log:
        print(text, flush=True)


def _refuse_conflicts(config: Config, run: Run, given: frozenset) -> None:
    """One line naming every flag whose value differs from the checkpoint's.

    A setting counts as given when it is in ``given`` (the command line named it) or differs
    from :class:`Config`'s default; the others take the checkpoint's value."""
    defaults = {f.name: f.default for f in dataclasses.fields(Config)}
    said = [(flag, getattr(config, name), getattr(run.config, name))
            for name, flag in FIXED_BY_CHECKPOINT.items()
            if (name in given or getattr(config, name) not in (None, defaults[name]))
            and getattr(config, name) != getattr(run.config, name)]
    if config.dataset is not None and config.dataset != run.dataset:
        said.append(("--dataset", config.dataset, run.dataset))
    if said:
        raise ChainruleError(
            "--resume: " + "; ".join(f"{flag} {given} differs from the checkpoint's {saved}"
                                     for flag, given, saved in said)
            + f"; drop {' and '.join(flag for flag, _, _ in said)} to continue the run as it "
            "was saved, or start a new run in another --out")


def _refuse_nonfinite_parameters(run: Run, epoch: int) -> None:
    """Raise :class:`TrainingDiverged` (on every rank) if an update made a parameter NaN or
    infinite, so that no checkpoint of such weights is written."""
    bad = int(not all(np.isfinite(p.data).all()
                      for p in run.optimizer.param_groups[0]["params"]))
    if run.comm is not None:
        bad = int(run.comm.sum([bad])[0])
    if bad:
        raise run.diverged(epoch, float("nan"))


def train(config: Config, given: frozenset = frozenset()) -> dict:
    """Train the chapter's network as ``config`` says; return the metrics written.

    ``given``: the :data:`FIXED_BY_CHECKPOINT` settings the user named (the command line
    passes them), so that ``--resume`` refuses a named value that differs from the
    checkpoint's even when it equals the default."""
    with stop_on_signals() as caught:          # from the start: no Ctrl-C goes unhandled
        comm = world(True if config.pipeline else config.distributed)
        kind = PipelineRun if config.pipeline else Run
        with comm.agree() if comm else contextlib.nullcontext():   # bad input: all ranks fail
            run = kind(config, comm)                # (no MPI calls in there, but agree's own)
            if config.resume:
                _refuse_conflicts(config, run, given)
        if comm is not None and not config.pipeline:    # rank 0's parameters on every rank
            run.parallel = DataParallel(run.model, comm)
        config = run.config
        where = ("its files were found" if config.dataset is None
                 and run.dataset == "fashion-mnist"
                 else "the Fashion-MNIST files were not found (apt-get install "
                      "dataset-fashion-mnist, or --data-dir)" if config.dataset is None
                 else "as asked")
        _say(config, f"chainrule train: {run.dataset} ({where}); output in {run.out}")
        if comm is not None:                    # pids: logs (the OOM killer's) name pids
            pids = " ".join(f"{r}:{pid}" for r, pid in enumerate(comm.allgather(os.getpid())))
            _say(config, f"{run.layout()} (rank:pid {pids})")
        for epoch in range(len(run.history), config.epochs):
            started = time.perf_counter()
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                run.train_epoch(epoch, caught)      # (a diverging loss is caught, not warned)
            _refuse_nonfinite_parameters(run, epoch)    # the last step's update, before saving
            record = run.finish_epoch(epoch)
            record["wall_seconds"] = time.perf_counter() - started
            run.save()
            metrics = run.write_reports()
            _say(config, f"epoch {record['epoch']:>3}/{config.epochs}  train loss "
                         f"{record['train_loss']:.4f}  train acc {record['train_accuracy']:.4f}  "
                         f"test acc {record['test_accuracy']:.4f}  {record['seconds']:.1f} s  "
                         f"{record['examples_per_second']:.0f} examples/s")
            stop = run.stop_signal(caught)
            if stop:
                raise run.interrupted(f"after epoch {epoch + 1}", [stop])
        metrics = run.write_reports()
        drawn = run.draw_graph() if run.root else GRAPH
        if run.root:
            run.write_memory_report()
            run.write_page()
    _say(config, f"test accuracy {metrics['test_accuracy']}; wrote {METRICS}, {CURVE}, "
                 f"{drawn}, {PAGE}, {MEMORY} and {CHECKPOINT} in {run.out}")
    return metrics
