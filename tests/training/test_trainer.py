"""The shared training loop: resume exactness, checkpoints, records, NaN guard, parameter groups, DDP."""

import json
import os
import random
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from monarch_sci.operators.pde.fno import FNO2d
from monarch_sci.operators.pde.tasks import ForecastModel, ForecastTask, ForecastWindows
from monarch_sci.training.checkpoint import get_rng_state, load_checkpoint, set_rng_state
from monarch_sci.training.trainer import NonFiniteError, TrainConfig, Trainer, param_groups, seed_everything

HERE = Path(__file__).parent


def _data(n=20, s=8, t_in=4, t_out=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(n, s, s, t_in, generator=g), torch.randn(n, s, s, t_out, generator=g)
    return ForecastWindows(x[:16], y[:16], kind="fno2d"), ForecastWindows(x[16:], y[16:], kind="fno2d")


def _fit(out, *, epochs=3, stop_after=None, resume=False, task=None, **cfg):
    train, val = _data()
    seed_everything(0)
    model = ForecastModel(FNO2d(2, 2, 4, t_in=4, size=(8, 8), fourier="monarch"), 2)
    config = TrainConfig(
        epochs=epochs, batch_size=4, seed=5, monitor="val_rel_l2", stop_after=stop_after, progress=False, **cfg
    )
    trainer = Trainer(model, task or ForecastTask("fno2d"), train, val, config, out=out, record={"arguments": {"a": 1}})
    return model, trainer.fit(resume=resume)


def test_resume_after_interruption_ends_exactly_like_an_uninterrupted_run(tmp_path):
    full_model, full = _fit(tmp_path / "full")
    _, part = _fit(tmp_path / "part", stop_after=1)
    assert part["status"] == "stopped" and len(part["history"]) == 1
    resumed_model, resumed = _fit(tmp_path / "part", resume=True)
    assert resumed["status"] == "finished"
    assert [h["val_rel_l2"] for h in resumed["history"]] == [h["val_rel_l2"] for h in full["history"]]
    assert [h["train_loss"] for h in resumed["history"]] == [h["train_loss"] for h in full["history"]]
    for (name, a), b in zip(full_model.state_dict().items(), resumed_model.state_dict().values()):
        assert torch.equal(a, b), name


def test_checkpoint_and_record_contents(tmp_path):
    _fit(tmp_path, epochs=2)
    ckpt = load_checkpoint(tmp_path / "last.pt")  # weights_only=True inside
    assert {"model", "optimizer", "scheduler", "rng", "epoch", "history"} <= set(ckpt)
    assert ckpt["epoch"] == 1 and {"torch", "numpy", "python", "loader"} <= set(ckpt["rng"])
    torch.load(tmp_path / "best.pt", weights_only=True)
    rec = json.loads((tmp_path / "record.json").read_text())
    assert rec["status"] == "finished" and rec["seed"] == 5 and rec["arguments"] == {"a": 1}
    assert set(rec["versions"]) == {"python", "torch", "numpy", "monarch_sci"}
    assert [e["epoch"] for e in rec["epochs"]] == [1, 2]
    assert all(e["train_seconds"] > 0 and np.isfinite(e["val_rel_l2"]) for e in rec["epochs"])
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


def test_rng_state_roundtrip():
    gen = torch.Generator().manual_seed(1)
    seed_everything(11)
    state = get_rng_state(gen)
    first = (torch.rand(3), np.random.rand(3), random.random(), torch.rand(2, generator=gen))
    seed_everything(99)
    set_rng_state(state, gen)
    again = (torch.rand(3), np.random.rand(3), random.random(), torch.rand(2, generator=gen))
    assert torch.equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert first[2] == again[2] and torch.equal(first[3], again[3])


class _NaNAfter:
    """A task whose loss turns NaN at the given call (1-based)."""

    def __init__(self, at):
        self.inner, self.at, self.calls = ForecastTask("fno2d"), at, 0

    def loss(self, model, batch):
        self.calls += 1
        loss = self.inner.loss(model, batch)
        return loss * float("nan") if self.calls == self.at else loss

    def evaluate(self, model, dataset):
        return self.inner.evaluate(model, dataset)


def test_non_finite_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    # 16 samples / batch 4 = 4 steps per epoch; step 6 is the second step of epoch 2.
    with pytest.raises(NonFiniteError, match="epoch 2, step 6") as info:
        _fit(tmp_path, epochs=3, task=_NaNAfter(6))
    assert info.value.step == 6
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt["epoch"] == 0 and all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())
    rec = json.loads((tmp_path / "record.json").read_text())
    assert rec["status"] == "non-finite" and rec["failed_step"] == 6


def test_non_finite_batch_is_refused(tmp_path):
    train, val = _data()
    train.x[3, 0, 0, 0] = float("inf")
    model = ForecastModel(FNO2d(2, 2, 4, t_in=4), 2)
    config = TrainConfig(epochs=1, batch_size=16, monitor="val_rel_l2", progress=False)
    with pytest.raises(NonFiniteError, match="in a batch at epoch 1, step 1"):
        Trainer(model, ForecastTask("fno2d"), train, val, config, out=tmp_path).fit()


