"""Capture and replay: run a function once, keep its array calls as a flat plan, replay it.

Eager chainrule pays Python's price on every operator: a dispatch, a node, a tensor.  For a
step that runs thousands of times on the same shapes, :func:`compile` records that price once.
The first call of each input signature (shapes and dtypes) runs ``fn`` eagerly while a *tape*
is open: every operator call, in the forward pass, in the backward pass that ``cr.grad`` runs
inside ``fn`` (its VJP rules are chainrule operators too), and in forward-mode tangents, appends
``(forward function, input slots, parameters, output slot)``.  The tape becomes a
:class:`Plan`: a list of NumPy calls over numbered slots, each slot dropped after its last use.
Replaying it calls the same functions on the same kinds of operands in the same order, so the
results are the eager ones bit for bit (the tests check it on the chapter's step, a Hessian-
vector product and random graphs) at about the cost of the NumPy calls alone.

What a plan binds:

* ``fn``'s positional arguments (arrays or tensors) are its inputs, read at every call;
* a tensor ``fn`` reads from outside (a model's parameters) is bound to that tensor object, and
  its *current* data is read at every call, so an optimizer's in-place updates are seen;
* any other array an operator receives (a constant ``ones`` seed, an identity matrix) is kept
  as it was traced.

What a plan refuses, naming the user's line (:class:`ReplayError`): turning a tensor into a
Python value inside ``fn`` (``if t > 0``, ``bool``, ``float``, ``int``, ``.item()``,
``.tolist()``, ``.numpy()``), since the replay would keep the traced call's value or branch
for every input; write the branch with ``cr.where`` or pass the value in as an argument.  A
Python number ``fn`` reads from its own objects (``model.weight_decay``) is a constant of the
plan, not guarded: pass it as a tensor argument to make it a live input, or compile again
after changing it.

What a plan cannot do, and says so: an in-place change inside ``fn`` (keep updates outside),
``backward()`` inside ``fn`` (return ``cr.grad(...)``'s gradients instead), an input of another
shape or dtype (``compile`` traces a new plan for it).  Randomness or NumPy arithmetic done
outside chainrule's operators inside ``fn`` would be frozen at its traced value: the first replay
of every plan is therefore run beside the eager function and must match it bit for bit, or a
:class:`ReplayError` names the output that differs.

>>> import numpy as np, chainrule as cr
>>> w = cr.tensor([1.0, 2.0], requires_grad=True)
>>> def f(x):
...     loss = (w * x).sum()
...     return loss, cr.grad(loss, [w])[0]
>>> step = cr.compile(f)
>>> loss, g = step(np.array([3.0, 4.0]))       # traced, then checked against eager
>>> loss, g = step(np.array([5.0, 6.0]))       # replayed
>>> loss.item(), g.tolist()
(17.0, [5.0, 6.0])
"""

from __future__ import annotations

from typing import Any, Callable

from .. import backend
from ..errors import ReplayError
from ..core.modes import gc_paused, mode
from .registers import allocate
from .reuse import reuse
from .tape import Tape, dynamic_slots
from ..core.tensor import Tensor

__all__ = ["compile", "trace", "Plan", "Compiled", "ReplayError"]


