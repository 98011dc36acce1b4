"""Buffer reuse for replayed plans: an elementwise step writes into an input that dies there.

A plan knows, for every slot, the step that reads it last.  When an elementwise NumPy ufunc
(``multiply``, ``add``, ``maximum``...) reads a temporary for the last time, and that
temporary has the result's shape and dtype, its memory can take the result (``out=``): one
allocation and one pass over fresh pages fewer, and the same numbers bit for bit, since a
ufunc computes each element the same way whatever it writes into.

It is safe only when nothing else can see that memory afterwards.  At trace time every slot's
array is known, so each slot is tagged with the array that owns its memory (its ``base``, or
itself).  A slot may be overwritten when

* a step of the plan made it (never an input, a parameter read live, or a constant), and no
  input, parameter or constant shares its memory (``W.T`` shares ``W``'s);
* every other slot sharing its memory is dead by then (read for the last time at or before
  this step) and is not an output of the plan;
* it is writeable, and its shape, dtype and strides are the result's (a transposed buffer
  would hand the next matrix product another layout, and BLAS another summation order).
"""

from __future__ import annotations

import numpy as np

__all__ = ["reuse"]


def reuse(steps: list, codes: list[int], dies: list[list[int]], last: dict[int, int],
          outputs: list[int], meta: dict[int, tuple], made: set[int]) -> dict[int, int]:
    """``{step index: slot to write the result into}`` for the steps that may reuse a slot.

    ``steps`` are the tape's steps (``name, fn, inputs, params, output, ...``), ``codes`` how
    each is called (0/1: one or two inputs, no parameters), ``dies[i]`` the slots read last
    at step ``i``, ``last`` the last reader of each slot, ``meta[slot]`` the ``(owner id,
    shape, dtype, writeable, strides)`` of its traced array, ``made`` the slots steps produced.
    """
    protected = {meta[s][0] for s in meta if s not in made}
    sharing: dict[int, list[int]] = {}
    for slot, info in meta.items():
        sharing.setdefault(info[0], []).append(slot)
    kept = set(outputs)
    chosen: dict[int, int] = {}
    for index, step in enumerate(steps):
        fn, ins, out = step[1], step[2], step[4]
        if codes[index] not in (0, 1) or not isinstance(fn, np.ufunc) or fn.nout != 1:
            continue
        result = meta.get(out)
        if result is None:
            continue
        for slot in dict.fromkeys(ins):
            info = meta.get(slot)
            if (slot not in dies[index] or slot not in made or info is None
                    or info[0] in protected or not info[3] or info[1:3] != result[1:3]
                    or info[4] != result[4]):
                continue
            others = [s for s in sharing[info[0]] if s != slot]
            if any(s in kept or last.get(s, -1) > index for s in others):
                continue                      # (a view that no step reads is never looked at)
            chosen[index] = slot
            break
    return chosen
