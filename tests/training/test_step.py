"""How a step runs: foreach Adam matches the per-parameter loop, and a compiled step matches the eager one."""

from __future__ import annotations

import json

import pytest
import torch

from monarch_sci.operators.pde.fno import FNO2d
from monarch_sci.operators.pde.tasks import ForecastModel, ForecastTask, ForecastWindows
from monarch_sci.training.step import COMPILE_MODES, compiled, optimizer_options
from monarch_sci.training.trainer import TrainConfig, Trainer, seed_everything


def test_foreach_adam_matches_the_per_parameter_loop():
    def train(options):
        torch.manual_seed(0)
        net = FNO2d(2, 2, 4, t_in=3, size=(8, 8), fourier="monarch", proj_width=8)
        opt = torch.optim.Adam(net.parameters(), 1e-2, weight_decay=1e-4, **options)
        g = torch.Generator().manual_seed(1)
        x, y = torch.randn(4, 8, 8, 3, generator=g), torch.randn(4, 8, 8, 1, generator=g)
        for _ in range(3):
            opt.zero_grad()
            (net(x) - y).square().mean().backward()
            opt.step()
        return net.state_dict()

    loop, foreach = train({"foreach": False}), train(optimizer_options("cpu"))
    for name, a in loop.items():
        torch.testing.assert_close(foreach[name], a, rtol=1e-5, atol=1e-6, msg=name)


def test_a_gpu_checkpoint_resumes_on_the_cpu(tmp_path):
    # a run checkpointed on CUDA has capturable=True in its optimiser groups; resumed on a CPU it must still step
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(8, 8, 8, 3, generator=g), torch.randn(8, 8, 8, 2, generator=g)
    data = ForecastWindows(x, y, kind="fno2d")

    def fit(epochs, resume):
        seed_everything(0)
        model = ForecastModel(FNO2d(2, 2, 4, t_in=3, size=(8, 8), proj_width=8), 2)
        config = TrainConfig(epochs=epochs, batch_size=4, progress=False)
        return model, Trainer(model, ForecastTask("fno2d"), data, None, config, out=tmp_path / "run").fit(resume=resume)

    fit(1, False)
    path = tmp_path / "run" / "last.pt"
    ckpt = torch.load(path, weights_only=True)
    for group in ckpt["optimizer"]["param_groups"]:
        group["capturable"] = True  # as saved on a GPU
    torch.save(ckpt, path)
    _, result = fit(2, True)
    assert result["status"] == "finished" and len(result["history"]) == 2


def test_compile_mode_is_validated():
    with pytest.raises(ValueError, match="compile must be one of"):
        TrainConfig(epochs=1, batch_size=2, compile="fast")
    with pytest.raises(ValueError, match="compile must be one of"):
        compiled(lambda: None, "fast")
    assert set(COMPILE_MODES) >= {"none", "default"}


def _fit(out, compile_mode):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(4, 8, 8, 3, generator=g, dtype=torch.float64), torch.randn(4, 8, 8, 2, generator=g)
    data = ForecastWindows(x, y.double(), kind="fno2d")
    seed_everything(0)
    model = ForecastModel(FNO2d(2, 2, 4, t_in=3, size=(8, 8), proj_width=8, dtype=torch.float64), 2)
    config = TrainConfig(epochs=1, batch_size=4, progress=False, compile=compile_mode)
    Trainer(model, ForecastTask("fno2d"), data, None, config, out=out).fit()
    return model, json.loads((out / "record.json").read_text())


@pytest.mark.parametrize("fourier", ["fft", "monarch"])
def test_captured_loss_and_gradients_match_eager(fourier):
    # dynamo + AOTAutograd capture of the rollout loss (forward and backward graphs) without inductor's C++
    # code generation (seconds instead of minutes; the inductor step is the slow test below)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(3, 8, 8, 3, generator=g, dtype=torch.float64), torch.randn(3, 8, 8, 2, generator=g)
    torch.manual_seed(0)
    model = ForecastModel(FNO2d(2, 2, 4, t_in=3, size=(8, 8), fourier=fourier, proj_width=8, dtype=torch.float64), 2)
    task, params = ForecastTask("fno2d"), [p for p in model.parameters() if p.requires_grad]
    eager = task.loss(model, (x, y.double()))
    captured = torch.compile(task.loss, backend="aot_eager")(model, (x, y.double()))
    torch.testing.assert_close(captured, eager, rtol=1e-12, atol=0)
    for a, b in zip(torch.autograd.grad(captured, params), torch.autograd.grad(eager, params)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-14)


@pytest.mark.slow
def test_compiled_training_step_matches_eager(tmp_path):
    # --compile default through the trainer: one step of a two-step rollout (float64: round-off only); inductor
    # compiles C++ kernels (minutes on a shared 2-core machine)
    eager, _ = _fit(tmp_path / "eager", "none")
    comp, record = _fit(tmp_path / "compiled", "default")
    assert record["config"]["compile"] == "default"
    for (name, a), b in zip(eager.state_dict().items(), comp.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12, msg=name)
