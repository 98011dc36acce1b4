"""Worker: pipeline steps on k ranks, checked against one process on the whole batch.

``mpiexec -n K python pipe_steps.py OUT.json [--steps S --batch B --examples E
--micro M ... --schedule 1f1b|gpipe ...]``, once per schedule and micro-batch count given.
Every rank builds the same MLP (seed 0) and keeps only its stage; after each step's backward
and after its update, rank 0 gathers every stage's gradients and parameters and compares them
with one process that trains the whole MLP on the whole batch.  Rank 0 writes OUT.json.
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def _forever(loader):
    while True:
        yield from loader


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--examples", type=int, default=21)
    parser.add_argument("--micro", type=int, nargs="+", default=[3])
    parser.add_argument("--schedule", nargs="+", default=["1f1b"])
    args = parser.parse_args()

    from chainrule import functional as F
    from chainrule.data import ArrayDataset, DataLoader
    from chainrule.distributed import Comm, Pipeline
    from chainrule.models import MLP
    from chainrule.optim import SGD

    def model():
        return MLP(widths=[6, 8, 8, 5, 3], bias=True, dtype=np.float64, seed=0)

    rng = np.random.default_rng(0)
    dataset = ArrayDataset(rng.normal(size=(args.examples, 6)),
                           rng.integers(0, 3, size=args.examples))
    comm = Comm()
    report = {"size": comm.size, "records": []}
    for schedule in args.schedule:
        for micro in args.micro:
            report.update(_run(args, comm, schedule, micro, model, dataset, _forever, F,
                               DataLoader, Pipeline, SGD, report["records"]))
    if comm.is_root:
        with open(args.out, "w") as handle:
            json.dump(report, handle)


def _run(args, comm, schedule, micro, model, dataset, _forever, F, DataLoader, Pipeline, SGD,
         records):
    pipe = Pipeline(model().layers, comm, micro_batches=micro, schedule=schedule)
    optimizer = SGD(pipe.parameters(), lr=0.5, momentum=0.9, weight_decay=1e-3)
    batches = _forever(DataLoader(dataset, args.batch, shuffle=True, seed=3))
    start = pipe.bounds[comm.rank][0]

    def mine(what):
        found = {}
        for name, p in pipe.stage.named_parameters():
            index, rest = name.split(".", 1)
            value = p.numpy() if what == "data" else p.grad.numpy()
            found[f"layers.{start + int(index)}.{rest}"] = value.copy()
        return found

    if comm.is_root:
        reference = model()
        ref_optimizer = SGD(reference.parameters(), lr=0.5, momentum=0.9, weight_decay=1e-3)
        ref_params = dict(reference.named_parameters())

    def compare(gathered, what):
        merged = {k: v for part in gathered for k, v in part.items()}
        assert merged.keys() == ref_params.keys(), sorted(merged)
        ref = {k: (p.numpy() if what == "data" else p.grad.numpy())
               for k, p in ref_params.items()}
        return max(float(np.max(np.abs(merged[k] - ref[k]))) for k in ref)

    for _ in range(args.steps):
        x, y = next(batches)
        optimizer.zero_grad()
        loss = pipe.step(x, y)
        losses = comm.gather(loss)
        grads = comm.gather(mine("grad"))
        optimizer.step()
        params = comm.gather(mine("data"))
        if comm.is_root:
            ref_optimizer.zero_grad()
            ref_loss = F.cross_entropy(reference.layers(x), y)
            ref_loss.backward()
            ref_optimizer.step()
            records.append({
                "schedule": schedule, "micro": micro,
                "batch": len(y), "loss_diff": abs(losses[-1] - ref_loss.item()),
                "grad_diff": compare(grads, "grad"), "param_diff": compare(params, "data")})
    return {"bounds": pipe.bounds, "stage_parameters": comm.gather(len(pipe.parameters()))}


if __name__ == "__main__":
    main()
