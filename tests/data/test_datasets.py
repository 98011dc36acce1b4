"""Tests for chainrule.data.datasets: Fashion-MNIST search, embedded digits, ArrayDataset."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from chainrule.data import (
    FASHION_MNIST_CLASSES,
    ArrayDataset,
    Dataset,
    find_fashion_mnist,
    load_dataset,
    load_digits,
    load_fashion_mnist,
    write_idx,
)
from chainrule.data import datasets as datasets_module
from chainrule.errors import DataError, ShapeError

DIGITS_FILE = Path(datasets_module.__file__).with_name("digits.csv.gz")
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
STEMS = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def _fake_fashion(folder: Path, n_train: int = 6, n_test: int = 4, gz: bool = True) -> None:
    """Write a tiny but valid Fashion-MNIST set (real IDX files) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    suffix = ".gz" if gz else ""
    for prefix, n in [("train", n_train), ("t10k", n_test)]:
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        images[0, 0, 0], images[0, 0, 1] = 0, 255
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}",
                  (np.arange(n) % 10).astype(np.uint8))


@pytest.fixture
def no_system_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Point the system search folder at an empty place and clear $CHAINRULE_DATA."""
    absent = tmp_path / "system-absent"
    monkeypatch.setattr(datasets_module, "SYSTEM_DATA_DIRS", (absent,))
    monkeypatch.delenv("CHAINRULE_DATA", raising=False)
    return absent


@pytest.mark.parametrize("gz", [True, False])
def test_load_from_data_dir(tmp_path: Path, no_system_data: Path, gz: bool) -> None:
    _fake_fashion(tmp_path / "mine", gz=gz)
    assert find_fashion_mnist(tmp_path / "mine") == tmp_path / "mine"
    x_train, y_train, x_test, y_test = load_fashion_mnist(tmp_path / "mine")
    assert x_train.shape == (6, 784) and x_test.shape == (4, 784)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    np.testing.assert_array_equal(y_test, [0, 1, 2, 3])


def test_fashion_subfolder_is_found(tmp_path: Path, no_system_data: Path) -> None:
    _fake_fashion(tmp_path / "root" / "fashion-mnist")
    assert find_fashion_mnist(tmp_path / "root") == tmp_path / "root" / "fashion-mnist"


def test_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                      no_system_data: Path) -> None:
    _fake_fashion(tmp_path / "arg", n_train=1)
    _fake_fashion(tmp_path / "env", n_train=2)
    _fake_fashion(tmp_path / "system", n_train=3)
    monkeypatch.setattr(datasets_module, "SYSTEM_DATA_DIRS", (tmp_path / "system",))
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path / "env"))
    assert find_fashion_mnist(tmp_path / "arg") == tmp_path / "arg"
    assert load_fashion_mnist(tmp_path / "arg")[0].shape[0] == 1
    assert find_fashion_mnist() == tmp_path / "env"
    assert load_fashion_mnist()[0].shape[0] == 2
    # A data_dir without the files falls through to the next folder.
    assert find_fashion_mnist(tmp_path / "empty") == tmp_path / "env"
    monkeypatch.delenv("CHAINRULE_DATA")
    assert find_fashion_mnist() == tmp_path / "system"
    assert load_dataset("fashion-mnist")[0].shape[0] == 3


def test_debian_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    if not DEBIAN_DIR.is_dir():
        pytest.skip(f"{DEBIAN_DIR} is absent: Debian's dataset-fashion-mnist is not installed "
                    "(apt-get install dataset-fashion-mnist)")
    monkeypatch.delenv("CHAINRULE_DATA", raising=False)
    assert find_fashion_mnist() == DEBIAN_DIR
    x_train, y_train, x_test, y_test = load_fashion_mnist()
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784)
    assert x_train.dtype == np.float32 and 0.0 <= x_train.min() and x_train.max() <= 1.0
    np.testing.assert_array_equal(np.bincount(y_train), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(y_test), [1000] * 10)
    assert len(FASHION_MNIST_CLASSES) == 10


def test_missing_everywhere_lists_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          no_system_data: Path) -> None:
    partial = tmp_path / "partial"
    _fake_fashion(partial)
    (partial / "t10k-labels-idx1-ubyte.gz").unlink()
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path / "env-nowhere"))
    assert find_fashion_mnist(partial) is None
    with pytest.raises(DataError) as info:
        load_fashion_mnist(partial)
    message = str(info.value)
    for folder in [partial, tmp_path / "env-nowhere", no_system_data]:
        assert str(folder) in message
    assert "t10k-labels-idx1-ubyte" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "--data-dir" in message and "CHAINRULE_DATA" in message


def test_mismatched_counts_and_bad_labels(tmp_path: Path, no_system_data: Path) -> None:
    _fake_fashion(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(3, np.uint8))
    with pytest.raises(DataError, match="4 images but"):
        load_fashion_mnist(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.full(4, 10, np.uint8))
    with pytest.raises(DataError, match="out of range"):
        load_fashion_mnist(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros((4, 1), np.uint8))
    with pytest.raises(DataError, match="magic"):
        load_fashion_mnist(tmp_path)


def test_digits() -> None:
    x_train, y_train, x_test, y_test = load_digits()
    assert x_train.shape == (1437, 64) and x_test.shape == (360, 64)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert x_train.min() == 0.0 and x_train.max() == 1.0 and x_test.max() <= 1.0
    np.testing.assert_array_equal(np.unique(y_train), np.arange(10))
    np.testing.assert_array_equal(np.unique(y_test), np.arange(10))
    # Values are pixel counts 0..16 divided by 16.
    np.testing.assert_array_equal(x_train * 16, np.round(x_train * 16))
    # Together the two parts are exactly the 1797 rows of the embedded file, each used once.
    with gzip.open(DIGITS_FILE) as handle:
        file_rows = np.loadtxt(handle, delimiter=",", dtype=np.int64)
    split_rows = np.column_stack([np.concatenate([x_train, x_test]) * 16,
                                  np.concatenate([y_train, y_test])]).astype(np.int64)
    assert split_rows.shape == file_rows.shape == (1797, 65)
    np.testing.assert_array_equal(_sorted_rows(split_rows), _sorted_rows(file_rows))


def _sorted_rows(table: np.ndarray) -> np.ndarray:
    return table[np.lexsort(table.T[::-1])]


def test_digits_is_deterministic() -> None:
    first, second = load_digits(), load_digits()
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    assert load_dataset("digits")[1][:5].tolist() == first[1][:5].tolist()


def test_digits_checksum_mismatch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datasets_module, "DIGITS_SHA256", "0" * 64)
    with pytest.raises(DataError, match="digits.csv.gz"):
        load_digits()


def test_unknown_dataset() -> None:
    with pytest.raises(DataError, match="unknown dataset 'cifar'.*fashion-mnist, digits"):
        load_dataset("cifar")


def test_array_dataset() -> None:
    x = np.arange(20.0).reshape(10, 2)
    y = np.arange(10)
    data = ArrayDataset(x, y)
    assert len(data) == 10
    xi, yi = data[3]
    np.testing.assert_array_equal(xi, [6.0, 7.0])
    assert yi == 3
    xb, yb = data[np.array([9, 0, 9])]
    np.testing.assert_array_equal(yb, [9, 0, 9])
    assert xb.shape == (3, 2)
    with pytest.raises(ShapeError, match=r"\(10, 2\).*\(9,\)"):
        ArrayDataset(x, y[:9])
    with pytest.raises(ValueError):
        ArrayDataset(np.float32(1), y)


class _Squares(Dataset):
    def __len__(self) -> int:
        return 5

    def example(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return np.array([index, index * index]), np.array(index % 2)


def test_generic_dataset_stacks_examples() -> None:
    data = _Squares()
    xb, yb = data[np.array([4, 1])]
    np.testing.assert_array_equal(xb, [[4, 16], [1, 1]])
    np.testing.assert_array_equal(yb, [0, 1])
    xe, ye = data[np.array([], dtype=np.intp)]
    assert xe.shape == (0, 2) and ye.shape == (0,)
    with pytest.raises(ShapeError):
        data[np.ones((2, 2), dtype=int)]
