"""Tests for chainrule.data.loader.DataLoader: batching, seeded shuffling, ranks, resuming."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrule.data import ArrayDataset, DataLoader, Dataset
from chainrule.errors import ShapeError


def _data(n: int) -> ArrayDataset:
    """Examples whose x row and label both carry the example's index."""
    return ArrayDataset(np.arange(n * 2, dtype=np.float32).reshape(n, 2), np.arange(n))


def _epoch(loader: DataLoader) -> list[np.ndarray]:
    return [y for _, y in loader]


@pytest.mark.parametrize(
    ("n", "batch_size", "drop_last", "expected_sizes"),
    [(10, 3, False, [3, 3, 3, 1]), (10, 3, True, [3, 3, 3]), (9, 3, False, [3, 3, 3]),
     (9, 3, True, [3, 3, 3]), (2, 5, False, [2]), (2, 5, True, []), (0, 4, False, [])],
)
def test_batch_counts(n: int, batch_size: int, drop_last: bool, expected_sizes) -> None:
    loader = DataLoader(_data(n), batch_size, drop_last=drop_last)
    assert len(loader) == len(expected_sizes)
    batches = list(loader)
    assert [len(y) for _, y in batches] == expected_sizes
    for x, y in batches:
        assert isinstance(x, np.ndarray) and x.dtype == np.float32 and x.shape == (len(y), 2)
        np.testing.assert_array_equal(x[:, 0], 2 * y)


def test_unshuffled_order() -> None:
    labels = np.concatenate(_epoch(DataLoader(_data(7), 3)))
    np.testing.assert_array_equal(labels, np.arange(7))


