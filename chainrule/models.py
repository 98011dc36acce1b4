"""The chapter's network (``ChapterMLP``), its deeper cousin (``MLP``) and the next chapter's
``LeNet``, with named graphs.

Both models name the tensors of their forward pass after the chapter's symbols (``z``, ``h``,
``o``; ``z1, h1, z2, h2, ..., o`` for deeper nets) and their objective ``L``, ``s`` and ``J``,
so drawings, reports and errors speak the chapter's language.

Memory: what the models keep between calls
-------------------------------------------
After a forward pass *that records a graph*, ``model.intermediates`` maps each name to its
tensor; after :meth:`ChapterMLP.objective`, ``model.last_objective`` maps ``L``, ``s`` (when
built) and ``J``.  Each forward pass replaces ``intermediates`` (and each objective
``last_objective``) with a new dict, so only the last call's tensors are kept; inside
``no_grad()`` the dicts are emptied and nothing is stored.  The stored tensors keep their arrays
alive (``z`` and ``h`` are N x hidden each) and, until ``backward()`` frees it, the graph that
made them with its saved values.  Call :meth:`ChapterMLP.clear_intermediates` to let all of it
go at once, and predict under ``no_grad()``.

>>> import numpy as np
>>> from chainrule.models import ChapterMLP
>>> model = ChapterMLP(inputs=4, hidden=3, outputs=2, weight_decay=0.1, dtype=np.float64, seed=0)
>>> J = model.objective(np.ones((5, 4)), np.array([0, 1, 1, 0, 1]))
>>> [J.grad_fn.name, *model.intermediates, *model.last_objective]
['J', 'z', 'h', 'o', 'L', 's', 'J']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import functional as F
from .errors import ShapeError
from .core.modes import is_grad_enabled
from .nn import init as I
from .nn.conv import AvgPool2d, Conv2d, MaxPool2d
from .nn.functional.conv import pad
from .nn.init import as_generator
from .nn.layers import INITS, Linear, as_tensor, positive_count
from .nn.layers import activation as make_activation
from .nn.module import Module, Sequential, parameter
from .core.tensor import DISPLAY, Tensor

__all__ = ["ChapterMLP", "MLP", "LeNet", "VGG", "CNNS", "build_cnn"]


def _named(t: Tensor, name: str) -> Tensor:
    t.name = name
    return t


class _Objective(Module):
    """What the two models share: recording intermediates and building L, s, J."""

    weight_decay: float = 0.0

    def _record(self, names_and_tensors: dict[str, Tensor]) -> None:
        self.intermediates = names_and_tensors if is_grad_enabled() else {}

    def _repr_svg_(self) -> str | None:
        """The model's computational graph on one example, drawn in a notebook."""
        draw = DISPLAY.get("model")                  # chainrule.viz registers it
        return draw(self) if draw is not None else None

    def clear_intermediates(self) -> None:
        """Drop the stored intermediates and objective (and the graphs they keep alive)."""
        self.intermediates = {}
        self.last_objective = {}

    def weight_decay_parameters(self) -> list[Tensor]:
        """The parameters the penalty ``s`` covers: the weight matrices, never the biases."""
        raise NotImplementedError

    def objective(self, x: Any, y: Any) -> Tensor:
        """``J = L + s``: mean cross-entropy ``L`` plus ``s = weight_decay / 2 * sum ||W||^2``.

        ``s`` is built only when ``weight_decay > 0``; otherwise ``J`` *is* ``L`` (no zero term
        is added, and the returned tensor keeps the name ``"L"``).  One example (``x`` of shape
        (inputs,), ``y`` an int) is treated as a batch of one.  ``last_objective`` holds ``L``,
        ``s`` (when built) and ``J``.
        """
        o = self.forward(x)
        labels = y if isinstance(y, Tensor) else np.asarray(y)   # a tensor keeps its name (y)
        if o.ndim == 1:
            o, labels = o[None], labels.reshape(1)
        L = _named(F.cross_entropy(o, labels), "L")
        parts = {"L": L}
        J = L
        if self.weight_decay > 0:
            squares = [F.sumsq(w) for w in self.weight_decay_parameters()]
            total = squares[0]
            for term in squares[1:]:
                total = total + term
            parts["s"] = s = _named(self.weight_decay / 2 * total, "s")
            J = _named(L + s, "J")
        parts["J"] = J
        self.last_objective = parts if is_grad_enabled() else {}
        return J


