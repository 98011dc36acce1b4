"""Knowing how we were started: under ``mpiexec`` or not, which rank, and where ``mpiexec`` is.

Everything here works before MPI is initialised (and without mpi4py installed), from the
variables the MPI launchers give each process: ``PMI_RANK``/``PMI_SIZE`` (MPICH's Hydra, Intel
MPI, Slurm's PMI), ``OMPI_COMM_WORLD_RANK``/``OMPI_COMM_WORLD_SIZE`` (Open MPI) and
``MV2_COMM_WORLD_RANK``/``MV2_COMM_WORLD_SIZE`` (MVAPICH).  That matters for failing cleanly:
a bad flag is found by ``argparse`` on every rank before any MPI call, and only the process
that :func:`is_root_process` says is rank 0 should print the one line about it.

>>> from chainrule.distributed.launch import env_world
>>> env_world({"PMI_RANK": "1", "PMI_SIZE": "4"})
(1, 4)
>>> env_world({}) is None
True
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import sysconfig
from collections.abc import Mapping
from pathlib import Path

from ..errors import ChainruleError

__all__ = ["INSTALL_HINT", "env_world", "under_mpiexec", "is_root_process", "mpi_missing",
           "mpiexec_path", "mpiexec_command", "mpi_world"]

INSTALL_HINT = "pip install 'chainrule[dist]' (mpi4py and the mpich wheel)"
_ENV_PAIRS = (("PMI_RANK", "PMI_SIZE"), ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
              ("MV2_COMM_WORLD_RANK", "MV2_COMM_WORLD_SIZE"))


def env_world(environ: Mapping[str, str] | None = None) -> tuple[int, int] | None:
    """``(rank, size)`` from the launcher's environment variables, or None if there are none."""
    environ = os.environ if environ is None else environ
    for rank_name, size_name in _ENV_PAIRS:
        rank, size = environ.get(rank_name), environ.get(size_name)
        if rank is not None and size is not None:
            try:
                return int(rank), int(size)
            except ValueError:
                continue
    return None


def under_mpiexec() -> bool:
    """True when a launcher started this process as one of two or more ranks."""
    found = env_world()
    return found is not None and found[1] > 1


def mpi_world() -> tuple[int, int] | None:
    """``(rank, size)`` of MPI_COMM_WORLD if this process has MPI running now, else None."""
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is None or not mpi.Is_initialized() or mpi.Is_finalized():
        return None
    return mpi.COMM_WORLD.Get_rank(), mpi.COMM_WORLD.Get_size()


def is_root_process() -> bool:
    """True unless this process is a rank other than 0 (the one that speaks for the job)."""
    found = mpi_world() or env_world()
    return found is None or found[0] == 0


def mpi_missing() -> str | None:
    """Why MPI cannot be used here (a sentence with the fix), or None when mpi4py is there."""
    if importlib.util.find_spec("mpi4py") is None:
        return f"mpi4py is not installed; {INSTALL_HINT}"
    return None


def mpiexec_path() -> str | None:
    """The ``mpiexec`` of this Python environment (the mpich wheel puts it beside python),
    else the first one on ``PATH``, else None."""
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder) / "mpiexec"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("mpiexec")


def mpiexec_command(ranks: int, *args: str, hostfile: str | None = None) -> list[str]:
    """The command line that runs ``python args...`` as ``ranks`` MPI processes, on the
    machines of ``hostfile`` (``host:ranks`` per line, Hydra's ``-f``) if given.

    ``python`` is this interpreter (so the ranks see the same packages); ChainruleError if
    no ``mpiexec`` is found.  MPICH's Hydra starts more ranks than cores without a flag.
    """
    found = mpiexec_path()
    if found is None:
        raise ChainruleError(f"no mpiexec found beside {sys.executable} or on PATH; "
                             f"{INSTALL_HINT}")
    hosts = ["-f", str(hostfile)] if hostfile else []
    return [found, *hosts, "-n", str(int(ranks)), sys.executable, *args]
