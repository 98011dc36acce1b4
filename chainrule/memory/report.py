"""Where the memory goes: what a graph saves for backward, and the peak of a training step.

:func:`report` reads a recorded graph; :func:`predict` traces a model at batch 2 and 3 and
moves every shape to the batch asked for (each dimension is affine in the batch).  The peaks
come from replaying the engine's own schedule on array sizes (:mod:`chainrule.memory.simulate`
says how), not from running it.  Both peaks are beyond the parameters and inputs that already
exist; ``chainrule memory --measure`` checks them against :mod:`tracemalloc`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import ChainruleError
from ..core.modes import set_grad_enabled
from .plan import _EXTERNAL, Plan, base_buffer, build_plan
from .simulate import (ELIDE_BYTES, FIXED_BYTES, FORWARD_BYTES, NODE_BYTES, overhead,
                       prediction_peak, training_peak)
from ..core.tensor import Tensor

__all__ = ["MemoryReport", "Row", "report", "predict", "model_io", "base_buffer",
           "format_bytes", "NODE_BYTES", "FIXED_BYTES", "FORWARD_BYTES", "ELIDE_BYTES"]


def format_bytes(n: int) -> str:
    """``1536`` as ``"1.5 KiB"``: bytes in binary units."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


# ---------------------------------------------------------------------------- the report
@dataclass
class Row:
    """One recorded node: operator, output name and shape, bytes it saves, and what."""

    op: str
    name: str
    shape: tuple
    saved_bytes: int
    what: str


@dataclass
class MemoryReport:
    """Bytes a graph holds, and the peaks of a training step and a prediction (ints, bytes).

    ``saved_bytes`` counts every distinct array the graph keeps for backward (a view counts
    as the buffer it keeps alive), parameters and inputs included; ``activation_bytes`` is
    the part the forward pass made.  ``training_bytes`` and ``prediction_bytes`` are peaks
    beyond the parameters and inputs; ``overhead_bytes`` is the Python objects' share of the
    first.  ``str(report)`` is the table.
    """

    rows: list
    parameter_bytes: int
    input_bytes: int
    gradient_bytes: int
    saved_bytes: int
    activation_bytes: int
    training_bytes: int
    prediction_bytes: int
    overhead_bytes: int
    batch_size: int | None = None

    def __str__(self) -> str:
        batch = f", batch {self.batch_size}" if self.batch_size is not None else ""
        lines = [f"memory of the graph ({len(self.rows)} operators{batch})",
                 f"  {'operator':<14}{'output':<8}{'shape':<16}{'saved':>11}   what is saved"]
        for r in self.rows:
            saved = format_bytes(r.saved_bytes) if r.saved_bytes else "-"
            lines.append(f"  {r.op:<14}{r.name or '-':<8}{str(r.shape):<16}{saved:>11}   "
                         f"{r.what or '-'}")
        lines.append("")
        for label, n, note in [
                ("parameters", self.parameter_bytes, ""),
                ("inputs", self.input_bytes, ""),
                ("gradients", self.gradient_bytes, "one per parameter"),
                ("saved for backward", self.saved_bytes, "distinct arrays, views by base"),
                ("  made by forward", self.activation_bytes, "activations and residuals"),
                ("training step peak", self.training_bytes,
                 "forward + backward, beyond parameters and inputs"),
                ("prediction peak", self.prediction_bytes, "forward under no_grad")]:
            lines.append(f"  {label:<20}{format_bytes(n):>11}  {n:>13,} B  {note}".rstrip())
        return "\n".join(lines)


def _summary(plan: Plan, batch_size: int | None = None) -> MemoryReport:
    rows, seen = [], set()
    for step in plan.steps:
        own, parts = 0, []
        for label, buf in step.saved:
            tag = {"param": " parameter", "input": " input"}.get(buf.kind, "")
            again = " (counted above)" if id(buf) in seen and not tag else ""
            parts.append(f"{label} {buf.shape}{tag}{again}")
            own += buf.nbytes if id(buf) not in seen else 0
            seen.add(id(buf))
        rows.append(Row(step.op.name, step.name or "", step.shape, own, ", ".join(parts)))
    kinds: dict[str, int] = {}
    for buf in plan.buffers:
        kinds[buf.kind] = kinds.get(buf.kind, 0) + buf.nbytes
    saved = {id(b): b for s in plan.steps for _, b in s.saved}.values()
    return MemoryReport(
        rows, kinds.get("param", 0), kinds.get("input", 0), kinds.get("param", 0),
        sum(b.nbytes for b in saved), sum(b.nbytes for b in saved if b.kind not in _EXTERNAL),
        training_peak(plan), prediction_peak(plan), overhead(plan), batch_size)


