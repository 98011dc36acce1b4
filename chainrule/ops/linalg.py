"""Linear algebra: ``matmul`` (batched, equal batch shapes) and ``einsum`` (any subscripts).

Both are linear in each input, so forward mode is ``MULTILINEAR``.  The public
:func:`chainrule.matmul` handles 1-D operands and batch broadcasting explicitly before calling
the primitive here; :func:`chainrule.einsum` turns implicit and ``...`` subscripts into the
explicit form this primitive takes.
"""

from __future__ import annotations

import string

import numpy as np

from .. import backend as B
from ..errors import ShapeError
from ..core.fields import Book, Memory
from ..core.op import MULTILINEAR, BadInput, Op, Sample
from ..core.saves import shape_of
from .samples import uniform
from .shape import broadcast_to, reshape, transpose


def swap_last(x):
    """``x`` with its last two axes swapped (the batched transpose)."""
    if isinstance(x, B.ndarray_types):      # a first-order backward's rules run on arrays
        return x.swapaxes(-1, -2)
    n = x.ndim
    return transpose(x, axes=tuple(range(n - 2)) + (n - 1, n - 2))


def _product(a, b):
    """``a @ b``: the operator on tensors, the array's own product on arrays (a first-order
    backward), which skips the operator call's checks for shapes the rule made right."""
    if isinstance(a, B.ndarray_types) and isinstance(b, B.ndarray_types):
        return a @ b
    return matmul(a, b)


def column_major(x) -> bool:
    """Whether the last two axes of ``x`` (a tensor or an array) are laid out transposed, as
    ``W.T`` of a row-major ``W`` is."""
    data = getattr(x, "_data", x)
    strides = getattr(data, "strides", None)
    return bool(strides) and len(strides) >= 2 and strides[-2] < strides[-1]


def _grad_a(g, a, b):
    """``g b^T``, laid out as ``a`` is: a transposed input gets a transposed gradient."""
    if column_major(a):
        return swap_last(_product(b, swap_last(g)))
    return _product(g, swap_last(b))


def _grad_b(g, a, b):
    """``a^T g``, laid out as ``b`` is.

    In ``z = x @ W.T`` the operand ``W.T`` is a transposed view; computing its gradient as
    ``(g^T x)^T`` makes the transpose's own VJP hand ``W`` a row-major ``g^T x``, so the
    gradient of ``W`` is contiguous like ``W`` and summing it with the weight-decay term, or
    subtracting it from ``W``, runs at full speed (the same BLAS call either way).
    """
    if column_major(b):
        return swap_last(_product(swap_last(g), a))
    return _product(swap_last(a), g)


matmul = Op(
    "matmul", "matmul", inputs=("a", "b"), saves=("a", "b"),
    vjp=(_grad_a, _grad_b),
    jvp=MULTILINEAR,
    samples=lambda rng: [Sample((uniform(rng, (3, 4)), uniform(rng, (4, 2)))),
                         Sample((uniform(rng, (3, 4)), uniform(rng, (2, 4)).T)),
                         Sample((uniform(rng, (4, 3)).T, uniform(rng, (4, 2)))),
                         Sample((uniform(rng, (2, 3, 4)), uniform(rng, (2, 4, 5))))],
    bad_inputs=lambda: [BadInput((np.ones((3, 4)), np.ones((5, 2))), {}, ShapeError,
                                 "(5, 2)")],
    hint="a.shape[-1] must equal b.shape[-2]",
    book=Book(forward=lambda n, a: n.matmul(a[0], a[1]),
              vjp=lambda n, i, g, a, out: n.matmul(g, n.transpose(a[1])) if i == 0
              else n.matmul(n.transpose(a[0]), g)),
    memory=Memory(vjp=0),
    doc="Matrix product of stacks of matrices with equal batch shapes.")


def split_subscripts(subscripts: str) -> tuple[list[str], str]:
    """``"ij,jk->ik"`` as ``(["ij", "jk"], "ik")`` (explicit form only)."""
    inputs, _, output = subscripts.partition("->")
    return inputs.split(","), output


def _einsum_vjp(k, g, *operands, subscripts):
    ins, out = split_subscripts(subscripts)
    mine = ins[k]
    others = [(s, o) for j, (s, o) in enumerate(zip(ins, operands)) if j != k]
    size = dict(zip(mine, shape_of(operands[k])))     # a Tensor or an array of any module
    unique = "".join(dict.fromkeys(mine))
    available = set(out).union(*[set(s) for s, _ in others])
    keep = "".join(c for c in unique if c in available)
    spec = ",".join([out] + [s for s, _ in others]) + "->" + keep
    grad = einsum(g, *[o for _, o in others], subscripts=spec)
    if keep != unique:                       # letters summed in this operand only
        grad = reshape(grad, shape=tuple(size[c] if c in keep else 1 for c in unique))
        grad = broadcast_to(grad, shape=tuple(size[c] for c in unique))
    if unique != mine:                       # repeated letters: put grad on the diagonal
        free = iter(c for c in string.ascii_letters if c not in subscripts)
        target, eyes, eye_specs, seen = [], [], [], set()
        for c in mine:
            if c in seen:
                n = next(free)
                eyes.append(B.xp.eye(size[c], dtype=grad.dtype))
                eye_specs.append(c + n)
                target.append(n)
            else:
                seen.add(c)
                target.append(c)
        spec = ",".join([unique] + eye_specs) + "->" + "".join(target)
        grad = einsum(grad, *eyes, subscripts=spec)
    return grad


def _einsum_samples(rng):
    def case(spec, *shapes):
        return Sample(tuple(uniform(rng, s) for s in shapes), {"subscripts": spec})
    return [case("ij,jk->ik", (3, 4), (4, 2)),
            case("ii->", (3, 3)),
            case("ii->i", (3, 3)),
            case("ij->i", (3, 4)),
            case("bij,bjk->bik", (2, 3, 4), (2, 4, 2)),
            case("i,j->ij", (3,), (2,)),
            case("iij,jk->ik", (2, 2, 3), (3, 2)),
            case("ij,jk,kl->il", (2, 3), (3, 2), (2, 2))]


def _einsum_view(params, in_shapes, shape) -> bool:
    """One operand and nothing summed (a transpose, a diagonal): NumPy returns a view."""
    ins, out = split_subscripts(params["subscripts"])
    return len(ins) == 1 and bool(ins[0]) and set(ins[0]) <= set(out)


einsum = Op(
    "einsum", lambda *ops, subscripts: B.xp.einsum(subscripts, *ops, optimize=len(ops) > 2),
    inputs="*operands", saves=("*",), vjp=_einsum_vjp, jvp=MULTILINEAR, view=_einsum_view,
    samples=_einsum_samples,
    bad_inputs=lambda: [BadInput((np.ones((3, 4)), np.ones((5, 2))),
                                 {"subscripts": "ij,jk->ik"}, ShapeError, "(5, 2)")],
    hint="each subscript letter must have one size across all operands", memory=Memory(vjp=0),
    doc="Einstein summation in explicit form (``'ij,jk->ik'``), repeated letters included.")

__all__ = ["matmul", "einsum", "swap_last", "split_subscripts", "column_major"]
