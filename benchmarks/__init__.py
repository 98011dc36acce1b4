"""chainrule's benchmark suite: ratios against the same work written by hand in NumPy.

Run on demand, never inside the tests' timing::

    python -m benchmarks                  # everything, one thread; table + results/latest.json
    python -m benchmarks --quick          # fewer rounds, shorter samples, no 10^6 chain
    python -m benchmarks --only step      # one workload (repeat --only, or give a comma list)
    python -m benchmarks --threads 2 --no-torch --json /tmp/two-threads.json

Workloads (names for ``--only``):

``step``     the chapter's training step (784 -> 256 -> 10, float32) at batch 32 and 256, and
             batch 4096 with hidden 1024; against the hand-written NumPy step and PyTorch eager.
             Also measures the step's matrix products alone (the GEMM roofline; ``roofline``
             is another name for it).
``perop``    a chain of 999 small operators (mul, add, tanh on 16 float64 values), forward and
             backward, in microseconds per operator.
``deep``     chains of 10^4, 10^5, 10^6 multiplications on one element, each size in a fresh
             process (``python -m benchmarks.deep_graph``): time and memory per operator.
``hvp``      a Hessian-vector product of J with respect to W1 at batch 256, both of chainrule's
             modes, against a hand-written R-op in NumPy and PyTorch.
``memory``   peak traced memory of one training step and one prediction at batch 4096, hidden
             1024, beside the hand-written step's and the analytical footprint.

Every time is a median over interleaved rounds in one process (chainrule, NumPy, PyTorch, then
again), and every ratio divides two figures measured in that same run.  Thread counts are pinned
before NumPy is imported (see :mod:`benchmarks.threads`), so importing this package imports
nothing heavy.
"""

WORKLOADS = ("step", "perop", "deep", "hvp", "memory")
ALIASES = {"roofline": "step", "chapter": "step", "overhead": "perop", "deep_graph": "deep",
           "second_order": "hvp", "mem": "memory"}

__all__ = ["WORKLOADS", "ALIASES"]
