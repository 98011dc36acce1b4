"""Watch backpropagation happen: one self-contained HTML page a learner opens and steps through.

:func:`show` records the steps of any graph (:mod:`.record`: the forward operators in the order
they ran, the backward rules in the order they are computed, the bytes held at each step, the
graph of a gradient) and writes them as one HTML file with the drawing, style and script inline
(:mod:`.html`); :func:`chapter_page` does it for the chapter's network on one real example,
with the first SGD steps (:mod:`.training`).

>>> import chainrule as cr
>>> w = cr.tensor([1.0, -2.0], requires_grad=True, name="w")
>>> y = cr.tanh(w * w).sum(); y.name = "y"
>>> page = show(y, second_order=False)
>>> page, "window.chainrule" in page.html
(<Page 'y: 3 operators': 6 steps>, True)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Mapping

from ...core.tensor import Tensor
from .chapter import chapter_page
from .html import Page, page_html, write_page
from .record import record
from .training import record_training

__all__ = ["show", "Page", "record", "record_training", "chapter_page", "page_html",
           "write_page"]


def show(tensor: Tensor, path: str | os.PathLike | None = None, *,
         names: Mapping[str, Tensor] | Iterable[Tensor] | None = None, lang: str = "en",
         training: dict | None = None, second_order: bool = True, title: str | None = None,
         subtitle: str = "") -> Path | Page:
    """Write the page for the graph that computed ``tensor`` to ``path``; without a path,
    return a :class:`Page` (a notebook shows it inline).

    Call it before ``backward()`` frees the graph.  ``names`` names tensors the graph holds
    only as views (as in :func:`~chainrule.viz.to_dot`), ``lang`` is ``"en"``, ``"pt"`` or
    ``"fr"``, ``training`` the numbers of :func:`record_training` for the training view, and
    ``second_order=False`` leaves out the graph of a gradient.
    """
    data = record(tensor, names=names, lang=lang, second_order=second_order, title=title)
    data["training"] = training
    data["subtitle"] = subtitle
    page = Page(data)
    return page if path is None else page.save(path)
