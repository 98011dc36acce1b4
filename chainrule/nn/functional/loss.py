"""Losses as PyTorch's ``torch.nn.functional`` has them: ``cross_entropy`` (``weight=``,
``reduction=``, ``label_smoothing=``, ``ignore_index=``, class-probability targets),
``nll_loss`` (``weight=``), ``mse_loss`` (``reduction=``).

With the defaults (integer labels, mean, no smoothing, nothing ignored) ``cross_entropy`` is
chainrule's fused primitive; every other case is a composite of ``log_softmax``, so its
derivatives come from the table.

>>> import chainrule as cr
>>> import chainrule.nn.functional as F
>>> logits, y = cr.tensor([[2.0, 0.0], [0.0, 1.0]]), cr.tensor([0, 1])
>>> [round(v, 4) for v in F.cross_entropy(logits, y, reduction="none").tolist()]
[0.1269, 0.3133]
"""

from __future__ import annotations


from ... import backend as B
from ... import functional as CF
from ...core.tensor import Tensor
from ...errors import DTypeError, ShapeError

__all__ = ["cross_entropy", "nll_loss", "mse_loss", "REDUCTIONS"]

REDUCTIONS = ("mean", "sum", "none")


def _data(x):
    return x._data if isinstance(x, Tensor) else B.xp.asarray(x)


def _reduce(losses, reduction: str, where: str, count=None):
    if reduction not in REDUCTIONS:
        raise ShapeError(f"{where}: reduction={reduction!r}; use 'mean', 'sum' or 'none'")
    if reduction == "none":
        return losses
    total = CF.sum(losses)
    if reduction == "sum":
        return total
    n = losses.size if count is None else count
    return total / n if n else total * float("nan")


def _classes_last(x, where: str):
    """(N, C, d1, ...) logits as (N * d1 * ..., C), and the shape of the per-item losses."""
    shape = _data(x).shape
    if len(shape) == 1:
        return CF.reshape(x, (1, shape[0])), ()
    if len(shape) < 1:
        raise ShapeError(f"{where}: input.shape={shape}; it needs (N, C) or (C,)")
    if len(shape) == 2:
        return x, shape[:1]
    order = (0,) + tuple(range(2, len(shape))) + (1,)
    moved = CF.transpose(x, order)
    return CF.reshape(moved, (-1, shape[1])), (shape[0],) + shape[2:]


def _labels(target, rows: int, classes: int, keep_shape, where: str, ignore_index: int):
    y = _data(target)
    if y.dtype.kind not in "iu":
        raise DTypeError(f"{where}: target.dtype={y.dtype}; labels must be integer class "
                         "indices (or pass class probabilities of the input's shape)")
    if y.shape != tuple(keep_shape):
        raise ShapeError(f"{where}: target.shape={y.shape}; labels must have shape "
                         f"{tuple(keep_shape)}, one per item of the input")
    y = y.reshape(-1)
    valid = y != ignore_index
    bad = valid & ((y < 0) | (y >= classes))
    if bool(bad.any()):
        raise ShapeError(f"{where}: labels lie in [{int(y[valid].min())}, {int(y[valid].max())}]"
                         f" but the input has {classes} classes; use labels in [0, {classes})")
    return B.xp.where(valid, y, 0), valid


def _class_weight(weight, classes: int, dtype, where: str):
    """``weight=``: one rescaling per class, a tensor (it may take a gradient) or an array."""
    if weight is None:
        return None
    w = _data(weight)
    if w.shape != (classes,) or w.dtype.kind not in "fiu":
        raise ShapeError(f"{where}: weight has shape {w.shape} and dtype {w.dtype}; it needs "
                         f"one number per class, shape ({classes},)")
    return weight if isinstance(weight, Tensor) else B.xp.asarray(w, dtype=dtype)


def _picked_weight(w, y, valid, dtype):
    """The weight of each item's class (0 where ignored), and the mean's divisor."""
    mask = B.xp.asarray(valid, dtype=dtype)
    if w is None:
        return mask, int(valid.sum())
    wy = CF.getitem(w, y) * mask
    return wy, CF.sum(wy)


def _weighted_mean(losses, reduction: str, where: str, count):
    if reduction == "mean" and not isinstance(count, int):      # a weighted mean
        return CF.sum(losses) / count
    return _reduce(losses, reduction, where, count)


