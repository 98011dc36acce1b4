"""Files that lose nothing: atomic writes (:mod:`.atomic`) and checkpoints, arrays with JSON
metadata, checked on load and never unpickled (:mod:`.checkpoint`, whose docstring gives the
file format)."""

from .atomic import atomic_write
from .checkpoint import (FORMAT_NAME, FORMAT_VERSION, array_sha256, load_checkpoint,
                         save_checkpoint)

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "array_sha256", "atomic_write", "load_checkpoint",
           "save_checkpoint"]
