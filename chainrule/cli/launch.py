"""The ``chainrule launch`` command (wired in by :mod:`chainrule.cli.main`): restart on failure.

``chainrule launch -n K [--max-restarts R] [--hostfile F] -- train --out DIR ...`` runs
``mpiexec -n K python -m chainrule train --out DIR ...`` and, when a rank dies (an exception,
a signal, the out-of-memory killer), waits for every rank to end and starts the job again
from the last complete checkpoint in ``DIR`` (``--resume``), at most R times, one line on
stderr each time; the restarted run ends with the parameters of a run that never failed, bit
for bit.  Pass ``--checkpoint-every N`` to ``train`` so that little work is lost
(:mod:`chainrule.distributed.restart`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .args import UsageError, _whole, positive_int

__all__ = ["add_launch_parser", "launch_command"]


def _restarts(text: str) -> int:
    """A whole number >= 0 (``--max-restarts``)."""
    return _whole(text, 0)


def add_launch_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``launch`` command to an ``add_subparsers()`` object; returns its parser."""
    parser = subparsers.add_parser(
        "launch", help="run `chainrule train` on K MPI ranks and restart it from its last "
                       "checkpoint when a rank dies",
        usage="chainrule launch -n K [--max-restarts R] [--hostfile F] -- train --out DIR ...")
    parser.add_argument("-n", dest="ranks", type=positive_int, required=True, metavar="K",
                        help="MPI ranks (processes)")
    parser.add_argument("--max-restarts", type=_restarts, default=3, metavar="R",
                        help="restarts after failures before giving up (3)")
    parser.add_argument("--hostfile", default=None, metavar="F",
                        help="machines to run on, `host:ranks` per line (mpiexec -f)")
    parser.add_argument("command", nargs=argparse.REMAINDER,
                        help="-- then the chainrule command to run: train --out DIR ...")
    parser.set_defaults(func=launch_command)
    return parser


def launch_command(args: argparse.Namespace) -> int:
    """Supervise the job; returns the exit status of its last attempt."""
    from ..distributed.restart import supervise

    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if command[:1] != ["train"]:
        raise UsageError("launch runs `chainrule train`: write `chainrule launch -n K -- train "
                         "--out DIR ...`")
    if "--out" not in command and not any(a.startswith("--out=") for a in command):
        raise UsageError("launch: train needs --out DIR, the folder whose checkpoint a "
                         "restart continues from")
    if args.hostfile is not None and not Path(args.hostfile).is_file():
        raise UsageError(f"--hostfile {args.hostfile}: no such file; write one `host:ranks` "
                         "line per machine")
    return supervise(args.ranks, command, max_restarts=args.max_restarts,
                     hostfile=args.hostfile)
