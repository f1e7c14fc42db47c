"""Shared training infrastructure: the model-agnostic trainer, atomic checkpoints and files, run records and
seed pooling."""

from monarch_sci.training.checkpoint import load_checkpoint, save_checkpoint, write_text_atomic
from monarch_sci.training.records import defining_differences, package_versions, pool_seeds
from monarch_sci.training.settings import Optimization
from monarch_sci.training.trainer import NonFiniteError, TrainConfig, Trainer, seed_everything

__all__ = [
    "NonFiniteError",
    "Optimization",
    "TrainConfig",
    "Trainer",
    "defining_differences",
    "load_checkpoint",
    "package_versions",
    "pool_seeds",
    "save_checkpoint",
    "seed_everything",
    "write_text_atomic",
]
