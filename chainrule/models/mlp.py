"""The chapter's network (``ChapterMLP``) and its deeper cousin (``MLP``), and what every model
here shares (:class:`Objective`: the named intermediates and ``J = L + s``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import functional as F
from ..errors import ShapeError
from ..core.modes import is_grad_enabled
from ..nn.init import as_generator
from ..nn.layers import INITS, Linear, as_tensor, positive_count
from ..nn.layers import activation as make_activation
from ..nn.module import Module, Sequential, parameter
from ..core.tensor import DISPLAY, Tensor

__all__ = ["ChapterMLP", "MLP", "Objective", "labelled", "check_decay"]

def labelled(t: Tensor, name: str) -> Tensor:
    t.name = name
    return t


class Objective(Module):
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
        L = labelled(F.cross_entropy(o, labels), "L")
        parts = {"L": L}
        J = L
        if self.weight_decay > 0:
            squares = [F.sumsq(w) for w in self.weight_decay_parameters()]
            total = squares[0]
            for term in squares[1:]:
                total = total + term
            parts["s"] = s = labelled(self.weight_decay / 2 * total, "s")
            J = labelled(L + s, "J")
        parts["J"] = J
        self.last_objective = parts if is_grad_enabled() else {}
        return J


def check_decay(weight_decay: float, where: str) -> float:
    if not weight_decay >= 0:
        raise ShapeError(f"{where}: weight_decay={weight_decay!r} must be >= 0 (it is lambda "
                         "in s = lambda/2 ||W||^2)")
    return float(weight_decay)


class ChapterMLP(Objective):
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
        self.weight_decay = check_decay(weight_decay, "ChapterMLP")
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
        z = labelled(z, "z")
        h = labelled(self.phi(z), "h")
        o = labelled(h @ self.W2.T, "o")
        self._record({"z": z, "h": h, "o": o})
        return o

    def weight_decay_parameters(self) -> list[Tensor]:
        """``[W1, W2]``: the parameters the chapter's penalty ``s`` covers."""
        return [self.W1, self.W2]

    def extra_repr(self) -> str:
        return (f"inputs={self.inputs}, hidden={self.hidden}, outputs={self.outputs}, "
                f"bias={self.b1 is not None}, activation={self.activation!r}, "
                f"weight_decay={self.weight_decay:g}")


class MLP(Objective):
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
        self.weight_decay = check_decay(weight_decay, "MLP")
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
            labelled(x, name)
            if recording:
                named[name] = x
        self._record(named)
        return x

    def weight_decay_parameters(self) -> list[Tensor]:
        """Every layer's weight matrix (no biases)."""
        return [layer.weight for layer in self.layers if isinstance(layer, Linear)]

    def extra_repr(self) -> str:
        return f"widths={self.widths}, weight_decay={self.weight_decay:g}"
