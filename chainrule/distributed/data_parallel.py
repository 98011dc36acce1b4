"""Data-parallel training: every rank holds the whole model and a part of each batch.

How N ranks train as one process does
-------------------------------------
1. **Same start.**  :class:`DataParallel` broadcasts rank 0's parameters to every rank when it
   is made, so the ranks need not have drawn the same initial values.
2. **Own part of each batch.**  :func:`shard_loader` gives each rank its contiguous part of
   every global batch of ``batch_size`` examples (parts differ by at most one, and can be
   empty when a last batch has fewer examples than there are ranks).
3. **Averaged gradients.**  After ``backward()`` on its part, each rank calls
   :meth:`DataParallel.sync_gradients` with ``count=len(y)``.  The mean loss of a part of
   ``n_r`` examples has gradient ``g_r``; the mean over the whole batch of ``N = sum n_r``
   examples has gradient ``sum_r n_r g_r / N``.  So each rank scales its gradients by
   ``n_r``, the ranks sum them, and divide by ``N``.  The sum is done by in-place
   ``MPI_Allreduce`` calls on a few flat *buckets* (each gradient copied into a preallocated
   float buffer of up to ``bucket_bytes``), not one call per parameter; ``n_r`` itself rides
   in the first bucket, so no extra call is needed to learn ``N``.  A rank with an empty part
   skips forward and backward and contributes zeros.
4. **Same update.**  Every rank then holds the same bits in every gradient, so the same
   optimizer step keeps the parameters bit-identical; :meth:`DataParallel.check_identical`
   proves it when asked.

Run it with ``mpiexec -n 4 python train.py``; the loop is the single-process one plus a line:

    dp = DataParallel(model)                      # rank 0's parameters everywhere
    loader = shard_loader(dataset, 256, dp.comm, seed=0)
    for x, y in loader:
        optimizer.zero_grad()
        if len(y):
            model.objective(x, y).backward()
        dp.sync_gradients(count=len(y))           # the only new line
        optimizer.step()
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .. import backend
from ..data import DataLoader
from ..errors import DTypeError, ShapeError
from ..core.modes import no_grad
from ..core.tensor import Tensor
from .comm import Comm

__all__ = ["DataParallel", "shard_loader", "DEFAULT_BUCKET_BYTES"]

DEFAULT_BUCKET_BYTES = 4 * 2**20      # the chapter's network (0.8 MB in float32) is one bucket


@dataclasses.dataclass
class _Bucket:
    """One flat buffer and where each parameter's values sit in it (``start``, ``stop``)."""

    buffer: np.ndarray
    slots: list[tuple[int, int, int]]          # (parameter index, start, stop)
    tail: int = 0                              # where the count and presence flags start


def _plan(params: list[Tensor], bucket_bytes: int) -> list[_Bucket]:
    """Group parameters, in order and by dtype, into buckets of at most ``bucket_bytes``.

    A parameter larger than ``bucket_bytes`` gets a bucket of its own.  The first bucket of
    the widest dtype also holds, after the gradients, one slot for the example count and one
    presence flag per parameter (see :meth:`DataParallel.sync_gradients`).
    """
    groups: list[tuple[np.dtype, list[tuple[int, int, int]], int]] = []
    open_group: dict[np.dtype, int] = {}
    for index, p in enumerate(params):
        dtype, size = np.dtype(p.dtype), int(p.size)
        at = open_group.get(dtype)
        if at is not None and (groups[at][2] + size) * dtype.itemsize <= bucket_bytes:
            _, slots, used = groups[at]
            slots.append((index, used, used + size))
            groups[at] = (dtype, slots, used + size)
        else:
            open_group[dtype] = len(groups)
            groups.append((dtype, [(index, 0, size)], size))
    widest = max(range(len(groups)), key=lambda g: (groups[g][0].itemsize, -g))
    buckets = []
    for g, (dtype, slots, used) in enumerate(groups):
        extra = 1 + len(params) if g == widest else 0
        buckets.append(_Bucket(np.zeros(used + extra, dtype), slots, used if extra else 0))
    buckets.insert(0, buckets.pop(widest))          # the bucket with the count goes first
    return buckets


