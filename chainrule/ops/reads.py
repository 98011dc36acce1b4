"""Which saved values a VJP rule reads, found once from the rule's code.

A rule is ``rule(g, *saved, **params)``: its positional parameters after ``g`` name the
values its operator saved, and the names its bytecode loads tell which of them it uses.  The
engine uses this to keep, for each recorded node, only what the rules of the inputs that need
a gradient read (``y = y * c`` with a constant ``c`` keeps ``c``, not ``y``), and the drawings
use it to show what each VJP reads.
"""

from __future__ import annotations

import dis
from functools import lru_cache

__all__ = ["rule_reads"]

_VARARGS = 0x04


def rule_reads(rule, n_saved: int, *, layout: bool = True) -> frozenset[int] | None:
    """The positions of the saved values ``rule`` reads; ``None`` when that cannot be told.

    With ``layout=False`` a value passed only to ``column_major`` is not counted (matmul's
    rules ask how an operand is laid out, to lay its gradient out the same way: that reads its
    strides, not its values); the engine counts it, since the answer depends on the value.

    >>> from chainrule.ops import OPS
    >>> sorted(rule_reads(OPS["mul"].vjp[0], 2))    # d(a*b)/da = b: reads b only
    [1]
    """
    code = getattr(rule, "__code__", None)
    if code is None or code.co_flags & _VARARGS:       # a builtin, or rule(g, *saved)
        return None
    return _reads(code, n_saved, layout)


@lru_cache(maxsize=1024)
def _reads(code, n_saved: int, layout: bool) -> frozenset[int]:
    names = code.co_varnames[1:code.co_argcount]
    loaded: set[str] = set(code.co_cellvars)          # captured by an inner function: read
    previous = None
    for ins in dis.get_instructions(code):
        if ins.opname.startswith("LOAD_FAST") or ins.opname in ("LOAD_DEREF", "LOAD_CLOSURE"):
            layout_only = (previous is not None and previous.opname == "LOAD_GLOBAL"
                           and previous.argval == "column_major")
            if layout or not layout_only:
                value = ins.argval
                loaded.update(value if isinstance(value, tuple) else (value,))
        previous = ins
    return frozenset(p for p, name in enumerate(names[:n_saved]) if name in loaded)
