"""The price of rematerialisation: a training step's time and memory, plain and checkpointed.

    python -m benchmarks.remat                    # 16 ReLU layers of 256, batch 2048, 1 thread
    python -m benchmarks.remat --layers 8 --width 512 --batch 1024 --rounds 9

A deep ReLU network is trained for one step (cross-entropy on 10 classes, forward and
backward) plainly, then with ``cr.checkpoint`` around every block of k layers.  A checkpoint
keeps only its block's input, and runs the block's forward again inside the backward pass,
so the step costs one more forward of every checkpointed block: up to about a third more
time when every layer is one (a forward is about a third of a step), for memory that shrinks
from all the activations to the blocks' inputs plus one block at a time.

Times are medians over interleaved rounds (every variant once per round); the peaks are
``cr.memory.report``'s prediction and :mod:`tracemalloc`'s measurement of one step, beyond
the parameters and the input batch.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import tracemalloc

from .threads import pin

__all__ = ["main"]


def _parse(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.remat", description=__doc__
                                     .splitlines()[0])
    parser.add_argument("--layers", type=int, default=16, help="hidden layers (16)")
    parser.add_argument("--width", type=int, default=256, help="units per layer (256)")
    parser.add_argument("--batch", type=int, default=2048, help="batch size (2048)")
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds (7)")
    parser.add_argument("--threads", type=int, choices=(1, 2), default=1, help="threads (1)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print its table."""
    args = _parse(argv)
    pin(args.threads)                    # before NumPy loads its BLAS
    import numpy as np

    import chainrule as cr
    from chainrule import memory
    from chainrule.remat import checkpoint

    rng = np.random.default_rng(0)
    x = cr.tensor(rng.standard_normal((args.batch, args.width)).astype(np.float32), name="x")
    y = rng.integers(0, 10, args.batch)
    scale = np.float32(np.sqrt(2.0 / args.width))
    ws = [cr.tensor(rng.standard_normal((args.width, args.width)).astype(np.float32) * scale,
                    requires_grad=True, name=f"W{i + 1}") for i in range(args.layers)]
    head = cr.tensor(np.zeros((10, args.width), np.float32), requires_grad=True, name="Wo")

    def block(h, *weights):
        for w in weights:
            h = cr.relu(h @ w.T)
        return h

    def objective(every):
        h = x
        step = every or args.layers
        for i in range(0, args.layers, step):
            part = ws[i:i + step]
            h = checkpoint(block, h, *part) if every else block(h, *part)
        return cr.cross_entropy(h @ head.T, y)

    def step(every):
        for w in [*ws, head]:
            w.grad = None
        objective(every).backward()

    variants = [None] + [k for k in (4, 2, 1) if k < args.layers]
    times: dict = {k: [] for k in variants}
    for every in variants:               # warm-up, and the same gradients everywhere
        step(every)
    for _ in range(args.rounds):
        for every in variants:
            started = time.perf_counter()
            step(every)
            times[every].append(time.perf_counter() - started)

    print(f"benchmarks.remat: {args.layers} ReLU layers of {args.width}, batch {args.batch}, "
          f"float32, {args.threads} thread(s), median of {args.rounds} rounds")
    print(f"  {'checkpoint':<16}{'step':>10}{'vs plain':>10}{'peak predicted':>18}"
          f"{'peak measured':>17}{'activations kept':>19}")
    plain = statistics.median(times[None])
    for every in variants:
        median = statistics.median(times[every])
        predicted = memory.report(objective(every), held=())
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        step(every)
        measured = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
        label = "none (plain)" if every is None else f"every {every} layer" + "s" * (every > 1)
        print(f"  {label:<16}{median * 1e3:>8.1f} ms{median / plain:>9.2f}x"
              f"{memory.format_bytes(predicted.training_bytes):>18}"
              f"{memory.format_bytes(measured):>17}"
              f"{memory.format_bytes(predicted.activation_bytes):>19}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
