"""Pipelined ``chainrule train``: the network cut into one stage per rank (the chapter's ex. 5).

``mpiexec -n k chainrule train --pipeline --micro-batches m --layers K`` trains the network on
k ranks, one stage each, with :class:`~chainrule.distributed.Pipeline` (``--schedule 1f1b``,
the default, or ``gpipe``):

- **The same steps as one process.**  Every rank builds the whole network from the same seed
  (so the initial values are one process's), cuts it into stages of about equal parameters
  (:func:`~chainrule.distributed.balanced_bounds`) and lets go of the other stages'
  parameters before training.  Every rank reads the whole batch of the same seeded order;
  the first stage uses ``x``, the last ``y``.  The chapter's penalty ``s`` is a sum over
  weights, so each stage adds ``lambda/2 |W|^2`` of its own weights and no message is needed
  for it.  Each rank's SGD updates its own stage.
- **Metrics.**  The last stage has the loss and the logits; each rank has its share of ``s``;
  the per-step sums are added over the ranks (one small allreduce), so every rank holds the
  metrics and rank 0 prints and writes them, as in data-parallel runs.
- **Evaluation runs through the pipeline** (:meth:`~chainrule.distributed.Pipeline.predict`,
  forward only, no graph kept), not on rank 0 after gathering: a network is pipelined
  because it does not fit one process, so no rank should need all of it to evaluate it, and
  the test set is sent as activations, a few MB per epoch.
- **Checkpoints.**  Every rank's stage (parameters named as the whole network names them,
  optimizer state numbered as the whole network's optimizer numbers it) is gathered to rank 0,
  which writes one atomic ``checkpoint.npz`` with the keys one process writes.  So a pipelined
  checkpoint resumes pipelined (``--resume --pipeline``), on one process, or data-parallel, with
  the same ``--layers``.  Only writing it needs the whole network on one rank, briefly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend
from ..distributed import Pipeline
from ..errors import ShapeError
from ..models import ChapterMLP
from ..nn.layers import as_tensor
from ..nn.layers import activation as make_activation
from ..nn.module import Module, Sequential
from ..optim import SGD, unflatten_state_dict
from ..storage import load_checkpoint
from ..core.tensor import Tensor
from .config import CHECKPOINT, build_model
from .run import Run

__all__ = ["PipelineRun", "as_layers"]


class _MatMul(Module):
    """``x @ weight.T`` with a given ``weight`` (shared, not copied): one of the chapter
    network's weight matrices as a layer of a Sequential."""

    def __init__(self, weight: Tensor) -> None:
        super().__init__()
        self.weight = weight

    def forward(self, x: Any) -> Tensor:
        """Return ``x @ weight.T``."""
        return as_tensor(x, self.weight.dtype) @ self.weight.T

    def extra_repr(self) -> str:
        return f"{self.weight.name}: {tuple(self.weight.shape)}"


def as_layers(model: Any) -> Sequential:
    """``model`` as a Sequential that shares its parameters: an MLP's own ``layers``, or for
    the chapter's network ``W1 @``, phi, ``W2 @`` (ShapeError for a ChapterMLP with a bias)."""
    if isinstance(model, ChapterMLP):
        if model.b1 is not None:
            raise ShapeError("as_layers: a ChapterMLP with bias=True has no Sequential form "
                             "here; pipeline an MLP(widths, bias=True) instead")
        return Sequential(_MatMul(model.W1), make_activation(model.activation),
                          _MatMul(model.W2))
    return model.layers


