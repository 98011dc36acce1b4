"""What a recorded node keeps for backward, and how little that can be.

An operator declares what its rules need (``saves``: inputs by name, ``"ans"``, metadata such
as ``"x.shape"``); :func:`compile_plan` and :func:`compile_saver` turn that into one fast
function per operator.  :func:`rule_reads` finds, once, from each VJP rule's code, which saved
values it reads, so a node keeps only what the rules of the inputs that take a gradient read:
``y = y * c`` with a constant ``c`` keeps ``c``, not ``y``, and a chain of such products holds
no intermediate.  What every node would otherwise own a copy of is shared: the empty parameter
dict, the output's shape tuple, and the weak reference to a constant input.
"""

from __future__ import annotations

import dis
import operator
import weakref
from functools import lru_cache
from typing import Callable

from .. import backend
from .graph import Node
from .modes import mode
from .tensor import Tensor

__all__ = ["rule_reads", "compile_plan", "compile_saver", "compile_reads", "unread",
           "record", "saved_values", "const_at", "intern", "shape_of", "dtype_of", "NO_PARAMS",
           "SHAPES", "DROPPABLE"]

_VARARGS = 0x04

NO_PARAMS: dict = {}       # shared by every node of an operator called without parameters
#                           (a fresh empty dict per node is 64 bytes; nothing writes to it)
SHAPES: dict[tuple, tuple] = {}                # one tuple per output shape, shared by nodes
DROPPABLE = (Tensor, *backend.ndarray_types)   # what a node may drop when no rule reads it
_CONSTS: dict[int, tuple] = {}                 # id(constant tensor) -> (weakref, by position)
_KINDS = {"": 0, "shape": 2, "dtype": 3}       # saved: 0 an input, 1 ans, 2/3 metadata, 4 all


