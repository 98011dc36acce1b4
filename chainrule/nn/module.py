"""``Module``: a callable that owns parameters and child modules; ``Sequential`` chains them.

How a module finds its parameters and children (the one rule to remember)
-------------------------------------------------------------------------
Assigning an attribute registers it, in assignment order:

* a **leaf Tensor with** ``requires_grad=True`` (make one with :func:`parameter`) becomes a
  parameter under the attribute's name;
* a **Module** becomes a child, and its parameters appear under ``child_name.param_name``.

Nothing else is registered: a tensor without ``requires_grad`` (a constant), the output of an
operator, or a dict of tensors stays an ordinary attribute.  A list or tuple of modules is
refused (their parameters would be invisible): use :class:`Sequential`.  A registered
parameter stays registered if you later set ``requires_grad = False`` (freezing it): it keeps
its place in ``state_dict()``, and optimizers skip it because its ``grad`` stays ``None``.
Assigning something else to the name (``self.bias = None``) unregisters it.

Traversals (:meth:`Module.named_modules`, :meth:`Module.named_parameters`) are iterative and
pre-order (a module's own parameters, then each child's, in registration order, as in
PyTorch), and visit a shared module or tensor once, under its first name.

>>> import numpy as np
>>> from chainrule import nn
>>> net = nn.Sequential(nn.Linear(3, 4, generator=0), nn.ReLU(), nn.Linear(4, 2, generator=1))
>>> [name for name, _ in net.named_parameters()]
['0.weight', '0.bias', '2.weight', '2.bias']
>>> net(np.ones((5, 3), dtype=np.float32)).shape
(5, 2)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from .. import backend
from ..creation import tensor
from ..errors import DTypeError, ShapeError
from ..core.device import device as device_type
from ..core.device import transfer
from ..core.modes import no_grad
from ..core.tensor import Tensor

__all__ = ["Module", "Sequential", "parameter"]


def parameter(data: Any, name: str | None = None, dtype: Any = None) -> Tensor:
    """A new parameter: a leaf tensor holding a copy of ``data``, with ``requires_grad=True``.

    >>> parameter([[1.0, 2.0]], name="W").requires_grad
    True
    """
    return tensor(data, requires_grad=True, dtype=dtype, name=name)


def _is_parameter(value: Any) -> bool:
    return isinstance(value, Tensor) and value.requires_grad and value.is_leaf


class Module:
    """Base class of layers and models: override ``forward``; call the module to run it."""

    training: bool = True

    def __init__(self) -> None:
        self._registries()
        self.training = True

    def _registries(self) -> tuple[dict[str, Tensor], dict[str, Module]]:
        # created on first use too, so a subclass that forgets super().__init__() still works
        state = self.__dict__
        if "_parameters" not in state:
            object.__setattr__(self, "_parameters", {})
            object.__setattr__(self, "_modules", {})
        return state["_parameters"], state["_modules"]

    def __setattr__(self, name: str, value: Any) -> None:
        parameters, modules = self._registries()
        parameters.pop(name, None)
        modules.pop(name, None)
        buffers = self.__dict__.get("_buffers")
        if buffers and name in buffers:          # a buffer stays one while it holds a tensor
            if isinstance(value, Tensor):
                buffers[name] = value
            else:
                del buffers[name]
        if _is_parameter(value):
            parameters[name] = value
        elif isinstance(value, Module):
            modules[name] = value
        elif isinstance(value, (list, tuple)) and any(
                isinstance(v, Module) or _is_parameter(v) for v in value):
            raise DTypeError(
                f"{type(self).__name__}.{name}: a {type(value).__name__} of modules or "
                "parameters is not registered, so parameters() would miss them; use "
                "nn.Sequential(*modules) for modules, or one attribute per parameter"
            )
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        parameters, modules = self._registries()
        parameters.pop(name, None)
        modules.pop(name, None)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, value: Tensor) -> None:
        """Register ``value`` (a leaf tensor with ``requires_grad``) as parameter ``name``."""
        if not _is_parameter(value):
            raise DTypeError(f"register_parameter({name!r}): expected a leaf tensor with "
                             "requires_grad=True; make one with nn.parameter(data)")
        self._check_name(name)
        setattr(self, name, value)

    def register_buffer(self, name: str, value: Any) -> None:
        """Register ``value`` (a tensor that takes no gradient: running statistics) as buffer
        ``name``: it is in ``state_dict()`` and loaded by ``load_state_dict``, but optimizers
        never see it."""
        self._check_name(name)
        value = value if isinstance(value, Tensor) else tensor(value)
        if value.requires_grad:
            raise DTypeError(f"register_buffer({name!r}): a buffer takes no gradient; use "
                             "register_parameter for a tensor that trains")
        self.__dict__.setdefault("_buffers", {})[name] = value
        object.__setattr__(self, name, value)

    def named_buffers(self) -> Iterator[tuple[str, Tensor]]:
        """Yield ``(dotted name, buffer)`` pairs (``bn.running_mean``), module by module."""
        for prefix, module in self.named_modules():
            for key, b in module.__dict__.get("_buffers", {}).items():
                yield (f"{prefix}.{key}" if prefix else key), b

    def add_module(self, name: str, module: Module) -> None:
        """Register ``module`` as child ``name``."""
        if not isinstance(module, Module):
            raise DTypeError(f"add_module({name!r}): expected a Module, got "
                             f"{type(module).__name__}")
        self._check_name(name)
        setattr(self, name, module)

    @staticmethod
    def _check_name(name: str) -> None:
        if not isinstance(name, str) or not name or "." in name:
            raise ShapeError(f"invalid name {name!r}: names must be non-empty strings without "
                             "'.' (the dot separates levels in named_parameters())")

    # ----------------------------------------------------------------- running
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Compute the module's output; subclasses override this."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ----------------------------------------------------------------- traversal
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """Yield ``(dotted name, module)`` for this module (``prefix``) and each descendant."""
        seen: set[int] = set()
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{key}" if name else key, child)
                        for key, child in module._registries()[1].items()]
            stack.extend(reversed(children))

    def modules(self) -> list[Module]:
        """This module and every descendant, pre-order, each once."""
        return [m for _, m in self.named_modules()]

    def children(self) -> list[Module]:
        """The direct child modules, in registration order."""
        return list(self._registries()[1].values())

    def named_parameters(self) -> Iterator[tuple[str, Tensor]]:
        """Yield ``(dotted name, parameter)`` pairs, each tensor once (``layers.0.weight``)."""
        seen: set[int] = set()
        for prefix, module in self.named_modules():
            for key, p in module._registries()[0].items():
                if id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{prefix}.{key}" if prefix else key), p

    def parameters(self) -> list[Tensor]:
        """Every parameter, in the order of :meth:`named_parameters`, each once."""
        return [p for _, p in self.named_parameters()]

    def name_parameters(self) -> Module:
        """Set each parameter's ``.name`` to its dotted name (for drawings and errors)."""
        for name, p in self.named_parameters():
            p.name = name
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient (``grad = None``), or with ``set_to_none=False``
        fill the gradients there are with zeros, as PyTorch does."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.detach().zero_()

    def apply(self, fn: Any) -> Module:
        """Call ``fn(module)`` on every descendant, children before parents, then on ``self``
        (PyTorch's order: ``net.apply(init_weights)``); returns ``self``."""
        order, stack = [], [self]
        while stack:                        # pre-order with children reversed, then reversed
            module = stack.pop()
            order.append(module)
            stack.extend(module.children())
        for module in reversed(order):
            fn(module)
        return self

    def to(self, *args: Any, dtype: Any = None, device: Any = None) -> Module:
        """Move every parameter and buffer to ``device`` and convert the float ones to
        ``dtype``, in place (the same tensors, so an optimizer made before still holds them);
        ``net.to("cuda")``, ``net.to(cr.float64)``, ``net.to("cpu", cr.float64)``; returns
        ``self``.  Gradients move with their parameters."""
        for a in args:
            if isinstance(a, (str, device_type)):
                device = a
            else:
                dtype = a
        target = None if device is None else (
            device if isinstance(device, device_type) else device_type(device))
        with no_grad():
            for t in (*self.parameters(), *(b for _, b in self.named_buffers())):
                if target is not None:
                    t._data = transfer(t._data, target)
                    if t.grad is not None:
                        t.grad._data = transfer(t.grad._data, target)
                if dtype is not None and t._data.dtype.kind == "f":
                    t._data = t._data.astype(dtype)
        return self

    def cpu(self) -> Module:
        """``self.to("cpu")``."""
        return self.to("cpu")

    def cuda(self, device: Any = None) -> Module:
        """``self.to("cuda")`` (:class:`~chainrule.errors.DeviceError` without a GPU)."""
        return self.to(device_type("cuda", device))

    def train(self, mode: bool = True) -> Module:
        """Set ``training`` on this module and every descendant; returns ``self``."""
        for module in self.modules():
            module.training = bool(mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode (``train(False)``): dropout becomes the identity."""
        return self.train(False)

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, np.ndarray]:
        """An ordered dict: dotted name -> a NumPy copy, module by module its parameters and
        then its buffers (PyTorch's order), each tensor once."""
        out, seen = {}, set()
        for prefix, module in self.named_modules():
            own = (*module._registries()[0].items(), *module.__dict__.get("_buffers", {}).items())
            for key, t in own:
                if id(t) not in seen:
                    seen.add(id(t))
                    out[f"{prefix}.{key}" if prefix else key] = backend.to_numpy(t.data).copy()
        return out

    def load_state_dict(self, state: Mapping[str, Any],
                        strict: bool = True) -> tuple[list[str], list[str]]:
        """Copy ``state`` into the parameters, after checking every key first.

        ``state`` must be a dict (:class:`DTypeError` otherwise, naming the parameters wanted).

        With ``strict`` every parameter must be in ``state`` and nothing else may be.  Each
        value must have its parameter's shape and dtype.  All problems are reported together
        in one :class:`ShapeError`, and then nothing is copied.  Returns ``(missing,
        unexpected)`` key lists (both empty under ``strict``).
        """
        if not isinstance(state, Mapping):
            names = ", ".join(repr(k) for k, _ in self.named_parameters()) or "none"
            raise DTypeError(
                f"load_state_dict({type(self).__name__}): state must be a dict of parameter "
                f"name -> array, as state_dict() returns, got {type(state).__name__}; this "
                f"module's parameters are {names}")
        own = {**dict(self.named_parameters()), **dict(self.named_buffers())}
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        problems = []
        if strict:
            problems += [f"missing key {k!r} (the parameter has shape {own[k].shape}, dtype "
                         f"{own[k].dtype})" for k in missing]
            problems += [f"unexpected key {k!r} (shape {np.shape(state[k])}); this module "
                         "has no such parameter" for k in unexpected]
        values = {}
        for key, p in own.items():
            if key not in state:
                continue
            value = state[key]
            value = value.data if isinstance(value, Tensor) else value
            shape, dtype = np.shape(value), getattr(value, "dtype", None)
            if shape != p.shape or dtype != p.dtype:
                problems.append(f"key {key!r}: shape {shape}, dtype {dtype} in the state, but "
                                f"the parameter has shape {p.shape}, dtype {p.dtype}")
                continue
            values[key] = value
        if problems:
            hint = ("; pass strict=False to skip missing and unexpected keys"
                    if strict and (missing or unexpected) else "")
            raise ShapeError(
                f"load_state_dict({type(self).__name__}): {len(problems)} problem(s), nothing "
                "was loaded:\n  " + "\n  ".join(problems) + hint
            )
        with no_grad():
            for key, value in values.items():
                own[key].copy_(transfer(np.asarray(backend.to_numpy(value)), own[key].device))
        return missing, unexpected

    # ----------------------------------------------------------------- display
    def extra_repr(self) -> str:
        """The text inside the parentheses of this module's repr (its options)."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        children = [f"({key}): " + repr(child).replace("\n", "\n  ")
                    for key, child in self._registries()[1].items()]
        if not children:
            return f"{type(self).__name__}({extra})"
        lines = ([extra] if extra else []) + children
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


class Sequential(Module):
    """Modules applied in order; child ``i`` is named ``"i"`` (``layers.0.weight``).

    >>> from chainrule import nn
    >>> nn.Sequential(nn.Linear(2, 3, generator=0), nn.Tanh())
    Sequential(
      (0): Linear(in_features=2, out_features=3, bias=True)
      (1): Tanh()
    )
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for module in modules:
            self.append(module)

    def append(self, module: Module) -> Sequential:
        """Add ``module`` at the end; returns ``self``."""
        if not isinstance(module, Module):
            raise DTypeError(f"Sequential: item {len(self)} is a {type(module).__name__}, "
                             "not a Module; wrap functions in a Module subclass")
        self.add_module(str(len(self)), module)
        return self

    def __len__(self) -> int:
        return len(self._registries()[1])

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self._registries()[1].values()))

    def __getitem__(self, index: int | slice) -> Any:
        items = list(self._registries()[1].values())
        if isinstance(index, slice):
            return Sequential(*items[index])
        return items[index]

    def forward(self, x: Any) -> Any:
        """Apply each module to the previous one's output."""
        for module in self:
            x = module(x)
        return x
