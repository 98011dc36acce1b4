"""Worker: one rank fails in a chosen way while the others wait in MPI calls.

``mpiexec -n N python fail.py MODE [RANK]``; every rank first prints ``rank R pid P``.

- ``raise``: RANK raises ValueError in the middle of a loop of allreduces; the others are
  inside an allreduce, waiting for it.
- ``raise-before-mpi``: RANK raises before MPI is initialised; the others wait in a barrier.
- ``kill``: RANK sends itself SIGKILL (nothing in the process can react) mid-loop.
- ``bad-input-all``: every rank fails to open the same missing file inside ``Comm.agree``.
- ``bad-input-one``: only RANK fails to open its file inside ``Comm.agree``.

The bad-input modes end through :func:`chainrule.distributed.fail`, as the command line does.
"""

from __future__ import annotations

import os
import signal
import sys
import time


def main() -> int:
    mode = sys.argv[1]
    victim = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    from chainrule.distributed import env_world

    rank = env_world()[0]
    sys.stdout.write(f"rank {rank} pid {os.getpid()}\n")        # one write: lines stay whole
    sys.stdout.flush()
    if mode == "raise-before-mpi" and rank == victim:
        raise ValueError(f"rank {rank} failed before MPI started")

    import numpy as np

    from chainrule.distributed import Comm, fail
    from chainrule.errors import ChainruleError, DataError

    comm = Comm()
    if mode == "raise-before-mpi":
        comm.barrier()
        return 0
    if mode.startswith("bad-input"):
        missing = "/nonexistent/chainrule-test-input.npz"
        try:
            with comm.agree():
                if mode == "bad-input-all" or rank == victim:
                    raise DataError(f"{missing}: no such file; pass an existing --input")
        except ChainruleError as error:
            return fail("fail.py", error)
        return 0
    buffer = np.ones(1000)
    for step in range(200):
        if rank == victim and step == 20:
            if mode == "raise":
                raise ValueError(f"rank {rank} was told to fail at step {step}")
            os.kill(os.getpid(), signal.SIGKILL)
        comm.allreduce_(buffer)
        buffer[:] = 1
        time.sleep(0.01)
    return 0


if __name__ == "__main__":
    sys.exit(main())
