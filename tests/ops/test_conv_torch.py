"""Convolution, pooling, padding and batch norm against PyTorch: forward and gradients, in
float64, on many shapes (strides, paddings, dilations, groups, odd sizes, channels-last
inputs); the composites (pad, adaptive pooling, batch norm) also against central differences
to second order."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.testing import gradcheck, gradgradcheck

torch = pytest.importorskip("torch", reason="PyTorch is not installed: nothing to compare with")
TF = torch.nn.functional


def _run(cr_fn, torch_fn, arrays, seed=0):
    """Forward of both, and the gradients of <u, f(...)> for every array, compared."""
    xs = [cr.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(np.ascontiguousarray(a), requires_grad=True) for a in arrays]
    out, ref = cr_fn(*xs), torch_fn(*ts)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-10)
    u = np.random.default_rng(seed).standard_normal(ref.shape)
    (out * cr.tensor(u)).sum().backward()
    (ref * torch.tensor(u)).sum().backward()
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-10)


CONV = [  # x shape, w shape, stride, padding, dilation, groups
    ((2, 3, 7, 7), (4, 3, 3, 3), 1, 0, 1, 1),
    ((1, 1, 28, 28), (6, 1, 5, 5), 1, 2, 1, 1),
    ((2, 6, 14, 14), (16, 6, 5, 5), 1, 0, 1, 1),
    ((2, 4, 9, 8), (6, 2, 3, 2), (2, 1), (1, 0), (1, 2), 2),
    ((1, 6, 11, 10), (6, 1, 3, 3), 2, 1, 1, 6),          # depthwise
    ((3, 2, 5, 9), (3, 2, 1, 4), (1, 3), (0, 2), (1, 2), 1),
    ((1, 4, 8, 8), (4, 2, 3, 3), 3, 2, 2, 2),
    ((2, 3, 6, 5), (2, 3, 6, 5), 1, 0, 1, 1),           # the kernel is the whole image
]


@pytest.mark.parametrize("xs, ws, stride, padding, dilation, groups", CONV)
def test_conv2d_matches_torch(xs, ws, stride, padding, dilation, groups):
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])]
    _run(lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation, groups),
         lambda x, w, b: TF.conv2d(x, w, b, stride, padding, dilation, groups), arrays)


def test_conv2d_takes_a_channels_last_input():
    rng = np.random.default_rng(2)
    nhwc = rng.standard_normal((2, 9, 9, 3))
    x = nhwc.transpose(0, 3, 1, 2)               # (N, C, H, W) with channels-last strides
    w = rng.standard_normal((5, 3, 3, 3))
    _run(lambda x, w: F.conv2d(x, w, stride=2, padding=1),
         lambda x, w: TF.conv2d(x, w, stride=2, padding=1), [x, w])


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_conv2d_string_padding_matches_torch(padding):
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal((1, 2, 6, 7)), rng.standard_normal((3, 2, 4, 3))]
    _run(lambda x, w: F.conv2d(x, w, padding=padding),
         lambda x, w: TF.conv2d(x, w, padding=padding), arrays)


def test_conv1d_matches_torch():
    rng = np.random.default_rng(4)
    arrays = [rng.standard_normal((2, 4, 11)), rng.standard_normal((6, 2, 3))]
    _run(lambda x, w: F.conv1d(x, w, stride=2, padding=1, dilation=2, groups=2),
         lambda x, w: TF.conv1d(x, w, stride=2, padding=1, dilation=2, groups=2), arrays)


CONVT = [  # x shape, w shape, stride, padding, output_padding, groups, dilation
    ((2, 4, 3, 3), (4, 3, 3, 3), 1, 0, 0, 1, 1),
    ((1, 4, 5, 4), (4, 2, 3, 2), 2, 1, 1, 2, 1),
    ((2, 3, 4, 4), (3, 2, 2, 2), 2, 0, 0, 1, 1),
    ((1, 2, 3, 5), (2, 3, 3, 3), (3, 2), (1, 2), (2, 1), 1, (1, 2)),
]


@pytest.mark.parametrize("xs, ws, stride, padding, output_padding, groups, dilation", CONVT)
def test_conv_transpose2d_matches_torch(xs, ws, stride, padding, output_padding, groups,
                                        dilation):
    rng = np.random.default_rng(5)
    arrays = [rng.standard_normal(xs), rng.standard_normal(ws),
              rng.standard_normal(ws[1] * groups)]
    _run(lambda x, w, b: F.conv_transpose2d(x, w, b, stride, padding, output_padding, groups,
                                            dilation),
         lambda x, w, b: TF.conv_transpose2d(x, w, b, stride, padding, output_padding, groups,
                                             dilation), arrays)


MAXPOOL = [  # x shape, kernel, stride, padding, dilation, ceil_mode
    ((2, 3, 8, 8), 2, None, 0, 1, False),
    ((1, 2, 7, 9), 3, 2, 1, 1, False),
    ((1, 2, 7, 9), 3, 2, 1, 1, True),
    ((2, 1, 10, 7), (2, 3), (1, 2), (1, 1), (2, 1), True),
    ((1, 3, 5, 5), 5, 1, 2, 1, False),
    ((1, 1, 6, 6), 3, 3, 0, 1, True),
]


@pytest.mark.parametrize("xs, k, stride, padding, dilation, ceil_mode", MAXPOOL)
def test_max_pool2d_matches_torch(xs, k, stride, padding, dilation, ceil_mode):
    x = np.random.default_rng(6).standard_normal(xs)
    _run(lambda x: F.max_pool2d(x, k, stride, padding, dilation, ceil_mode),
         lambda x: TF.max_pool2d(x, k, stride, padding, dilation, ceil_mode), [x])


def test_max_pool2d_indices_and_ties_match_torch():
    x = np.maximum(np.random.default_rng(7).standard_normal((2, 3, 6, 6)), 0.0)  # ReLU zeros
    out, index = F.max_pool2d(cr.tensor(x), 2, return_indices=True)
    ref, ref_index = TF.max_pool2d(torch.tensor(x), 2, return_indices=True)
    np.testing.assert_array_equal(index.numpy(), ref_index.numpy())
    _run(lambda x: F.max_pool2d(F.relu(x), 3, 1), lambda x: TF.max_pool2d(TF.relu(x), 3, 1),
         [x - 0.5])


def test_max_pool1d_matches_torch():
    x = np.random.default_rng(8).standard_normal((2, 3, 11))
    _run(lambda x: F.max_pool1d(x, 3, 2, 1), lambda x: TF.max_pool1d(x, 3, 2, 1), [x])


AVGPOOL = [  # x shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor
    ((2, 3, 8, 8), 2, None, 0, False, True, None),
    ((1, 2, 7, 9), 3, 2, 1, False, True, None),
    ((1, 2, 7, 9), 3, 2, 1, True, False, None),
    ((2, 1, 10, 7), (2, 3), (3, 2), (1, 1), True, True, None),
    ((1, 2, 5, 6), 3, 1, 1, False, False, None),
    ((1, 2, 6, 6), 2, 1, 1, True, True, 3),
    ((1, 1, 4, 4), 4, None, 1, False, True, None),     # tiles that the padding shifts
    ((2, 6, 28, 28), 2, 2, 0, False, True, None),      # LeNet's
]


@pytest.mark.parametrize("xs, k, stride, padding, ceil_mode, include, divisor", AVGPOOL)
def test_avg_pool2d_matches_torch(xs, k, stride, padding, ceil_mode, include, divisor):
    x = np.random.default_rng(9).standard_normal(xs)
    _run(lambda x: F.avg_pool2d(x, k, stride, padding, ceil_mode, include, divisor),
         lambda x: TF.avg_pool2d(x, k, stride, padding, ceil_mode, include, divisor), [x])


def test_avg_pool1d_matches_torch():
    x = np.random.default_rng(10).standard_normal((2, 3, 11))
    _run(lambda x: F.avg_pool1d(x, 3, 2, 1), lambda x: TF.avg_pool1d(x, 3, 2, 1), [x])


@pytest.mark.parametrize("xs, size", [((2, 3, 8, 8), (4, 4)), ((1, 2, 7, 9), (3, 4)),
                                      ((1, 2, 5, 5), 1), ((2, 1, 10, 7), (None, 3))])
def test_adaptive_avg_pool2d_matches_torch(xs, size):
    x = np.random.default_rng(11).standard_normal(xs)
    _run(lambda x: F.adaptive_avg_pool2d(x, size),
         lambda x: TF.adaptive_avg_pool2d(x, size), [x])


PADS = [((2, 3, 5, 6), (1, 2), "constant", 0.0), ((2, 3, 5, 6), (1, 2, 0, 3), "constant", 1.5),
        ((2, 3, 5, 6), (2, 1, 3, 1), "reflect", None), ((1, 2, 4, 5), (1, 3, 2, 2), "replicate",
                                                        None),
        ((1, 2, 4, 5), (2, 2, 1, 3), "circular", None), ((3, 4, 5), (-1, 2), "constant", 0.0),
        ((2, 6), (2, 3), "reflect", None)]


@pytest.mark.parametrize("xs, widths, mode, value", PADS)
def test_pad_matches_torch_and_central_differences(xs, widths, mode, value):
    x = np.random.default_rng(12).standard_normal(xs)
    kwargs = {} if value is None else {"value": value}
    _run(lambda x: F.pad(x, widths, mode, **kwargs),
         lambda x: TF.pad(x, widths, mode, **kwargs), [x])
    assert gradgradcheck(lambda x: F.pad(x, widths, mode, **kwargs), [x])


@pytest.mark.parametrize("xs", [(4, 3), (4, 3, 5), (3, 2, 4, 5)])
def test_batch_norm_training_matches_torch_with_running_statistics(xs):
    rng = np.random.default_rng(13)
    c = xs[1]
    x, w, b = rng.standard_normal(xs) * 2 + 1, rng.standard_normal(c), rng.standard_normal(c)
    ours = [np.zeros(c), np.ones(c)]
    theirs = [torch.zeros(c, dtype=torch.float64), torch.ones(c, dtype=torch.float64)]
    _run(lambda x, w, b: F.batch_norm(x, *ours, w, b, training=True, momentum=0.2),
         lambda x, w, b: TF.batch_norm(x, *theirs, w, b, training=True, momentum=0.2),
         [x, w, b])
    np.testing.assert_allclose(ours[0], theirs[0].numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours[1], theirs[1].numpy(), rtol=1e-12)
    _run(lambda x, w, b: F.batch_norm(x, *ours, w, b, training=False),
         lambda x, w, b: TF.batch_norm(x, *theirs, w, b, training=False), [x, w, b])


def test_batch_norm_second_order_against_central_differences():
    rng = np.random.default_rng(14)
    x, w = rng.standard_normal((4, 2, 3)), rng.standard_normal(2)
    f = lambda x, w: F.batch_norm(x, None, None, w, training=True)  # noqa: E731
    assert gradcheck(f, [x, w])
    assert gradgradcheck(f, [x, w])


def test_adaptive_avg_pool2d_second_order():
    x = np.random.default_rng(15).standard_normal((1, 2, 5, 7))
    assert gradgradcheck(lambda x: F.adaptive_avg_pool2d(x * x, (2, 3)), [x])


@pytest.mark.parametrize("call, match", [
    (lambda: F.conv2d(np.ones((1, 2, 5, 5)), np.ones((3, 3, 3, 3))), "channels"),
    (lambda: F.conv2d(np.ones((1, 3, 5, 5)), np.ones((3, 3, 3, 3)), stride=0), "stride=0"),
    (lambda: F.conv2d(np.ones((5, 5)), np.ones((3, 3, 3, 3))), "(N, C, H, W)"),
    (lambda: F.max_pool2d(np.ones((1, 1, 4, 4)), 2, padding=2), "half"),
    (lambda: F.pad(np.ones((2, 3)), (1,)), "even number"),
    (lambda: F.pad(np.ones((2, 3)), (3, 0), "reflect"), "smaller than"),
    (lambda: F.batch_norm(np.ones((1, 2)), None, None, training=True), "more than one"),
])
def test_bad_arguments_are_typed_errors_naming_the_function(call, match):
    with pytest.raises(cr.ChainruleError, match=match.replace("(", r"\(").replace(")", r"\)")):
        call()
