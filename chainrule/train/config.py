"""What ``chainrule train`` runs (:class:`Config`), the network it builds, and how it stops.

Shared by :mod:`chainrule.train` (one process, data-parallel) and
:mod:`chainrule.train.pipeline` (one stage per rank).
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal

import numpy as np

from ..data import find_fashion_mnist
from ..data.datasets import FASHION_MNIST_FILES
from ..errors import ChainruleError, DataError, ShapeError
from ..models import MLP, ChapterMLP, LeNet

__all__ = ["Config", "TrainingInterrupted", "build_model", "build_network", "choose_dataset",
           "stop_on_signals", "exit_status", "CHECKPOINT", "METRICS", "CURVE", "GRAPH", "MEMORY",
           "DEFAULT_BATCH", "MODELS", "DEFAULT_LR",
           "MODEL_BATCH"]

CHECKPOINT, METRICS, CURVE = "checkpoint.npz", "metrics.json", "curve.png"
GRAPH, MEMORY = "graph.svg", "memory.txt"
PAGE = "backprop.html"      # the page that steps through forward and backward (viz.show)
# the book's batch for Fashion-MNIST's 60,000 images; the 1,437 digits need more, smaller steps
DEFAULT_BATCH = {"fashion-mnist": 256, "digits": 32}
# what --model trains: the chapter's MLP, the book's LeNet (sigmoid, average pooling), and
# LeNet with ReLU and max pooling; the learning rate each takes when --lr is not given
MODELS = ("mlp", "lenet", "lenet-relu")
DEFAULT_LR = {"mlp": 0.1, "lenet": 0.9, "lenet-relu": 0.1}
# the batch chainrule train gives a model when --batch-size is not given (else the dataset's):
# plain SGD at lr 0.1 takes LeNet-ReLU past 0.88 on Fashion-MNIST in 4 epochs at 64
MODEL_BATCH = {"lenet-relu": 64}


class TrainingInterrupted(ChainruleError):
    """The run was stopped by a signal after writing its checkpoint."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum


@dataclasses.dataclass
class Config:
    """What ``chainrule train`` runs; the book's defaults."""

    dataset: str | None = None        # None: Fashion-MNIST if its files are found, else digits
    data_dir: str | None = None
    epochs: int = 10
    batch_size: int | None = None     # None: 256 on Fashion-MNIST (the book's), 32 on digits
    lr: float | None = 0.1          # None: the model's (DEFAULT_LR)
    hidden: int = 256
    weight_decay: float = 1e-4        # lambda of the chapter's s = lambda/2 (|W1|^2 + |W2|^2)
    seed: int = 0
    out: str | None = None
    resume: bool = False
    progress: bool = True
    log: bool = True
    distributed: bool | None = None   # None: data-parallel when mpiexec started 2 or more ranks
    layers: int = 1                   # hidden layers: 1 is the chapter's network, K > 1 an MLP
    dtype: str = "float32"            # of parameters and computation: float32 or float64
    pipeline: bool = False            # one stage per rank (mpiexec -n k), with micro-batches
    micro_batches: int | None = None  # None: 4, or the checkpoint's on --resume
    schedule: str = "1f1b"            # the pipeline's order: "1f1b" or "gpipe"
    checkpoint_every: int | None = None   # steps between checkpoints (None: at epoch ends)
    compile: bool = False             # replay each step from a captured plan (cr.compile)
    model: str = "mlp"                # one of MODELS; "mlp" is the chapter's net (--layers)
    device: str = "cpu"               # where the model and the batches live: "cpu", "cuda"


# the settings a checkpoint fixes, with their flags: --resume refuses a named different value
FIXED_BY_CHECKPOINT = {"lr": "--lr", "hidden": "--hidden", "batch_size": "--batch-size",
                       "weight_decay": "--weight-decay", "layers": "--layers",
                       "dtype": "--dtype", "seed": "--seed"}


