"""PyTorch's ``torch.utils.data``: ``TensorDataset`` and a ``DataLoader`` that yields tensors.

Built on :mod:`chainrule.data`: the loader is :class:`chainrule.data.DataLoader` (one
fancy-indexing gather per batch, seeded shuffling), taking the arguments the book passes.
``num_workers`` is accepted and has no effect (batches are gathered in this process, which
for in-memory tensors is as fast); ``drop_last`` skips a short final batch.  Each batch is a
tuple of tensors, or one tensor for a dataset of one tensor.

>>> import chainrule as cr
>>> from chainrule.utils import data
>>> X, y = cr.arange(10.0).reshape(5, 2), cr.arange(5)
>>> loader = data.DataLoader(data.TensorDataset(X, y), batch_size=2, shuffle=False)
>>> [(tuple(xb.shape), yb.tolist()) for xb, yb in loader]
[((2, 2), [0, 1]), ((2, 2), [2, 3]), ((1, 2), [4])]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.tensor import Tensor
from ..data import datasets, loader
from ..errors import ShapeError

__all__ = ["TensorDataset", "DataLoader", "Dataset"]

Dataset = datasets.Dataset


class TensorDataset(Dataset):
    """Tensors (or arrays) whose first axes index the examples: ``dataset[i]`` is a tuple
    with the ``i``-th row of each."""

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise ShapeError("TensorDataset: pass at least one tensor")
        arrays = [t._data if isinstance(t, Tensor) else np.asarray(t) for t in tensors]
        sizes = [a.shape[0] if a.ndim else None for a in arrays]
        if None in sizes or len(set(sizes)) != 1:
            raise ShapeError(f"TensorDataset: the tensors need the same number of examples "
                             f"along axis 0, got shapes {[a.shape for a in arrays]}")
        self.tensors = tuple(arrays)

    def __len__(self) -> int:
        return int(self.tensors[0].shape[0])

    def example(self, index: int) -> tuple:
        return tuple(a[index] for a in self.tensors)

    def __getitem__(self, index: Any) -> tuple:
        if isinstance(index, Tensor):
            index = index._data
        return tuple(Tensor(np.asarray(a[index])) for a in self.tensors)


def _tensors(batch: Any) -> Any:
    if isinstance(batch, tuple):
        return tuple(_tensors(b) for b in batch)
    if isinstance(batch, list):
        return [_tensors(b) for b in batch]
    if isinstance(batch, np.ndarray):
        return Tensor(batch)
    return batch


class DataLoader(loader.DataLoader):
    """Batches of tensors from ``dataset`` (see the module doc); ``seed`` makes the shuffled
    order repeatable."""

    def __init__(self, dataset: Any, batch_size: int = 1, shuffle: bool = False,
                 sampler: Any = None, batch_sampler: Any = None, num_workers: int = 0,
                 collate_fn: Any = None, pin_memory: bool = False, drop_last: bool = False,
                 timeout: float = 0, worker_init_fn: Any = None, *, seed: int | None = None,
                 **ignored: Any) -> None:
        for name, value in (("sampler", sampler), ("batch_sampler", batch_sampler),
                            ("collate_fn", collate_fn)):
            if value is not None:
                raise ShapeError(f"DataLoader: {name}= is not supported; use shuffle= and "
                                 "batch_size=, or iterate over your own index batches")
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ShapeError(f"DataLoader: num_workers={num_workers!r} must be an int >= 0")
        super().__init__(dataset, batch_size, shuffle=shuffle, drop_last=drop_last, seed=seed)
        self.num_workers = num_workers

    def __iter__(self):
        for batch in super().__iter__():
            yield _tensors(batch)
