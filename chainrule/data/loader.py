"""Iterate over a dataset in minibatches, with reproducible, resumable shuffling.

Epochs and shuffling
--------------------
A :class:`DataLoader` keeps an epoch counter, starting at 0.  Each ``for`` loop over the loader
is one pass over the dataset in the order of the current epoch: with ``shuffle=True`` that order
is ``np.random.default_rng([seed, epoch]).permutation(len(dataset))``, otherwise ``0..N-1``.
When a pass runs to the end the counter goes up by one, so consecutive loops see different
orders; a loop left early (``break``) does not advance it.  :meth:`DataLoader.set_epoch` picks
the epoch explicitly.  Because the order depends only on ``(seed, epoch)``, a run restarted from
:meth:`DataLoader.state_dict` sees exactly the batches it would have seen, even mid-epoch.

Data-parallel ranks
-------------------
With ``world_size=W`` the loader still forms global batches of ``batch_size`` examples in the
same order on every rank, and rank ``r`` yields the ``r``-th of ``W`` contiguous parts of each
one.  Part sizes differ by at most one (the first ``batch_size % W`` ranks get the extra
example, like ``np.array_split``), the parts of one global batch partition it, and every rank
yields the same number of batches -- a part can be empty when a final batch has fewer than
``W`` examples, so weight losses by global batch size.  All ranks must use the same ``seed``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from chainrule.data.datasets import Dataset
from chainrule.errors import ShapeError

__all__ = ["DataLoader"]


def _count(value: Any, name: str, minimum: int) -> int:
    """Return ``value`` as an int if it is an integer (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ShapeError(f"DataLoader: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


class _Rows(Dataset):
    """A plain array as a dataset of rows: ``rows[indices]`` is one array, not ``(x, y)``."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def __len__(self) -> int:
        return int(self.array.shape[0])

    def __getitem__(self, index: Any) -> np.ndarray:  # type: ignore[override]
        return self.array[index]


def _as_dataset(dataset: Any) -> Any:
    """``dataset`` itself, or a plain array (or Tensor) wrapped as a dataset of its rows."""
    if isinstance(dataset, Dataset):
        return dataset
    arraylike = isinstance(dataset, np.ndarray) or hasattr(dataset, "__array__")
    sized = hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")
    if isinstance(dataset, (list, tuple, str, bytes)) or not (arraylike or sized):
        raise ShapeError(
            f"DataLoader: dataset must be a Dataset or one array, got "
            f"{type(dataset).__name__}; wrap inputs and targets as ArrayDataset(x, y) (from "
            "chainrule.data) to get (x, y) batches")
    if not arraylike:
        return dataset                      # a dataset of the user's own, duck-typed
    array = np.asarray(dataset)
    if array.ndim == 0 or array.dtype.kind not in "biufc":
        raise ShapeError(
            f"DataLoader: a plain array dataset needs at least one dimension of numbers, got "
            f"shape {array.shape} of {array.dtype}; wrap inputs and targets as "
            "ArrayDataset(x, y) (from chainrule.data)")
    return _Rows(array)


class DataLoader:
    """Yield ``(x_batch, y_batch)`` NumPy arrays from ``dataset``, ``batch_size`` at a time.

    ``dataset`` is a :class:`~chainrule.data.datasets.Dataset` (such as ``ArrayDataset(x,
    y)``), whose batches are whatever its ``dataset[indices]`` returns, or -- as PyTorch's
    ``DataLoader`` over a tensor -- one plain array (or Tensor), whose batches are single
    arrays of rows ``array[indices]``, not pairs.  A list, a tuple or a non-array raise
    :class:`~chainrule.errors.ShapeError` saying to wrap the arrays in ``ArrayDataset(x, y)``.

    ``shuffle`` draws each epoch's order from ``(seed, epoch)`` (a fresh random seed is drawn
    once if ``seed`` is None; it is kept in :meth:`state_dict`).  ``drop_last`` skips a final
    batch smaller than ``batch_size``.  ``rank`` and ``world_size`` select this process's part
    of every global batch (see the module docstring).  Bad arguments raise
    :class:`~chainrule.errors.ShapeError`.  Each batch is gathered with one ``dataset[indices]``
    call, a single fancy-indexing operation for an
    :class:`~chainrule.data.datasets.ArrayDataset`.
    """

    def __init__(
        self,
        dataset: Dataset | np.ndarray,
        batch_size: int,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int | None = None,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        """Check the arguments and start at epoch 0."""
        self.dataset = _as_dataset(dataset)
        self.batch_size = _count(batch_size, "batch_size", 1)
        self.world_size = _count(world_size, "world_size", 1)
        self.rank = _count(rank, "rank", 0)
        if self.rank >= self.world_size:
            raise ShapeError(f"DataLoader: rank must be in 0..{self.world_size - 1} for "
                             f"world_size={self.world_size}, got {rank}")
        if shuffle and seed is None and self.world_size > 1:
            raise ShapeError("DataLoader: shuffle with world_size > 1 needs an explicit seed, "
                             "the same on every rank, or the ranks' parts would overlap")
        if seed is not None:
            seed = _count(seed, "seed", 0)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed: int = int(np.random.SeedSequence().entropy) if seed is None else seed
        self._epoch = 0
        self._batch = 0  # batches of the current epoch already handed out
        self._resume_at = 0  # first batch of the next pass (set by load_state_dict)

    @property
    def epoch(self) -> int:
        """The epoch whose order the current or next pass uses."""
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Make the next pass use epoch ``epoch``'s order, starting from its first batch."""
        self._epoch = _count(epoch, "epoch", 0)
        self._batch = 0
        self._resume_at = 0

    def __len__(self) -> int:
        """Return the number of batches per epoch (the same on every rank)."""
        full, rest = divmod(len(self.dataset), self.batch_size)
        return full if self.drop_last or rest == 0 else full + 1

    def order(self, epoch: int | None = None) -> np.ndarray:
        """Return the global example order (before rank slicing) of ``epoch`` (default: now)."""
        epoch = self._epoch if epoch is None else _count(epoch, "epoch", 0)
        size = len(self.dataset)
        if not self.shuffle:
            return np.arange(size)
        return np.random.default_rng([self.seed, epoch]).permutation(size)

    def _rank_part(self, batch: np.ndarray) -> np.ndarray:
        """Return this rank's contiguous part of a global batch of indices."""
        if self.world_size == 1:
            return batch
        base, extra = divmod(len(batch), self.world_size)
        start = self.rank * base + min(self.rank, extra)
        stop = start + base + (1 if self.rank < extra else 0)
        return batch[start:stop]

    def __iter__(self) -> Iterator[Any]:
        """Yield this epoch's batches; advance the epoch counter when the pass completes."""
        order = self.order()
        first, self._resume_at = self._resume_at, 0
        for number in range(first, len(self)):
            batch = order[number * self.batch_size:(number + 1) * self.batch_size]
            items = self.dataset[self._rank_part(batch)]
            self._batch = number + 1
            yield items
        self._epoch += 1
        self._batch = 0

    def state_dict(self) -> dict[str, Any]:
        """Return the JSON-serialisable position: epoch, batches done in it, seed and sizes."""
        return {
            "epoch": self._epoch,
            "batch": self._batch,
            "seed": self.seed,
            "batch_size": self.batch_size,
            "num_examples": len(self.dataset),
            "shuffle": self.shuffle,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resume from :meth:`state_dict`: the next pass continues that epoch where it stopped.

        The seed is taken from ``state``.  Resuming mid-epoch needs the same dataset size and
        batch size (:class:`ShapeError` otherwise); at an epoch boundary they may change.
        """
        try:
            epoch, batch, seed = state["epoch"], state["batch"], state["seed"]
        except (KeyError, TypeError) as exc:
            raise ShapeError(f"DataLoader.load_state_dict: expected a dict from state_dict(), "
                             f"missing {exc}") from exc
        epoch = _count(epoch, "epoch", 0)
        batch = _count(batch, "batch", 0)
        if batch:
            same = (state.get("batch_size") == self.batch_size
                    and state.get("num_examples") == len(self.dataset)
                    and state.get("shuffle", self.shuffle) == self.shuffle)
            if not same or batch > len(self):
                raise ShapeError(
                    f"DataLoader.load_state_dict: cannot resume mid-epoch (batch {batch}) with "
                    f"batch_size {self.batch_size} and {len(self.dataset)} examples; the state "
                    f"was saved with batch_size {state.get('batch_size')} and "
                    f"{state.get('num_examples')} examples"
                )
        if batch and batch == len(self):  # saved after the last batch: the epoch is done
            epoch, batch = epoch + 1, 0
        self.seed = _count(seed, "seed", 0)
        self._epoch, self._batch, self._resume_at = epoch, batch, batch
