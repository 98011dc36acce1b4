"""Making tensors: ``tensor`` from data, constructors, and the seedable ``random`` generator.

Every constructor checks what it is given before NumPy sees it: sizes must be integers >= 0
(Python or NumPy integers; not floats, bools or strings), ``dtype`` must name a numeric NumPy
dtype, and a fill value must be a number the dtype can hold.  A bad argument raises
:class:`~chainrule.errors.ShapeError` or :class:`~chainrule.errors.DTypeError` naming the
function and the argument, never a bare NumPy error.
"""

from .ranges import arange, linspace
from .sampling import (manual_seed, normal, rand, rand_like, randint, randn, randn_like,
                       random)
from .tensors import (empty, eye, full, full_like, ones, ones_like, tensor, zeros,
                      zeros_like)

__all__ = ["tensor", "zeros", "ones", "full", "arange", "randn", "rand", "random",
           "zeros_like", "ones_like", "normal", "eye", "linspace", "manual_seed", "randint",
           "rand_like", "randn_like", "full_like", "empty"]
