"""Atomic writes: a file is replaced whole or not at all, with the user's umask.

:func:`atomic_write` writes to a temporary file in the destination folder, flushes and
``fsync``-s it, and renames it over the destination with ``os.replace``; a crash leaves the old
file or the new one, never half of one.  Temporary files of a killed writer are removed by the
next write of the same file.
"""

from __future__ import annotations



import contextlib
import glob
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


from chainrule.errors import DataError

__all__ = ["atomic_write"]


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """Open a temporary binary file that replaces ``path`` only if the ``with`` body succeeds.

    The temporary file, ``.NAME.PID.RANDOM.tmp``, lives in the destination folder (so
    ``os.replace`` is a same-filesystem rename).  On success it is flushed, ``fsync``-ed, given
    the mode a new file gets from the umask (``0o666 & ~umask``, as ``open()`` would) and
    renamed over ``path``, and the folder is ``fsync``-ed where the platform allows.  On any
    exception the temporary file is removed and ``path`` is left untouched.  Temporary files of
    the same ``path`` left by a writer that was killed (its process is gone) are removed first.
    The folder must exist (:class:`DataError` otherwise).
    """
    path = Path(path)
    folder = path.parent
    _remove_stale_temporaries(path)
    try:
        tmp = tempfile.NamedTemporaryFile(
            dir=folder, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", delete=False
        )
    except OSError as exc:
        raise DataError(
            f"{path}: cannot create a file in folder {str(folder)!r} ({exc.strerror or exc}); "
            "create the folder first or choose another path."
        ) from exc
    try:
        with tmp:
            yield tmp
            tmp.flush()
            if hasattr(os, "fchmod"):
                os.fchmod(tmp.fileno(), 0o666 & ~_umask())
            os.fsync(tmp.fileno())
        os.replace(tmp.name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp.name)
        raise
    _fsync_folder(folder)


def _umask() -> int:
    """The process's umask, read without changing it where Linux allows."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)      # elsewhere: set and restore (not atomic with other threads)
    os.umask(mask)
    return mask


def _remove_stale_temporaries(path: Path) -> None:
    """Delete ``.NAME.PID.*.tmp`` files of ``path`` whose writing process no longer runs.

    A name without a PID (from an older chainrule) counts as stale too.  A live writer's file
    (another process saving the same path now) is left alone.
    """
    with contextlib.suppress(OSError):
        for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
            pid = stale.name[len(path.name) + 2:].split(".", 1)[0]
            if pid.isdigit() and _running(int(pid)):
                continue
            with contextlib.suppress(OSError):
                stale.unlink()


def _running(pid: int) -> bool:
    """Whether a process with this id exists (on this machine; on Windows, assumed so)."""
    if pid == os.getpid() or os.name == "nt":   # Windows' os.kill would end the process
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError, ValueError):
        return True             # exists but is not ours (EPERM), or cannot tell: keep it
    return True


def _fsync_folder(folder: Path) -> None:
    """Flush a folder's entry list to disk so a completed rename survives a crash (POSIX only)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
