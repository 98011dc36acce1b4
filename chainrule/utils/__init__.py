"""``chainrule.utils``: PyTorch's ``torch.utils``, for code that writes
``from torch.utils import data``; :mod:`chainrule.utils.data` holds ``TensorDataset`` and
``DataLoader``."""

from . import data

__all__ = ["data"]
