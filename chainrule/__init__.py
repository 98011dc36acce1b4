"""chainrule: backpropagation you can read, see and trust.

Forward propagation records a graph of variables and operators; backpropagation walks it back
by the chain rule; every derivative rule is written in chainrule's own operators, so gradients
of gradients work to any order, in reverse and in forward mode.

>>> import chainrule as cr
>>> x = cr.tensor([1.0, 2.0], requires_grad=True, name="x")
>>> y = (x ** 2).sum()
>>> y.backward()
>>> x.grad.tolist()
[2.0, 4.0]
"""

from . import backend
from .autodiff import grad, hessian, hvp, jvp, vjp
from .creation import (arange, empty, eye, full, full_like, linspace, manual_seed, normal, ones,
                       ones_like, rand, rand_like, randint, randn, randn_like, random, tensor,
                       zeros, zeros_like)
from .errors import (AnomalyError, ChainruleError, DataError, DTypeError, GradientCheckError,
                     GraphError, ShapeError)
from .functional import (abs, add, astype, broadcast_to, clip, concatenate, cos, cross_entropy,
                         einsum, equal, exp, getitem, greater, greater_equal, is_tensor, less,
                         less_equal, log, log_softmax, logsumexp, matmul, max, maximum, mean,
                         min, minimum, mse_loss, mul, neg, nonzero, not_equal, power, relu,
                         reshape,
                         sigmoid, sin, softmax, softplus, sqrt, stack, sub, sum, sum_to, sumsq,
                         tanh, tensordot, transpose, where)
from .core.dtypes import (double, float16, float32, float64, get_default_dtype, half, int8,
                          int16, int32, int64, long, set_default_dtype, uint8)
from .core.dtypes import bool_ as bool, float32 as float, int32 as int  # noqa: A004
from .functional.pointwise import (allclose, ceil, clamp, clone, copysign, div, dot, erf, floor,
                                   fmod, isclose, log2, logical_and, logical_not, logical_or,
                                   logical_xor, mm, numel, remainder, rsqrt, sign, square,
                                   trunc)
from .functional.pointwise import round  # noqa: A004
from .functional.reductions import (argmax, argmin, count_nonzero, cumprod, cumsum, norm, prod,
                                    std, var)
from .functional.reductions import all, any  # noqa: A004
from .functional.rearrange import (argsort, cat, expand, flatten, flip, repeat, roll, sort,
                                   squeeze, tril, triu, unsqueeze)
from .core.device import DeviceError, cuda, device
from .core import (OPS, Tensor, detect_anomaly, enable_grad, is_grad_enabled, no_grad,
                   set_grad_enabled)
from .replay import Plan, ReplayError, compile, trace  # noqa: A004 (cr.compile)

from . import data, models, nn, optim, storage, testing  # they build on the names above
from . import utils
from . import memory, viz
from .remat import checkpoint
from .viz.derivation import explain

__version__ = "0.1.0"

__all__ = [
    # tensors
    "Tensor", "tensor", "zeros", "ones", "full", "zeros_like", "ones_like", "arange",
    "randn", "rand", "random",
    # dtypes (PyTorch's rules: chainrule.core.dtypes)
    "get_default_dtype", "set_default_dtype", "float16", "half", "float32", "float", "float64",
    "double", "int8", "uint8", "int16", "int32", "int", "int64", "long", "bool",
    "normal", "eye", "linspace", "manual_seed", "randint", "rand_like", "randn_like",
    "full_like", "empty", "device", "cuda", "DeviceError",
    # autodiff
    "grad", "vjp", "jvp", "hvp", "hessian", "checkpoint", "no_grad", "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled", "detect_anomaly",
    # capture and replay
    "compile", "trace", "Plan", "ReplayError",
    # operators
    "neg", "exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid", "relu", "softplus",
    "add", "sub", "mul", "div", "power", "maximum", "minimum", "where", "nonzero", "clip",
    "is_tensor", "mm", "numel",
    "less", "less_equal", "greater", "greater_equal", "equal", "not_equal",
    "sum", "sumsq", "mean", "max", "min", "logsumexp", "softmax", "log_softmax",
    "reshape", "transpose", "broadcast_to", "sum_to", "getitem", "concatenate", "stack",
    "astype", "matmul", "einsum", "tensordot", "cross_entropy", "mse_loss", "OPS",
    "allclose", "ceil", "clamp", "clone", "copysign", "dot", "erf", "floor", "fmod", "isclose",
    "log2", "logical_and", "logical_not", "logical_or", "logical_xor", "remainder", "rsqrt",
    "sign", "square", "trunc", "round", "argmax", "argmin", "count_nonzero", "cumprod",
    "cumsum", "norm", "prod", "std", "var", "all", "any", "argsort", "cat", "expand", "flatten",
    "flip", "repeat", "roll", "sort", "squeeze", "tril", "triu", "unsqueeze",
    # errors
    "ChainruleError", "ShapeError", "DTypeError", "GraphError", "AnomalyError",
    "GradientCheckError", "DataError",
    # modules
    "backend", "testing", "nn", "optim", "models", "data", "storage", "viz", "explain", "utils",
    "memory",
]
