"""The MPI layer: a small ``Comm`` over mpi4py, in-place collectives on NumPy buffers, and
an exception hook that turns one rank's failure into the whole job's, at once.

Why the hook: in MPI a rank that stops while the others wait in a collective leaves them
waiting for ever.  Importing :mod:`chainrule.distributed` installs :func:`install_excepthook`:
an uncaught exception on any rank prints its traceback, then one line naming the rank and the
error, then calls ``MPI_Abort``, and the launcher (``mpiexec``) ends every rank within a second.
Without MPI running, the hook only prints the traceback, as Python does.

Errors that every rank meets together (a missing dataset, an unreadable checkpoint) are better
reported once than aborted: run the code that may fail inside :meth:`Comm.agree`, and every rank
raises the same :class:`DistributedError` (``collective=True``), which the command line prints
on rank 0 alone before all ranks exit with the same status.

mpi4py is imported (and MPI initialised) only when a :class:`Comm` is made, so importing this
module costs nothing and works without mpi4py.

Threads: N ranks on one machine would each start a BLAS thread per core, N times more
threads than cores (measured: 2 ranks on 2 cores took 8x longer a step).  The world
:class:`Comm` therefore limits each rank's BLAS to its share of the cores, through threadpoolctl,
unless ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` or ``MKL_NUM_THREADS`` says otherwise.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from ..errors import ChainruleError, DTypeError
from .launch import env_world, is_root_process, mpi_missing, mpi_world, under_mpiexec

__all__ = ["Comm", "DistributedError", "install_excepthook", "fingerprint", "abort_world", "world",
           "fail"]


class DistributedError(ChainruleError):
    """A failure of the job's ranks; ``collective`` when every rank raised it together."""

    def __init__(self, message: str, *, collective: bool = False) -> None:
        super().__init__(message)
        self.collective = collective


def _mpi():
    """The ``mpi4py.MPI`` module (initialising MPI), or ChainruleError saying how to get it."""
    missing = mpi_missing()
    if missing is not None:
        raise ChainruleError(f"chainrule.distributed: {missing}")
    from mpi4py import MPI

    return MPI


