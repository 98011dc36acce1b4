"""LeNet's training step, chainrule against PyTorch eager and hand NumPy on the CPU, in one run.

    python -m benchmarks.conv                     # batch 256, 1 thread, both LeNets
    python -m benchmarks.conv --batch 64 --rounds 9 --threads 2

One step is the book's: zero the gradients, forward (LeNet on (N, 1, 28, 28) float32),
cross-entropy, backward, an SGD update.  Both libraries start from the same weights and the
same batch; the first step's losses (and the hand NumPy step's updated parameters) are compared
before anything is timed.  The hand NumPy step calls chainrule's own array kernels (im2col,
pooling) with the chain rule written out, so its ratio is the engine's overhead.  Times are
medians over interleaved rounds (chainrule, PyTorch, NumPy, chainrule, ...).

Memory a step holds: the bytes saved for backward, distinct buffers counted once; chainrule's
from :func:`chainrule.memory.report`, PyTorch's from ``saved_tensors_hooks`` (its storages),
and chainrule's measured peak of one step (tracemalloc, beyond parameters and the batch).
"""

from __future__ import annotations

import argparse
import functools
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


def _numpy_step(variant, params, x, y, lr=0.01):
    """One step written by hand in NumPy on chainrule's own kernels (the array functions of
    chainrule.ops.conv and .pool): what the step costs without the engine."""
    import numpy as np

    from chainrule.ops import conv as C
    from chainrule.ops import pool as P

    w1, b1, w2, b2, w3, b3, w4, b4, w5, b5 = params
    one, two = dict(stride=(1, 1), dilation=(1, 1), groups=1), dict(kernel_size=(2, 2),
                                                                     stride=(2, 2))
    pool = dict(two, padding=(0, 0), ceil_mode=False)
    pool.update(count_include_pad=True, divisor_override=None) if variant == "book" else \
        pool.update(dilation=(1, 1))
    if variant == "book":
        act = lambda z: 1 / (1 + np.exp(-z))                      # noqa: E731
        dact = lambda h: h * (1 - h)                               # noqa: E731
    else:
        act = lambda z: np.maximum(z, 0)                          # noqa: E731
        dact = lambda h: (h > 0).astype(h.dtype)                  # noqa: E731

    def down(h):
        if variant == "book":
            return P._avg_pool(h, **pool), None
        out = P._max_pool(h, **pool)
        return out, P._argmax(out, h, **pool)[0]

    def up(g, shape, idx):
        if variant == "book":
            return P._avg_unpool(g, shape=shape, **pool)
        return P._max_unpool(g, indices=idx, size=shape[2:], overlap=False)

    n = len(y)
    h1 = act(C._conv2d(x, w1, padding=(2, 2), **one) + b1[:, None, None])
    p1, i1 = down(h1)
    h2 = act(C._conv2d(p1, w2, padding=(0, 0), **one) + b2[:, None, None])
    p2, i2 = down(h2)
    f = p2.reshape(n, -1)
    h3 = act(f @ w3.T + b3)
    h4 = act(h3 @ w4.T + b4)
    o = h4 @ w5.T + b5
    e = np.exp(o - o.max(axis=1, keepdims=True))
    g = e / e.sum(axis=1, keepdims=True)
    g[np.arange(n), y] -= 1
    g /= n
    grads = [g.T @ h4, g.sum(0)]
    g = (g @ w5) * dact(h4)
    grads = [g.T @ h3, g.sum(0)] + grads
    g = (g @ w4) * dact(h3)
    grads = [g.T @ f, g.sum(0)] + grads
    g = up((g @ w3).reshape(p2.shape), h2.shape, i2) * dact(h2)
    grads = [C._conv2d_weight(p1, g, wshape=w2.shape, padding=(0, 0), **one),
             g.sum((0, 2, 3))] + grads
    g = C._conv_transpose2d(g, w2, padding=(0, 0), output_padding=(0, 0), **one)
    g = up(g, h1.shape, i1) * dact(h1)
    grads = [C._conv2d_weight(x, g, wshape=w1.shape, padding=(2, 2), **one),
             g.sum((0, 2, 3))] + grads
    for p, d in zip(params, grads):
        p -= lr * d


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
    print(f"  {'LeNet':<8}{'chainrule':>12}{'PyTorch':>12}{'ratio':>8}{'NumPy':>12}{'ratio':>8}"
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
        arrays = [p.numpy().copy() for p in ours.parameters()]
        numpy_step = functools.partial(_numpy_step, variant, arrays, x, y)
        a, b = ours_step(), theirs_step()          # the same numbers, before any timing
        numpy_step()
        if abs(a.item() - b.item()) > 1e-4 * max(1.0, abs(b.item())):
            raise SystemExit(f"benchmarks.conv: the losses differ ({a.item()} and {b.item()})")
        for p, q in zip(ours.parameters(), arrays):
            if not np.allclose(p.numpy(), q, rtol=1e-3, atol=1e-6):
                raise SystemExit("benchmarks.conv: the hand NumPy step updates differently")
        times: dict[str, list[float]] = {"cr": [], "torch": [], "numpy": []}
        for _ in range(args.rounds):
            for key, step in (("cr", ours_step), ("torch", theirs_step), ("numpy", numpy_step)):
                started = time.perf_counter()
                step()
                times[key].append(time.perf_counter() - started)
        ours_ms = statistics.median(times["cr"]) * 1e3
        theirs_ms = statistics.median(times["torch"]) * 1e3
        numpy_ms = statistics.median(times["numpy"]) * 1e3
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
              f"{numpy_ms:>9.1f} ms{ours_ms / numpy_ms:>7.2f}x"
              f"{memory.format_bytes(predicted.activation_bytes):>13}"
              f"{memory.format_bytes(saved_torch):>15}{memory.format_bytes(peak):>22}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
