"""Optimizers and learning-rate schedules, with PyTorch's update equations.

>>> import numpy as np
>>> from chainrule.models import ChapterMLP
>>> from chainrule.optim import SGD
>>> model = ChapterMLP(inputs=4, hidden=8, outputs=3, dtype=np.float64, seed=0)
>>> opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
>>> x, y = np.random.default_rng(0).random((6, 4)), np.array([0, 1, 2, 0, 1, 2])
>>> losses = []
>>> for _ in range(20):
...     opt.zero_grad()
...     J = model.objective(x, y)
...     J.backward()
...     _ = opt.step()
...     losses.append(J.item())
>>> losses[-1] < losses[0]
True
"""

from .algorithms import SGD, Adam, AdamW
from .optimizer import Optimizer, flatten_state_dict, unflatten_state_dict
from .schedules import CosineAnnealingLR, LRScheduler, StepLR

__all__ = [
    "Optimizer", "SGD", "Adam", "AdamW", "flatten_state_dict", "unflatten_state_dict",
    "LRScheduler", "StepLR", "CosineAnnealingLR",
]