def nll_loss(input, target, weight=None, reduction: str = "mean",  # noqa: A002
             ignore_index: int = -100) -> Tensor:
    """``-weight[c] input[i, c]`` at each item's label ``c``, for log-probabilities ``input``
    (N, C); the mean divides by the summed weights of the items, as PyTorch's."""
    flat, keep = _classes_last(input, "nll_loss")
    rows, classes = _data(flat).shape
    dtype = _data(flat).dtype
    w = _class_weight(weight, classes, dtype, "nll_loss")
    y, valid = _labels(target, rows, classes, keep, "nll_loss", ignore_index)
    scale, count = _picked_weight(w, y, valid, dtype)
    losses = CF.reshape(-CF.getitem(flat, (B.xp.arange(rows), y)) * scale, keep)
    return _weighted_mean(losses, reduction, "nll_loss", count)


def cross_entropy(input, target, weight=None, reduction: str = "mean",  # noqa: A002
                  ignore_index: int = -100, label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy of logits ``input`` (N, C) against labels (N,) or class probabilities
    (N, C), as ``torch.nn.functional.cross_entropy``: ``weight`` rescales each class (the
    mean over labels then divides by the items' summed weights), ``ignore_index`` drops items,
    ``label_smoothing`` mixes in the uniform distribution."""
    if not 0.0 <= label_smoothing <= 1.0:
        raise ShapeError(f"cross_entropy: label_smoothing={label_smoothing!r} must lie in "
                         "[0, 1]")
    t = _data(target)
    shape = _data(input).shape
    plain = (weight is None and reduction == "mean" and label_smoothing == 0.0
             and t.dtype.kind in "iu" and len(shape) == 2 and t.shape == shape[:1])
    if plain and ignore_index >= 0:
        plain = not bool((t == ignore_index).any())
    if plain:
        try:
            return CF.cross_entropy(input, target)      # the fused primitive
        except ShapeError:
            if ignore_index >= 0:
                raise
            # a label below 0 may be ignore_index: the composite ignores it, or says why not
    flat, keep = _classes_last(input, "cross_entropy")
    rows, classes = _data(flat).shape
    dtype = _data(flat).dtype
    w = _class_weight(weight, classes, dtype, "cross_entropy")
    logp = CF.log_softmax(flat, axis=1)
    wlogp = logp if w is None else logp * w             # each class's log-probability, weighed
    eps = float(label_smoothing)
    if t.dtype.kind == "f":                             # class probabilities
        probs = target if t.shape == _data(flat).shape else None
        if probs is None:
            if t.shape != _data(input).shape:
                raise ShapeError(f"cross_entropy: target.shape={t.shape} and "
                                 f"input.shape={_data(input).shape}; probabilities must "
                                 "have the input's shape")
            probs, _ = _classes_last(target, "cross_entropy")
        if eps:
            probs = probs * (1.0 - eps) + eps / classes
        losses = CF.reshape(-CF.sum(wlogp * probs, axis=1), keep)
        return _reduce(losses, reduction, "cross_entropy")
    y, valid = _labels(target, rows, classes, keep, "cross_entropy", ignore_index)
    scale, count = _picked_weight(w, y, valid, dtype)
    nll = -CF.getitem(logp, (B.xp.arange(rows), y)) * scale
    if eps:
        mask = B.xp.asarray(valid, dtype=dtype)
        smooth = -CF.sum(wlogp, axis=1) * mask
        nll = nll * (1.0 - eps) + smooth * (eps / classes)
    losses = CF.reshape(nll, keep)
    return _weighted_mean(losses, reduction, "cross_entropy", count)


def mse_loss(input, target, reduction: str = "mean") -> Tensor:  # noqa: A002
    """``(input - target) ** 2``, reduced; the two shapes must be equal."""
    if reduction == "mean":
        return CF.mse_loss(input, target)
    sp, st = _data(input).shape, _data(target).shape
    if sp != st:
        raise ShapeError(f"mse_loss: input.shape={sp} and target.shape={st} differ; reshape "
                         "one so they are equal (broadcasting here is almost always a bug)")
    diff = input - target
    return _reduce(diff * diff, reduction, "mse_loss")
