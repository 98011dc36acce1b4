"""One training run's state: model, optimizer, data order, history and its output folder.

:class:`Run` is one process or a data-parallel rank; :class:`chainrule.train.pipeline.
PipelineRun` overrides the hooks that differ.  :func:`chainrule.train.train` drives either
(:mod:`chainrule.train.loop`).  Both modules import this one, and neither imports the other
back.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .. import creation
from ..autodiff import grad
from ..core.modes import no_grad
from ..data import ArrayDataset, DataLoader, load_dataset
from ..distributed import DataParallel
from ..errors import AnomalyError, ChainruleError
from ..optim import SGD, flatten_state_dict, unflatten_state_dict
from ..replay.capture import compile as capture
from ..storage import load_checkpoint, save_checkpoint
from .config import (CHECKPOINT, CURVE, DEFAULT_BATCH, METRICS, PAGE, Config,
                     TrainingInterrupted, build_model, choose_dataset)
from .report import (Costs, draw_curve, draw_graph, summary, write_json, write_memory_report,
                     write_page)

__all__ = ["Run", "TrainingDiverged", "evaluate", "check_writable", "CHECKPOINT_KEYS", "PAGE"]


# what save() writes beside the arrays; a checkpoint with fewer or more is not this program's
CHECKPOINT_KEYS = frozenset({"config", "dataset", "step", "loader", "rng", "history", "partial",
                             "optimizer", "costs"})
# the settings --resume takes from the command line, not from the checkpoint
_FROM_COMMAND_LINE = frozenset({"epochs", "out", "resume", "progress", "log", "distributed",
                                "pipeline", "compile", "micro_batches", "schedule",
                                "checkpoint_every", "device"})


class TrainingDiverged(AnomalyError):
    """The loss became NaN or infinite: the run stopped there, without writing a checkpoint.

    Every rank raises it at the same step (the loss is summed over the ranks first).
    :attr:`status` is the exit status meant for ``chainrule train`` (a diverged run).
    """

    status = 3
    collective = True           # every rank raised it together: rank 0 alone says so


def check_writable(folder: Path) -> None:
    """Make ``folder`` (and its parents) and write a scratch file in it; a
    :class:`ChainruleError` naming ``--out`` when either fails (before any training)."""
    if folder.exists() and not folder.is_dir():
        raise ChainruleError(f"--out {folder}: that is a file, not a folder; pass a folder "
                             "(it is made if missing)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise ChainruleError(f"--out {folder}: cannot write there ({exc.strerror or exc}); "
                             "pass a folder you can write to") from None


def _resumed_config(config: Config, meta: dict, path: Path, out: str) -> Config:
    """The checkpoint's settings, with those the command line decides on top; a
    :class:`ChainruleError` for a checkpoint whose metadata is not what :meth:`Run.save`
    writes."""
    missing, extra = CHECKPOINT_KEYS - set(meta), set(meta) - CHECKPOINT_KEYS
    saved = meta.get("config")
    if not missing and not isinstance(saved, dict):
        missing = {"config"}
    elif not missing:
        fields = {f.name for f in dataclasses.fields(Config)}
        missing = {f"config.{k}" for k in fields - _FROM_COMMAND_LINE - set(saved)}
        extra |= {f"config.{k}" for k in set(saved) - fields}
    if missing or extra:
        said = "; ".join(f"{what} {', '.join(sorted(keys))}" for what, keys
                         in (("missing", missing), ("unexpected", extra)) if keys)
        raise ChainruleError(f"--resume: {path} is not a checkpoint this version of chainrule "
                             f"wrote ({said}); start a new run without --resume")
    saved = {k: v for k, v in saved.items() if k not in _FROM_COMMAND_LINE}
    resumed = Config(**saved, epochs=config.epochs, out=out, resume=True,
                     progress=config.progress, log=config.log,
                     distributed=config.distributed, pipeline=config.pipeline,
                     compile=config.compile, schedule=config.schedule,
                     checkpoint_every=config.checkpoint_every, device=config.device,
                     micro_batches=meta["config"].get("micro_batches"))
    if config.micro_batches is not None:
        resumed.micro_batches = config.micro_batches
    return resumed


def evaluate(model, x: np.ndarray, y: np.ndarray, batch_size: int = 2048) -> float:
    """Accuracy of ``model`` on ``(x, y)``, computed under ``no_grad`` in batches."""
    correct = 0
    dtype, where = model.parameters()[0].dtype, model.parameters()[0].device
    with no_grad():
        for start in range(0, len(x), batch_size):
            batch = creation.tensor(x[start:start + batch_size], dtype=dtype, device=where)
            logits = model(batch).numpy()
            correct += int((logits.argmax(axis=1) == y[start:start + batch_size]).sum())
    return correct / max(len(x), 1)


class Run:
    """The state of one training run: model, optimizer, data order and history.

    One process or data-parallel; :class:`chainrule.train.pipeline.PipelineRun` overrides the
    hooks that differ (``check_layout``, ``layout``, ``_build``, ``_restore_model``,
    ``_state``, ``train_step``, ``evaluate``, ``draw_graph``).
    """

    def __init__(self, config: Config, comm=None):
        self.comm, self.root = comm, comm is None or comm.is_root
        self.out = Path(config.out or time.strftime("runs/%Y%m%d-%H%M%S"))
        meta, arrays = None, None
        if config.resume:
            path = self.out / CHECKPOINT
            if not path.exists():
                raise ChainruleError(
                    f"--resume: no checkpoint at {path}; pass the --out folder of an earlier "
                    "run, or drop --resume to start a new one")
            arrays, meta = load_checkpoint(path)
            config = _resumed_config(config, meta, path, str(self.out))
        if config.compile and config.pipeline:
            raise ChainruleError("compile=True replays whole steps on one rank's network; a "
                                 "pipeline's stages send and receive between operators: "
                                 "pass one of compile and pipeline")
        if not self.root:                               # rank 0 alone prints
            config = dataclasses.replace(config, progress=False, log=False)
        self.config = config
        if self.root:                                   # before the data is even read
            check_writable(self.out)
        self.dataset = meta["dataset"] if meta else choose_dataset(config)
        if config.batch_size is None:
            config.batch_size = DEFAULT_BATCH[self.dataset]
        if config.micro_batches is None and config.pipeline:
            config.micro_batches = 4
        self.kind = ("pipeline" if config.pipeline else
                     "data-parallel" if comm is not None else "one process")
        self.check_layout()
        x_train, y_train, self.x_test, self.y_test = load_dataset(self.dataset, config.data_dir)
        classes = int(max(y_train.max(), self.y_test.max())) + 1
        creation.random.seed(config.seed)
        self.parallel: DataParallel | None = None     # set by train(), after every rank is here
        self._build(x_train.shape[1], classes)
        shard = comm is not None and not config.pipeline    # data-parallel: a part per rank
        self.loader = DataLoader(ArrayDataset(x_train, y_train), config.batch_size, shuffle=True,
                                 seed=config.seed, rank=comm.rank if shard else 0,
                                 world_size=comm.size if shard else 1)
        self.history: list[dict] = []
        self.partial = {"loss": 0.0, "objective": 0.0, "correct": 0, "seen": 0, "seconds": 0.0}
        self.step = 0
        if meta is not None:
            self._restore(arrays, meta)
        self.costs = Costs(comm, self.kind, meta.get("costs") if meta else None)

    def layout(self) -> str:
        """How the ranks share the work, for the log."""
        return (f"data-parallel on {self.comm.size} ranks, global batch "
                f"{self.config.batch_size}")

    def check_layout(self) -> None:
        """Refuse a layout that cannot run (before the dataset is read); the pipeline's."""

    def _build(self, inputs: int, classes: int) -> None:
        """Make the model and its optimizer."""
        self.model = build_model(self.config, inputs, classes).to(self.config.device)
        self.optimizer = SGD(self.model.parameters(), lr=self.config.lr)
        self.compiled = capture(self._gradients) if self.config.compile else None

    def _gradients(self, x, y) -> tuple:
        """``J``, ``L``, the logits ``o`` and ``dJ/dtheta`` for every parameter (the function
        ``--compile`` captures: it changes nothing, so a replay can repeat it)."""
        model = self.model
        J = model.objective(x, y)
        grads = grad(J, self.optimizer.param_groups[0]["params"])
        return (J, model.last_objective["L"], model.intermediates["o"], *grads)

    # ---------------------------------------------------------------- checkpoints
    def _restore_model(self, arrays: dict, meta: dict) -> None:
        """Load the checkpoint's parameters and optimizer state into this run's model."""
        self.model.load_state_dict({k[6:]: v for k, v in arrays.items()
                                    if k.startswith("model.")})
        self.optimizer.load_state_dict(unflatten_state_dict(arrays, meta["optimizer"]))

    def _restore(self, arrays: dict, meta: dict) -> None:
        self._restore_model(arrays, meta)
        self.loader.load_state_dict(meta["loader"])
        creation.random.set_state(meta["rng"])
        self.history = meta["history"]
        self.partial = meta["partial"]
        self.step = meta["step"]

    def _state(self) -> tuple[dict, dict] | None:
        """The whole model's parameters (by name) and optimizer state, on rank 0; None on the
        others.  Every rank calls it (the pipeline gathers its stages here)."""
        if not self.root:
            return None
        return self.model.state_dict(), self.optimizer.state_dict()

    def save(self) -> None:
        """Write the checkpoint (atomically, by rank 0); every rank calls it."""
        state = self._state()
        costs = self.costs.gather()
        if not self.root:
            return
        parameters, optimizer_state = state
        arrays = {f"model.{k}": v for k, v in parameters.items()}
        optimizer_arrays, optimizer_meta = flatten_state_dict(optimizer_state)
        arrays.update(optimizer_arrays)
        meta = {
            "config": dataclasses.asdict(self.config), "dataset": self.dataset,
            "step": self.step, "loader": self.loader.state_dict(),
            "rng": creation.random.get_state(), "history": self.history,
            "partial": self.partial, "optimizer": optimizer_meta, "costs": costs,
        }
        save_checkpoint(self.out / CHECKPOINT, arrays, meta)

    # ---------------------------------------------------------------- training
    def train_epoch(self, epoch: int, caught: list[int]) -> None:
        from tqdm import tqdm

        config, part = self.config, self.partial
        bar = tqdm(total=len(self.loader), initial=self.loader.state_dict()["batch"],
                   desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch", leave=False,
                   # None: tqdm shows the bar on a terminal and stays silent in a log file
                   disable=None if config.progress else True, file=sys.stderr,
                   dynamic_ncols=True, mininterval=0.25)
        with bar:
            for x, y in self.loader:
                started = time.perf_counter()
                tracing = self.costs.begin_step()
                sums = self.train_step(x, y)
                self.costs.end_step(tracing, self.held_bytes() + self.batch_bytes(x, y))
                stop = caught[0] if caught else 0
                if self.comm is not None:               # the whole batch's sums; a stop, agreed
                    *sums, signals, votes = self.comm.sum([*sums, stop, 1 if stop else 0])
                    sums = [float(sums[0]), float(sums[1]), int(sums[2]), int(sums[3])]
                    stop = round(signals / votes) if votes else 0
                part["seconds"] += time.perf_counter() - started
                part["loss"] += sums[0]
                part["objective"] += sums[1]
                part["correct"] += sums[2]
                part["seen"] += sums[3]
                self.step += 1
                if not (math.isfinite(sums[0]) and math.isfinite(sums[1])):   # every rank's
                    raise self.diverged(epoch, sums[0] / max(sums[3], 1))
                bar.update(1)
                bar.set_postfix(loss=f"{part['loss'] / part['seen']:.4f}",
                                acc=f"{part['correct'] / part['seen']:.3f}",
                                ex_s=f"{part['seen'] / max(part['seconds'], 1e-9):.0f}")
                if stop:
                    self.save()
                    raise self.interrupted(f"at epoch {epoch + 1}, step {self.step}", [stop])
                every = config.checkpoint_every
                if every and self.step % every == 0 \
                        and self.loader.state_dict()["batch"] < len(self.loader):
                    self.save()         # mid-epoch (the epoch's end saves after evaluating)

    def train_step(self, x: np.ndarray, y: np.ndarray) -> list:
        """One SGD step on this rank's part of a batch; its sums: loss, objective (each times
        the examples), correct predictions, examples."""
        model, optimizer = self.model, self.optimizer
        model.train()
        optimizer.zero_grad()
        sums = [0.0, 0.0, 0, len(y)]
        where = self.config.device
        if where != "cpu" and len(y):                   # the batch to the model's device
            x = creation.tensor(x, dtype=np.dtype(self.config.dtype), device=where)
            labels = creation.tensor(y, device=where)
        else:
            labels = y
        if len(y) and self.compiled is not None:        # replayed: the same numbers
            J, L, o, *grads = self.compiled(x if where != "cpu" else np.asarray(
                x, dtype=self.config.dtype), labels)
            for p, g in zip(optimizer.param_groups[0]["params"], grads):
                p.grad = g
        elif len(y):                                    # a rank's part can be empty
            J = model.objective(creation.tensor(x, dtype=np.dtype(self.config.dtype)), labels)
            J.backward()
            L, o = model.last_objective["L"], model.intermediates["o"]
        if len(y):
            sums[:3] = (L.item() * len(y), J.item() * len(y),
                        int((o.numpy().argmax(axis=1) == y).sum()))
        if self.parallel is not None:
            before = self.parallel.allreduce_bytes
            self.parallel.sync_gradients(count=len(y))
            self.costs.bytes += self.parallel.allreduce_bytes - before
        optimizer.step()
        model.clear_intermediates()                     # let this step's graph go now
        return sums

    def batch_bytes(self, x: np.ndarray, y: np.ndarray) -> int:
        """Bytes of the batch this rank reads (the loader's arrays, as they come)."""
        return x.nbytes + y.nbytes

    def held_bytes(self) -> int:
        """Bytes this rank holds between steps: parameters (and allreduce buffers)."""
        held = sum(p.data.nbytes for p in self.optimizer.param_groups[0]["params"])
        if self.parallel is not None:
            held += sum(bucket.buffer.nbytes for bucket in self.parallel.buckets)
        return held

    def evaluate(self) -> float:
        """Test accuracy."""
        self.model.eval()
        return evaluate(self.model, self.x_test, self.y_test)

    def stop_signal(self, caught: list[int]) -> int:
        """The signal that stops the run now (0: none); with MPI, agreed by every rank."""
        stop = caught[0] if caught else 0
        if self.comm is not None:
            signals, votes = self.comm.sum([stop, 1 if stop else 0])
            stop = round(signals / votes) if votes else 0
        return stop

    def diverged(self, epoch: int, loss: float) -> TrainingDiverged:
        """The error saying the loss left the finite numbers, that no checkpoint was written
        after it, and to try a smaller learning rate."""
        path = self.out / CHECKPOINT
        kept = (f"the last good checkpoint, {path}, is kept" if path.exists()
                else "no checkpoint was written")
        return TrainingDiverged(
            f"training diverged at epoch {epoch + 1}, step {self.step}: the loss is {loss}; "
            f"{kept}; try a smaller --lr than {self.config.lr:g}, e.g. {self.config.lr / 10:g}")

    def interrupted(self, when: str, caught: list[int]) -> TrainingInterrupted:
        """The error saying the run stopped, where its checkpoint is, and how to go on."""
        flags = (f" --pipeline --micro-batches {self.config.micro_batches} --schedule "
                 f"{self.config.schedule}" if self.config.pipeline else "")
        return TrainingInterrupted(
            f"interrupted {when}: checkpoint written to {self.out / CHECKPOINT}; continue "
            f"with: chainrule train --resume --out {self.out} --epochs {self.config.epochs}"
            f"{flags}", caught[0])

    def finish_epoch(self, epoch: int) -> dict:
        part = self.partial
        record = {
            "epoch": epoch + 1,
            "train_loss": part["loss"] / part["seen"],
            "objective": part["objective"] / part["seen"],
            "train_accuracy": part["correct"] / part["seen"],
            "test_accuracy": self.evaluate(),
            "examples": part["seen"],
            "seconds": part["seconds"],
            "examples_per_second": part["seen"] / max(part["seconds"], 1e-9),
        }
        self.history.append(record)
        self.partial = {"loss": 0.0, "objective": 0.0, "correct": 0, "seen": 0, "seconds": 0.0}
        return record

    def draw_graph(self) -> str:
        """Draw the model's graph on a few examples to ``graph.svg`` (:mod:`.report`)."""
        return draw_graph(self)

    def write_page(self) -> str:
        """Write ``backprop.html``, the page that steps through the trained model."""
        return write_page(self)

    def write_memory_report(self) -> str:
        """Write the predicted memory of a training step and a prediction to memory.txt."""
        return write_memory_report(self)

    def write_reports(self) -> dict:
        """The metrics so far; rank 0 writes them (and the curve).  Every rank calls it."""
        last = self.history[-1] if self.history else {}
        metrics = {
            "dataset": self.dataset, "config": dataclasses.asdict(self.config),
            "epochs": self.history, "test_accuracy": last.get("test_accuracy"),
            "seconds_per_epoch": (float(np.mean([h["wall_seconds"] for h in self.history]))
                                  if self.history else None),
            **summary(self.costs.gather(), self.history, self.partial["seen"]),
        }
        if not self.root:
            return metrics
        write_json(self.out / METRICS, metrics)
        if self.history:
            c = self.config
            net = (f"LeNet ({c.model})" if c.model != "mlp"
                   else f"chapter MLP, hidden {c.hidden}" if c.layers == 1
                   else f"MLP of {c.layers} hidden layers of {c.hidden}")
            draw_curve(self.out / CURVE, self.history,
                       f"{net} on {self.dataset}: lr {c.lr}, batch {c.batch_size} "
                       f"({self.kind})")
        return metrics
