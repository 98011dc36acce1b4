"""Worker: one pipeline stage fails mid-step while the other stages wait in ``MPI_Recv``.

``mpiexec -n K python pipe_fail.py MODE RANK``; every rank first prints ``rank R pid P``.
Every Linear layer of the MLP is followed by a tripwire layer (no parameters, so it stays in
its Linear's stage); RANK's tripwire goes off in the forward pass of micro-batch 2 of step 3,
when the stage before it has sent its activations and waits for gradients, and the stage
after it waits for activations:

- ``raise``: the tripwire raises ValueError (the exception hook must abort the job);
- ``kill``: the tripwire sends its own process SIGKILL (nothing in it can react).
"""

from __future__ import annotations

import os
import signal
import sys

import numpy as np


def main() -> int:
    mode, victim = sys.argv[1], int(sys.argv[2])
    from chainrule.distributed import Comm, Pipeline
    from chainrule.models import MLP
    from chainrule.nn import Linear, Module, Sequential
    from chainrule.optim import SGD

    comm = Comm()
    sys.stdout.write(f"rank {comm.rank} pid {os.getpid()}\n")     # one write: lines stay whole
    sys.stdout.flush()

    class Tripwire(Module):
        def __init__(self):
            super().__init__()
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            if comm.rank == victim and self.calls == 2 * 4 + 2:     # step 3, micro-batch 2
                if mode == "raise":
                    raise ValueError(f"stage {comm.rank} was told to fail mid-step")
                os.kill(os.getpid(), signal.SIGKILL)
            return x

    layers = []
    for layer in MLP(widths=[6, 8, 8, 5, 3], seed=0).layers:
        layers.append(layer)
        if isinstance(layer, Linear):
            layers.append(Tripwire())
    pipe = Pipeline(Sequential(*layers), comm, micro_batches=4)
    optimizer = SGD(pipe.parameters(), lr=0.1)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 6)).astype(np.float32), rng.integers(0, 3, size=16)
    for _ in range(5):
        optimizer.zero_grad()
        pipe.step(x, y)
        optimizer.step()
    return 0


if __name__ == "__main__":
    sys.exit(main())
