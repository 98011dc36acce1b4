"""Convolution: ``conv2d`` and its input gradient ``conv_transpose2d``, each the other's VJP.

Both are bilinear in their two inputs, so forward mode is ``MULTILINEAR``.  Shapes follow
PyTorch: ``x`` is (N, C, H, W), ``w`` is (O, C / groups, kh, kw), and the output of ``conv2d``
is (N, O, Ho, Wo) with ``Ho = (H + 2 ph - dh (kh - 1) - 1) // sh + 1``.  The parameters are
pairs (``stride``, ``padding``, ``dilation``; ``output_padding`` for the transposed one) and
``groups``; :func:`chainrule.nn.functional.conv2d` turns ints into pairs and adds the bias.

The forward is one matrix product over a strided view (im2col): the windows of the padded
input, laid out as (N, groups, C/groups * kh * kw, Ho * Wo), so that ``w`` reshaped to
(groups, O/groups, C/groups * kh * kw) multiplies each image's columns and the result is
already (N, O, Ho, Wo).  The transposed convolution multiplies by ``w^T`` and adds the columns
back (col2im) with one strided add per kernel offset, never a loop over positions.

The kernel's gradient, ``conv2d_weight``, is the output gradient times the same columns (one
product per group), so the three primitives are each other's derivatives: every order of
derivative is written in them.  The columns are laid out (C * kh * kw, N * Ho * Wo) so that
each product is one matrix multiplication over the whole batch.
"""

from __future__ import annotations


import numpy as np

from .. import backend as B
from ..errors import ShapeError
from ..core.fields import Book, Memory
from ..core.op import MULTILINEAR, BadInput, Op, Sample
from .samples import uniform

__all__ = ["conv2d", "conv2d_weight", "conv_transpose2d", "conv_output_size", "windows",
           "im2col"]


def conv_output_size(size: int, k: int, stride: int, padding: int, dilation: int) -> int:
    """The output length of a convolution along one axis (0 or less: the kernel does not fit)."""
    return (size + 2 * padding - dilation * (k - 1) - 1) // stride + 1


def windows(xp_, k: tuple, stride: tuple, dilation: tuple, out: tuple):
    """A read-only view (N, C, kh, kw, Ho, Wo) of the windows of the padded input ``xp_``."""
    n, c = xp_.shape[:2]
    s_n, s_c, s_h, s_w = xp_.strides
    shape = (n, c, k[0], k[1], out[0], out[1])
    strides = (s_n, s_c, s_h * dilation[0], s_w * dilation[1], s_h * stride[0],
               s_w * stride[1])
    return B.xp.lib.stride_tricks.as_strided(xp_, shape, strides, writeable=False)


def _pad(x, padding):
    ph, pw = padding
    if not ph and not pw:
        return x
    return B.xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def _check(x, w, groups, what: str):
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"{what} takes 4-D input and weight (N, C, H, W) and (O, C/groups, "
                         f"kh, kw), got {x.ndim}-D and {w.ndim}-D")
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"groups={groups!r} must be a positive int")


