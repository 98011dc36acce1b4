"""Worker: every rank measures its own peak in a Pipeline step of a planned MLP.

``mpiexec -n K python pipe_memory.py OUT.json --layers L --hidden H --batch B --micro M
[--dtype float32] [--budget BYTES] [--bias] [--schedule 1f1b|gpipe]``.  Every rank plans the
MLP for K devices with :func:`chainrule.distributed.planner.plan_mlp`, builds the same MLP,
keeps its stage (the plan's bounds) and runs pipeline steps with an SGD update after each;
the last step is run under :mod:`tracemalloc`, and its peak beyond what existed before it
(the parameters, the batch) is this rank's measurement, as
:func:`chainrule.cli.memory.measure` measures one process.  Rank 0 writes each rank's
predicted and measured bytes to OUT.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import tracemalloc

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--micro", type=int, default=4)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--budget", type=int, default=2**40)
    parser.add_argument("--bias", action="store_true")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--schedule", default="1f1b")
    args = parser.parse_args()

    from chainrule.distributed import Comm, Pipeline
    from chainrule.distributed.planner import plan_mlp
    from chainrule.models import MLP
    from chainrule.optim import SGD

    comm = Comm()
    plan = plan_mlp(args.layers, args.hidden, args.batch, comm.size, args.budget,
                    args.micro, dtype=args.dtype, bias=args.bias, schedule=args.schedule,
                    weight_decay=False, input_itemsize=np.dtype(args.dtype).itemsize)
    model = MLP([784] + [args.hidden] * args.layers + [10], bias=args.bias,
                dtype=np.dtype(args.dtype), seed=0)
    pipe = Pipeline(model.layers, comm, micro_batches=args.micro, bounds=plan.bounds,
                    schedule=args.schedule)
    optimizer = SGD(pipe.parameters(), lr=0.01)
    rng = np.random.default_rng(0)
    x = rng.random((args.batch, 784)).astype(args.dtype)
    y = rng.integers(0, 10, args.batch)
    tracemalloc.start()
    measured = 0
    for _ in range(args.steps):             # the first steps warm MPI and NumPy up
        optimizer.zero_grad()
        gc.collect()
        comm.barrier()
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        pipe.step(x, y)
        measured = tracemalloc.get_traced_memory()[1] - base
        optimizer.step()
    tracemalloc.stop()
    stage = plan.stages[comm.rank]
    mine = {"rank": comm.rank, "bounds": list(pipe.bounds[comm.rank]),
            "predicted": stage.step_bytes, "measured": measured,
            "parameter_bytes": sum(p.data.nbytes for p in pipe.parameters()),
            "planned_parameter_bytes": stage.parameter_bytes,
            "bytes_sent": pipe.bytes_sent // args.steps}
    ranks = comm.gather(mine)
    if comm.is_root:
        cuts = [c.bytes_per_step for c in plan.cuts]
        with open(args.out, "w") as handle:
            json.dump({"ranks": ranks, "cuts": cuts, "bounds": plan.bounds}, handle)


if __name__ == "__main__":
    main()
