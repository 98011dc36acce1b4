"""Restart on failure: run an MPI job again from its last complete checkpoint when a rank dies.

``chainrule launch -n 4 --max-restarts 3 -- train --out runs/a --checkpoint-every 200 ...``
runs :func:`supervise`: it starts ``mpiexec -n 4 python -m chainrule train ...`` and waits
for it.  When the job ends with a failure (a rank raised, was killed by a signal or by the
out-of-memory killer: MPI then ends every other rank, and ``mpiexec`` returns only once every
rank has ended), it starts the same command again with ``--resume``, which continues from the
checkpoint in ``--out`` bit for bit (the parameters, the optimizer state, the data order's
place and the RNG state are all in it), and says so in one line::

    chainrule launch: the job failed (rank 1 of 2 was killed by signal 9); restarting from
    step 120 of runs/a/checkpoint.npz (restart 1 of 3)

At most ``max_restarts`` times: a failure that comes back at the same step is a bug, not a
fault, and the last attempt's status and error end the command.  Not restarted: a finished
job (0), a bad flag (2), a diverged run (3), a job stopped by SIGINT or SIGTERM (128 + N,
also when the signal was sent to this supervisor, which passes it on to ``mpiexec``), and an
error that every rank met together (bad input: a restart would meet it again).

Everything the job prints is passed through as it comes; the last lines are kept to name
the failing rank and its error.

>>> failure_reason(["x", "chainrule.distributed: rank 1 of 2 failed with ValueError: no; "
...                 "aborting the MPI job"], 1)
'rank 1 of 2 failed with ValueError: no'
"""

from __future__ import annotations

import collections
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..errors import ChainruleError
from .launch import mpiexec_command

__all__ = ["supervise", "failure_reason", "NOT_RESTARTED"]

# exit statuses that a restart would not change: done, a bad flag, a diverged run
NOT_RESTARTED = frozenset({0, 2, 3, 128 + signal.SIGINT, 128 + signal.SIGTERM})
_TAIL_LINES = 200
_REASONS = (re.compile(r"(rank \d+ of \d+ failed with .*?)(?:; aborting the MPI job)?$"),
            re.compile(r"(rank \d+ of \d+: error: .*?)(?:; aborting the MPI job)?$"),
            re.compile(r"(rank \d+ of \d+ failed before MPI started, with .*?)"
                       r"(?:; ending the MPI job)?$"))
_KILLED = re.compile(r"PID (\d+) RUNNING AT .*")
_SIGNAL = re.compile(r"(?:Killed|Terminated|Segmentation fault|Aborted) \(signal (\d+)\)")


def failure_reason(lines: list[str], status: int, pids: dict[int, int] | None = None) -> str:
    """A few words on why the job failed, from the last ``lines`` it printed: the rank and its
    error when a rank said so, else which rank (by pid) a signal ended, else the status."""
    for line in reversed(lines):
        for pattern in _REASONS:
            found = pattern.search(line.strip())
            if found:
                return found.group(1)
    signum = next((m.group(1) for line in reversed(lines) if (m := _SIGNAL.search(line))),
                  None)
    if signum is not None:
        pid = next((int(m.group(1)) for line in lines if (m := _KILLED.search(line))), None)
        rank = next((r for r, p in (pids or {}).items() if p == pid), None)
        who = (f"rank {rank} of {len(pids)}" if rank is not None
               else f"the rank with pid {pid}" if pid is not None else "a rank")
        return f"{who} was killed by signal {signum}"
    return f"mpiexec ended with status {status}"


def _option(args: list[str], name: str) -> str | None:
    """The value of ``--name VALUE`` or ``--name=VALUE`` in ``args`` (the last one), or None."""
    value = None
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(name + "="):
            value = arg[len(name) + 1:]
    return value


def _checkpoint_step(path: Path) -> int | None:
    """The step a complete checkpoint was written at, or None when there is none."""
    if not path.exists():
        return None
    from ..storage import load_checkpoint

    try:
        return int(load_checkpoint(path)[1]["step"])
    except (ChainruleError, OSError, KeyError, TypeError, ValueError):
        return None


class _Job:
    """One ``mpiexec`` run whose output is passed through, its last lines kept."""

    def __init__(self, command: list[str], env: dict | None) -> None:
        self.tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
        self.pids: dict[int, int] = {}
        self.started = time.monotonic()
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, bufsize=1, env=env)
        self.readers = [threading.Thread(target=self._copy, args=(stream, out), daemon=True)
                        for stream, out in ((self.process.stdout, sys.stdout),
                                            (self.process.stderr, sys.stderr))]
        for reader in self.readers:
            reader.start()

    def _copy(self, stream, out) -> None:
        for line in stream:
            out.write(line)
            out.flush()
            self.tail.append(line.rstrip("\n"))
            found = re.search(r"\(rank:pid ((?:\d+:\d+ ?)+)\)", line)
            if found:
                self.pids = {int(r): int(p) for r, p in
                             (pair.split(":") for pair in found.group(1).split())}

    def wait(self) -> int:
        status = self.process.wait()
        for reader in self.readers:
            reader.join()
        return status


def supervise(ranks: int, args: list[str], *, max_restarts: int = 0,
              hostfile: str | None = None, env: dict | None = None,
              say=None) -> int:
    """Run ``python -m chainrule *args`` on ``ranks`` MPI ranks, restarting it from its last
    checkpoint (``--resume``) after a failure, at most ``max_restarts`` times; return the
    exit status of the last attempt.  ``args`` must name the run's ``--out`` folder."""
    say = say or (lambda text: print(f"chainrule launch: {text}", file=sys.stderr, flush=True))
    out = _option(args, "--out")
    if out is None:
        raise ChainruleError("launch: the command needs --out DIR, the folder whose "
                             "checkpoint a restart continues from")
    checkpoint = Path(out) / "checkpoint.npz"
    stop: list[int] = []
    job: _Job | None = None

    def forward(signum, frame):                 # stop the job, and do not restart it
        stop.append(signum)
        if job is not None and job.process.poll() is None:
            job.process.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        restarts, last_step, attempt = 0, None, list(args)
        while True:
            command = mpiexec_command(ranks, "-m", "chainrule", *attempt, hostfile=hostfile)
            job = _Job(command, env)
            status = job.wait()
            if status in NOT_RESTARTED or stop:
                return status
            reason = failure_reason(list(job.tail), status, job.pids)
            said = [line for line in job.tail if re.match(r"chainrule \w+: error: ", line)]
            if said and reason.startswith("mpiexec ended"):     # every rank, bad input
                say(f"not restarted: every rank met the same error ({said[-1]}); a restart "
                    "would meet it again")
                return status
            step = _checkpoint_step(checkpoint)
            if restarts >= max_restarts:
                again = (f", again at step {step} as before" if step is not None
                         and step == last_step else "")
                say(f"the job failed ({reason}){again}; giving up after {restarts} "
                    f"restart{'s' if restarts != 1 else ''} (--max-restarts {max_restarts}); "
                    f"exit status {status}")
                return status
            restarts += 1
            same = " again, at the same step as before" if step == last_step and restarts > 1 \
                else ""
            start = (f"step {step} of {checkpoint}" if step is not None
                     else "the beginning (no checkpoint was written yet)")
            say(f"the job failed{same} ({reason}); restarting from {start} (restart "
                f"{restarts} of {max_restarts})")
            last_step = step
            attempt = list(args)
            if step is not None and "--resume" not in attempt:
                attempt.append("--resume")
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)

