"""The ``chainrule`` command line (also ``python -m chainrule``)."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chainrule",
        description="Forward propagation, backpropagation and computational graphs, for real.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    chapter = commands.add_parser(
        "chapter", help="backpropagate the chapter's network and print each gradient beside "
                        "its equation")
    chapter.add_argument("--hidden", type=int, default=256, help="hidden units (256)")
    chapter.add_argument("--weight-decay", type=float, default=1e-4, help="lambda (1e-4)")
    chapter.add_argument("--seed", type=int, default=0, help="random seed (0)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "chapter":
        if args.hidden < 1:
            parser.error("--hidden must be at least 1")
        from .chapter import chapter_report

        print(chapter_report(hidden=args.hidden, weight_decay=args.weight_decay,
                             seed=args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