def test_seeded_shuffle_reproducible_and_different_per_epoch() -> None:
    first = DataLoader(_data(50), 8, shuffle=True, seed=3)
    second = DataLoader(_data(50), 8, shuffle=True, seed=3)
    epochs_a = [np.concatenate(_epoch(first)) for _ in range(3)]
    epochs_b = [np.concatenate(_epoch(second)) for _ in range(3)]
    for a, b in zip(epochs_a, epochs_b, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(np.sort(a), np.arange(50))  # every example exactly once
    assert not np.array_equal(epochs_a[0], epochs_a[1])
    assert not np.array_equal(epochs_a[1], epochs_a[2])
    assert not np.array_equal(epochs_a[0], np.arange(50))
    np.testing.assert_array_equal(epochs_a[2], np.random.default_rng([3, 2]).permutation(50))
    other = DataLoader(_data(50), 8, shuffle=True, seed=4)
    assert not np.array_equal(np.concatenate(_epoch(other)), epochs_a[0])
    assert first.epoch == 3


def test_set_epoch_and_early_break() -> None:
    loader = DataLoader(_data(20), 4, shuffle=True, seed=1)
    expected = np.concatenate(_epoch(DataLoader(_data(20), 4, shuffle=True, seed=1)))
    for _ in loader:
        break
    assert loader.epoch == 0  # a pass left early does not advance the epoch
    np.testing.assert_array_equal(np.concatenate(_epoch(loader)), expected)
    assert loader.epoch == 1
    loader.set_epoch(5)
    np.testing.assert_array_equal(np.concatenate(_epoch(loader)), loader.order(5))
    assert loader.epoch == 6
    with pytest.raises(ShapeError):
        loader.set_epoch(-1)


def test_unseeded_shuffle_draws_a_seed_and_keeps_it() -> None:
    loader = DataLoader(_data(30), 7, shuffle=True)
    first = np.concatenate(_epoch(loader))
    twin = DataLoader(_data(30), 7, shuffle=True, seed=loader.seed)
    np.testing.assert_array_equal(np.concatenate(_epoch(twin)), first)


def test_resume_mid_epoch_continues_the_same_sequence() -> None:
    reference = DataLoader(_data(23), 4, shuffle=True, seed=9)
    full = [_epoch(reference) for _ in range(3)]

    loader = DataLoader(_data(23), 4, shuffle=True, seed=9)
    _epoch(loader)
    seen = []
    for _, y in loader:
        seen.append(y)
        if len(seen) == 2:
            break
    state = json.loads(json.dumps(loader.state_dict()))  # it must survive a JSON checkpoint
    assert state["epoch"] == 1 and state["batch"] == 2

    resumed = DataLoader(_data(23), 4, shuffle=True, seed=12345)
    resumed.load_state_dict(state)
    rest = _epoch(resumed)
    for got, want in zip(seen + rest, full[1], strict=True):
        np.testing.assert_array_equal(got, want)
    assert len(seen) + len(rest) == len(full[1])
    for got, want in zip(_epoch(resumed), full[2], strict=True):
        np.testing.assert_array_equal(got, want)


def test_resume_after_last_batch_moves_to_next_epoch() -> None:
    loader = DataLoader(_data(8), 4, shuffle=True, seed=2)
    for _ in loader:
        state = loader.state_dict()
    assert state["batch"] == 2
    resumed = DataLoader(_data(8), 4, shuffle=True, seed=2)
    resumed.load_state_dict(state)
    assert resumed.epoch == 1
    np.testing.assert_array_equal(np.concatenate(_epoch(resumed)), loader.order(1))


def test_resume_mid_epoch_with_other_batch_size_is_refused() -> None:
    loader = DataLoader(_data(20), 4)
    next(iter(loader))
    state = loader.state_dict()
    with pytest.raises(ShapeError, match="mid-epoch"):
        DataLoader(_data(20), 5).load_state_dict(state)
    with pytest.raises(ShapeError):
        DataLoader(_data(20), 4).load_state_dict({"epoch": 1})


def test_rank_parts_partition_each_global_batch() -> None:
    n, batch_size, world = 29, 10, 4
    data = _data(n)
    whole = list(DataLoader(data, batch_size, shuffle=True, seed=5))
    ranks = [list(DataLoader(data, batch_size, shuffle=True, seed=5, rank=r, world_size=world))
             for r in range(world)]
    assert all(len(parts) == len(whole) for parts in ranks)
    for b, (x_global, y_global) in enumerate(whole):
        parts = [ranks[r][b] for r in range(world)]
        sizes = [len(y) for _, y in parts]
        assert max(sizes) - min(sizes) <= 1
        assert sizes == sorted(sizes, reverse=True)
        np.testing.assert_array_equal(np.concatenate([y for _, y in parts]), y_global)
        np.testing.assert_array_equal(np.concatenate([x for x, _ in parts]), x_global)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 40),
    batch_size=st.integers(1, 12),
    world=st.integers(1, 5),
    drop_last=st.booleans(),
    shuffle=st.booleans(),
    seed=st.integers(0, 2**64),
)
def test_properties(n, batch_size, world, drop_last, shuffle, seed) -> None:
    data = _data(n)
    loaders = [DataLoader(data, batch_size, shuffle=shuffle, drop_last=drop_last, seed=seed,
                          rank=r, world_size=world) for r in range(world)]
    per_rank = [_epoch(loader) for loader in loaders]
    expected_batches = n // batch_size if drop_last else -(-n // batch_size)
    assert all(len(batches) == expected_batches == len(loaders[0]) for batches in per_rank)
    labels = np.concatenate([y for batches in per_rank for y in batches] + [np.zeros(0, int)])
    covered = expected_batches * batch_size if drop_last else n
    assert len(labels) == covered
    assert len(np.unique(labels)) == covered  # no example twice within an epoch
    for b in range(expected_batches):
        sizes = [len(per_rank[r][b]) for r in range(world)]
        assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize(
    "kwargs",
    [{"batch_size": 0}, {"batch_size": -2}, {"batch_size": 2.0}, {"batch_size": True},
     {"batch_size": "4"}, {"batch_size": 2, "rank": 2, "world_size": 2},
     {"batch_size": 2, "world_size": 0}, {"batch_size": 2, "rank": -1},
     {"batch_size": 2, "shuffle": True, "world_size": 2}],
)
def test_bad_arguments(kwargs) -> None:
    with pytest.raises(ShapeError):
        DataLoader(_data(4), **kwargs)
    with pytest.raises(ValueError):
        DataLoader(_data(4), **kwargs)


class _Counting(Dataset):
    """A generic (non-array) dataset, gathered example by example."""

    def __len__(self) -> int:
        return 7

    def example(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return np.full(3, index, dtype=np.int32), np.array(index)


def test_generic_dataset_and_empty_rank_part() -> None:
    batches = list(DataLoader(_Counting(), 4, rank=3, world_size=4))
    assert [y.tolist() for _, y in batches] == [[3], []]
    assert batches[1][0].shape == (0, 3) and batches[1][0].dtype == np.int32


def test_large_batches_are_fast() -> None:
    data = ArrayDataset(np.zeros((60000, 784), np.float32), np.zeros(60000, np.int64))
    loader = DataLoader(data, 512, shuffle=True, seed=0)
    assert sum(len(y) for _, y in loader) == 60000


def test_a_plain_array_yields_batches_of_rows_as_pytorch_does() -> None:
    array = np.arange(20, dtype=np.float32).reshape(10, 2)
    batches = list(DataLoader(array, 4))
    assert [b.shape for b in batches] == [(4, 2), (4, 2), (2, 2)]
    np.testing.assert_array_equal(np.concatenate(batches), array)


@pytest.mark.parametrize("dataset", [[1.0, 2.0], (np.zeros(3), np.zeros(3)), 5, np.float32(1),
                                     np.array(["a", "b"])])
def test_a_list_tuple_or_scalar_is_refused_with_the_fix(dataset) -> None:
    with pytest.raises(ShapeError, match=r"DataLoader: .*ArrayDataset\(x, y\)"):
        DataLoader(dataset, 2)
