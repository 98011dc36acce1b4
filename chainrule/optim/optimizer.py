"""What every optimizer shares (:class:`Optimizer`); ``SGD``, ``Adam`` and ``AdamW`` are in
:mod:`chainrule.optim.algorithms`.

The update equations are PyTorch's (``torch.optim``), written out in each class's docstring,
so a run here and a run there from the same values agree to rounding.  Each step reads the
gradient's array, computes the update with array arithmetic on the optimizer's own state (plain
arrays), and applies it with ``p.sub_`` / ``p.mul_`` inside ``no_grad()``, which bumps the
parameter's version counter: a graph that saved the old value refuses to run backward through it.
A parameter whose ``grad`` is ``None`` is skipped (its state is not touched).

Parameter groups work as in PyTorch: ``params`` is an iterable of tensors, or of dicts each
with ``"params"`` and any options that differ from the defaults::

    SGD([{"params": [W1, W2], "weight_decay": 1e-4}, {"params": [b1]}], lr=0.1)

``state_dict()`` holds only NumPy arrays and Python scalars; :func:`flatten_state_dict` splits
it into named arrays and JSON metadata for :func:`chainrule.storage.save_checkpoint`, and
:func:`unflatten_state_dict` puts it back together, bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from numbers import Real
from typing import Any

import numpy as np

from .. import backend
from ..errors import DTypeError, ShapeError
from ..core.device import device_of, transfer
from ..core.modes import enable_grad, no_grad
from ..core.tensor import Tensor

__all__ = ["Optimizer", "check_option", "flatten_state_dict", "unflatten_state_dict"]


def check_option(where: str, name: str, value: Any, ok: Callable[[float], bool],
                 fix: str) -> None:
    """Raise ShapeError naming the option, its value and the fix unless ``ok(value)``."""
    if isinstance(value, bool) or not isinstance(value, Real) or not ok(value):
        raise ShapeError(f"{where}: {name}={value!r} is invalid; {fix}")


class Optimizer:
    """Base class: holds parameter groups and per-parameter state; subclasses define ``_update``.

    ``state`` maps ``id(param)`` to that parameter's dict of arrays and scalars (ids, not the
    tensors: a Tensor's ``==`` is elementwise, so it cannot be a safe dict key).
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], defaults: dict) -> None:
        if isinstance(params, Tensor):
            raise DTypeError(f"{type(self).__name__}: params must be an iterable of tensors "
                             "(or of dicts), got a single Tensor; pass [tensor]")
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[int, dict[str, Any]] = {}
        groups = list(params)
        if not groups:
            raise ShapeError(f"{type(self).__name__}: got an empty parameter list; pass "
                             "model.parameters()")
        if not isinstance(groups[0], Mapping):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: Mapping[str, Any]) -> None:
        """Add a group: a dict with ``"params"`` and options overriding the defaults."""
        where = type(self).__name__
        if not isinstance(group, Mapping) or "params" not in group:
            raise DTypeError(f"{where}: a parameter group must be a dict with a 'params' key, "
                             f"got {type(group).__name__}")
        group = dict(group)
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        taken = {id(p) for g in self.param_groups for p in g["params"]}
        for i, p in enumerate(params):
            if not isinstance(p, Tensor) or not p.is_leaf or p.dtype.kind != "f":
                raise DTypeError(f"{where}: parameter {i} of group {len(self.param_groups)} "
                                 "is not a floating-point leaf tensor; optimizers update "
                                 "parameters made with requires_grad=True")
            if id(p) in taken:
                raise ShapeError(f"{where}: parameter {i} of group {len(self.param_groups)} "
                                 f"(shape {p.shape}) appears twice; give each parameter to "
                                 "one group only")
            taken.add(id(p))
        group["params"] = params
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group: dict[str, Any]) -> None:
        """Validate a group's options (subclasses)."""

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradient of every parameter (``grad = None``), or with
        ``set_to_none=False`` fill the gradients there are with zeros, as PyTorch does."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad.detach().zero_()

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()`` if given."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        state = self.state.setdefault(id(p), {})
                        _follow(p._data, state)
                        self._update(p, p.grad._data, state, group)
        return loss

    def _update(self, p: Tensor, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        raise NotImplementedError

    # ----------------------------------------------------------------- state
    def _params(self) -> list[Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {name: array or scalar}}, "param_groups": [...]}``, copied.

        Parameters are numbered across the groups in order, as in PyTorch; each group lists
        its options and the indices of its parameters.
        """
        state = {}
        for i, p in enumerate(self._params()):
            if self.state.get(id(p)):
                state[i] = {key: _plain(value) for key, value in self.state[id(p)].items()}
        groups, start = [], 0
        for group in self.param_groups:
            options = {k: v for k, v in group.items() if k != "params"}
            groups.append({**options, "params": list(range(start, start + len(group["params"])))})
            start += len(group["params"])
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` after checking all of it; every problem is reported.

        ``state_dict`` must be a dict with ``"state"`` and ``"param_groups"``
        (:class:`DTypeError` otherwise).  The groups must match in number and size, each
        option must be valid, and each array its parameter's shape and dtype; otherwise
        :class:`ShapeError` lists every problem and nothing changes.
        """
        where = f"{type(self).__name__}.load_state_dict"
        _check_layout(where, state_dict)
        params = self._params()
        groups, problems = list(state_dict["param_groups"]), []
        if len(groups) != len(self.param_groups):
            problems.append(f"{len(groups)} parameter group(s) in the state, "
                            f"{len(self.param_groups)} in this optimizer")
        for k, (saved, own) in enumerate(zip(groups, self.param_groups)):
            if len(saved["params"]) != len(own["params"]):
                problems.append(f"group {k} has {len(saved['params'])} parameter(s) in the "
                                f"state, {len(own['params'])} in this optimizer")
            try:
                self._check_group(self._merged(own, saved))
            except (ShapeError, DTypeError, TypeError, ValueError) as exc:
                problems.append(f"group {k}: {exc}")
        state = {int(i): entry for i, entry in state_dict["state"].items()}
        for i, entry in sorted(state.items()):
            if not 0 <= i < len(params):
                problems.append(f"state of parameter {i}: no such parameter (there are "
                                f"{len(params)})")
                continue
            for key, value in entry.items():
                if isinstance(value, np.ndarray) and (value.shape != params[i].shape
                                                      or value.dtype != params[i].dtype):
                    problems.append(f"state {key!r} of parameter {i}: shape {value.shape}, "
                                    f"dtype {value.dtype}, but the parameter has shape "
                                    f"{params[i].shape}, dtype {params[i].dtype}")
                elif isinstance(value, bool) or not isinstance(value, (np.ndarray, Real)):
                    problems.append(f"state {key!r} of parameter {i}: {value!r:.40} is not an "
                                    "array or a number")
        if problems:
            raise ShapeError(f"{where}: {len(problems)} problem(s), nothing was loaded:\n  "
                             + "\n  ".join(problems)
                             + "\nbuild the optimizer over the same parameters, in the same "
                             "groups and order, as the one that was saved")
        for saved, own in zip(groups, self.param_groups):
            own.update(self._merged(own, saved))
        self.state = {
            id(params[i]): {key: (transfer(np.array(v, copy=True), params[i].device)
                                  if isinstance(v, np.ndarray) else v)
                            for key, v in entry.items()}
            for i, entry in state.items()
        }

    def _merged(self, own: dict[str, Any], saved: Mapping[str, Any]) -> dict[str, Any]:
        """``own`` group with ``saved``'s options (tuples where the defaults have tuples)."""
        merged = dict(own)
        for key, value in saved.items():
            if key != "params":
                default = self.defaults.get(key)
                merged[key] = tuple(value) if isinstance(default, tuple) else value
        return merged

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for k, group in enumerate(self.param_groups):
            options = ", ".join(f"{key}={value}" for key, value in group.items()
                                if key != "params")
            lines.append(f"  group {k}: {len(group['params'])} parameter(s), {options}")
        return "\n".join(lines + [")"])


