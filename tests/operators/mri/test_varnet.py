"""fastMRI's End-to-End VarNet behind our model interface (the optional ``[varnet]`` extra)."""

import sys

import numpy as np
import pytest
import torch

from monarch_sci.operators.mri.models import build_model, model_label
from monarch_sci.operators.mri.varnet import varnet_available

needs_varnet = pytest.mark.skipif(not varnet_available(), reason="fastMRI's VarNet not installed (make varnet)")
SMALL = {"cascades": 2, "channels": 4, "pools": 2, "sens_channels": 4, "sens_pools": 2}


def test_missing_extra_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "fastmri.models", None)  # import fails as if not installed
    assert not varnet_available()
    with pytest.raises(ImportError, match=r"pip install --no-deps fastmri==0\.3\.0"):
        build_model("varnet", (32, 32))


@needs_varnet
def test_varnet_reconstructs_rss_magnitudes_and_refuses_2d_masks():
    torch.manual_seed(0)
    model = build_model("varnet", (32, 24), **SMALL)
    assert model_label("varnet", {}) == "VarNet (fastMRI)"
    k = torch.randn(2, 3, 32, 24, dtype=torch.complex64)
    mask = torch.zeros(1, 1, 1, 24)
    mask[..., 8:16] = 1
    mask[..., ::3] = 1
    out = model(k * mask, mask, None)
    assert out.shape == (2, 32, 24) and not out.is_complex() and (out >= 0).all()
    with pytest.raises(ValueError, match=r"expected a line mask \(B, 1, 1, W\)"):
        model(k, torch.ones(1, 1, 32, 24), None)
    with pytest.raises(ValueError, match="expected complex k-space"):
        model(k[..., :20], mask, None)


@needs_varnet
def test_varnet_trains_one_epoch(tmp_path):
    from monarch_sci.datasets.mri.simulate import SimulationConfig, simulate_dataset
    from monarch_sci.operators.mri.training import ReconTrainSpec, train_recon_model

    cfg = SimulationConfig(recon_size=(32, 64), num_coils=3, num_slices=2, oversampling=1, fine_factor=1, seed=4)
    simulate_dataset(tmp_path / "d", cfg, 3)
    spec = ReconTrainSpec(data=tmp_path / "d", model="varnet", hparams=SMALL, acceleration=4, epochs=1,
                          batch_size=2, progress=False, threads=1)  # fmt: skip
    summary = train_recon_model(spec, tmp_path / "run")
    assert summary["status"] == "finished" and np.isfinite(summary["history"][0]["val_psnr"])
