"""Worker for ``test_training.py``: trains a tiny Monarch FNO (float64) and saves its weights.

Run as ``python ddp_worker.py OUT`` (one process) or under ``torchrun --nproc_per_node=2`` (DDP, gloo); both
see the same global batches, so the final weights must agree to round-off.
"""

import os
import sys

import torch

from monarch_sci.operators.pde.fno import FNO2d
from monarch_sci.operators.pde.tasks import ForecastModel, ForecastTask, ForecastWindows
from monarch_sci.training.trainer import TrainConfig, Trainer, seed_everything


def main(out: str) -> None:
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(20, 8, 8, 4, generator=g, dtype=torch.float64)
    y = torch.randn(20, 8, 8, 2, generator=g, dtype=torch.float64)
    train = ForecastWindows(x[:16], y[:16], kind="fno2d")
    val = ForecastWindows(x[16:], y[16:], kind="fno2d")
    seed_everything(0)
    fno = FNO2d(2, 2, 4, t_in=4, size=(8, 8), fourier="monarch", dtype=torch.float64)
    model = ForecastModel(fno, 2)
    rank0 = int(os.environ.get("RANK", "0")) == 0
    if rank0:
        os.makedirs(out, exist_ok=True)
        torch.save(model.state_dict(), f"{out}/init_state.pt")
    config = TrainConfig(epochs=2, batch_size=4, seed=3, monitor="val_rel_l2", progress=False, factor_lr=3e-3)
    Trainer(model, ForecastTask("fno2d"), train, val, config, out=out).fit()
    if rank0:
        torch.save(model.state_dict(), f"{out}/final_state.pt")


if __name__ == "__main__":
    main(sys.argv[1])
