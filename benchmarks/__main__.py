"""``python -m benchmarks``: pin the threads, then run the suite (see ``benchmarks/__init__.py``).

Nothing here imports NumPy or torch before :func:`benchmarks.threads.pin` has run: BLAS and
OpenMP read their thread counts once, when they load.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import ALIASES, WORKLOADS, threads

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "latest.json"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="chainrule against hand-written NumPy and PyTorch: interleaved medians, "
                    "ratios from one run, a table and a JSON report.")
    parser.add_argument("--threads", type=int, choices=(1, 2), default=1,
                        help="threads for every library (default 1)")
    parser.add_argument("--quick", action="store_true",
                        help="5 rounds of 20 ms samples, deep chains up to 10^5 only")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help=f"run only these workloads ({', '.join(WORKLOADS)}; also "
                             f"{', '.join(ALIASES)}); repeat or separate with commas")
    parser.add_argument("--json", default=str(DEFAULT_JSON), metavar="PATH",
                        help="where to write the report (default benchmarks/results/latest.json)")
    parser.add_argument("--torch", action=argparse.BooleanOptionalAction, default=True,
                        help="measure PyTorch too when it is installed (default on)")
    parser.add_argument("--torch-1e6", action=argparse.BooleanOptionalAction, default=True,
                        help="include PyTorch's 10^6-operator chain, which is slow (default on)")
    parser.add_argument("--deep-sizes", metavar="N,N,...",
                        help="chain lengths for the deep graph (default 1e4,1e5,1e6; "
                             "--quick: 1e4,1e5)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds per figure "
                                                   "(default 21; --quick: 5)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Pin threads first, import the suite second."""
    args = parse(argv)
    threads.pin(args.threads)
    from .suite import run

    return run(args)


if __name__ == "__main__":
    sys.exit(main())
