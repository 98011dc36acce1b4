"""The next chapter's ``LeNet`` and a small ``VGG``, with named graphs like the MLPs'."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import functional as F
from ..errors import ShapeError
from ..nn import init as I
from ..nn.conv import AvgPool2d, Conv2d, MaxPool2d
from ..nn.functional.conv import pad
from ..nn.init import as_generator
from ..nn.layers import Linear, as_tensor, positive_count
from ..nn.layers import activation as make_activation
from ..nn.module import Sequential
from ..core.tensor import Tensor
from .mlp import Objective, check_decay, labelled

__all__ = ["LeNet", "VGG", "CNNS", "build_cnn"]


class _CNN(Objective):
    """What LeNet and VGG share: ``features`` then ``classifier``, and the penalty's weights."""

    def weight_decay_parameters(self) -> list[Tensor]:
        """Every kernel and weight matrix of ``features`` and ``classifier`` (no biases)."""
        return [m.weight for m in (*self.features, *self.classifier) if hasattr(m, "weight")]


class LeNet(_CNN):
    """The next chapter's LeNet-5: two convolutions with pooling, then three Linear layers.

    ``variant="book"`` is the book's (sigmoid and 2x2 average pooling); ``"relu"`` uses ReLU
    and max pooling.  ``features`` holds Conv2d(1, 6, 5, padding=2), the activation, a pool,
    Conv2d(6, 16, 5), the activation, a pool; ``classifier`` Linear(400, 120), Linear(120, 84)
    and Linear(84, 10) with the activation between (weights Xavier-uniform, as the book's).
    The input is (N, inputs) with ``inputs`` a square image (784 for 28x28), (N, 1, S, S), or
    one image; a side below 28 (the 8x8 digits) is enlarged by repeating pixels and padded
    with zeros to 28.  The forward pass names ``c1, h1, p1, c2, h2, p2, z3, h3, z4, h4, o``.

    >>> import numpy as np
    >>> net = LeNet(inputs=64, seed=0)
    >>> net(np.zeros((2, 64), dtype=np.float32)).shape
    (2, 10)
    >>> list(net.state_dict())[:2]
    ['features.0.weight', 'features.0.bias']
    """

    def __init__(self, inputs: int = 784, outputs: int = 10, variant: str = "book",
                 weight_decay: float = 0.0, dtype: Any = np.float32,
                 seed: int | None = None) -> None:
        super().__init__()
        if variant not in ("book", "relu"):
            raise ShapeError(f"LeNet: variant={variant!r}; choose 'book' (sigmoid, average "
                             "pooling) or 'relu' (ReLU, max pooling)")
        self.inputs = positive_count(inputs, "inputs", "LeNet")
        self.side = int(round(self.inputs ** 0.5))
        if self.side * self.side != self.inputs or self.side > 28:
            raise ShapeError(f"LeNet: inputs={inputs} must be a square image of side at most "
                             "28 (784 for Fashion-MNIST, 64 for the 8x8 digits)")
        self.outputs = positive_count(outputs, "outputs", "LeNet")
        self.variant, self.dtype = variant, np.dtype(dtype)
        self.activation = "sigmoid" if variant == "book" else "relu"
        self.weight_decay = check_decay(weight_decay, "LeNet")
        rng = as_generator(seed)
        pool = AvgPool2d if variant == "book" else MaxPool2d
        act = self.activation
        self.features = Sequential(
            Conv2d(1, 6, 5, padding=2, dtype=dtype, generator=rng), make_activation(act),
            pool(2), Conv2d(6, 16, 5, dtype=dtype, generator=rng), make_activation(act),
            pool(2))
        self.classifier = Sequential(
            Linear(400, 120, dtype=dtype, init="xavier", generator=rng), make_activation(act),
            Linear(120, 84, dtype=dtype, init="xavier", generator=rng), make_activation(act),
            Linear(84, outputs, dtype=dtype, init="xavier", generator=rng))
        for conv in (self.features[0], self.features[3]):
            I.xavier_uniform_(conv.weight, generator=rng)
        self.name_parameters()
        self.clear_intermediates()

    def _image(self, x: Tensor) -> Tensor:
        """``x`` as (N, 1, 28, 28): reshaped, enlarged and padded as the docstring says."""
        s = self.side
        if x.ndim == 4 and x.shape[1:] == (1, s, s):
            pass
        elif x.ndim in (1, 2) and x.shape[-1] == self.inputs:
            x = F.reshape(x, (-1, 1, s, s))
        else:
            raise ShapeError(f"LeNet: x.shape={x.shape}; expected (N, {self.inputs}), "
                             f"({self.inputs},) or (N, 1, {s}, {s})")
        k = 28 // s
        if k > 1:                                   # repeat each pixel k x k times
            n = x.shape[0]
            x = F.broadcast_to(F.reshape(x, (n, 1, s, 1, s, 1)), (n, 1, s, k, s, k))
            x = F.reshape(x, (n, 1, s * k, s * k))
        extra = 28 - s * k
        if extra:
            x = pad(x, (extra // 2, extra - extra // 2, extra // 2, extra - extra // 2))
        return x

    def forward(self, x: Any) -> Tensor:
        """Return the logits ``o`` (N, outputs), or (outputs,) for one image."""
        x = as_tensor(x, self.dtype)
        one = x.ndim == 1
        h = self._image(x)
        if h is not x:
            labelled(h, "image")                    # the 28x28 image the first conv reads
        named: dict[str, Tensor] = {}
        names = ["c1", "h1", "p1", "c2", "h2", "p2", "z3", "h3", "z4", "h4", "o"]
        for layer in self.features:
            h = named[names[len(named)]] = labelled(layer(h), names[len(named)])
        h = F.reshape(h, (h.shape[0], -1))
        for layer in self.classifier:
            h = named[names[len(named)]] = labelled(layer(h), names[len(named)])
        self._record(named)
        return F.reshape(h, h.shape[1:]) if one else h

    def extra_repr(self) -> str:
        return (f"variant={self.variant!r}, inputs={self.inputs}, "
                f"weight_decay={self.weight_decay:g}")


class VGG(_CNN):
    """A small VGG-style network: blocks of 3x3 convolutions (padding 1), each followed by
    ReLU, every block ending in 2x2 max pooling; then a Linear head on the flattened maps.

    ``blocks=((16, 16), (32, 32))`` is two blocks of two convolutions, 16 then 32 channels.
    The input is (N, inputs) with ``inputs = channels * side**2`` (784: one 28x28 channel;
    3072 with ``channels=3``: 32x32 colour), or (N, channels, side, side); the side must
    halve once per block.  ``features`` holds the convolutions, activations and pools,
    ``classifier`` the Linear layer.  The forward pass names ``c1, h1, c2, h2, p1, c3, ...``
    (``p`` after each pool) and ``o``.

    >>> net = VGG(seed=0)
    >>> net(np.zeros((2, 784), dtype=np.float32)).shape, net.classifier[0].in_features
    ((2, 10), 1568)
    """

    def __init__(self, inputs: int = 784, outputs: int = 10,
                 blocks: Sequence[Sequence[int]] = ((16, 16), (32, 32)), channels: int = 1,
                 weight_decay: float = 0.0, dtype: Any = np.float32,
                 seed: int | None = None) -> None:
        super().__init__()
        self.inputs = positive_count(inputs, "inputs", "VGG")
        self.outputs = positive_count(outputs, "outputs", "VGG")
        self.channels = positive_count(channels, "channels", "VGG")
        self.blocks = [[positive_count(c, "blocks", "VGG") for c in b] for b in blocks]
        self.side = int(round((self.inputs / self.channels) ** 0.5))
        shrink = 2 ** len(self.blocks)
        if (self.channels * self.side ** 2 != self.inputs or self.side % shrink
                or not all(self.blocks)):
            raise ShapeError(f"VGG: inputs={inputs} with channels={channels} and "
                             f"{len(self.blocks)} blocks: inputs must be channels * side**2 "
                             f"with side a multiple of {shrink} (784 = 1 x 28 x 28 for two "
                             "blocks), and every block needs a convolution")
        self.dtype, self.activation = np.dtype(dtype), "relu"
        self.weight_decay = check_decay(weight_decay, "VGG")
        rng = as_generator(seed)
        layers, self.names, width, k = [], [], self.channels, 0
        for b, block in enumerate(self.blocks, 1):
            for c in block:
                k += 1
                layers += [Conv2d(width, c, 3, padding=1, dtype=dtype, generator=rng),
                           make_activation("relu")]
                self.names += [f"c{k}", f"h{k}"]
                width = c
            layers.append(MaxPool2d(2))
            self.names.append(f"p{b}")
        self.features = Sequential(*layers)
        flat = width * (self.side // shrink) ** 2
        self.classifier = Sequential(Linear(flat, outputs, dtype=dtype, generator=rng))
        self.name_parameters()
        self.clear_intermediates()

    def forward(self, x: Any) -> Tensor:
        """Return the logits ``o`` (N, outputs), or (outputs,) for one image."""
        x = as_tensor(x, self.dtype)
        one, c, s = x.ndim == 1, self.channels, self.side
        if x.ndim in (1, 2) and x.shape[-1] == self.inputs:
            x = F.reshape(x, (-1, c, s, s))
        elif x.ndim != 4 or x.shape[1:] != (c, s, s):
            raise ShapeError(f"VGG: x.shape={x.shape}; expected (N, {self.inputs}), "
                             f"({self.inputs},) or (N, {c}, {s}, {s})")
        named: dict[str, Tensor] = {}
        for name, layer in zip(self.names, self.features):
            x = named[name] = labelled(layer(x), name)
        x = named["o"] = labelled(self.classifier[0](F.reshape(x, (x.shape[0], -1))), "o")
        self._record(named)
        return F.reshape(x, x.shape[1:]) if one else x

    def extra_repr(self) -> str:
        return (f"blocks={self.blocks}, inputs={self.inputs}, channels={self.channels}, "
                f"weight_decay={self.weight_decay:g}")


CNNS = ("lenet", "lenet-relu", "vgg")     # the convolutional networks the commands size


def build_cnn(model: str, inputs: int = 784, classes: int = 10, *, weight_decay: float = 0.0,
              dtype: Any = np.float32, seed: int = 0) -> LeNet | VGG:
    """The CNN named ``model`` (one of :data:`CNNS`): the book's LeNet, LeNet-ReLU, or
    :class:`VGG` with its default blocks."""
    if model == "vgg":
        return VGG(inputs, classes, weight_decay=weight_decay, dtype=dtype, seed=seed)
    if model not in CNNS:
        raise ShapeError(f"model={model!r}: choose one of {', '.join(CNNS)}")
    return LeNet(inputs, classes, "book" if model == "lenet" else "relu",
                 weight_decay=weight_decay, dtype=dtype, seed=seed)