def choose_dataset(config: Config) -> str:
    """The dataset to train on: the one asked for, else Fashion-MNIST when found, else digits.

    An explicit ``data_dir`` without the Fashion-MNIST files is a :class:`DataError` (unless
    the digits are asked for, which need no files): it is never silently replaced by another
    copy, or by the digits.
    """
    if config.data_dir is not None and config.dataset in (None, "fashion-mnist") \
            and find_fashion_mnist(config.data_dir, fallback=False) is None:
        missing = ", ".join(f"{stem}[.gz]" for stem in FASHION_MNIST_FILES.values())
        raise DataError(f"--data-dir {config.data_dir}: the Fashion-MNIST files ({missing}) "
                        "are not there nor in its fashion-mnist subfolder; put them there, or "
                        "drop --data-dir to use $CHAINRULE_DATA or /usr/share/datasets/"
                        "fashion-mnist (apt-get install dataset-fashion-mnist)")
    if config.dataset is not None:
        return config.dataset
    return "fashion-mnist" if find_fashion_mnist(config.data_dir) is not None else "digits"


def build_network(hidden: int = 256, layers: int = 1, inputs: int = 784, classes: int = 10,
                  *, weight_decay: float = 1e-4, dtype: str = "float32", seed: int = 0,
                  model: str = "mlp"):
    """The chapter's network (``layers=1``: W1, W2, no bias) or an MLP of ``layers`` hidden
    layers of ``hidden`` units, no biases, lambda on every weight: depth is the only
    difference; ``model="lenet"`` or ``"lenet-relu"`` is :class:`~chainrule.models.LeNet`
    (``hidden`` and ``layers`` unused).  What ``chainrule train`` trains and ``chainrule
    memory`` sizes.

    >>> build_network(16, 3, inputs=8, classes=2).widths
    [8, 16, 16, 16, 2]
    """
    if dtype not in ("float32", "float64"):
        raise ShapeError(f"dtype={dtype!r}: choose float32 or float64")
    if isinstance(layers, bool) or not isinstance(layers, int) or layers < 1:
        raise ShapeError(f"layers={layers!r}: the number of hidden layers must be an int >= 1 "
                         "(1 is the chapter's network)")
    if model in ("lenet", "lenet-relu"):
        return LeNet(inputs, classes, "book" if model == "lenet" else "relu",
                     weight_decay=weight_decay, dtype=np.dtype(dtype), seed=seed)
    if model != "mlp":
        raise ShapeError(f"model={model!r}: choose one of {', '.join(MODELS)}")
    if layers == 1:
        return ChapterMLP(inputs=inputs, hidden=hidden, outputs=classes,
                          weight_decay=weight_decay, dtype=np.dtype(dtype), seed=seed)
    return MLP([inputs] + [hidden] * layers + [classes], bias=False, weight_decay=weight_decay,
               dtype=np.dtype(dtype), seed=seed)


def build_model(config: Config, inputs: int, classes: int):
    """The network ``config`` asks for (:func:`build_network` with its settings); a
    ``config.lr`` of None becomes the model's default learning rate here."""
    if config.lr is None:
        config.lr = DEFAULT_LR.get(config.model, DEFAULT_LR["mlp"])
    return build_network(config.hidden, config.layers, inputs, classes,
                         weight_decay=config.weight_decay, dtype=config.dtype, seed=config.seed,
                         model=config.model)


@contextlib.contextmanager
def stop_on_signals():
    """Turn SIGINT and SIGTERM into a flag the loop reads between steps."""
    caught: list[int] = []

    def handler(signum, frame):
        caught.append(signum)

    previous = {}
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, handler)
    except ValueError:              # not the main thread: no handlers, no flag
        previous = {}
    try:
        yield caught
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def exit_status(signum: int) -> int:
    """The conventional exit status after a signal: 128 + its number."""
    return 128 + signum

