"""Training on many processes with MPI: data-parallel steps and loud, prompt failure.

``mpiexec -n 4 chainrule train`` trains the chapter's network on 4 ranks; in a program of
your own, wrap the model in :class:`DataParallel` and load batches with :func:`shard_loader`
(see :mod:`chainrule.distributed.data_parallel`), or cut a Sequential into one stage per rank
with :class:`Pipeline` (:mod:`chainrule.distributed.pipeline`, the 1F1B or GPipe schedule).
MPI comes from mpi4py with the mpich wheel (``pip install 'chainrule[dist]'``), imported
when a :class:`Comm` is first made.

``chainrule launch -n 4 --max-restarts 3 -- train --out DIR ...`` restarts a job whose rank
died from its last checkpoint (:mod:`chainrule.distributed.restart`).

Importing this package installs an exception hook (:func:`install_excepthook`): an uncaught
exception on any rank prints the rank and the error and aborts the whole job, so one failing
rank never leaves the others waiting.
"""

from .comm import Comm, DistributedError, fail, fingerprint, install_excepthook, world
from .data_parallel import DEFAULT_BUCKET_BYTES, DataParallel, shard_loader
from .pipeline import SCHEDULES, Pipeline, balanced_bounds, micro_batch_slices, schedule_order
from .launch import (env_world, is_root_process, mpi_missing, mpiexec_command, mpiexec_path,
                     under_mpiexec)

install_excepthook()

__all__ = ["Comm", "DistributedError", "DataParallel", "shard_loader", "DEFAULT_BUCKET_BYTES",
           "Pipeline", "SCHEDULES", "balanced_bounds", "micro_batch_slices", "schedule_order",
           "world", "fail", "env_world", "under_mpiexec", "is_root_process", "mpi_missing",
           "mpiexec_path", "mpiexec_command", "fingerprint", "install_excepthook"]
