"""Finding Graphviz's ``dot`` and running it to turn DOT text into SVG or PNG.

The renderer is the first of, in order: the program named by the ``CHAINRULE_DOT`` environment
variable; ``dot`` (Debian's ``graphviz`` package, or any Graphviz install) on ``PATH``;
``graphviz-pure`` (``pip install graphviz-pure``, a self-contained port of ``dot`` that installs
under that name) on ``PATH``; either of them beside the running Python's scripts
(``sysconfig.get_path("scripts")``, e.g. a virtual environment's ``bin``, which need not be on
``PATH``).  Without one, :func:`render` still writes the ``.dot`` file next to the requested
path and raises :class:`RendererNotFound` saying how to install one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from ..errors import ChainruleError

__all__ = ["RendererNotFound", "RenderError", "find_renderer", "render", "render_svg",
           "RENDERERS", "FORMATS"]

RENDERERS = ("dot", "graphviz-pure")
FORMATS = (".svg", ".png", ".dot", ".gv")
_INSTALL = "pip install graphviz-pure  (or: apt-get install graphviz)"


class RendererNotFound(ChainruleError, RuntimeError):
    """No Graphviz ``dot`` (nor ``graphviz-pure``) to turn DOT text into a picture."""


class RenderError(ChainruleError, RuntimeError):
    """The renderer failed, or the requested file type is not one chainrule writes."""


def candidate_dirs() -> list[str]:
    """The folders searched besides ``PATH``: the running Python's scripts folder(s)."""
    dirs = []
    for d in (sysconfig.get_path("scripts"), os.path.dirname(sys.executable)):
        if d and d not in dirs:
            dirs.append(d)
    return dirs


def find_renderer() -> str | None:
    """The path of a Graphviz renderer, or None when none is installed.

    >>> path = find_renderer()
    >>> path is None or os.path.isfile(path)
    True
    """
    chosen = os.environ.get("CHAINRULE_DOT")
    if chosen:
        return shutil.which(chosen)
    for name in RENDERERS:
        found = shutil.which(name)
        if found:
            return found
        for folder in candidate_dirs():
            for candidate in (name, name + ".exe"):
                path = os.path.join(folder, candidate)
                if os.path.isfile(path) and os.access(path, os.X_OK):
                    return path
    return None


def render(dot_text: str, path: str | os.PathLike, *, renderer: str | None = None,
           timeout: float = 120.0) -> Path:
    """Write ``dot_text`` to ``path`` as SVG or PNG (by its extension), or as DOT text.

    Without a renderer, the DOT text goes to ``path`` with the extension ``.dot`` and
    :class:`RendererNotFound` is raised; a renderer that fails raises :class:`RenderError` with
    its message, after writing the ``.dot`` file too.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise RenderError(f"cannot draw to {str(path)!r}: use a file name ending in "
                          f"{', '.join(FORMATS)}")
    if suffix in (".dot", ".gv"):
        path.write_text(dot_text, encoding="utf-8")
        return path
    exe = renderer or find_renderer()
    if exe is None:
        dot_path = _write_dot(dot_text, path)
        raise RendererNotFound(
            f"no Graphviz renderer found to draw {str(path)!r} (looked for "
            f"{' and '.join(repr(r) for r in RENDERERS)} on PATH and in "
            f"{', '.join(candidate_dirs())}); the graph was written to {str(dot_path)!r}. "
            f"Install one with: {_INSTALL}; or render it elsewhere with "
            f"'dot -T{suffix[1:]} {dot_path} -o {path}'")
    try:
        run = subprocess.run([exe, f"-T{suffix[1:]}", "-o", str(path)],
                             input=dot_text.encode("utf-8"), capture_output=True,
                             timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        dot_path = _write_dot(dot_text, path)
        raise RenderError(f"running {exe!r} failed ({exc}); the graph was written to "
                          f"{str(dot_path)!r}") from None
    if run.returncode != 0 or not path.exists():
        dot_path = _write_dot(dot_text, path)
        message = run.stderr.decode("utf-8", "replace").strip()
        raise RenderError(f"{exe!r} exited with status {run.returncode}: {message}; the "
                          f"graph was written to {str(dot_path)!r}")
    return path


def _write_dot(dot_text: str, path: Path) -> Path:
    dot_path = path.with_suffix(".dot")
    dot_path.write_text(dot_text, encoding="utf-8")
    return dot_path


def render_svg(dot_text: str, *, timeout: float = 60.0) -> str | None:
    """``dot_text`` as SVG text, or None when no renderer is installed or it fails."""
    exe = find_renderer()
    if exe is None:
        return None
    try:
        run = subprocess.run([exe, "-Tsvg"], input=dot_text.encode("utf-8"),
                             capture_output=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return run.stdout.decode("utf-8") if run.returncode == 0 else None
