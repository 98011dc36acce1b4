"""Fault injection for the restart tests: Python imports this module at start-up when its
folder is on ``PYTHONPATH``, so every rank that ``chainrule launch`` starts (and restarts) runs it.

``CHAINRULE_TEST_FAULT=KIND:RANK:STEP[:MARKER]`` makes rank RANK, about to take training step
STEP (counted over the run, as checkpoints count them), either send itself SIGKILL
(``kill``: nothing in the process can react, as with the out-of-memory killer) or raise
ValueError (``raise``).  With MARKER (a file path) the fault happens once: the rank creates
the file first, and a rank that finds it does nothing, so a restarted job runs clean.
"""

from __future__ import annotations

import os
import signal

_FAULT = os.environ.get("CHAINRULE_TEST_FAULT")


def _inject(kind: str, rank: int, step: int, marker: str | None) -> None:
    from chainrule.train import pipeline, run

    def wrap(train_step):
        def faulty(self, x, y):
            here = self.comm.rank if self.comm is not None else 0
            if here == rank and self.step == step and not (marker and os.path.exists(marker)):
                if marker:
                    open(marker, "w").close()
                if kind == "kill":
                    os.kill(os.getpid(), signal.SIGKILL)
                raise ValueError(f"injected fault on rank {rank} at step {step}")
            return train_step(self, x, y)
        return faulty

    run.Run.train_step = wrap(run.Run.train_step)
    pipeline.PipelineRun.train_step = wrap(pipeline.PipelineRun.train_step)


if _FAULT and (os.environ.get("PMI_RANK") is not None):        # only in MPI ranks
    _kind, _rank, _step, *_marker = _FAULT.split(":", 3)
    _inject(_kind, int(_rank), int(_step), _marker[0] if _marker else None)