def _follow(data, state: dict[str, Any]) -> None:
    """Move a parameter's state arrays to its device, where ``model.to(device)`` moved it."""
    for key, value in state.items():
        if isinstance(value, backend.ndarray_types) and type(value) is not type(data):
            state[key] = transfer(value, device_of(data))


def _check_layout(where: str, state_dict: Any) -> None:
    """Refuse a state dict without the parts :meth:`Optimizer.state_dict` writes."""
    fix = "pass what state_dict() returned"
    if not isinstance(state_dict, Mapping):
        raise DTypeError(f"{where}: expected a dict with 'state' and 'param_groups', got "
                         f"{type(state_dict).__name__}; {fix}")
    missing = [key for key in ("state", "param_groups") if key not in state_dict]
    if missing:
        raise DTypeError(f"{where}: the dict lacks {' and '.join(map(repr, missing))} (it has "
                         f"{sorted(map(str, state_dict))}); {fix}")
    groups, state = state_dict["param_groups"], state_dict["state"]
    if not isinstance(groups, (list, tuple)) or not all(
            isinstance(g, Mapping) and isinstance(g.get("params"), (list, tuple))
            for g in groups):
        raise DTypeError(f"{where}: 'param_groups' must be a list of dicts, each with a "
                         f"'params' list, got {groups!r:.80}; {fix}")
    if not isinstance(state, Mapping) or not all(
            isinstance(entry, Mapping) for entry in state.values()):
        raise DTypeError(f"{where}: 'state' must be a dict of parameter index -> dict, got "
                         f"{state!r:.80}; {fix}")
    for index in state:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer, str)) \
                or not str(index).isdigit():
            raise DTypeError(f"{where}: 'state' has the key {index!r}; keys are parameter "
                             f"indices 0, 1, ...; {fix}")