class DataParallel:
    """Keep ``model``'s parameters identical on every rank and average their gradients.

    ``comm`` is a :class:`~chainrule.distributed.comm.Comm` (default: MPI_COMM_WORLD).  At
    construction rank 0's parameters are broadcast to all ranks.  ``bucket_bytes`` bounds the
    flat buffers that gradients are packed into for ``MPI_Allreduce`` (``len(dp.buckets)``
    calls a step).  ``dp(x)`` calls the model; ``dp.module`` is the model itself.  The
    counters ``steps``, ``allreduce_calls``, ``allreduce_bytes`` and ``allreduce_seconds``
    measure the communication of :meth:`sync_gradients`.
    """

    def __init__(self, model: Any, comm: Comm | None = None,
                 bucket_bytes: int = DEFAULT_BUCKET_BYTES) -> None:
        params = list(model.parameters())
        if not params:
            raise ShapeError(f"DataParallel: {type(model).__name__} has no parameters to "
                             "keep in step")
        bad = [i for i, p in enumerate(params) if p.dtype.kind != "f"]
        if bad:
            raise DTypeError(f"DataParallel: parameter(s) {bad} are not floating point; "
                             "gradients are averaged in float buffers")
        if isinstance(bucket_bytes, bool) or not isinstance(bucket_bytes, int) \
                or bucket_bytes < 1:
            raise ShapeError(f"DataParallel: bucket_bytes={bucket_bytes!r} must be a positive "
                             "integer (bytes per allreduce buffer)")
        self.module = model
        self.comm = comm if comm is not None else Comm()
        self.params = params
        self.bucket_bytes = bucket_bytes
        self.buckets = _plan(params, bucket_bytes)
        self.steps = 0
        self.allreduce_calls = 0
        self.allreduce_bytes = 0
        self.allreduce_seconds = 0.0
        self.broadcast_parameters()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)

    def __repr__(self) -> str:
        return (f"DataParallel({type(self.module).__name__}, rank={self.comm.rank}, "
                f"size={self.comm.size}, buckets={len(self.buckets)})")

    def _each_slot(self):
        for bucket in self.buckets:
            for index, start, stop in bucket.slots:
                yield bucket, self.params[index], index, start, stop

    def broadcast_parameters(self, root: int = 0) -> None:
        """Overwrite every rank's parameters with ``root``'s (one ``MPI_Bcast`` per bucket)."""
        if self.comm.rank == root:
            for bucket, p, _, start, stop in self._each_slot():
                bucket.buffer[start:stop] = backend.to_numpy(p.data).reshape(-1)
        for bucket in self.buckets:
            self.comm.broadcast_(bucket.buffer, root=root)
        if self.comm.rank != root:
            with no_grad():
                for bucket, p, _, start, stop in self._each_slot():
                    view = bucket.buffer[start:stop].reshape(p.shape)
                    p.copy_(backend.xp.asarray(view))

    def sync_gradients(self, count: int | None = None) -> None:
        """Replace each parameter's ``grad`` by its average over the ranks, the same bits on
        every rank.

        With ``count`` (the number of examples this rank's loss averaged over, possibly 0),
        the average is weighted by examples: ``sum_r count_r g_r / sum_r count_r``, which is
        the gradient one process would get from the whole batch's mean loss.  Without it every
        rank weighs the same: ``sum_r g_r / size``.  A parameter whose ``grad`` is None counts
        as zero; it keeps ``grad = None`` only if it has none on every rank.  Every rank must
        call this once per step, in the same order (it is a collective).
        """
        if count is not None and (isinstance(count, bool) or not isinstance(
                count, (int, np.integer)) or count < 0):
            raise ShapeError(f"DataParallel.sync_gradients: count={count!r} must be the number "
                             "of examples in this rank's part of the batch (an int >= 0)")
        weight = 1 if count is None else int(count)
        first = self.buckets[0]
        first.buffer[first.tail:] = 0
        first.buffer[first.tail] = weight
        for bucket, p, index, start, stop in self._each_slot():
            part = bucket.buffer[start:stop]
            if p.grad is None:
                part[...] = 0
                continue
            part[...] = backend.to_numpy(p.grad.data).reshape(-1)
            if weight != 1:
                part *= weight
            first.buffer[first.tail + 1 + index] = 1
        before = (self.comm.allreduce_calls, self.comm.allreduce_bytes,
                  self.comm.allreduce_seconds)
        for bucket in self.buckets:
            self.comm.allreduce_(bucket.buffer)
        self.allreduce_calls += self.comm.allreduce_calls - before[0]
        self.allreduce_bytes += self.comm.allreduce_bytes - before[1]
        self.allreduce_seconds += self.comm.allreduce_seconds - before[2]
        self.steps += 1
        total = first.buffer[first.tail]
        if total == 0:
            raise ShapeError("DataParallel.sync_gradients: every rank passed count=0; a step "
                             "needs at least one example")
        flags = first.buffer[first.tail + 1:]
        for bucket, p, index, start, stop in self._each_slot():
            if flags[index] == 0:
                p.grad = None
                continue
            mean = bucket.buffer[start:stop].reshape(p.shape) / total
            p.grad = Tensor(backend.xp.asarray(mean.astype(p.dtype, copy=False)))

    def check_identical(self) -> str:
        """Check that the parameters are bit-identical on every rank; return their sha256.

        A collective: raises :class:`~chainrule.distributed.comm.DistributedError` on every
        rank if any rank differs from rank 0.
        """
        return self.comm.check_identical(backend.to_numpy(p.data) for p in self.params)

    def stats(self) -> dict[str, float]:
        """Communication so far: steps, allreduce calls and bytes per step, seconds per step."""
        steps = max(self.steps, 1)
        return {"steps": self.steps, "buckets": len(self.buckets),
                "allreduce_calls_per_step": self.allreduce_calls / steps,
                "allreduce_bytes_per_step": self.allreduce_bytes / steps,
                "allreduce_seconds_per_step": self.allreduce_seconds / steps}


def shard_loader(dataset: Any, batch_size: int, comm: Comm | None = None, *,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> DataLoader:
    """A :class:`~chainrule.data.DataLoader` yielding this rank's part of each global batch.

    ``batch_size`` is the *global* batch; every rank must pass the same ``seed`` (the order of
    each epoch is drawn from it, identically everywhere).  Weight each part's mean loss by its
    size, as :meth:`DataParallel.sync_gradients` does with ``count=len(y)``.
    """
    comm = comm if comm is not None else Comm()
    return DataLoader(dataset, batch_size, shuffle=shuffle, drop_last=drop_last, seed=seed,
                      rank=comm.rank, world_size=comm.size)
