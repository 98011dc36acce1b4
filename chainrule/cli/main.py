"""The ``chainrule`` command line (also ``python -m chainrule``): the one parser, and dispatch.

Each subcommand lives in a module of its own (:mod:`.train`, :mod:`.chapter`, :mod:`.graph`,
:mod:`.explain`, :mod:`.memory`, :mod:`.partition`, :mod:`.show`, :mod:`.launch`) that adds its
parser and sets ``func``; their argument checks are shared (:mod:`.args`).

A bad flag, a missing file or an interrupted run ends with one clear line on stderr and a
non-zero status, never a traceback.  Under ``mpiexec`` every rank parses the same flags and
meets the same bad input, so rank 0 alone says it, and every rank exits with that status; an
error on one rank alone aborts the whole job (see :func:`chainrule.distributed.fail`).
"""

from __future__ import annotations

import argparse
import sys

from ..distributed import fail, is_root_process
from ..errors import ChainruleError
from .args import UsageError
from .chapter import add_chapter_parser
from .explain import add_explain_parser
from .graph import add_graph_parser
from .launch import add_launch_parser
from .memory import add_memory_parser
from .partition import add_partition_parser
from .show import add_show_parser
from .train import add_train_parser

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n" if is_root_process() else None)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="chainrule",
        description="Forward propagation, backpropagation and computational graphs, for real.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (add_train_parser, add_chapter_parser, add_graph_parser, add_explain_parser,
                add_memory_parser, add_partition_parser, add_launch_parser, add_show_parser):
        add(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    prog = f"chainrule {args.command}"
    try:
        return args.func(args)
    except UsageError as error:                 # every rank met the same arguments
        if is_root_process():
            print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    except ChainruleError as error:             # an error's own status (3: diverged), else 1
        return fail(prog, error, getattr(error, "status", 1))
    except MemoryError as error:
        return fail(prog, ChainruleError(f"out of memory ({error or 'no details'}); pass "
                                         "smaller sizes"))
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