def test_param_groups_give_factors_their_own_lr_and_no_weight_decay():
    model = FNO2d(2, 2, 4, t_in=4, size=(8, 8), fourier="monarch")
    groups = param_groups(model, TrainConfig(epochs=1, batch_size=1, factor_lr=3e-3))
    weights, factors = groups
    assert factors["lr"] == 3e-3 and factors["weight_decay"] == 0.0 and weights["weight_decay"] == 1e-4
    n_factors = sum(1 for n, _ in model.named_parameters() if n.endswith("_blocks"))
    assert len(factors["params"]) == n_factors == 4 * 4 * 2
    assert len(groups[0]["params"]) + n_factors == sum(1 for p in model.parameters() if p.requires_grad)


def test_loop_is_model_agnostic(tmp_path):
    # Linear regression through the same loop: the loss must fall.
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 3, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.01 * torch.randn(32, generator=g)
    data = torch.utils.data.TensorDataset(x, y)

    class Regression:
        def loss(self, model, batch):
            return (model(batch[0]).squeeze(-1) - batch[1]).square().mean()

        def evaluate(self, model, dataset):
            xs, ys = dataset.tensors
            return {"val_loss": float((model(xs).squeeze(-1) - ys).square().mean())}

    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    result = Trainer(
        model, Regression(), data, data, TrainConfig(epochs=20, batch_size=8, lr=0.05, progress=False), out=tmp_path
    ).fit()
    assert result["history"][-1]["val_loss"] < 0.1 * result["history"][0]["val_loss"]


def test_ddp_two_processes_match_single_process(tmp_path):
    """2 CPU processes (gloo) on the same global batches = 1 process, complex Monarch factors included."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    worker = str(HERE / "ddp_worker.py")
    subprocess.run([sys.executable, worker, str(tmp_path / "single")], check=True, env=env, timeout=240)
    with socket.socket() as sock:  # a free port for the rendezvous
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={port}",
           "--monitor-interval=0.1", worker]  # fmt: skip
    subprocess.run([*cmd, str(tmp_path / "ddp")], check=True, env=env, timeout=240)
    single = torch.load(tmp_path / "single" / "final_state.pt", weights_only=True)
    ddp = torch.load(tmp_path / "ddp" / "final_state.pt", weights_only=True)
    init = torch.load(tmp_path / "single" / "init_state.pt", weights_only=True)
    factors = [k for k in single if k.endswith("_blocks")]
    assert factors and all(single[k].is_complex() for k in factors)
    for k, v in single.items():
        if v.is_floating_point() or v.is_complex():
            assert torch.allclose(ddp[k], v, rtol=0, atol=1e-12), k
    # The factors moved (so the comparison is not between two untouched initialisations).
    assert all((single[k] - init[k]).abs().max() > 1e-6 for k in factors)


def test_write_text_atomic_replaces_whole_files_and_leaves_no_temporary(tmp_path):
    from monarch_sci.training.checkpoint import write_text_atomic

    path = tmp_path / "sub" / "record.json"
    assert write_text_atomic(path, "old") == path and path.read_text() == "old"
    write_text_atomic(path, "new")
    assert path.read_text() == "new"
    assert sorted(p.name for p in path.parent.iterdir()) == ["record.json"]


def test_adamw_and_cosine_resume_exactly_and_the_cosine_ends_at_zero(tmp_path):
    full_model, full = _fit(tmp_path / "full", optimizer="adamw", scheduler="cosine")
    _fit(tmp_path / "part", stop_after=2, optimizer="adamw", scheduler="cosine")
    resumed_model, resumed = _fit(tmp_path / "part", resume=True, optimizer="adamw", scheduler="cosine")
    assert [h["train_loss"] for h in resumed["history"]] == [h["train_loss"] for h in full["history"]]
    assert full["history"][-1]["lr"][0] == pytest.approx(0.0, abs=1e-12)  # cosine over the 3-epoch budget
    assert full["history"][0]["lr"][0] == pytest.approx(1e-3 * (1 + np.cos(np.pi / 3)) / 2)
    adam_model, _ = _fit(tmp_path / "adam")
    assert not torch.equal(adam_model.state_dict()["fno.fc0.weight"], full_model.state_dict()["fno.fc0.weight"])
    for (name, a), b in zip(full_model.state_dict().items(), resumed_model.state_dict().values()):
        assert torch.equal(a, b), name


def test_without_validation_best_follows_the_training_loss(tmp_path):
    train, _ = _data()
    seed_everything(0)
    model = ForecastModel(FNO2d(2, 2, 4, t_in=4, size=(8, 8)), 2)
    config = TrainConfig(epochs=2, batch_size=4, monitor="val_rel_l2", progress=False, epoch_lines=True)
    result = Trainer(model, ForecastTask("fno2d"), train, None, config, out=tmp_path).fit()
    assert result["status"] == "finished" and result["best"] == min(h["train_loss"] for h in result["history"])
    rec = json.loads((tmp_path / "record.json").read_text())
    assert rec["monitor"] == "train_loss" and (tmp_path / "best.pt").is_file()


def test_resuming_another_model_is_a_clear_error(tmp_path):
    _fit(tmp_path, epochs=2, stop_after=1)
    train, val = _data()
    model = ForecastModel(FNO2d(2, 2, 6, t_in=4, size=(8, 8), transform="monarch"), 2)  # width 6, not 4
    trainer = Trainer(model, ForecastTask("fno2d"), train, val, TrainConfig(epochs=2, batch_size=4), out=tmp_path)
    with pytest.raises(ValueError, match="holds another model than the one requested"):
        trainer.fit(resume=True)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"optimizer": "sgd"}, "optimizer must be"), ({"scheduler": "exp"}, "scheduler must be"), ({"lr": 0}, "lr")],
)
def test_config_refuses_unknown_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(epochs=1, batch_size=1, **kwargs)