class PipelineRun(Run):
    """A training run whose network is cut into one stage per rank (see the module doc)."""

    def __init__(self, config, comm) -> None:
        super().__init__(config, comm)
        self.model = None          # the other stages' parameters go; rank 0 rebuilds it to draw

    def check_layout(self) -> None:
        """One stage per rank needs at least as many weight matrices as ranks."""
        config, size = self.config, self.comm.size
        weights = config.layers + 1
        if size > weights:
            raise ShapeError(
                f"--pipeline on {size} ranks: the network has {weights} weight matrices "
                f"(--layers {config.layers} hidden, then the output layer) and a stage needs "
                f"at least one; pass --layers {size - 1} or more, or start at most {weights} "
                "ranks")

    def layout(self) -> str:
        stages = ", ".join(f"rank {r}: {' '.join(names)}"
                           for r, names in enumerate(self.stage_names))
        return (f"pipeline of {self.comm.size} stages ({stages}), batch "
                f"{self.config.batch_size} in {self.config.micro_batches} micro-batches, "
                f"{self.config.schedule} schedule")

    def _build(self, inputs: int, classes: int) -> None:
        self.classes = classes
        model = build_model(self.config, inputs, classes)
        self.names = [name for name, _ in model.named_parameters()]
        position = {id(p): i for i, p in enumerate(model.parameters())}
        layers = as_layers(model)
        self.pipe = Pipeline(layers, self.comm, micro_batches=self.config.micro_batches,
                             weight_decay=self.config.weight_decay,
                             penalized=model.weight_decay_parameters(),
                             schedule=self.config.schedule)
        self.index = [position[id(p)] for p in self.pipe.parameters()]
        self.stage_names = [[self.names[position[id(p)]] for p in layers[a:b].parameters()]
                            for a, b in self.pipe.bounds]
        self.optimizer = SGD(self.pipe.parameters(), lr=self.config.lr)
        self.model = model          # until __init__ is done: a resume loads the whole of it

    # ---------------------------------------------------------------- checkpoints
    def _restore_model(self, arrays: dict, meta: dict) -> None:
        """Load the whole network's parameters (the stage shares its tensors), then this
        stage's part of the optimizer state."""
        self.model.load_state_dict({k[6:]: v for k, v in arrays.items()
                                    if k.startswith("model.")})
        whole = unflatten_state_dict(arrays, meta["optimizer"])
        options = {k: v for k, v in whole["param_groups"][0].items() if k != "params"}
        self.optimizer.load_state_dict({
            "state": {i: whole["state"][g] for i, g in enumerate(self.index)
                      if g in whole["state"]},
            "param_groups": [{**options, "params": list(range(len(self.index)))}]})

    def _state(self) -> tuple[dict, dict] | None:
        """Gather every stage's parameters and optimizer state to rank 0, named and numbered
        as one process names and numbers them (a collective)."""
        own = self.optimizer.state_dict()
        mine = ({self.names[g]: backend.to_numpy(p.data).copy()
                 for g, p in zip(self.index, self.pipe.parameters())},
                {self.index[i]: entry for i, entry in own["state"].items()})
        every = self.comm.gather(mine)
        if not self.root:
            return None
        parameters: dict[str, np.ndarray] = {}
        state: dict[int, dict] = {}
        for named, entries in every:
            parameters.update(named)
            state.update(entries)
        options = {k: v for k, v in own["param_groups"][0].items() if k != "params"}
        return ({name: parameters[name] for name in self.names},
                {"state": dict(sorted(state.items())),
                 "param_groups": [{**options, "params": list(range(len(self.names)))}]})

    # ---------------------------------------------------------------- training
    def train_step(self, x: np.ndarray, y: np.ndarray) -> list:
        """One pipelined SGD step; this rank's share of the sums (the last stage has the loss
        and the correct predictions, every stage its part of ``s``)."""
        pipe = self.pipe
        pipe.stage.train()
        self.optimizer.zero_grad()
        before = pipe.bytes_sent
        loss = pipe.step(x, y)
        self.costs.bytes += pipe.bytes_sent - before
        self.optimizer.step()
        n = len(y)
        penalty = pipe.penalty * n
        if not pipe.last:
            return [0.0, penalty, 0, 0]
        correct = int((pipe.output.argmax(axis=1) == y).sum())
        return [loss * n, loss * n + penalty, correct, n]

    def batch_bytes(self, x: np.ndarray, y: np.ndarray) -> int:
        """The part of the batch this stage reads: ``x`` on the first (as the loader gives
        it), the labels on the last; the planner counts the same."""
        return (x.nbytes if self.pipe.first else 0) + (y.nbytes if self.pipe.last else 0)

    def evaluate(self) -> float:
        """Test accuracy, computed through the stages; the same number on every rank."""
        self.pipe.stage.eval()
        logits = self.pipe.predict(self.x_test)
        correct = int((logits.argmax(axis=1) == self.y_test).sum()) if self.pipe.last else 0
        return float(self.comm.sum([correct])[0]) / max(len(self.y_test), 1)

    def draw_graph(self) -> str:
        """Rank 0 rebuilds the whole network from the checkpoint to draw it (at the end)."""
        arrays, _ = load_checkpoint(self.out / CHECKPOINT)
        self.model = build_model(self.config, self.x_test.shape[1], self.classes)
        self.model.load_state_dict({k[6:]: v for k, v in arrays.items()
                                    if k.startswith("model.")})
        return super().draw_graph()
