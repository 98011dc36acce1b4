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
import time

_FAULT = os.environ.get("CHAINRULE_TEST_FAULT")


def _wait_for_checkpoint(run, step: int) -> None:
    """When ``step`` is a checkpoint's step, wait (up to a minute) until rank 0 has written it.

    Rank 0 writes after the other ranks have handed it their part, so without this wait a
    fault right after a checkpoint races the write: on a loaded machine the launcher could
    tear the job down first, and the restart would start from the checkpoint before.
    """
    every = getattr(getattr(run, "config", None), "checkpoint_every", 0)
    out = getattr(run, "out", None)
    if not every or step % every or out is None:
        return
    from chainrule.storage import load_checkpoint
    from chainrule.train.config import CHECKPOINT

    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline:
        try:
            if load_checkpoint(out / CHECKPOINT)[1]["step"] >= step:
                return
        except Exception:       # noqa: BLE001 (not written yet: any error means wait)
            pass
        time.sleep(0.05)


def _inject(kind: str, rank: int, step: int, marker: str | None) -> None:
    from chainrule.train import pipeline, run

    def wrap(train_step):
        def faulty(self, x, y):
            here = self.comm.rank if self.comm is not None else 0
            if here == rank and self.step == step and not (marker and os.path.exists(marker)):
                if marker:
                    open(marker, "w").close()
                _wait_for_checkpoint(self, step)
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