def _check_decay(weight_decay: float, where: str) -> float:
    if not weight_decay >= 0:
        raise ShapeError(f"{where}: weight_decay={weight_decay!r} must be >= 0 (it is lambda "
                         "in s = lambda/2 ||W||^2)")
    return float(weight_decay)


class ChapterMLP(_Objective):
    """The chapter's one-hidden-layer network: ``z = W1 x``, ``h = phi(z)``, ``o = W2 h``.

    Parameters ``W1`` (hidden, inputs) and ``W2`` (outputs, hidden), and with ``bias=True`` a
    hidden bias ``b1`` (hidden,), which the penalty ``s`` does not cover (exercise 2).  A batch
    ``x`` of shape (N, inputs) is computed as ``z = x @ W1.T (+ b1)``, ``o = h @ W2.T``.
    ``seed`` seeds the initialisation (``init`` as in :class:`~chainrule.nn.Linear`); without
    it, ``cr.random.generator`` is used.  See the module docstring for what is kept in memory.
    """

    def __init__(self, inputs: int = 784, hidden: int = 256, outputs: int = 10,
                 bias: bool = False, activation: str = "relu", weight_decay: float = 0.0,
                 dtype: Any = np.float32, seed: int | None = None, *,
                 init: str = "kaiming") -> None:
        super().__init__()
        self.inputs = positive_count(inputs, "inputs", "ChapterMLP")
        self.hidden = positive_count(hidden, "hidden", "ChapterMLP")
        self.outputs = positive_count(outputs, "outputs", "ChapterMLP")
        self.activation = activation
        self.phi = make_activation(activation)
        self.weight_decay = _check_decay(weight_decay, "ChapterMLP")
        self.dtype = np.dtype(dtype)
        if init not in INITS:
            raise ShapeError(f"ChapterMLP: unknown init {init!r}; choose one of "
                             f"{', '.join(INITS)}")
        rng = as_generator(seed)
        self.W1 = parameter(np.zeros((self.hidden, self.inputs), self.dtype), name="W1")
        self.W2 = parameter(np.zeros((self.outputs, self.hidden), self.dtype), name="W2")
        INITS[init](self.W1, rng)
        INITS[init](self.W2, rng)
        self.b1 = parameter(np.zeros(self.hidden, self.dtype), name="b1") if bias else None
        self.clear_intermediates()

    def forward(self, x: Any) -> Tensor:
        """Return the logits ``o`` for ``x`` of shape (N, inputs) or (inputs,)."""
        x = as_tensor(x, self.dtype)
        if x.ndim not in (1, 2) or x.shape[-1] != self.inputs:
            raise ShapeError(f"ChapterMLP: x.shape={x.shape}; expected (N, {self.inputs}) or "
                             f"({self.inputs},)")
        z = x @ self.W1.T
        if self.b1 is not None:
            z = z + self.b1
        z = _named(z, "z")
        h = _named(self.phi(z), "h")
        o = _named(h @ self.W2.T, "o")
        self._record({"z": z, "h": h, "o": o})
        return o

    def weight_decay_parameters(self) -> list[Tensor]:
        """``[W1, W2]``: the parameters the chapter's penalty ``s`` covers."""
        return [self.W1, self.W2]

    def extra_repr(self) -> str:
        return (f"inputs={self.inputs}, hidden={self.hidden}, outputs={self.outputs}, "
                f"bias={self.b1 is not None}, activation={self.activation!r}, "
                f"weight_decay={self.weight_decay:g}")