def rule_reads(rule, n_saved: int, *, layout: bool = True) -> frozenset[int] | None:
    """The positions of the saved values ``rule`` reads; ``None`` when that cannot be told.

    A rule is ``rule(g, *saved, **params)``: its positional parameters after ``g`` name the
    saved values, and the names its bytecode loads tell which it uses (a value captured by an
    inner function counts as read).  With ``layout=False`` a value passed only to
    ``column_major`` is not counted (matmul's rules ask how an operand is laid out, to lay its
    gradient out the same way: that reads its strides, not its values); the engine counts it,
    since the answer depends on the value.

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
    loaded: set[str] = set(code.co_cellvars)
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


def compile_plan(name: str, saves: tuple[str, ...], inputs: tuple[str, ...]) -> tuple:
    """``saves`` as ``((kind, input position), ...)``; a bad entry raises ``ValueError``."""
    plan = []
    for entry in saves:
        base, _, attr = entry.partition(".")
        if entry == "ans":
            plan.append((1, 0))
        elif entry == "*":
            plan.append((4, 0))
        elif base in inputs and attr in _KINDS:
            plan.append((_KINDS[attr], inputs.index(base)))
        else:
            raise ValueError(f"{name}: cannot save {entry!r}")
    return tuple(plan)


def compile_saver(plan: tuple) -> Callable:
    """A function ``(args, ans) -> list`` building what backward keeps (the hot path)."""
    if not plan:
        return lambda args, ans: []
    if all(kind == 0 for kind, _ in plan):
        pick = operator.itemgetter(*[i for _, i in plan])
        if len(plan) == 1:
            return lambda args, ans: [pick(args)]
        return lambda args, ans: list(pick(args))
    if plan == ((1, 0),):
        return lambda args, ans: [ans]
    if plan == ((2, 0),):           # "x.shape" alone: a sum, a transpose, a reshape
        return lambda args, ans: [a._data.shape if isinstance(a := args[0], Tensor)
                                  else shape_of(a)]

    def save(args, ans):
        saved = []
        for kind, i in plan:
            if kind == 0:
                saved.append(args[i])
            elif kind == 1:
                saved.append(ans)
            elif kind == 2:
                saved.append(shape_of(_data(args[i])))
            elif kind == 3:
                saved.append(dtype_of(_data(args[i])))
            else:
                saved.extend(args)
        return saved
    return save


def record(op, args, params, ans_value, active: int | None = None, extra=None) -> Node:
    """The node of one call of ``op``: an edge per input, what its rules read, and versions.

    An edge is the input's node, the leaf tensor itself, or ``None`` where no gradient flows
    (a constant tensor, such as the data ``x`` or the labels ``y``, is known by name through
    ``consts`` instead, and not kept alive).  The node keeps what ``saves`` declares, in that
    order, then the residuals; a saved tensor or array that no rule of an input taking a
    gradient reads is kept as ``None``: ``y * c`` with a constant ``c`` keeps ``c`` only, so a
    chain of such products does not keep every ``y`` alive.  ``versions`` maps the position
    of each saved tensor that had already been changed in place to its version; ``None`` (the
    usual case) means every saved tensor was at 0.

    ``active`` overrides the bit mask of the inputs taking a gradient (-1: keep everything, as
    forward mode does); ``extra``: residuals already computed for this call.  One function
    for the whole record, because it runs once per recorded operator.
    """
    rules = None if op.variadic or op.vjp is None else op.vjp   # None: every input may
    edges = []
    consts = None
    mask = 0
    for i, a in enumerate(args):
        if isinstance(a, Tensor):
            if a._rg and (rules is None or rules[i] is not None):
                node = a._node
                edges.append(a if node is None else node)
                mask |= 1 << i
                continue
            at = const_at(i, a)
            consts = at if consts is None else consts + at
        edges.append(None)
    if active is None:
        active = mask
    saved = op._saver(args, ans_value)
    if active >= 0 and active != op._all and op._reads is not None:
        drops = op._drops.get(active)
        for p in unread(op, active) if drops is None else drops:
            if isinstance(saved[p], DROPPABLE):
                saved[p] = None
    versions = None
    positions = op._input_saves
    for p in range(len(saved)) if positions is None else positions:
        value = saved[p]
        if isinstance(value, Tensor):
            base = value._base
            version = value._version if base is None else base._version
            if version:
                versions = versions or {}
                versions[p] = version
    if op.residuals is not None:
        if extra is None:
            extra = op.residuals(_data(ans_value), *[_data(a) for a in args], **params)
            if mode.tape is not None:
                mode.tape.record_residuals(op, ans_value, args, params, extra)
        saved.extend(extra)
    shape = SHAPES.get(ans_value.shape)
    if shape is None:
        shape = intern(ans_value.shape)
    node = Node(op, tuple(edges), tuple(saved), params or NO_PARAMS, versions, shape,
                ans_value.dtype)
    if consts is not None:
        node.consts = consts
    return node


def saved_values(op, args, params, ans_value, active: int = -1, extra=None):
    """``(saved, versions)`` of a node of ``op`` (see :func:`record`), for forward mode, which
    carries the values without a node."""
    node = record(op, args, params, ans_value, active, extra)
    return node.saved, node.versions


def compile_reads(op) -> tuple | None:
    """Per input of ``op``, the saved positions its VJP rule reads; None when any rule's
    reads cannot be told (then a node keeps everything declared)."""
    if op.variadic or not isinstance(op.vjp, tuple) or "*" in op.saves:
        return None
    reads = tuple(None if rule is None else rule_reads(rule, len(op.saves)) for rule in op.vjp)
    return None if any(r is None and rule is not None
                       for r, rule in zip(reads, op.vjp)) else reads


def unread(op, active: int) -> tuple[int, ...]:
    """Saved positions of ``op`` that no rule of the ``active`` inputs (a bit mask) reads;
    metadata (``"x.shape"``) is always kept.  Cached in ``op._drops``."""
    drop = op._drops.get(active)
    if drop is None:
        read: set[int] = set()
        for i, positions in enumerate(op._reads):
            if active >> i & 1 and positions is not None:
                read |= positions
        drop = tuple(p for p, entry in enumerate(op.saves) if p not in read and "." not in entry)
        op._drops[active] = drop
    return drop


def intern(shape: tuple) -> tuple:
    """The shared copy of ``shape`` (each ``ndarray.shape`` is a new 48-byte tuple)."""
    if len(SHAPES) >= 4096:
        SHAPES.clear()
    SHAPES[shape] = shape
    return shape


def const_at(i: int, a: Tensor) -> tuple:
    """``((i, weakref(a)),)``, one tuple shared by every node that reads the constant ``a`` at
    position ``i`` (a chain ``y * c`` pays nothing per node for knowing ``c``); the entry goes
    when ``a`` does."""
    key = id(a)
    entry = _CONSTS.get(key)
    if entry is None:
        ref = weakref.ref(a, lambda _, key=key: _CONSTS.pop(key, None))
        entry = _CONSTS[key] = (ref, {})
    ref, at = entry
    found = at.get(i)
    if found is None:
        found = at[i] = ((i, ref),)
    return found


def _data(a):
    return a._data if isinstance(a, Tensor) else a


def shape_of(a) -> tuple:
    """The shape of an array, ``()`` for a number."""
    return tuple(getattr(a, "shape", ()))


def dtype_of(a):
    """The dtype of an array, the type's name for anything else."""
    dtype = getattr(a, "dtype", None)
    return dtype if dtype is not None else type(a).__name__
