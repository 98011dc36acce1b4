"""LeNet's training step, chainrule against PyTorch eager on the CPU, in one run.

    python -m benchmarks.conv                     # batch 256, 1 thread, both LeNets
    python -m benchmarks.conv --batch 64 --rounds 9 --threads 2

One step is the book's: zero the gradients, forward (LeNet on (N, 1, 28, 28) float32),
cross-entropy, backward, an SGD update.  Both libraries start from the same weights and the
same batch; the first step's loss and gradients are compared before anything is timed.  Times
are medians over interleaved rounds (chainrule, PyTorch, chainrule, ...).

Memory a step holds: the bytes saved for backward, distinct buffers counted once; chainrule's
from :func:`chainrule.memory.report`, PyTorch's from ``saved_tensors_hooks`` (its storages),
and chainrule's measured peak of one step (tracemalloc, beyond parameters and the batch).
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
    parser = argparse.ArgumentParser(prog="python -m benchmarks.conv",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256, help="batch size (256)")
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds (15)")
    parser.add_argument("--threads", type=int, choices=(1, 2), default=1, help="threads (1)")
    parser.add_argument("--variant", choices=("book", "relu", "both"), default="both",
                        help="the book's LeNet (sigmoid, avg pool), LeNet-ReLU, or both")
    return parser.parse_args(argv)


def _torch_lenet(torch, variant):
    act = torch.nn.Sigmoid if variant == "book" else torch.nn.ReLU
    pool = torch.nn.AvgPool2d if variant == "book" else torch.nn.MaxPool2d
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 6, 5, padding=2), act(), pool(2), torch.nn.Conv2d(6, 16, 5), act(),
        pool(2), torch.nn.Flatten(), torch.nn.Linear(400, 120), act(), torch.nn.Linear(120, 84),
        act(), torch.nn.Linear(84, 10))


def _torch_saved_bytes(torch, net, x, y) -> int:
    """Bytes of the distinct storages PyTorch's autograd saves for one step's backward."""
    seen: dict[int, int] = {}

    def pack(t):
        storage = t.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = torch.nn.functional.cross_entropy(net(x), y)
    params = {p.untyped_storage().data_ptr() for p in net.parameters()}
    params.add(x.untyped_storage().data_ptr())
    del loss
    return sum(n for ptr, n in seen.items() if ptr not in params)


def _steps(ours, ours_opt, xc, y, theirs, torch, xt, yt):
    """One training step of each library (zero, forward, loss, backward, update)."""
    theirs_opt = torch.optim.SGD(theirs.parameters(), lr=0.01)

    def ours_step():
        ours_opt.zero_grad()
        loss = ours.objective(xc, y)
        loss.backward()
        ours_opt.step()
        ours.clear_intermediates()
        return loss

    def theirs_step():
        theirs_opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(theirs(xt), yt)
        loss.backward()
        theirs_opt.step()
        return loss
    return ours_step, theirs_step


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print its table."""
    args = _parse(argv)
    pin(args.threads)                    # before NumPy and torch load their thread pools
    import numpy as np
    import torch

    import chainrule as cr
    from chainrule import memory
    from chainrule.models import LeNet
    from chainrule.optim import SGD

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    x = rng.random((args.batch, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, args.batch)
    xt, yt = torch.tensor(x), torch.tensor(y)
    variants = ("book", "relu") if args.variant == "both" else (args.variant,)
    print(f"benchmarks.conv: LeNet training step, batch {args.batch}, float32, "
          f"{args.threads} thread(s), median of {args.rounds} interleaved rounds")
    print(f"  {'LeNet':<8}{'chainrule':>12}{'PyTorch':>12}{'ratio':>8}"
          f"{'saved (cr)':>13}{'saved (torch)':>15}{'peak (cr, measured)':>22}")
    for variant in variants:
        theirs = _torch_lenet(torch, variant)
        ours = LeNet(784, 10, variant, seed=0)
        names = [n for n, _ in ours.named_parameters()]
        ours.load_state_dict({n: p.detach().numpy().copy() for n, (_, p)
                              in zip(names, theirs.named_parameters())})
        ours_step, theirs_step = _steps(ours, SGD(ours.parameters(), lr=0.01), cr.tensor(x),
                                        y, theirs, torch, xt, yt)
        xc = cr.tensor(x)
        a, b = ours_step(), theirs_step()          # the same numbers, before any timing
        if abs(a.item() - b.item()) > 1e-4 * max(1.0, abs(b.item())):
            raise SystemExit(f"benchmarks.conv: the losses differ ({a.item()} and {b.item()})")
        times: dict[str, list[float]] = {"cr": [], "torch": []}
        for _ in range(args.rounds):
            for key, step in (("cr", ours_step), ("torch", theirs_step)):
                started = time.perf_counter()
                step()
                times[key].append(time.perf_counter() - started)
        ours_ms = statistics.median(times["cr"]) * 1e3
        theirs_ms = statistics.median(times["torch"]) * 1e3
        predicted = memory.report(ours.objective(xc, y), held=())
        ours.clear_intermediates()
        saved_torch = _torch_saved_bytes(torch, theirs, xt, yt)
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        ours_step()
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
        print(f"  {variant:<8}{ours_ms:>9.1f} ms{theirs_ms:>9.1f} ms{ours_ms / theirs_ms:>7.2f}x"
              f"{memory.format_bytes(predicted.activation_bytes):>13}"
              f"{memory.format_bytes(saved_torch):>15}{memory.format_bytes(peak):>22}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
