"""Steady task: Darcy pairs from a file through the shared trainer, losses, layouts, normaliser, bad pairs."""

import json

import numpy as np
import pytest
import torch

from monarch_sci.datasets.pde.darcy import DarcyConfig, generate_darcy
from monarch_sci.datasets.pde.pairs import FieldNormalizer, FieldPairs, read_field_pairs
from monarch_sci.operators.pde.fno import FNO2d
from monarch_sci.operators.pde.steady import SteadyModel, SteadyTask, relative_h1_per_sample
from monarch_sci.training.trainer import TrainConfig, Trainer


def test_relative_h1_weighs_gradients():
    x = torch.linspace(0, 1, 33, dtype=torch.float64)
    y = torch.sin(torch.pi * x)[None, :, None] * torch.sin(torch.pi * x)[None, None, :]
    y = y[..., None]  # (1, 33, 33, 1)
    wiggle = 1e-3 * torch.sin(16 * torch.pi * x)[None, :, None, None]  # small values, large gradients
    l2 = float((wiggle.expand_as(y)).norm() / y.norm())
    h1 = float(relative_h1_per_sample(y + wiggle, y, grid_dims=(1, 2)))
    assert h1 > 5 * l2


@pytest.mark.parametrize("fourier", ["fft", "monarch"])
def test_darcy_file_trains_through_the_shared_trainer(tmp_path, fourier):
    data = generate_darcy(tmp_path / "darcy.h5", DarcyConfig(n=12, s=16, seed=0))
    x, y = read_field_pairs(data)
    train, val = FieldPairs(x[:8], y[:8]), FieldPairs(x[8:], y[8:])
    torch.manual_seed(0)
    model = SteadyModel(FNO2d(4, 4, 8, in_channels=1, size=(16, 16), fourier=fourier), FieldNormalizer.fit(train.y))
    task = SteadyTask(loss="rel_h1")
    before = task.evaluate(model, val)["val_rel_l2"]
    config = TrainConfig(epochs=25, batch_size=4, lr=1e-2, monitor="val_rel_l2", progress=False)
    Trainer(model, task, train, val, config, out=tmp_path / "run").fit()
    record = json.loads((tmp_path / "run" / "record.json").read_text())
    assert record["status"] == "finished"
    metrics = task.evaluate(model, val)
    assert len(metrics["val_rel_l2_per_sample"]) == 4 and metrics["val_rel_h1"] >= 0
    assert metrics["val_rel_l2"] < 0.8 * before
    # Zero-shot on a finer grid (31 nodes: every other one is a node of the 16-node grid; 31 is prime, so the
    # Monarch model uses its carried dense maps there).
    fine = generate_darcy(tmp_path / "fine.h5", DarcyConfig(n=4, s=31, seed=0))
    xf, yf = read_field_pairs(fine)
    with torch.no_grad():
        assert model(xf).shape == yf.shape


def test_layout_mix_up_and_normalizer_mismatch_are_errors():
    x, y = torch.randn(4, 12, 12, 1), torch.randn(4, 12, 12, 1)
    first = SteadyModel(FNO2d(3, 3, 4, in_channels=1, layout="channels_first"))
    task = SteadyTask()  # channels last
    with pytest.raises(ValueError, match="FNO2d: expected input"):
        task.loss(first, (x, y))
    with pytest.raises(ValueError, match="differ in shape"):
        SteadyTask(layout="channels_first").loss(first, (x.movedim(-1, 1), y))
    with pytest.raises(ValueError, match="does not fit the model"):
        SteadyModel(FNO2d(3, 3, 4, in_channels=1, layout="channels_first"), FieldNormalizer.fit(y))
    with pytest.raises(ValueError, match="loss must be one of"):
        SteadyTask(loss="mse")


def test_normalizer_travels_in_the_state_dict():
    y = 5 + torch.randn(6, 8, 8, 2)
    a = SteadyModel(FNO2d(2, 2, 4, in_channels=1, out_channels=2), FieldNormalizer.fit(y))
    b = SteadyModel(FNO2d(2, 2, 4, in_channels=1, out_channels=2), FieldNormalizer(2))
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 8, 8, 1)
    assert torch.equal(a(x), b(x)) and np.isclose(float(b.normalizer.mean.mean()), float(y.mean()), atol=1e-5)