def im2col(x, k, stride, padding, dilation, groups):
    """The columns of ``x`` (N, C, H, W): (groups, C/groups * kh * kw, N * Ho * Wo), one copy
    of a strided view whose rows are runs along W; and (Ho, Wo)."""
    n, c, h, wd = x.shape
    out = (conv_output_size(h, k[0], stride[0], padding[0], dilation[0]),
           conv_output_size(wd, k[1], stride[1], padding[1], dilation[1]))
    if out[0] < 1 or out[1] < 1:
        raise ValueError(f"the dilated kernel {tuple(k)} is larger than the padded input")
    view = windows(_pad(x, padding), k, stride, dilation, out)      # (N, C, kh, kw, Ho, Wo)
    cols = B.xp.transpose(view, (1, 2, 3, 0, 4, 5))
    return cols.reshape(groups, (c // groups) * k[0] * k[1], n * out[0] * out[1]), out


def _by_group(g, groups):
    """(N, O, Ho, Wo) as (groups, O/groups, N * Ho * Wo) (one copy)."""
    n, o = g.shape[:2]
    return B.xp.swapaxes(g.reshape(n, o, -1), 0, 1).reshape(groups, o // groups, -1)


def _strided(a, shape, strides, writeable=False):
    return B.xp.lib.stride_tricks.as_strided(a, shape, strides, writeable=writeable)


def wide_cols(x, k, padding, dilation, groups):
    """Stride 1: the columns over rows of the padded width, (groups, C/groups * kh * kw,
    N * Q) with ``Q = (Ho - 1) * Wp + Wo``: for each channel and kernel offset, one run of Q
    consecutive elements of the padded image (a fast copy); the columns past Wo in each row
    are computed and dropped.  Returns the columns, (Ho, Wo), Q and Wp."""
    xp_ = B.xp.ascontiguousarray(_pad(x, padding))
    n, c, hp, wp = xp_.shape
    ho, wo = hp - dilation[0] * (k[0] - 1), wp - dilation[1] * (k[1] - 1)
    if ho < 1 or wo < 1:
        raise ValueError(f"the dilated kernel {tuple(k)} is larger than the padded input")
    q, s = (ho - 1) * wp + wo, xp_.itemsize
    view = _strided(xp_, (c, k[0], k[1], n, q),
                    (hp * wp * s, dilation[0] * wp * s, dilation[1] * s, c * hp * wp * s, s))
    return view.reshape(groups, (c // groups) * k[0] * k[1], n * q), (ho, wo), q, wp


def _wide(g, q, wp, groups):
    """(N, O, Ho, Wo) laid out as (groups, O/groups, N * Q) rows of width Wp, zero between."""
    n, o, ho, wo = g.shape
    out = B.xp.zeros((o, n, q), dtype=g.dtype)
    s = out.itemsize
    _strided(out, (n, o, ho, wo), (q * s, n * q * s, wp * s, s), writeable=True)[...] = g
    return out.reshape(groups, o // groups, n * q)


def _conv2d(x, w, *, stride, padding, dilation, groups):
    _check(x, w, groups, "conv2d")
    n, c = x.shape[:2]
    o, cg, kh, kw = w.shape
    if c != cg * groups or o % groups:
        raise ValueError(f"x has {c} channels and w.shape[1] * groups = {cg} * {groups}; "
                         f"they must be equal, and O={o} divisible by groups")
    if stride == (1, 1):
        cols, (ho, wo), q, wp = wide_cols(x, (kh, kw), padding, dilation, groups)
        out = B.xp.matmul(w.reshape(groups, o // groups, -1), cols).reshape(o, n, q)
        s = out.itemsize
        out = _strided(out, (n, o, ho, wo), (q * s, n * q * s, wp * s, s))
        return B.xp.ascontiguousarray(out)
    cols, (ho, wo) = im2col(x, (kh, kw), stride, padding, dilation, groups)
    out = B.xp.matmul(w.reshape(groups, o // groups, -1), cols)      # one product per group
    out = B.xp.swapaxes(out.reshape(o, n, ho * wo), 0, 1)
    return B.xp.ascontiguousarray(out).reshape(n, o, ho, wo)


def _conv2d_weight(x, g, *, wshape, stride, padding, dilation, groups):
    _check(x, g, groups, "conv2d_weight")
    o, cg, kh, kw = wshape
    if stride == (1, 1):
        cols, out, q, wp = wide_cols(x, (kh, kw), padding, dilation, groups)
    else:
        cols, out = im2col(x, (kh, kw), stride, padding, dilation, groups)
    if g.shape != (x.shape[0], o) + out:
        raise ValueError(f"g must have conv2d's output shape {(x.shape[0], o) + out}")
    lhs = _wide(g, q, wp, groups) if stride == (1, 1) else _by_group(g, groups)
    dw = B.xp.matmul(lhs, B.xp.swapaxes(cols, 1, 2))
    return dw.reshape(wshape)


def _conv_transpose2d(x, w, *, stride, padding, output_padding, dilation, groups):
    _check(x, w, groups, "conv_transpose2d")
    n, o, ho, wo = x.shape
    o_w, cg, kh, kw = w.shape
    if o != o_w or o % groups:
        raise ValueError(f"x has {o} channels but w.shape[0] = {o_w}; they must be equal, "
                         f"and divisible by groups={groups}")
    sh, sw = stride
    dh, dw = dilation
    oph, opw = output_padding
    if oph >= max(sh, dh) or opw >= max(sw, dw) or oph < 0 or opw < 0:
        raise ValueError(f"output_padding={output_padding} must be smaller than stride or "
                         "dilation")
    og = o // groups
    hp = (ho - 1) * sh + dh * (kh - 1) + 1 + oph
    wp = (wo - 1) * sw + dw * (kw - 1) + 1 + opw
    h, wd = hp - 2 * padding[0], wp - 2 * padding[1]
    if h < 1 or wd < 1:
        raise ValueError(f"padding={padding} leaves no output")
    wt = B.xp.swapaxes(w.reshape(groups, og, cg * kh * kw), 1, 2)
    if stride == (1, 1):                          # col2im by runs of the padded width
        q = (ho - 1) * wp + wo
        cols = B.xp.matmul(wt, _wide(x, q, wp, groups)).reshape(groups * cg, kh, kw, n, q)
        out = B.xp.zeros((groups * cg, n, hp * wp), dtype=cols.dtype)
        for i in range(kh):
            for j in range(kw):
                start = i * dh * wp + j * dw
                out[:, :, start:start + q] += cols[:, i, j]
        out = B.xp.swapaxes(out.reshape(groups * cg, n, hp, wp), 0, 1)
        out = out[:, :, padding[0]:padding[0] + h, padding[1]:padding[1] + wd]
        return B.xp.ascontiguousarray(out)
    cols = B.xp.matmul(wt, _by_group(x, groups))                # (G, C/G * kh * kw, N * P)
    cols = cols.reshape(groups * cg, kh, kw, n, ho, wo)
    out = B.xp.zeros((groups * cg, n, hp, wp), dtype=cols.dtype)
    for i in range(kh):                                           # col2im: one add per offset
        for j in range(kw):
            out[:, :, i * dh:i * dh + sh * (ho - 1) + 1:sh,
                j * dw:j * dw + sw * (wo - 1) + 1:sw] += cols[:, i, j]
    out = B.xp.swapaxes(out, 0, 1)[:, :, padding[0]:padding[0] + h, padding[1]:padding[1] + wd]
    return B.xp.ascontiguousarray(out)


def _output_padding(size, out, k, stride, padding, dilation):
    return size - ((out - 1) * stride - 2 * padding + dilation * (k - 1) + 1)


def _conv_vjp_x(g, x, w, xshape, wshape, *, stride, padding, dilation, groups):
    op = tuple(_output_padding(xshape[2 + a], g.shape[2 + a], wshape[2 + a], stride[a],
                               padding[a], dilation[a]) for a in (0, 1))
    return conv_transpose2d(g, w, stride=stride, padding=padding, output_padding=op,
                            dilation=dilation, groups=groups)


def _conv_vjp_w(g, x, w, xshape, wshape, *, stride, padding, dilation, groups):
    return conv2d_weight(x, g, wshape=wshape, stride=stride, padding=padding,
                         dilation=dilation, groups=groups)


def _conv_params(stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    return {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}


def _conv_samples(rng):
    def case(xs, ws, **params):
        return Sample((uniform(rng, xs), uniform(rng, ws)), _conv_params(**params))
    return [case((2, 3, 5, 5), (4, 3, 3, 3)),
            case((1, 4, 6, 5), (6, 2, 2, 3), stride=(2, 1), padding=(1, 2), dilation=(1, 2),
                 groups=2),
            case((2, 2, 7, 6), (3, 2, 3, 2), stride=(2, 3), padding=(1, 0), dilation=(2, 1))]


def _columns(xs, k, out, params) -> tuple[int, int, int]:
    """Elements of the padded copy of an input of shape ``xs``, of its columns for a kernel
    ``k`` and output positions ``out``, and the columns' width N * Q (Q: positions per image,
    rows of the padded width for stride 1)."""
    n, c, h, w = xs
    ph, pw = params["padding"]
    padded = n * c * (h + 2 * ph) * (w + 2 * pw) if ph or pw else 0
    if tuple(params["stride"]) == (1, 1):
        q = (out[0] - 1) * (w + 2 * pw) + out[1]
    else:
        q = out[0] * out[1]
    return padded, c * k[0] * k[1] * n * q, n * q


def _im2col_bytes(step, i=0) -> int:
    """conv2d: the padded input, its columns and the product (O, N * Q) before it is laid out
    as (N, O, Ho, Wo), beside the output."""
    padded, cols, nq = _columns(step.in_shapes[0], step.in_shapes[1][2:], step.shape[2:],
                                step.params)
    return step.itemsize * (padded + cols + step.shape[1] * nq)


def _weight_bytes(step, i=0) -> int:
    """conv2d_weight: the padded input, its columns and the output gradient laid out as
    (O, N * Q)."""
    padded, cols, nq = _columns(step.in_shapes[0], step.shape[2:], step.in_shapes[1][2:],
                                step.params)
    return step.itemsize * (padded + cols + step.shape[0] * nq)


def _conv_vjp_bytes(step, i) -> int:
    """Input gradient: the output gradient laid out by group, the columns and the padded sum;
    kernel gradient: as conv2d_weight's forward."""
    xs, k = step.in_shapes[0], step.in_shapes[1][2:]
    padded, cols, nq = _columns(xs, k, step.shape[2:], step.params)
    ph, pw = step.params["padding"]
    if i == 0:
        n, c, h, w = xs
        return step.itemsize * (step.shape[1] * nq + cols + n * c * (h + 2 * ph) * (w + 2 * pw))
    return step.itemsize * (padded + cols + step.shape[1] * nq)


_CONV_BOOK = Book(
    forward=lambda n, a: n.note("conv", "cross-correlation of the input with the kernel",
                                n.call("conv", a[0], a[1])),
    vjp=lambda n, i, g, a, out: (
        n.note("conv^T", "transposed convolution: the gradient spread back over the input",
               n.call("conv^T", g, a[1], latex=r"\operatorname{conv}^\top")) if i == 0 else
        n.note("corr", "correlation of the input with the output gradient",
               n.call("corr", a[0], g))))

conv2d = Op(
    "conv2d", _conv2d, inputs=("x", "w"), saves=("x", "w", "x.shape", "w.shape"),
    vjp=(_conv_vjp_x, _conv_vjp_w), jvp=MULTILINEAR, samples=_conv_samples,
    bad_inputs=lambda: [
        BadInput((np.ones((1, 3, 5, 5)), np.ones((2, 2, 3, 3))), _conv_params(), ShapeError,
                 "(2, 2, 3, 3)"),
        BadInput((np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3))), _conv_params(), ShapeError,
                 "larger than the padded input"),
        BadInput((np.ones((1, 5, 5)), np.ones((1, 1, 3, 3))), _conv_params(), ShapeError,
                 "4-D")],
    hint="x is (N, C, H, W), w is (O, C // groups, kh, kw), and the dilated kernel must fit "
         "in the padded input",
    book=_CONV_BOOK, memory=Memory(forward=_im2col_bytes, vjp=_conv_vjp_bytes),
    doc="2-D cross-correlation of (N, C, H, W) with (O, C/groups, kh, kw), as PyTorch's.")


def _cw_vjp_x(g, x, dy, xshape, *, wshape, stride, padding, dilation, groups):
    op = tuple(_output_padding(xshape[2 + a], dy.shape[2 + a], wshape[2 + a], stride[a],
                               padding[a], dilation[a]) for a in (0, 1))
    return conv_transpose2d(dy, g, stride=stride, padding=padding, output_padding=op,
                            dilation=dilation, groups=groups)


def _cw_vjp_dy(g, x, dy, xshape, *, wshape, stride, padding, dilation, groups):
    return conv2d(x, g, stride=stride, padding=padding, dilation=dilation, groups=groups)


def _cw_samples(rng):
    out = []
    for sample in _conv_samples(rng):
        x, w = sample.args
        y = _conv2d(x, w, **sample.params)
        out.append(Sample((x, uniform(rng, y.shape)), {**sample.params, "wshape": w.shape}))
    return out


conv2d_weight = Op(
    "conv2d_weight", _conv2d_weight, inputs=("x", "dy"), saves=("x", "dy", "x.shape"),
    vjp=(_cw_vjp_x, _cw_vjp_dy), jvp=MULTILINEAR, samples=_cw_samples,
    bad_inputs=lambda: [BadInput((np.ones((1, 2, 5, 5)), np.ones((1, 3, 2, 2))),
                                 {**_conv_params(), "wshape": (3, 2, 3, 3)}, ShapeError,
                                 "(1, 3, 2, 2)")],
    hint="dy must have conv2d's output shape for x and a kernel of shape wshape",
    book=Book(forward=lambda n, a: n.call("corr", a[0], a[1])),
    memory=Memory(forward=_weight_bytes),
    doc="The gradient of conv2d for its kernel: the columns of ``x`` times the output "
        "gradient ``dy``.")


def _convt_vjp_x(g, x, w, wshape, *, stride, padding, output_padding, dilation, groups):
    return conv2d(g, w, stride=stride, padding=padding, dilation=dilation, groups=groups)


def _convt_vjp_w(g, x, w, wshape, *, stride, padding, output_padding, dilation, groups):
    return conv2d_weight(g, x, wshape=wshape, stride=stride, padding=padding,
                         dilation=dilation, groups=groups)


def _convt_samples(rng):
    def case(xs, ws, stride=(1, 1), padding=(0, 0), output_padding=(0, 0), dilation=(1, 1),
             groups=1):
        return Sample((uniform(rng, xs), uniform(rng, ws)),
                      {"stride": stride, "padding": padding, "output_padding": output_padding,
                       "dilation": dilation, "groups": groups})
    return [case((2, 4, 3, 3), (4, 3, 3, 3)),
            case((1, 4, 3, 2), (4, 2, 3, 2), stride=(2, 2), padding=(1, 0),
                 output_padding=(1, 1), groups=2),
            case((2, 2, 3, 3), (2, 1, 2, 3), stride=(1, 2), dilation=(2, 1))]


def _convt_bytes(step, i=0) -> int:
    """The columns (N, C, kh, kw, Ho, Wo) and the padded sum."""
    n, _, ho, wo = step.in_shapes[0]
    kh, kw = step.in_shapes[1][2:]
    c = step.shape[1]
    return step.itemsize * (n * c * kh * kw * ho * wo + step.size)


conv_transpose2d = Op(
    "conv_transpose2d", _conv_transpose2d, inputs=("x", "w"), saves=("x", "w", "w.shape"),
    vjp=(_convt_vjp_x, _convt_vjp_w), jvp=MULTILINEAR, samples=_convt_samples,
    bad_inputs=lambda: [
        BadInput((np.ones((1, 3, 5, 5)), np.ones((2, 2, 3, 3))),
                 {"stride": (1, 1), "padding": (0, 0), "output_padding": (0, 0),
                  "dilation": (1, 1), "groups": 1}, ShapeError, "(2, 2, 3, 3)"),
        BadInput((np.ones((1, 2, 3, 3)), np.ones((2, 2, 3, 3))),
                 {"stride": (1, 1), "padding": (0, 0), "output_padding": (1, 0),
                  "dilation": (1, 1), "groups": 1}, ShapeError, "output_padding")],
    hint="x is (N, C_in, H, W), w is (C_in, C_out // groups, kh, kw), and output_padding is "
         "smaller than stride or dilation",
    book=Book(vjp=lambda n, i, g, a, out: n.call("conv", g, a[1]) if i == 0 else
              n.call("corr", g, a[0])),
    memory=Memory(forward=_convt_bytes, vjp=lambda step, i: _convt_bytes(step)),
    doc="The transposed convolution (the input gradient of conv2d), as PyTorch's.")
