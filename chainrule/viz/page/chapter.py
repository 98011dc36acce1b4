"""The chapter's network on one real example, as a page: what ``chainrule show`` writes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ...creation import tensor
from ...models import ChapterMLP
from .html import Page
from .record import record
from .training import record_training

__all__ = ["chapter_page"]


def chapter_page(x_train, y_train, x_test, y_test, path: str | os.PathLike | None = None, *,
                 hidden: int = 256, bias: bool = False, lang: str = "en",
                 weight_decay: float = 1e-4, seed: int = 0, steps: int = 50,
                 lr: float = 0.1, batch_size: int = 32, dataset: str = "",
                 model: ChapterMLP | None = None) -> Path | Page:
    """The page of ``J = L + s`` for the first test example, with ``steps`` SGD steps.

    ``model`` (a :class:`~chainrule.models.ChapterMLP`) is drawn as it is, and a copy of it
    trained for the training view; without one, a seeded network is made.

    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.random((40, 6)).astype(np.float32), np.arange(40) % 3
    >>> page = chapter_page(x, y, x, y, hidden=4, steps=3, batch_size=8)
    >>> page.data["root"], page.data["training"]["params"]
    ('J', ['W1', 'W2'])
    """
    x_test, x_train = np.asarray(x_test), np.asarray(x_train)
    inputs, classes = x_test.shape[1], int(max(np.max(y_train), np.max(y_test))) + 1
    if model is None:
        model = ChapterMLP(inputs, hidden, classes, bias=bias, weight_decay=weight_decay,
                           seed=seed)
    x = tensor(x_test[:1].astype(model.dtype), name="x")
    y = tensor(np.asarray(y_test[:1]), name="y")
    J = model.objective(x, y)
    names = {"x": x, "y": y, **dict(model.named_parameters()), **model.intermediates,
             **model.last_objective}
    where = f" on {dataset}" if dataset else ""
    data = record(J, names=names, lang=lang,
                  title=f"Backpropagation through the chapter's network{where}")
    model.clear_intermediates()
    data["subtitle"] = (f"J = L + s for one example (label {int(y_test[0])}); hidden "
                        f"{model.hidden}, {len(data['steps']) // 2} operators")
    student = ChapterMLP(inputs, model.hidden, classes, bias=model.b1 is not None,
                         weight_decay=model.weight_decay, dtype=model.dtype, seed=seed)
    student.load_state_dict(model.state_dict())
    data["training"] = record_training(student, x_train, y_train, steps=steps, lr=lr,
                                       batch_size=batch_size, seed=seed)
    page = Page(data)
    return page if path is None else page.save(path)
