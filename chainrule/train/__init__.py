"""The training program behind ``chainrule train``: the loop and its run (:mod:`.loop`), the
settings and file names (:mod:`.config`), the pipeline-parallel run (:mod:`.pipeline`) and the
report it writes (:mod:`.report`)."""

from .config import (CHECKPOINT, CURVE, DEFAULT_BATCH, GRAPH, MEMORY, METRICS, Config,
                     TrainingInterrupted, build_model, exit_status)
from .loop import evaluate, train

__all__ = ["Config", "train", "build_model", "evaluate", "TrainingInterrupted", "exit_status",
           "CHECKPOINT", "METRICS", "CURVE", "GRAPH", "MEMORY", "DEFAULT_BATCH"]
