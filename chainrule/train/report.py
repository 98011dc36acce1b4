"""What ``chainrule train`` reports beside the loss: memory, communication, time, and the files.

Every run (one process, data-parallel or pipelined) writes the same keys into ``metrics.json``,
so runs of the three kinds compare line by line (``chainrule partition --compare`` reads them):

- ``peak_memory_per_rank``: bytes, one number per rank: what the rank holds for good (its
  parameters and, data-parallel, its allreduce buffers) plus the batch it reads (a pipeline
  stage: ``x`` on the first, the labels on the last) plus :mod:`tracemalloc`'s peak over
  :data:`MEMORY_STEPS` training steps of this invocation after the first (activations, saved
  values, gradients, the optimizer's update and the messages received).  The first step is
  left out because it also allocates what is made once per process (about 40 KB of caches);
  a run of a single step reports it.  tracemalloc,
  not the RSS high-water mark, because the RSS counts the whole dataset, the interpreter and
  the MPI library on every rank, which would hide the part that a partition changes.  Only a
  few steps are traced, since tracing slows every allocation down.
- ``bytes_communicated``: ``{"total": ..., "per_rank": [...]}`` over the training steps:
  for data-parallel the bytes each rank hands to ``MPI_Allreduce`` (its buffers' size, once
  per call; the bytes on the wire depend on MPI's algorithm), for the pipeline the bytes of
  the activations and gradients each rank sends, and 0 for one process.  Evaluation and
  checkpoints are not counted.  A resumed run adds to the saved counts, rank by rank; resumed
  as another kind of run or on another number of ranks, it counts from 0 again.
- ``epoch_seconds``: seconds of training steps in each epoch (evaluation excluded);
- ``examples_seen``: training examples used so far, over all epochs (each counted once);
- ``test_accuracy``: after the last epoch.
"""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Any

from .. import creation
from ..storage import atomic_write
from .config import GRAPH, MEMORY, PAGE

__all__ = ["MEMORY_STEPS", "Costs", "summary", "write_json", "draw_curve", "draw_graph",
           "write_page", "write_memory_report"]

MEMORY_STEPS = 3


def write_json(path: Path, value: Any) -> None:
    """Write ``value`` as indented JSON to ``path``, atomically."""
    with atomic_write(path) as handle:
        handle.write(json.dumps(value, indent=2).encode())


def draw_curve(path: Path, history: list[dict], title: str) -> None:
    """Draw loss and accuracy per epoch to the PNG ``path`` (matplotlib, headless)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.plot(epochs, [h["train_loss"] for h in history], "o-", label="train loss L")
    left.plot(epochs, [h["objective"] for h in history], "s--", label="objective J = L + s")
    left.set_xlabel("epoch")
    left.set_ylabel("loss")
    left.legend()
    right.plot(epochs, [h["train_accuracy"] for h in history], "o-", label="train")
    right.plot(epochs, [h["test_accuracy"] for h in history], "s-", label="test")
    right.set_xlabel("epoch")
    right.set_ylabel("accuracy")
    right.legend()
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_write(path) as handle:
        fig.savefig(handle, format="png", dpi=110)
    plt.close(fig)


class Costs:
    """This rank's memory peak and bytes communicated, and their gathering over the ranks.

    ``kind`` names the layout (``"one process"``, ``"data-parallel"``, ``"pipeline"``);
    ``saved`` is the ``costs`` dict of a checkpoint being resumed (or None).
    """

    def __init__(self, comm: Any, kind: str, saved: dict | None = None) -> None:
        self.comm = comm
        self.rank = comm.rank if comm is not None else 0
        self.size = comm.size if comm is not None else 1
        self.kind = kind
        per_rank = saved.get("bytes_per_rank", []) if saved else []
        same = bool(saved) and saved.get("kind") == kind and len(per_rank) == self.size
        self.bytes = int(per_rank[self.rank]) if same else 0
        self.saved_peaks = saved.get("peak_memory_per_rank") if same else None
        self.peak: int | None = None
        self.first_peak: int | None = None
        self.traced = 0

    # ---------------------------------------------------------------- memory
    def begin_step(self) -> bool:
        """Start tracing this step's allocations if it is one of the first few; True if so."""
        if self.traced > MEMORY_STEPS or tracemalloc.is_tracing():
            return False
        tracemalloc.start()
        return True

    def end_step(self, tracing: bool, held_bytes: int) -> None:
        """Stop tracing; keep the largest ``held_bytes + traced peak`` seen."""
        if not tracing:
            return
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        self.traced += 1
        if self.traced == 1:                        # the first: only if no other comes
            self.first_peak = held_bytes + peak
        else:
            self.peak = max(self.peak or 0, held_bytes + peak)

    # ---------------------------------------------------------------- gathering
    def gather(self) -> dict:
        """Every rank's figures (a collective under MPI): the checkpoint's ``costs`` dict."""
        mine = (self.peak if self.peak is not None else self.first_peak, self.bytes)
        every = self.comm.allgather(mine) if self.comm is not None else [mine]
        peaks = [p for p, _ in every]
        if any(p is None for p in peaks):           # nothing trained in this invocation
            peaks = self.saved_peaks or peaks
        return {"kind": self.kind, "peak_memory_per_rank": peaks,
                "bytes_per_rank": [int(b) for _, b in every]}


def summary(costs: dict, history: list[dict], partial_seen: int) -> dict:
    """The cost keys of ``metrics.json`` (see the module docstring) from gathered costs."""
    return {
        "peak_memory_per_rank": costs["peak_memory_per_rank"],
        "bytes_communicated": {"total": sum(costs["bytes_per_rank"]),
                               "per_rank": costs["bytes_per_rank"]},
        "epoch_seconds": [h["seconds"] for h in history],
        "examples_seen": sum(h.get("examples", 0) for h in history) + partial_seen,
        "layout": costs["kind"],
    }


def draw_graph(run) -> str:
    """Draw the model's computational graph on a few examples to ``graph.svg``."""
    from ..viz import draw
    from ..viz.render import RendererNotFound

    x = creation.tensor(run.x_test[:8], name="x")
    y = creation.tensor(run.y_test[:8], name="y")
    J = run.model.objective(x, y)
    try:
        draw(J, run.out / GRAPH)
        return GRAPH
    except RendererNotFound:
        return "graph.dot (no Graphviz renderer to draw graph.svg)"
    finally:
        run.model.clear_intermediates()


def write_page(run) -> str:
    """Write the page that steps through the trained model on one test example to
    ``backprop.html`` (:func:`chainrule.viz.show`; self-contained, opens from file://)."""
    from ..viz.page import page_html, record

    x = creation.tensor(run.x_test[:1], name="x")
    y = creation.tensor(run.y_test[:1], name="y")
    J = run.model.objective(x, y)
    names = {"x": x, "y": y, **dict(run.model.named_parameters()),
             **run.model.intermediates, **run.model.last_objective}
    try:
        data = record(J, names=names, title=f"Backpropagation through the trained "
                                             f"network ({run.dataset})")
    finally:
        run.model.clear_intermediates()
    data["subtitle"] = f"one test example (label {int(run.y_test[0])}), after training"
    with atomic_write(run.out / PAGE) as handle:
        handle.write(page_html(data).encode("utf-8"))
    return PAGE


def write_memory_report(run) -> str:
    """Write the predicted memory of one training step and one prediction to memory.txt."""
    from ..memory.report import predict

    with atomic_write(run.out / MEMORY) as handle:
        handle.write(f"{predict(run.model, run.config.batch_size)}\n".encode())
    return MEMORY