class Plan:
    """A traced function as a flat list of array calls; call it like the function.

    ``len(plan)`` is the number of calls; ``plan.ops`` counts them by operator;
    ``plan.dropped`` the traced calls no output depends on (not replayed); ``plan.reused``
    the elementwise calls that write into a temporary they read last (``out=``);
    ``plan.signature`` is the (shape, dtype) of each input it was traced for.
    """

    def __init__(self, tape: Tape, input_slots: list[int | None], signature: tuple,
                 outputs: list[int], single: bool) -> None:
        self.signature = signature
        self._xp = backend.xp           # the module the traced operators ran on
        self._inputs = input_slots
        self._outputs = outputs
        self._single = single
        self._live = [(slot, t) for slot, t in tape.live]
        steps = _needed(tape.steps, outputs)
        self.dropped = len(tape.steps) - len(steps)
        last: dict[int, int] = {}
        for index, step in enumerate(steps):
            for slot in _reads(step):
                last[slot] = index
        keep = set(outputs)
        dies: list[list[int]] = [[] for _ in steps]
        for slot, index in last.items():
            if slot not in keep and tape.initial[slot] is None:
                dies[index].append(slot)      # made or bound per call: free after last use
        self._initial = tape.initial
        codes = [_code(step) for step in steps]
        into = reuse(steps, codes, dies, last, outputs, tape.meta, tape.produced)
        self.reused = len(into)
        self._steps = [(codes[i] + 8 if i in into else codes[i], step[1], step[4], step[2],
                        into[i] if i in into else (step[3], step[6]) if step[6] else step[3],
                        tuple(dies[i]))
                       for i, step in enumerate(steps)]
        (self._steps, self._initial, self._inputs, self._live,
         self._outputs) = allocate(self._steps, self._initial, self._inputs, self._live,
                                   self._outputs)
        self.ops: dict[str, int] = {}
        for step in steps:
            self.ops[step[0]] = self.ops.get(step[0], 0) + 1

    def __len__(self) -> int:
        return len(self._steps)

    def __repr__(self) -> str:
        return f"<Plan of {len(self)} array calls over {len(self._initial)} slots>"

    def run(self, arrays: list) -> list:
        """Replay on the input ``arrays`` (checked by the caller); returns the output arrays."""
        v = list(self._initial)
        for slot, array in zip(self._inputs, arrays):
            if slot is not None:
                v[slot] = array
        for slot, t in self._live:
            v[slot] = t._data
        asarray = self._xp.asarray
        for code, fn, out, ins, params, dies in self._steps:
            if code == 9:                       # params: the dying input to write into
                r = fn(v[ins[0]], v[ins[1]], out=v[params])
            elif code == 1:
                r = fn(v[ins[0]], v[ins[1]])
            elif code == 0:
                r = fn(v[ins[0]])
            elif code == 3:
                r = fn(v[ins[0]], v[ins[1]], **params)
            elif code == 2:
                r = fn(v[ins[0]], **params)
            elif code == 8:
                r = fn(v[ins[0]], out=v[params])
            elif code >= 6:
                r = fn(*[v[i] for i in ins], **_params(params, v))
                if code == 7:
                    r = asarray(r)
            else:
                r = fn(*[v[i] for i in ins], **params)
                if code == 5:
                    r = asarray(r)
            v[out] = r
            for slot in dies:
                v[slot] = None
        return [v[slot] for slot in self._outputs]

    def __call__(self, *args):
        arrays = _arrays(args)
        signature = _signature(arrays)
        if signature != self.signature:
            raise ReplayError(
                f"this plan was traced for inputs {_describe(self.signature)} and got "
                f"{_describe(signature)}; call it through cr.compile(fn), which traces one "
                "plan per input signature, or trace again with cr.trace(fn, *args)")
        return self._wrap(self.run(arrays))

    def _wrap(self, results: list):
        outs = tuple(r if isinstance(r, Tensor) or r is None else Tensor._wrap(r)
                     for r in results)
        return outs[0] if self._single else outs


def _reads(step) -> list[int]:
    """The slots a step reads: its inputs, and those its parameters are made from."""
    return [*step[2], *dynamic_slots(step[6])]


def _params(both, v) -> dict:
    """A step's keyword parameters, with those made from traced arrays read from ``v``."""
    static, dynamic = both
    params = dict(static)
    for name, spec in dynamic:
        params[name] = v[spec] if isinstance(spec, int) else tuple(
            v[slot] if slot is not None else constant for slot, constant in spec)
    return params


def _needed(steps: list, outputs: list[int]) -> list:
    """The steps some output depends on, in order: work whose result nothing reads is dropped
    (a forward-over-reverse HVP computes the gradient only for its tangent)."""
    wanted = set(outputs)
    kept = []
    for step in reversed(steps):
        if step[4] in wanted:
            kept.append(step)
            wanted.update(_reads(step))
    kept.reverse()
    return kept


def _code(step) -> int:
    """How a step is called: 0/1: one/two inputs, no parameters; 2/3: with parameters;
    4: any inputs; 5: any inputs and a result to turn into an array (a NumPy scalar);
    6: parameters made from traced arrays."""
    _, _, ins, params, _, to_array, dynamic = step
    if dynamic:
        return 6 if not to_array else 7
    if to_array:
        return 5
    if len(ins) in (1, 2):
        return len(ins) - 1 + (2 if params else 0)
    return 4


def _arrays(args) -> list:
    return [a._data if isinstance(a, Tensor) else a for a in args]


def _signature(arrays) -> tuple:
    return tuple((tuple(a.shape), _dtype_and_device(a)) if isinstance(a, backend.ndarray_types)
                 else ("value", repr(a)) for a in arrays)


