"""Datasets, IDX files and minibatch loading for chainrule, on NumPy alone."""

from chainrule.data.datasets import (
    DATASETS,
    DIGITS_CLASSES,
    FASHION_MNIST_CLASSES,
    ArrayDataset,
    Dataset,
    find_fashion_mnist,
    load_dataset,
    load_digits,
    load_fashion_mnist,
)
from chainrule.data.idx import read_idx, write_idx
from chainrule.data.loader import DataLoader

__all__ = [
    "DATASETS",
    "DIGITS_CLASSES",
    "FASHION_MNIST_CLASSES",
    "ArrayDataset",
    "DataLoader",
    "Dataset",
    "find_fashion_mnist",
    "load_dataset",
    "load_digits",
    "load_fashion_mnist",
    "read_idx",
    "write_idx",
]