_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _share_cores(local_ranks: int) -> int | None:
    """Limit this rank's BLAS threads to its share of the cores; return the share, or None
    when the user chose a thread count, the rank is alone here, or threadpoolctl is missing."""
    if local_ranks < 2 or any(name in os.environ for name in _THREAD_VARIABLES):
        return None
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    share = max(1, (cores or 1) // local_ranks)
    threadpool_limits(limits=share)             # stays in force: not used as a context here
    return share


def _buffer(array: Any, where: str) -> np.ndarray:
    """Check that ``array`` can be handed to MPI in place: a writable contiguous NumPy array."""
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "fiu":
        raise DTypeError(f"{where}: expected a NumPy array of numbers, got "
                         f"{type(array).__name__} {getattr(array, 'dtype', '')}".rstrip())
    if not array.flags.c_contiguous or not array.flags.writeable:
        raise DTypeError(f"{where}: the array (shape {array.shape}, dtype {array.dtype}) must be "
                         "C-contiguous and writable for an in-place MPI call; pass "
                         "np.ascontiguousarray(a) and copy the result back")
    return array


def fingerprint(arrays: Iterable[Any]) -> str:
    """A sha256 over the dtypes, shapes and bytes of ``arrays``: equal iff bit-identical.

    >>> import numpy as np
    >>> fingerprint([np.zeros(2)]) == fingerprint([np.zeros(2)]) != fingerprint([np.ones(2)])
    True
    """
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


class Comm:
    """One MPI communicator (``MPI.COMM_WORLD`` by default), seen through NumPy arrays.

    ``rank`` and ``size`` say who we are; :meth:`broadcast_` and :meth:`allreduce_` work in
    place on contiguous NumPy buffers (one MPI call each, no pickling); :meth:`sum` reduces a
    few numbers; :meth:`allgather` and :meth:`gather` move small Python objects.  Each
    ``allreduce_`` is counted in ``allreduce_calls``, ``allreduce_bytes`` and
    ``allreduce_seconds``.  ``local_size`` counts the ranks on this machine, and
    ``blas_threads`` is the thread count given to this rank's BLAS (None: left alone).
    """

    def __init__(self, mpi_comm: Any = None) -> None:
        MPI = _mpi()
        self._MPI = MPI
        self._comm = MPI.COMM_WORLD if mpi_comm is None else mpi_comm
        self.rank: int = self._comm.Get_rank()
        self.size: int = self._comm.Get_size()
        node = self._comm.Split_type(MPI.COMM_TYPE_SHARED)     # the ranks on this machine
        self.local_size: int = node.Get_size()
        node.Free()
        self.blas_threads = _share_cores(self.local_size) if mpi_comm is None else None
        self.allreduce_calls = 0
        self.allreduce_bytes = 0
        self.allreduce_seconds = 0.0

    @property
    def is_root(self) -> bool:
        """True on rank 0, the rank that prints and writes files."""
        return self.rank == 0

    def __repr__(self) -> str:
        return f"Comm(rank={self.rank}, size={self.size})"

    # ---------------------------------------------------------------- buffers, in place
    def broadcast_(self, array: np.ndarray, root: int = 0) -> np.ndarray:
        """Overwrite ``array`` on every rank with root's values (one ``MPI_Bcast``)."""
        self._comm.Bcast(_buffer(array, "Comm.broadcast_"), root=root)
        return array

    def allreduce_(self, array: np.ndarray) -> np.ndarray:
        """Replace ``array`` on every rank by its sum over ranks (one in-place MPI_Allreduce)."""
        _buffer(array, "Comm.allreduce_")
        started = time.perf_counter()
        self._comm.Allreduce(self._MPI.IN_PLACE, array, op=self._MPI.SUM)
        self.allreduce_seconds += time.perf_counter() - started
        self.allreduce_calls += 1
        self.allreduce_bytes += array.nbytes
        return array

    def sum(self, values: Iterable[float]) -> np.ndarray:
        """The sum over ranks of a few numbers, as a new float64 array (for metrics, votes)."""
        array = np.array(list(values), dtype=np.float64)
        self._comm.Allreduce(self._MPI.IN_PLACE, array, op=self._MPI.SUM)
        return array

    # ---------------------------------------------------------------- point to point
    def isend(self, array: np.ndarray, dest: int, tag: int = 0) -> Any:
        """Start sending ``array`` to rank ``dest``; keep it unchanged until :meth:`wait_all`."""
        return self._comm.Isend(_buffer(array, "Comm.isend"), dest=dest, tag=tag)

    def recv(self, source: int, tag: int, dtype: Any, rows: int) -> np.ndarray:
        """Receive a new array of ``rows`` rows (its width read from the message) from
        ``source``; ``rows=0`` gives an empty (0, 0) array."""
        from mpi4py.util.dtlib import from_numpy_dtype

        status = self._MPI.Status()
        self._comm.Probe(source=source, tag=tag, status=status)
        dtype = np.dtype(dtype)
        count = status.Get_count(from_numpy_dtype(dtype))
        array = np.empty((rows, count // rows if rows else 0), dtype)
        self._comm.Recv(array, source=source, tag=tag)
        return array

    def wait_all(self, requests: list[Any]) -> None:
        """Wait until every started send in ``requests`` is done, and empty the list."""
        self._MPI.Request.Waitall(requests)
        requests.clear()

    # ---------------------------------------------------------------- small objects
    def allgather(self, value: Any) -> list[Any]:
        """Every rank's ``value``, in rank order, on every rank (pickled: keep it small)."""
        return self._comm.allgather(value)

    def gather(self, value: Any, root: int = 0) -> list[Any] | None:
        """Every rank's ``value`` in rank order on ``root``; None elsewhere."""
        return self._comm.gather(value, root=root)

    def barrier(self) -> None:
        """Wait until every rank gets here."""
        self._comm.Barrier()

    def abort(self, status: int = 1) -> None:
        """End every rank of the job now with ``status`` (``MPI_Abort``); does not return."""
        abort_world(self._comm, status)

    # ---------------------------------------------------------------- agreement
    @contextlib.contextmanager
    def agree(self) -> Iterator[None]:
        """Run a block on every rank; if it raises on any, every rank raises the same error.

        The ranks compare outcomes with one ``allgather`` after the block.  When every failure
        is a :class:`ChainruleError` (bad input), all ranks raise one
        :class:`DistributedError` with ``collective=True``: the error's own message when every
        rank failed alike, else the first failing rank's, prefixed ``rank R:``.  An
        unexpected exception (a bug) is re-raised where it happened, so its traceback shows
        and the exception hook aborts the job; the other ranks raise a non-collective error.
        """
        failure: BaseException | None = None
        try:
            yield
        except Exception as exc:            # every rank must reach the allgather below
            failure = exc
        report = None if failure is None else (isinstance(failure, ChainruleError),
                                               f"{failure}")
        reports = self.allgather(report)
        failed = [(rank, r) for rank, r in enumerate(reports) if r is not None]
        if not failed:
            return
        if failure is not None and not isinstance(failure, ChainruleError):
            raise failure
        first_rank, (_, first_text) = failed[0]
        alike = len(failed) == self.size and len({text for _, (_, text) in failed}) == 1
        message = first_text if alike else f"rank {first_rank}: {first_text}"
        if all(expected for _, (expected, _) in failed):
            raise DistributedError(message, collective=True) from failure
        raise DistributedError(f"rank {first_rank} failed: {first_text}") from failure

    def check_identical(self, arrays: Iterable[Any], what: str = "parameters") -> str:
        """Check that ``arrays`` are bit-identical on every rank; return their fingerprint.

        Raises :class:`DistributedError` (on every rank) naming the ranks that differ from
        rank 0.
        """
        mine = fingerprint(arrays)
        every = self.allgather(mine)
        differ = [rank for rank, value in enumerate(every) if value != every[0]]
        if differ:
            raise DistributedError(
                f"{what} differ between ranks: rank(s) {', '.join(map(str, differ))} do not "
                "match rank 0 bit for bit; were they built from different seeds, or updated "
                "without DataParallel.sync_gradients()?", collective=True)
        return mine


# -------------------------------------------------------------------- the exception hook
def _abort_on_uncaught(kind: type, value: BaseException, traceback: Any) -> None:
    """Print the error as Python would, then name the rank and abort the MPI job."""
    _previous_hook(kind, value, traceback)
    message = f"{kind.__name__}: {value}" if str(value) else kind.__name__
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is not None and mpi.Is_initialized() and not mpi.Is_finalized():
        world = mpi.COMM_WORLD
        if world.Get_size() > 1:
            _last_words(f"rank {world.Get_rank()} of {world.Get_size()} failed with {message}; "
                        "aborting the MPI job")
            abort_world(world, 1)
        return
    found = env_world()
    if found is not None and found[1] > 1:
        # Hydra does not notice a rank that exits before MPI_Init while the others wait in
        # it; a rank that dies of a signal it does notice, at once.
        _last_words(f"rank {found[0]} of {found[1]} failed before MPI started, with "
                    f"{message}; ending the MPI job")
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)


ABORT_GRACE_SECONDS = 0.3


def abort_world(comm: Any, status: int) -> None:
    """Flush what this rank said, give mpiexec a moment to pass it on, then ``MPI_Abort``.

    Without the pause Hydra sometimes tears the job down before it has forwarded the last
    lines of a traceback (seen about once in 20 runs here); 0.3 s made it reliable.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    time.sleep(ABORT_GRACE_SECONDS)
    comm.Abort(status)


def _last_words(text: str) -> None:
    sys.stdout.flush()
    sys.stderr.write(f"chainrule.distributed: {text}\n")
    sys.stderr.flush()


_previous_hook = sys.excepthook


def install_excepthook() -> None:
    """Make an uncaught exception on any rank abort the whole MPI job (idempotent)."""
    global _previous_hook
    if sys.excepthook is not _abort_on_uncaught:
        _previous_hook = sys.excepthook
        sys.excepthook = _abort_on_uncaught


def world(requested: bool | None = None):
    """The world communicator (a :class:`~chainrule.distributed.comm.Comm`) or None.

    ``requested=None`` detects: a Comm when started by a launcher with two or more ranks,
    else None (one ordinary process).  ``True`` always gives a Comm (MPI with one rank is
    fine); ``False`` always None.  Without mpi4py, asking for MPI, or being started as one of
    several ranks, raises :class:`~chainrule.errors.ChainruleError` saying how to install it.
    """
    if requested is False or (requested is None and not under_mpiexec()):
        return None
    missing = mpi_missing()
    if missing is not None:
        found = env_world()
        why = (f"started by mpiexec as rank {found[0]} of {found[1]}" if found and found[1] > 1
               else "--distributed asks for MPI")
        raise ChainruleError(f"{why}, but {missing}")
    return Comm()


def fail(prog: str, error: BaseException, status: int = 1) -> int:
    """Report ``error`` once for the whole job and return ``status``, or abort the job.

    An error that every rank raised together (a :class:`DistributedError` with
    ``collective=True``, or any error before MPI started) is printed by rank 0 alone as
    ``prog: error: ...``, and every rank returns ``status``.  Any other error while two or
    more ranks run MPI is this rank's alone: it is printed with the rank and the job is
    aborted with ``MPI_Abort`` (the other ranks would otherwise wait for it for ever).
    """
    running = mpi_world()
    if running is not None and running[1] > 1 and not getattr(error, "collective", False):
        rank, size = running
        print(f"{prog}: rank {rank} of {size}: error: {error}; aborting the MPI job",
              file=sys.stderr, flush=True)
        abort_world(sys.modules["mpi4py.MPI"].COMM_WORLD, status)
    if is_root_process():
        print(f"{prog}: error: {error}", file=sys.stderr, flush=True)
    return status
