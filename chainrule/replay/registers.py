"""Registers for a replayed plan: slots that are never alive together share one place.

A tape numbers every array it sees, so a plan of a million steps would replay over a million
slots: a list that long, an int object for each slot number, and a tuple of slot numbers for
each step's inputs.  :func:`allocate` renumbers the slots the way a compiler assigns registers:

* a constant (a value the plan was traced with) keeps a register of its own for good;
* an input, and a tensor read live, takes one before the first step;
* a step's result takes the lowest register free at that step; a register is freed after the
  step that reads its value last, so never at the step that writes it (the step's result
  would be erased with the dying inputs it was computed from).

A chain of a million products then replays over a handful of registers, and the input and
death tuples, being small and alike, are shared: the plan holds little more than one tuple per
step.
"""

from __future__ import annotations

import heapq

from .tape import dynamic_slots

__all__ = ["allocate"]


def allocate(steps: list, initial: list, inputs: list, live: list, outputs: list) -> tuple:
    """Renumber ``steps`` (``(code, fn, out, ins, params, dies)`` over tape slots) onto
    registers.  Returns ``(steps, initial, inputs, live, outputs)``, every slot mapped; codes 8
    and 9 keep in ``params`` the slot to write into, codes 6 and 7 a ``(static, dynamic)``
    pair whose dynamic parameters name slots."""
    reg: dict[int, int] = {}
    values: list = []                       # the initial value of each register
    free: list[int] = []                    # a heap: the lowest free register first

    def fixed(slot: int) -> int:
        if slot not in reg:
            reg[slot] = len(values)
            values.append(initial[slot])
        return reg[slot]

    def take(slot: int) -> int:
        if slot not in reg:
            if free:
                reg[slot] = heapq.heappop(free)
            else:
                reg[slot] = len(values)
                values.append(None)
        return reg[slot]

    for slot in {s for step in steps for s in _slots(step)}:
        if initial[slot] is not None:       # a constant: never written, never freed
            fixed(slot)
    for slot in [s for s in inputs if s is not None] + [s for s, _ in live]:
        take(slot)
    shared: dict[tuple, tuple] = {}
    mapped = []
    for code, fn, out, ins, params, dies in steps:
        ins = [take(s) for s in ins]        # a slot nothing wrote reads as None, as before
        if code in (8, 9):
            params = reg[params]
        elif code in (6, 7):
            static, dynamic = params
            params = (static, tuple((name, take(spec)) if isinstance(spec, int) else
                                    (name, tuple((None if s is None else take(s), c)
                                                 for s, c in spec))
                                    for name, spec in dynamic))
        out = take(out)
        gone = [reg[s] for s in dies]
        for r in gone:
            heapq.heappush(free, r)
        ins, gone = tuple(ins), tuple(gone)
        mapped.append((code, fn, out, shared.setdefault(ins, ins), params,
                       shared.setdefault(gone, gone)))
    results = [reg[s] if s in reg else fixed(s) if initial[s] is not None else take(s)
               for s in outputs]
    return (mapped, values, [None if s is None else reg[s] for s in inputs],
            [(reg[s], t) for s, t in live], results)


def _slots(step) -> list[int]:
    """Every slot a compiled step names: inputs, output, deaths, and those in parameters."""
    code, _, out, ins, params, dies = step
    slots = [*ins, out, *dies]
    if code in (8, 9):
        slots.append(params)
    elif code in (6, 7):
        slots.extend(dynamic_slots(params[1]))
    return slots
