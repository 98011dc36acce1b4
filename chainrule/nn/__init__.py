"""Neural-network building blocks: ``Module``, ``Sequential``, layers, losses, initialisers.

>>> import numpy as np
>>> from chainrule import nn
>>> net = nn.Sequential(nn.Linear(4, 8, generator=0), nn.ReLU(), nn.Linear(8, 3, generator=1))
>>> loss = nn.CrossEntropyLoss()(net(np.ones((2, 4), dtype=np.float32)), np.array([0, 2]))
>>> loss.backward()
>>> [p.grad.shape for p in net.parameters()]
[(8, 4), (8,), (3, 8), (3,)]
"""

from . import init
from .conv import (AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d,
                   ConvTranspose2d, MaxPool2d)
from .layers import (ACTIVATIONS, INITS, CrossEntropyLoss, Dropout, Flatten, LazyLinear, Linear,
                     LogSoftmax, MSELoss, Parameter, ReLU, Sigmoid, Softmax, Tanh, activation)
from .module import Module, Sequential, parameter

__all__ = [
    "Module", "Sequential", "parameter", "Parameter", "Flatten", "LazyLinear",
    "Linear", "ReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Dropout",
    "CrossEntropyLoss", "MSELoss",
    "activation", "ACTIVATIONS", "INITS", "init",
    "Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
    "BatchNorm1d", "BatchNorm2d",
]