def _dtype_and_device(array) -> str:
    """``float32``, or ``float32 on cuda`` off the CPU: a plan replays on its device only."""
    where = backend.placement_of(array)
    return str(array.dtype) if where is backend.CPU else f"{array.dtype} on {where.name}"


def _describe(signature) -> str:
    return ", ".join(f"{s} {d}" if d is not None and s != "value" else f"value {d}"
                     for s, d in signature) or "(none)"


def trace(fn: Callable, *args) -> tuple[Plan, Any]:
    """Run ``fn(*args)`` once, eagerly, recording a :class:`Plan`; return it and the result.

    Each array or tensor argument becomes a fresh leaf for the trace (a tensor that requires
    grad stays one, so ``fn`` may differentiate with respect to it); other arguments are
    constants of the plan.  ``fn`` returns a tensor or a tuple of tensors.
    """
    if mode.tape is not None:
        raise ReplayError("cr.trace() inside a traced function: trace the outer function only")
    tape = Tape()
    leaves, slots = [], []
    for a in args:
        data = a._data if isinstance(a, Tensor) else a
        if isinstance(data, backend.ndarray_types):
            leaf = Tensor._wrap(data)
            if isinstance(a, Tensor):
                leaf._rg, leaf._name = a._rg, a._name
            slot = tape.new_slot(None)
            tape.bind(data, slot)
            leaves.append(leaf)
            slots.append(slot)
        else:
            leaves.append(a)
            slots.append(None)
    previous = mode.tape
    mode.tape = tape
    with gc_paused():           # the tape only grows, and holds no cycles: nothing to collect
        try:
            result = fn(*leaves)
        finally:
            mode.tape = previous
        single = not isinstance(result, (tuple, list))
        results = [result] if single else list(result)
        outputs = []
        for r in results:
            if not isinstance(r, Tensor):
                raise ReplayError(f"a traced function must return tensors; it returned a "
                                  f"{type(r).__name__}")
            outputs.append(tape.slot_of(r))
        plan = Plan(tape, slots, _signature(_arrays(args)), outputs, single)
    return plan, (results[0] if single else tuple(results))


class Compiled:
    """``fn`` with one :class:`Plan` per input signature, traced on first use (see module)."""

    def __init__(self, fn: Callable, check: bool = True) -> None:
        self.fn = fn
        self.check = check
        self.plans: dict[tuple, Plan] = {}
        self._checked: set[tuple] = set()

    def __repr__(self) -> str:
        return f"<compiled {getattr(self.fn, '__name__', 'function')}: {len(self.plans)} plans>"

    def __call__(self, *args):
        arrays = _arrays(args)
        signature = _signature(arrays)
        plan = self.plans.get(signature)
        if plan is None:
            plan, result = trace(self.fn, *args)
            self.plans[signature] = plan
            return result
        if self.check and signature not in self._checked:
            return self._first_replay(plan, signature, args, arrays)
        return plan._wrap(plan.run(arrays))

    def _first_replay(self, plan: Plan, signature, args, arrays):
        replayed = plan.run(arrays)
        eager = self.fn(*args)
        eager = [eager] if not isinstance(eager, (tuple, list)) else list(eager)
        for i, (r, e) in enumerate(zip(replayed, eager)):
            e = e._data if isinstance(e, Tensor) else e
            r = r._data if isinstance(r, Tensor) else r
            same = (getattr(r, "shape", None) == getattr(e, "shape", None)
                    and getattr(r, "dtype", None) == getattr(e, "dtype", None)
                    and bool(backend.module_of(r).array_equal(r, e, equal_nan=True)))
            if not same:
                raise ReplayError(
                    f"replaying the plan of {getattr(self.fn, '__name__', 'the function')} "
                    f"gave output {i} different from running it eagerly; it depends on "
                    "something the plan froze at its traced value (randomness, or arithmetic "
                    "done outside chainrule's operators, such as NumPy on .numpy() arrays): "
                    "pass such values as arguments, or do not compile this function")
        self._checked.add(signature)
        return plan._wrap(replayed)


def compile(fn: Callable, *, check: bool = True) -> Compiled:  # noqa: A001 (the public name)
    """Return ``fn`` captured and replayed: see the module documentation.

    ``check=False`` skips the comparison of each plan's first replay with the eager run.
    """
    return Compiled(fn, check)
