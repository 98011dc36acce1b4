"""Convolution, pooling and batch-norm layers, with PyTorch's arguments, initialisation and
``state_dict`` keys.

``Conv2d`` and ``ConvTranspose2d`` start as PyTorch's do: weight and bias uniform in
``+-1 / sqrt(fan_in)`` (``kaiming_uniform_(a=sqrt(5))``).  ``BatchNorm1d`` and
``BatchNorm2d`` keep ``running_mean``, ``running_var`` and ``num_batches_tracked`` as buffers.

>>> import numpy as np
>>> from chainrule import nn
>>> conv = nn.Conv2d(1, 6, kernel_size=5, padding=2, generator=0)
>>> [name for name in conv.state_dict()]
['weight', 'bias']
>>> nn.MaxPool2d(2)(conv(np.zeros((8, 1, 28, 28), dtype=np.float32))).shape
(8, 6, 14, 14)
>>> list(nn.BatchNorm2d(6).state_dict())
['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..core.tensor import Tensor
from ..creation import tensor
from ..errors import ShapeError
from .functional import conv as F
from . import init as I
from .layers import as_tensor, positive_count
from .module import Module, parameter

__all__ = ["Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
           "BatchNorm1d", "BatchNorm2d"]


class _ConvNd(Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 groups, bias, dtype, generator, transposed):
        super().__init__()
        where = type(self).__name__
        self.in_channels = positive_count(in_channels, "in_channels", where)
        self.out_channels = positive_count(out_channels, "out_channels", where)
        self.groups = positive_count(groups, "groups", where)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ShapeError(f"{where}: in_channels={in_channels} and out_channels="
                             f"{out_channels} must both be divisible by groups={groups}")
        self.kernel_size = F.pair(kernel_size, "kernel_size", where)
        self.stride = F.pair(stride, "stride", where)
        self.padding = padding if isinstance(padding, str) else F.pair(padding, "padding",
                                                                       where, 0)
        self.dilation = F.pair(dilation, "dilation", where)
        first, second = ((self.in_channels, self.out_channels // self.groups) if transposed
                         else (self.out_channels, self.in_channels // self.groups))
        self.weight = parameter(np.zeros((first, second) + self.kernel_size, dtype=dtype))
        fan_in = second * self.kernel_size[0] * self.kernel_size[1]
        bound = 1.0 / math.sqrt(fan_in)        # PyTorch's kaiming_uniform_(a=sqrt(5))
        I.uniform_(self.weight, -bound, bound, generator=generator)
        if bias:
            self.bias = parameter(np.zeros(self.out_channels, dtype=dtype))
            I.uniform_(self.bias, -bound, bound, generator=generator)
        else:
            self.bias = None

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        return text + ("" if self.bias is not None else ", bias=False")


class Conv2d(_ConvNd):
    """2-D convolution over (N, C, H, W) or (C, H, W), as ``torch.nn.Conv2d``; ``generator``
    seeds the initialisation (a Generator, an int, or None for ``cr.random.generator``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 dtype: Any = np.float32, generator: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, dtype, generator, transposed=False)

    def forward(self, x: Any) -> Tensor:
        """Convolve ``x`` with ``weight`` and add ``bias``."""
        return F.conv2d(as_tensor(x, self.weight.dtype), self.weight, self.bias, self.stride,
                        self.padding, self.dilation, self.groups)


class ConvTranspose2d(_ConvNd):
    """The transposed convolution, as ``torch.nn.ConvTranspose2d`` (weight (C_in, C_out /
    groups, kh, kw))."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, groups: int = 1, bias: bool = True,
                 dilation: Any = 1, dtype: Any = np.float32, generator: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, dtype, generator, transposed=True)
        self.output_padding = F.pair(output_padding, "output_padding", "ConvTranspose2d", 0)

    def forward(self, x: Any) -> Tensor:
        """The transposed convolution of ``x`` with ``weight``, plus ``bias``."""
        return F.conv_transpose2d(as_tensor(x, self.weight.dtype), self.weight, self.bias,
                                  self.stride, self.padding, self.output_padding, self.groups,
                                  self.dilation)


class MaxPool2d(Module):
    """The maximum of each window, as ``torch.nn.MaxPool2d`` (``stride`` defaults to the
    window)."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 dilation: Any = 1, ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride or kernel_size, padding
        self.dilation, self.ceil_mode = dilation, ceil_mode

    def forward(self, x: Any) -> Tensor:
        """Pool ``x``."""
        return F.max_pool2d(as_tensor(x), self.kernel_size, self.stride, self.padding,
                            self.dilation, self.ceil_mode)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
                f", dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """The mean of each window, as ``torch.nn.AvgPool2d``."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride or kernel_size, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad
        self.divisor_override = divisor_override

    def forward(self, x: Any) -> Tensor:
        """Pool ``x``."""
        return F.avg_pool2d(as_tensor(x), self.kernel_size, self.stride, self.padding,
                            self.ceil_mode, self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size, as ``torch.nn.AdaptiveAvgPool2d``."""

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Any) -> Tensor:
        """Pool ``x`` to ``output_size``."""
        return F.adaptive_avg_pool2d(as_tensor(x), self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class _BatchNorm(Module):
    dims: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 dtype: Any = np.float32) -> None:
        super().__init__()
        where = type(self).__name__
        self.num_features = positive_count(num_features, "num_features", where)
        self.eps, self.momentum = float(eps), momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = parameter(np.ones(num_features, dtype=dtype)) if affine else None
        self.bias = parameter(np.zeros(num_features, dtype=dtype)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", tensor(np.zeros(num_features, dtype=dtype)))
            self.register_buffer("running_var", tensor(np.ones(num_features, dtype=dtype)))
            self.register_buffer("num_batches_tracked", tensor(np.array(0, dtype=np.int64)))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def forward(self, x: Any) -> Tensor:
        """Normalise ``x`` with the batch's statistics in training (and update the running
        ones), with the running statistics in evaluation."""
        x = as_tensor(x, self.weight.dtype if self.weight is not None else None)
        if x.ndim not in self.dims or x.shape[1] != self.num_features:
            raise ShapeError(f"{self!r}: input shape {x.shape} does not fit; expected "
                             f"{' or '.join(f'{d}-D' for d in self.dims)} with "
                             f"{self.num_features} channels on axis 1")
        batch_stats = self.training or not self.track_running_stats
        momentum = self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked._data += 1
            if momentum is None:                        # a cumulative average
                momentum = 1.0 / float(self.num_batches_tracked._data)
        return F.batch_norm(x, self.running_mean if not batch_stats or self.training else None,
                            self.running_var if not batch_stats or self.training else None,
                            self.weight, self.bias, batch_stats, momentum, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L), as ``torch.nn.BatchNorm1d``."""

    dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W), as ``torch.nn.BatchNorm2d``."""

    dims = (4,)
