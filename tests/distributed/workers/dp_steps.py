"""Worker: a few data-parallel steps, checked against one process on the whole batch.

Run as ``mpiexec -n N python dp_steps.py OUT.json [--steps S --batch B --examples E
--bucket-bytes K]``.  Each rank starts from *different* parameters (seed 100 + rank), so the
broadcast in DataParallel is tested too.  After every step rank 0 gathers every rank's
parameters, checks that they are bit-identical to its own, and compares them with a single
process that trains on the whole global batch from rank 0's start; it writes what it found to
OUT.json for the test to judge.
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def _model(seed: int):
    from chainrule.models import MLP

    return MLP(widths=[6, 8, 5, 3], bias=True, weight_decay=1e-3, dtype=np.float64, seed=seed)


def _forever(loader):
    while True:
        yield from loader


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--examples", type=int, default=21)
    parser.add_argument("--bucket-bytes", type=int, default=400)
    parser.add_argument("--unweighted", action="store_true",
                        help="a negative control: average the ranks' gradients equally")
    args = parser.parse_args()

    from chainrule.data import ArrayDataset, DataLoader
    from chainrule.distributed import Comm, DataParallel, shard_loader
    from chainrule.optim import SGD

    rng = np.random.default_rng(0)
    dataset = ArrayDataset(rng.normal(size=(args.examples, 6)),
                           rng.integers(0, 3, size=args.examples))
    comm = Comm()
    model = _model(seed=100 + comm.rank)
    dp = DataParallel(model, comm, bucket_bytes=args.bucket_bytes)
    optimizer = SGD(model.parameters(), lr=0.5, momentum=0.9)
    batches = _forever(shard_loader(dataset, args.batch, comm, seed=3))
    if comm.is_root:
        reference = _model(seed=100)
        ref_optimizer = SGD(reference.parameters(), lr=0.5, momentum=0.9)
        ref_batches = _forever(DataLoader(dataset, args.batch, shuffle=True, seed=3))
    report = {"size": comm.size, "buckets": len(dp.buckets), "parameters": len(dp.params),
              "records": []}

    def record(sizes):
        every = comm.gather([p.numpy().copy() for p in model.parameters()])
        fingerprint = dp.check_identical()
        if not comm.is_root:
            return
        own = every[0]
        identical = all(all(a.tobytes() == b.tobytes() for a, b in zip(own, other))
                        for other in every[1:])
        diff = max(float(np.max(np.abs(a - r.numpy())))
                   for a, r in zip(own, reference.parameters()))
        report["records"].append({"sizes": sizes, "identical": identical, "max_diff": diff,
                                "fingerprint": fingerprint})

    record(None)                                   # after the broadcast, before any step
    for _ in range(args.steps):
        x, y = next(batches)
        optimizer.zero_grad()
        if len(y):
            model.objective(x, y).backward()
        dp.sync_gradients(count=None if args.unweighted else len(y))
        optimizer.step()
        sizes = comm.gather(len(y))
        if comm.is_root:
            x_all, y_all = next(ref_batches)
            ref_optimizer.zero_grad()
            reference.objective(x_all, y_all).backward()
            ref_optimizer.step()
            assert sum(sizes) == len(y_all)
        record(sizes)
    if comm.is_root:
        report.update(dp.stats())
        with open(args.out, "w") as handle:
            json.dump(report, handle)


if __name__ == "__main__":
    main()