def report(tensor: Tensor, held=None) -> MemoryReport:
    """The memory report of the graph that computed ``tensor`` (call it before backward).

    ``held``: the tensors the caller keeps besides ``tensor`` (alive through the step); by
    default every named intermediate, as the chapter's models keep them.  A checkpointed
    region is run once more, recording, to size what its recomputation holds.

    >>> import chainrule as cr
    >>> w = cr.tensor(np.ones((100, 100), np.float32), requires_grad=True, name="w")
    >>> r = report(cr.tanh(w).sum())
    >>> r.parameter_bytes, r.saved_bytes, r.rows[0].op
    (40000, 40000, 'tanh')
    """
    if not isinstance(tensor, Tensor) or tensor._node is None:
        raise ChainruleError("memory.report() needs a tensor computed from inputs that require "
                             "grad, outside no_grad(): it reads the graph that made it")
    return _summary(build_plan(tensor, held))


def model_io(model) -> tuple[int, int, np.dtype]:
    """``(inputs, classes, dtype)`` of a ChapterMLP or MLP (anything with those widths)."""
    if hasattr(model, "widths"):
        inputs, classes = model.widths[0], model.widths[-1]
    elif hasattr(model, "inputs") and hasattr(model, "outputs"):
        inputs, classes = model.inputs, model.outputs
    else:
        raise ChainruleError(
            f"memory: {type(model).__name__} does not say its input and output widths; "
            "predict() takes models with objective(x, y) and .inputs/.outputs or .widths "
            "(ChapterMLP, MLP)")
    return int(inputs), int(classes), model.parameters()[0].dtype


def _trace(model, n: int) -> Plan:
    inputs, _, dtype = model_io(model)
    with set_grad_enabled(True):
        J = model.objective(Tensor(np.zeros((n, inputs), dtype), name="x"),
                            np.zeros(n, np.int64))
    try:
        held = [*model.intermediates.values(), *model.last_objective.values()]
        return build_plan(J, held, model.intermediates.get("o"))
    finally:
        model.clear_intermediates()


def scale_plan(a: Plan, b: Plan, n: int) -> Plan:
    """Plan ``a`` (traced at batch 2) with every shape moved to batch ``n`` (``b``: at 3)."""
    def affine(p: tuple, q: tuple) -> tuple:
        if len(p) != len(q):
            raise ChainruleError(f"memory.predict(): shapes {p} and {q} at batch 2 and 3 "
                                 "differ in rank; the graph must not depend on the batch")
        return tuple(x + (y - x) * (n - 2) for x, y in zip(p, q))

    if len(a.steps) != len(b.steps) or len(a.buffers) != len(b.buffers):
        raise ChainruleError("memory.predict(): the graphs at batch 2 and 3 differ; the "
                             "model's graph must not depend on the batch size")
    bufs = {id(p): replace(p, shape=affine(p.shape, q.shape))
            for p, q in zip(a.buffers, b.buffers)}

    def m(buf):
        return bufs.get(id(buf), buf) if buf is not None else None

    steps = [replace(
        s, shape=affine(s.shape, t.shape), out=m(s.out), ins=[m(x) for x in s.ins],
        in_shapes=[p if p is None else affine(p, q) for p, q in zip(s.in_shapes, t.in_shapes)],
        edges=[e if e is None or isinstance(e, int) else m(e) for e in s.edges],
        saved=[(label, m(buf)) for label, buf in s.saved],
        inner=scale_plan(s.inner, t.inner, n) if s.inner and t.inner else None)
        for s, t in zip(a.steps, b.steps)]
    return Plan(steps, list(bufs.values()), [m(x) for x in a.held], a.root, a.output,
                 [m(x) for x in a.args])


def predict(model, batch_size: int) -> MemoryReport:
    """The memory report of one training step of ``model`` at ``batch_size``, not run at it.

    The objective is traced at batch 2 and 3, each shape moved to ``batch_size`` (every
    dimension is affine in the batch), and the step replayed on those sizes (module doc);
    the prediction is the forward pass up to the logits ``o``.

    >>> from chainrule.models import ChapterMLP
    >>> model = ChapterMLP(784, 256, 10, weight_decay=1e-4, seed=0)
    >>> a, b = predict(model, 1000), predict(model, 2000)
    >>> (b.activation_bytes - a.activation_bytes) // 1000   # per example: h, mask, o, one-hot
    1360
    """
    if (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
            or batch_size < 1):
        raise ChainruleError(f"memory.predict(): batch_size={batch_size!r} must be a "
                             "positive int")
    n = int(batch_size)
    return _summary(scale_plan(_trace(model, 2), _trace(model, 3), n), n)
