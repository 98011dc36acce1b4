"""``chainrule.nn.functional``: PyTorch's ``torch.nn.functional``, for code that writes ``F.``.

Everything in :mod:`chainrule.functional` is here under the same name, plus the functions
PyTorch keeps in ``torch.nn.functional``, one module per family.

>>> import chainrule as cr
>>> import chainrule.nn.functional as F
>>> F.relu(cr.tensor([-1.0, 2.0])).tolist()
[0.0, 2.0]
"""

from ...functional import (abs, add, astype, broadcast_to, clip, concatenate, cos,
                           div, einsum, equal, exp, getitem, greater,
                           greater_equal, less, less_equal, log, logsumexp, matmul,
                           max, maximum, mean, min, minimum, mul, neg, not_equal,
                           power, relu, reshape, sigmoid, sin, softplus, sqrt, stack,
                           sub, sum, sum_to, sumsq, tanh, tensordot, transpose, where)
from .activation import dropout, elu, gelu, leaky_relu, log_softmax, one_hot, silu, softmax
from .loss import cross_entropy, mse_loss, nll_loss
from .conv import (adaptive_avg_pool2d, avg_pool1d, avg_pool2d, batch_norm, conv1d, conv2d,
                   conv_transpose2d, max_pool1d, max_pool2d, pad)

__all__ = [
    "neg", "exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid", "relu", "softplus",
    "add", "sub", "mul", "div", "power", "maximum", "minimum", "where", "clip",
    "less", "less_equal", "greater", "greater_equal", "equal", "not_equal",
    "sum", "sumsq", "mean", "max", "min", "logsumexp", "softmax", "log_softmax",
    "reshape", "transpose", "broadcast_to", "sum_to", "getitem", "concatenate", "stack",
    "astype", "matmul", "einsum", "tensordot", "cross_entropy", "mse_loss",
    "conv1d", "conv2d", "conv_transpose2d", "max_pool1d", "max_pool2d", "avg_pool1d",
    "avg_pool2d", "adaptive_avg_pool2d", "pad", "batch_norm",
    "gelu", "silu", "leaky_relu", "elu", "dropout", "nll_loss", "one_hot",
]