class MLP(_Objective):
    """A multilayer perceptron of any depth: Linear layers of ``widths``, ``activation``
    between them, none after the last.

    ``widths=[784, 256, 256, 10]`` gives ``layers.0`` Linear(784, 256), ``layers.1`` the
    activation, ``layers.2`` Linear(256, 256), ... ; the forward pass names its tensors
    ``z1, h1, z2, h2, ..., o``.  ``objective`` is the chapter's, with ``s`` summing the squared
    weights of every layer (biases excluded).  Parameters are named after their dotted names.
    """

    def __init__(self, widths: Sequence[int] = (784, 256, 256, 10), activation: str = "relu",
                 bias: bool = True, weight_decay: float = 0.0, dtype: Any = np.float32,
                 seed: int | None = None, *, init: str = "kaiming") -> None:
        super().__init__()
        widths = list(widths)
        if len(widths) < 2:
            raise ShapeError(f"MLP: widths={widths} needs at least an input and an output "
                             "width, e.g. [784, 10]")
        self.widths = [positive_count(w, f"widths[{i}]", "MLP") for i, w in enumerate(widths)]
        make_activation(activation)      # check the name before building anything
        self.activation = activation
        self.weight_decay = _check_decay(weight_decay, "MLP")
        rng = as_generator(seed)
        self.layers = Sequential()
        for i, (n_in, n_out) in enumerate(zip(self.widths[:-1], self.widths[1:])):
            if i:
                self.layers.append(make_activation(activation))
            self.layers.append(Linear(n_in, n_out, bias=bias, dtype=dtype, init=init,
                                      generator=rng))
        self.name_parameters()
        self.clear_intermediates()

    def forward(self, x: Any) -> Tensor:
        """Return the logits ``o`` for ``x`` of shape (N, widths[0]) or (widths[0],)."""
        x = as_tensor(x, self.layers[0].weight.dtype)
        named: dict[str, Tensor] = {}
        recording = is_grad_enabled()    # a prediction keeps no intermediates alive
        last = len(self.layers) - 1
        k = 0
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i == last:
                name = "o"
            elif isinstance(layer, Linear):
                k += 1
                name = f"z{k}"
            else:
                name = f"h{k}"
            _named(x, name)
            if recording:
                named[name] = x
        self._record(named)
        return x

    def weight_decay_parameters(self) -> list[Tensor]:
        """Every layer's weight matrix (no biases)."""
        return [layer.weight for layer in self.layers if isinstance(layer, Linear)]

    def extra_repr(self) -> str:
        return f"widths={self.widths}, weight_decay={self.weight_decay:g}"


class LeNet(_Objective):
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
        self.weight_decay = _check_decay(weight_decay, "LeNet")
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
            _named(h, "image")                      # the 28x28 image the first conv reads
        named: dict[str, Tensor] = {}
        names = ["c1", "h1", "p1", "c2", "h2", "p2", "z3", "h3", "z4", "h4", "o"]
        for layer in self.features:
            h = named[names[len(named)]] = _named(layer(h), names[len(named)])
        h = F.reshape(h, (h.shape[0], -1))
        for layer in self.classifier:
            h = named[names[len(named)]] = _named(layer(h), names[len(named)])
        self._record(named)
        return F.reshape(h, h.shape[1:]) if one else h

    def weight_decay_parameters(self) -> list[Tensor]:
        """Every kernel and weight matrix (no biases)."""
        return [m.weight for m in (*self.features, *self.classifier) if hasattr(m, "weight")]

    def extra_repr(self) -> str:
        return (f"variant={self.variant!r}, inputs={self.inputs}, "
                f"weight_decay={self.weight_decay:g}")


class VGG(_Objective):
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
        self.weight_decay = _check_decay(weight_decay, "VGG")
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
            x = named[name] = _named(layer(x), name)
        x = named["o"] = _named(self.classifier[0](F.reshape(x, (x.shape[0], -1))), "o")
        self._record(named)
        return F.reshape(x, x.shape[1:]) if one else x

    def weight_decay_parameters(self) -> list[Tensor]:
        """Every kernel and the head's weight (no biases)."""
        return [m.weight for m in (*self.features, *self.classifier) if hasattr(m, "weight")]

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