def _plain(value: Any) -> Any:
    """An optimizer-state value as a NumPy array copy or a Python scalar."""
    if isinstance(value, (int, float, bool)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    return backend.to_numpy(value).copy()


def flatten_state_dict(state_dict: Mapping[str, Any],
                       prefix: str = "optimizer") -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Split an optimizer ``state_dict`` into ``(arrays, meta)`` for ``save_checkpoint``.

    Arrays are named ``"{prefix}.state.{index}.{name}"``; ``meta`` (JSON-serialisable) holds
    the parameter groups and the scalar state (such as Adam's ``step``).

    >>> import numpy as np
    >>> arrays, meta = flatten_state_dict(
    ...     {"state": {0: {"step": 3, "exp_avg": np.zeros(2)}}, "param_groups": [{"params": [0]}]})
    >>> list(arrays), meta["state"]
    (['optimizer.state.0.exp_avg'], {'0': {'step': 3}})
    """
    arrays: dict[str, np.ndarray] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for i, entry in state_dict["state"].items():
        scalars[str(i)] = {}
        for key, value in entry.items():
            if isinstance(value, np.ndarray):
                arrays[f"{prefix}.state.{i}.{key}"] = value
            else:
                scalars[str(i)][key] = value
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in group.items()}
              for group in state_dict["param_groups"]]
    return arrays, {"param_groups": groups, "state": scalars}


def unflatten_state_dict(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any],
                         prefix: str = "optimizer") -> dict[str, Any]:
    """The inverse of :func:`flatten_state_dict`; arrays without the prefix are ignored."""
    state: dict[int, dict[str, Any]] = {int(i): dict(s) for i, s in meta["state"].items()}
    head = f"{prefix}.state."
    for name, value in arrays.items():
        if name.startswith(head):
            index, _, key = name[len(head):].partition(".")
            state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": [dict(g) for g in meta["param_groups"]]}
