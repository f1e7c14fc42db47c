"""The Monarch factors' own schedule in the trainer: late start, warm-up, anchor to the start; resume exactness."""

import math

import pytest
import torch

from monarch_sci.operators.pde.fno import FNO2d
from monarch_sci.operators.pde.tasks import ForecastModel, ForecastTask, ForecastWindows
from monarch_sci.training.checkpoint import load_checkpoint, save_checkpoint
from monarch_sci.training.factors import anchor_penalty, factor_lr_scale, factor_parameters
from monarch_sci.training.trainer import TrainConfig, Trainer, seed_everything


def _data(n=20, s=8, t_in=4, t_out=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(n, s, s, t_in, generator=g), torch.randn(n, s, s, t_out, generator=g)
    return ForecastWindows(x[:16], y[:16], kind="fno2d"), ForecastWindows(x[16:], y[16:], kind="fno2d")


def _model():
    seed_everything(0)
    return ForecastModel(FNO2d(2, 2, 4, t_in=4, size=(8, 8), fourier="monarch"), 2)


def _fit(out, *, epochs=3, resume=False, model=None, **cfg):
    train, val = _data()
    model = _model() if model is None else model
    config = TrainConfig(epochs=epochs, batch_size=4, seed=5, monitor="val_rel_l2", progress=False, **cfg)
    trainer = Trainer(model, ForecastTask("fno2d"), train, val, config, out=out)
    return model, trainer.fit(resume=resume)


def _factors(model):
    return [p.detach().clone() for p in factor_parameters(model)]


def _others(model):
    ids = {id(p) for p in factor_parameters(model)}
    return [p.detach().clone() for p in model.parameters() if p.requires_grad and id(p) not in ids]


@pytest.mark.parametrize(
    ("start", "warmup", "expected"),
    [(0, 0, [1, 1, 1]), (2, 0, [0, 0, 1, 1]), (0, 3, [0.25, 0.5, 0.75, 1, 1]), (1, 1, [0, 0.5, 1])],
)
def test_factor_lr_scale(start, warmup, expected):
    assert [factor_lr_scale(e, start=start, warmup=warmup) for e in range(len(expected))] == expected


def test_frozen_factors_do_not_move_and_hold_no_optimiser_state(tmp_path):
    init = _model()
    f0, w0 = _factors(init), _others(init)
    model, result = _fit(tmp_path, epochs=2, factor_start=2)
    assert all(torch.equal(a, b) for a, b in zip(f0, _factors(model)))  # bitwise: no update at all
    assert any(not torch.equal(a, b) for a, b in zip(w0, _others(model)))  # the rest trained
    assert [h["factor_lr"] for h in result["history"]] == [0.0, 0.0]
    opt = load_checkpoint(tmp_path / "last.pt")["optimizer"]
    factor_group = next(g for g in opt["param_groups"] if g["name"] == "factors")
    assert factor_group["lr"] == 1e-3  # the scheduled rate is kept; only the step used 0
    assert not set(factor_group["params"]) & set(opt["state"])  # Adam never saw the factors


def test_factors_learn_from_factor_start_on(tmp_path):
    init = _model()
    f0 = _factors(init)
    model, result = _fit(tmp_path, epochs=3, factor_start=2)
    assert [h["factor_lr"] for h in result["history"]] == [0.0, 0.0, 1e-3]
    assert all(not torch.equal(a, b) for a, b in zip(f0, _factors(model)))


@pytest.mark.parametrize("scheduler", ["step", "cosine"])
def test_warmup_multiplies_the_main_schedule_per_epoch(tmp_path, scheduler):
    kw = {"epochs": 6, "scheduler": scheduler, "step_size": 2, "gamma": 0.5, "factor_lr": 2e-3}
    _, plain = _fit(tmp_path / "plain", **kw)
    _, ramped = _fit(tmp_path / "ramped", factor_start=1, factor_warmup=2, **kw)
    scheduled = [h["factor_lr"] for h in plain["history"]]
    assert scheduled[0] == 2e-3 and len(set(scheduled)) > 2  # the main schedule moves the factors' rate too
    expected = [lr * s for lr, s in zip(scheduled, [0, 1 / 3, 2 / 3, 1, 1, 1])]
    assert [h["factor_lr"] for h in ramped["history"]] == expected
    # the main schedule itself is untouched by the ramp (both groups, as the scheduler leaves them)
    assert [h["lr"] for h in ramped["history"]] == [h["lr"] for h in plain["history"]]


@pytest.mark.parametrize("stop", [1, 2])
def test_resume_inside_the_freeze_or_the_warmup_equals_an_uninterrupted_run(tmp_path, stop):
    kw = {"epochs": 4, "factor_start": 2, "factor_warmup": 1, "factor_anchor": 0.5}
    full_model, full = _fit(tmp_path / "full", **kw)
    _, part = _fit(tmp_path / "part", stop_after=stop, **kw)
    assert part["status"] == "stopped" and len(part["history"]) == stop
    resumed_model, resumed = _fit(tmp_path / "part", resume=True, **kw)
    for key in ("train_loss", "val_rel_l2", "factor_lr", "anchor_penalty"):
        assert [h[key] for h in resumed["history"]] == [h[key] for h in full["history"]], key
    for (name, a), b in zip(full_model.state_dict().items(), resumed_model.state_dict().values()):
        assert torch.equal(a, b), name


def test_anchor_penalty_value_and_gradient():
    g = torch.Generator().manual_seed(1)
    p0 = [torch.randn(3, 2, 2, dtype=torch.complex128, generator=g), torch.randn(4, dtype=torch.float64, generator=g)]
    p = [(t + 0.1 * torch.randn(t.shape, dtype=t.dtype, generator=g)).requires_grad_() for t in p0]
    value = anchor_penalty(p, p0)
    manual = sum(float((a.detach() - b).abs().pow(2).sum() / b.abs().pow(2).sum()) for a, b in zip(p, p0))
    assert math.isclose(float(value.detach()), manual, rel_tol=1e-12)
    value.backward()
    for a, b in zip(p, p0):  # d/dθ̄ of |θ−θ⁰|²/|θ⁰|² is (θ−θ⁰)/|θ⁰|²; torch returns twice the conjugate derivative
        assert torch.allclose(a.grad, 2 * (a - b).detach() / b.abs().pow(2).sum())
    at_start = [t.clone().requires_grad_() for t in p0]
    anchor_penalty(at_start, p0).backward()
    assert all(torch.equal(t.grad, torch.zeros_like(t)) for t in at_start)  # finite (no abs() at 0)


def test_a_large_anchor_keeps_the_factors_near_their_start(tmp_path):
    f0 = _factors(_model())

    def moved(model):
        return sum(float((a - b).abs().pow(2).sum() / b.abs().pow(2).sum()) for a, b in zip(_factors(model), f0))

    free, free_result = _fit(tmp_path / "free", epochs=3, factor_lr=1e-2)
    held, held_result = _fit(tmp_path / "held", epochs=3, factor_lr=1e-2, factor_anchor=1e4)
    assert moved(free) > 0 and moved(held) < 0.05 * moved(free)
    assert "anchor_penalty" not in free_result["history"][-1]
    assert math.isclose(held_result["history"][-1]["anchor_penalty"], moved(held), rel_tol=1e-4)


def test_anchor_reads_its_start_from_the_checkpoint(tmp_path):
    _fit(tmp_path / "a", epochs=2, stop_after=1, factor_anchor=1.0)
    ckpt = load_checkpoint(tmp_path / "a" / "last.pt")
    start = ckpt["factor_anchor_start"]
    assert all(torch.equal(a, b) for a, b in zip(start, _factors(_model())))
    _fit(tmp_path / "b", epochs=2, stop_after=1)  # trained without the anchor: no start saved
    with pytest.raises(ValueError, match=r"holds no starting factors for factor_anchor=1\.0"):
        _fit(tmp_path / "b", epochs=2, resume=True, factor_anchor=1.0)
    ckpt["factor_anchor_start"] = start[:-1]
    save_checkpoint(tmp_path / "a" / "last.pt", ckpt)
    with pytest.raises(ValueError, match=r"starting factors in .* have shapes"):
        _fit(tmp_path / "a", epochs=2, resume=True, factor_anchor=1.0)


def test_anchor_on_a_model_without_factors_changes_nothing(tmp_path):
    seed_everything(0)
    fft = ForecastModel(FNO2d(2, 2, 4, t_in=4, size=(8, 8)), 2)
    _, plain = _fit(tmp_path / "p", model=fft, epochs=1)
    seed_everything(0)
    fft = ForecastModel(FNO2d(2, 2, 4, t_in=4, size=(8, 8)), 2)
    _, anchored = _fit(tmp_path / "a", model=fft, epochs=1, factor_anchor=3.0, factor_start=1)
    assert anchored["history"][0]["train_loss"] == plain["history"][0]["train_loss"]
    assert "factor_lr" not in anchored["history"][0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"factor_start": -1}, "factor_start must be an integer >= 0"),
        ({"factor_warmup": 1.5}, "factor_warmup must be an integer >= 0"),
        ({"factor_start": True}, "factor_start must be an integer >= 0"),
        ({"factor_anchor": -0.1}, "factor_anchor out of range"),
        ({"factor_anchor": float("nan")}, "factor_anchor out of range"),
    ],
)
def test_config_refuses_bad_factor_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(epochs=1, batch_size=1, **kwargs)
