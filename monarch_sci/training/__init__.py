"""Shared training infrastructure: the model-agnostic trainer, atomic checkpoints and files, run records."""

from monarch_sci.training.checkpoint import load_checkpoint, save_checkpoint, write_text_atomic
from monarch_sci.training.trainer import NonFiniteError, TrainConfig, Trainer, seed_everything

__all__ = [
    "NonFiniteError",
    "TrainConfig",
    "Trainer",
    "load_checkpoint",
    "save_checkpoint",
    "seed_everything",
    "write_text_atomic",
]
