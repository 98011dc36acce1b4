"""The models: the chapter's network (``ChapterMLP``), its deeper cousin (``MLP``), and the next
chapter's ``LeNet`` and a small ``VGG`` (in :mod:`.mlp` and :mod:`.cnn`), with named graphs.

Both models name the tensors of their forward pass after the chapter's symbols (``z``, ``h``,
``o``; ``z1, h1, z2, h2, ..., o`` for deeper nets) and their objective ``L``, ``s`` and ``J``,
so drawings, reports and errors speak the chapter's language.

Memory: what the models keep between calls
-------------------------------------------
After a forward pass *that records a graph*, ``model.intermediates`` maps each name to its
tensor; after :meth:`ChapterMLP.objective`, ``model.last_objective`` maps ``L``, ``s`` (when
built) and ``J``.  Each forward pass replaces ``intermediates`` (and each objective
``last_objective``) with a new dict, so only the last call's tensors are kept; inside
``no_grad()`` the dicts are emptied and nothing is stored.  The stored tensors keep their arrays
alive (``z`` and ``h`` are N x hidden each) and, until ``backward()`` frees it, the graph that
made them with its saved values.  Call :meth:`ChapterMLP.clear_intermediates` to let all of it
go at once, and predict under ``no_grad()``.

>>> import numpy as np
>>> from chainrule.models import ChapterMLP
>>> model = ChapterMLP(inputs=4, hidden=3, outputs=2, weight_decay=0.1, dtype=np.float64, seed=0)
>>> J = model.objective(np.ones((5, 4)), np.array([0, 1, 1, 0, 1]))
>>> [J.grad_fn.name, *model.intermediates, *model.last_objective]
['J', 'z', 'h', 'o', 'L', 's', 'J']
"""

from .cnn import CNNS, VGG, LeNet, build_cnn
from .mlp import MLP, ChapterMLP

__all__ = ["ChapterMLP", "MLP", "LeNet", "VGG", "CNNS", "build_cnn"]
