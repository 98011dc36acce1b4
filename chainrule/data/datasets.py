"""The datasets the training program uses: Fashion-MNIST from disk and an embedded digits set.

* :func:`load_fashion_mnist` reads the four standard IDX files from the first folder that holds
  them: the ``data_dir`` argument, then ``$CHAINRULE_DATA``, then
  ``/usr/share/datasets/fashion-mnist`` (where Debian's ``dataset-fashion-mnist`` package puts
  them).  Each folder may hold the files directly or in a ``fashion-mnist`` subfolder.
* :func:`load_digits` reads the UCI 8x8 handwritten digits shipped inside this package
  (``digits.csv.gz``, CC BY 4.0, see ``DIGITS_LICENSE.txt``), so it works offline.

Both return ``(x_train, y_train, x_test, y_test)``: float32 features scaled to [0, 1], one
example per row, and int64 labels.  :class:`Dataset` and :class:`ArrayDataset` wrap such arrays
for :class:`~chainrule.data.loader.DataLoader`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.data.idx import read_idx
from chainrule.errors import DataError, ShapeError

__all__ = [
    "DATASETS",
    "DIGITS_CLASSES",
    "DIGITS_SHA256",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_FILES",
    "SYSTEM_DATA_DIRS",
    "ArrayDataset",
    "Dataset",
    "find_fashion_mnist",
    "load_dataset",
    "load_digits",
    "load_fashion_mnist",
]

Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
DIGITS_CLASSES = [str(digit) for digit in range(10)]
DATASETS = ("fashion-mnist", "digits")

#: Role -> file name without ``.gz``; the gzipped name is tried first, then the plain one.
FASHION_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
#: Folders searched after ``data_dir`` and ``$CHAINRULE_DATA``.
SYSTEM_DATA_DIRS: tuple[Path, ...] = (Path("/usr/share/datasets/fashion-mnist"),)
_ENV_VAR = "CHAINRULE_DATA"
_IMAGES_MAGIC = 0x00000803
_LABELS_MAGIC = 0x00000801

DIGITS_FILE = "digits.csv.gz"
DIGITS_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"
_DIGITS_COUNT, _DIGITS_TEST, _DIGITS_SEED = 1797, 360, 0


class Dataset:
    """A sized collection of ``(x, y)`` examples.

    Subclasses implement ``__len__`` and :meth:`example`; ``dataset[i]`` returns one example and
    ``dataset[index_array]`` returns the stacked examples.  Subclasses that can gather many
    examples at once (like :class:`ArrayDataset`) override ``__getitem__`` to do so.
    """

    def __len__(self) -> int:
        """Return the number of examples."""
        raise NotImplementedError

    def example(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Return example ``index`` as ``(x, y)``."""
        raise NotImplementedError

    def __getitem__(self, index: Any) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(x, y)`` for an int index, or stacked ``(x, y)`` for an index array."""
        if isinstance(index, (int, np.integer)):
            return self.example(int(index))
        indices = np.asarray(index)
        if indices.ndim != 1 or (indices.size and indices.dtype.kind not in "iu"):
            raise ShapeError(f"{type(self).__name__}[...]: expected an int or a 1-D integer "
                             f"index array, got shape {indices.shape} of {indices.dtype}")
        if indices.size == 0:  # an empty batch keeps the shapes and dtypes of one example
            x0, y0 = (np.asarray(v) for v in self.example(0))
            return np.empty((0, *x0.shape), x0.dtype), np.empty((0, *y0.shape), y0.dtype)
        pairs = [self.example(int(i)) for i in indices]
        return np.stack([x for x, _ in pairs]), np.stack([y for _, y in pairs])


class ArrayDataset(Dataset):
    """A dataset over two arrays whose first axes index the examples: inputs ``x``, targets ``y``.

    Indexing with an index array gathers a whole batch with one fancy-indexing operation.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        """Wrap ``x`` and ``y``; their first dimensions must be equal (:class:`ShapeError`)."""
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim == 0 or y.ndim == 0 or x.shape[0] != y.shape[0]:
            raise ShapeError(f"ArrayDataset: x and y need the same number of examples along "
                             f"axis 0, got x shape {x.shape} and y shape {y.shape}")
        self.x = x
        self.y = y

    def __len__(self) -> int:
        """Return the number of examples."""
        return int(self.x.shape[0])

    def example(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Return example ``index`` as ``(x, y)``."""
        return self.x[index], self.y[index]

    def __getitem__(self, index: Any) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(x[index], y[index])``: one example, or a batch for an index array."""
        return self.x[index], self.y[index]

    def __repr__(self) -> str:
        """Show the shapes and dtypes."""
        return (f"ArrayDataset(x={self.x.shape} {self.x.dtype}, "
                f"y={self.y.shape} {self.y.dtype})")


def _candidate_dirs(data_dir: str | os.PathLike[str] | None) -> list[tuple[Path, str]]:
    """List ``(folder, where it came from)`` in search order."""
    candidates = []
    if data_dir is not None:
        candidates.append((Path(data_dir), "data_dir argument"))
    env = os.environ.get(_ENV_VAR)
    if env:
        candidates.append((Path(env), f"${_ENV_VAR}"))
    candidates += [(folder, "system folder") for folder in SYSTEM_DATA_DIRS]
    expanded = []
    for folder, origin in candidates:
        expanded.append((folder, origin))
        if folder.name != "fashion-mnist":
            expanded.append((folder / "fashion-mnist", origin))
    return expanded


def _locate(folder: Path, stem: str) -> Path | None:
    """Return ``folder/stem.gz`` or ``folder/stem``, whichever exists first."""
    for name in (f"{stem}.gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _fashion_files(folder: Path) -> dict[str, Path] | None:
    """Return the four Fashion-MNIST files in ``folder`` by role, or None if any is missing."""
    found = {role: _locate(folder, stem) for role, stem in FASHION_MNIST_FILES.items()}
    if any(path is None for path in found.values()):
        return None
    return found  # type: ignore[return-value]


def find_fashion_mnist(data_dir: str | os.PathLike[str] | None = None, *,
                       fallback: bool = True) -> Path | None:
    """Return the first folder holding all four Fashion-MNIST files, or None.

    Searched in order: ``data_dir``, ``$CHAINRULE_DATA``, then :data:`SYSTEM_DATA_DIRS` (with
    ``fallback=False``, ``data_dir`` alone); each folder itself first, then its
    ``fashion-mnist`` subfolder.  Each file may be gzipped (``train-images-idx3-ubyte.gz``) or
    plain (``train-images-idx3-ubyte``).
    """
    candidates = _candidate_dirs(data_dir)
    if not fallback:
        candidates = [(folder, origin) for folder, origin in candidates
                      if data_dir is not None and origin == "data_dir argument"]
    for folder, _ in candidates:
        if _fashion_files(folder) is not None:
            return folder
    return None


def _not_found(data_dir: str | os.PathLike[str] | None) -> DataError:
    """Build the DataError listing every folder searched and how to get the data."""
    lines = []
    for folder, origin in _candidate_dirs(data_dir):
        if not folder.is_dir():
            state = "no such folder"
        else:
            missing = [s for s in FASHION_MNIST_FILES.values() if _locate(folder, s) is None]
            state = "missing " + ", ".join(f"{s}[.gz]" for s in missing)
        lines.append(f"  {folder} ({origin}): {state}")
    if not os.environ.get(_ENV_VAR):
        lines.append(f"  (${_ENV_VAR} is not set)")
    return DataError(
        "Fashion-MNIST not found. Folders searched:\n" + "\n".join(lines) + "\n"
        "To fix: apt-get install dataset-fashion-mnist (Debian/Ubuntu), or download the four "
        "files (" + ", ".join(f"{s}.gz" for s in FASHION_MNIST_FILES.values()) + ") into a "
        f"folder and pass --data-dir FOLDER or set {_ENV_VAR}=FOLDER."
    )


def _read_split(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one images/labels pair, check they agree, and scale and flatten the images."""
    images = read_idx(images_path, magic=_IMAGES_MAGIC)
    labels = read_idx(labels_path, magic=_LABELS_MAGIC)
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{images_path} holds {images.shape[0]} images but {labels_path} holds "
                        f"{labels.shape[0]} labels; one of them is from another release, "
                        "re-download both.")
    if labels.size and labels.max() >= len(FASHION_MNIST_CLASSES):
        raise DataError(f"{labels_path}: label {int(labels.max())} is out of range 0..9; the "
                        "file is corrupt, re-download it.")
    x = np.divide(images.reshape(images.shape[0], -1), np.float32(255.0), dtype=np.float32)
    return x, labels.astype(np.int64)


def load_fashion_mnist(data_dir: str | os.PathLike[str] | None = None) -> Split:
    """Load Fashion-MNIST as ``(x_train, y_train, x_test, y_test)``.

    Images come back as float32 in [0, 1] with shape (N, 784) (60000 train, 10000 test for the
    standard files), labels as int64 in 0..9 (see :data:`FASHION_MNIST_CLASSES`).  The folder is
    found by :func:`find_fashion_mnist`; if none has the files, :class:`DataError` lists the
    folders searched and how to get the data.
    """
    folder = find_fashion_mnist(data_dir)
    if folder is None:
        raise _not_found(data_dir)
    files = _fashion_files(folder)
    assert files is not None
    x_train, y_train = _read_split(files["train_images"], files["train_labels"])
    x_test, y_test = _read_split(files["test_images"], files["test_labels"])
    return x_train, y_train, x_test, y_test


def load_digits() -> Split:
    """Load the embedded UCI 8x8 digits as ``(x_train, y_train, x_test, y_test)``.

    The 1797 examples are split by a fixed-seed (seed 0) shuffle into 1437 training and 360
    test examples, identical on every call and every machine.  Features are float32 in [0, 1]
    (pixel counts 0..16 divided by 16), shape (N, 64); labels are int64 in 0..9.  The embedded
    file's sha256 is checked first; a mismatch raises :class:`DataError`.
    """
    resource = resources.files("chainrule.data").joinpath(DIGITS_FILE)
    try:
        blob = resource.read_bytes()
    except OSError as exc:
        raise DataError(f"{resource}: the embedded digits file is missing; reinstall "
                        "chainrule.") from exc
    digest = hashlib.sha256(blob).hexdigest()
    if digest != DIGITS_SHA256:
        raise DataError(f"{resource}: sha256 {digest} does not match the expected "
                        f"{DIGITS_SHA256}; the embedded digits file is damaged, reinstall "
                        "chainrule.")
    try:
        text = gzip.decompress(blob)
        table = np.loadtxt(io.BytesIO(text), delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, EOFError, ValueError) as exc:
        raise DataError(f"{resource}: cannot parse the digits CSV ({exc}); reinstall "
                        "chainrule.") from exc
    if table.shape != (_DIGITS_COUNT, 65):
        raise DataError(f"{resource}: expected shape ({_DIGITS_COUNT}, 65), got {table.shape}")
    pixels, labels = table[:, :64], table[:, 64]
    order = np.random.default_rng(_DIGITS_SEED).permutation(_DIGITS_COUNT)
    test, train = order[:_DIGITS_TEST], order[_DIGITS_TEST:]
    x = np.divide(pixels, np.float32(16.0), dtype=np.float32)
    return x[train], labels[train], x[test], labels[test]


def load_dataset(name: str, data_dir: str | os.PathLike[str] | None = None) -> Split:
    """Load a dataset by name: ``"fashion-mnist"`` or ``"digits"``.

    ``data_dir`` is passed to :func:`load_fashion_mnist` and ignored for ``"digits"``.  An
    unknown name raises :class:`DataError`.
    """
    key = name.strip().lower().replace("_", "-")
    if key == "fashion-mnist":
        return load_fashion_mnist(data_dir)
    if key == "digits":
        return load_digits()
    raise DataError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
