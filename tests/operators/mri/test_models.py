"""Learned models by name: hyperparameters checked, renamed ones still read from old run records."""

import json
import warnings

import pytest
import torch

from monarch_sci.operators.mri.models import build_model, load_run, model_label
from monarch_sci.training.checkpoint import save_checkpoint


def test_learn_is_the_hyperparameter_and_learn_axes_is_deprecated():
    assert build_model("msense", (16, 12), learn="phase").learn == "phase"
    with pytest.warns(DeprecationWarning, match="learn_axes"):
        assert build_model("msense", (16, 12), learn_axes="readout").learn == "readout"
    with pytest.raises(ValueError, match="unknown"):
        build_model("msense", (16, 12), learnable=True)
    assert model_label("msense", {"learn_axes": "phase"}) == model_label("msense", {"learn": "phase"})


def test_a_run_recorded_with_learn_axes_still_loads(tmp_path):
    model = build_model("msense", (16, 12), learn="both")
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    # an old run: hyperparameter learn_axes, Monarch factors saved under inverse_fourier.*
    old_state = {k.replace("physics.fourier.op.", "inverse_fourier."): v for k, v in model.state_dict().items()}
    save_checkpoint(tmp_path / "best.pt", {"model": old_state})
    record = {"model": {"name": "msense", "shape": [16, 12], "hparams": {"learn_axes": "both"}, "label": "mSENSE"}}
    (tmp_path / "record.json").write_text(json.dumps(record))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an old record is not the user's fault: no warning
        loaded, _ = load_run(tmp_path)
    for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), k
