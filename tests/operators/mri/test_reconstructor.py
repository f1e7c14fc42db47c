"""The base of the learned reconstructions: one shape/dtype check for every model, peak scaling, zero heads."""

import pytest
import torch

from monarch_sci.operators.mri.msense import MSENSE, DiagonalSENSE
from monarch_sci.operators.mri.networks import UNet
from monarch_sci.operators.mri.reconstructor import SenseReconstructor, peak_scale
from monarch_sci.operators.mri.unet import UNetRecon
from monarch_sci.operators.mri.unrolled import UnrolledSENSE

MODELS = [MSENSE, DiagonalSENSE, UnrolledSENSE, UNetRecon]


@pytest.mark.parametrize("model_cls", MODELS, ids=lambda c: c.__name__)
def test_every_model_is_a_reconstructor_with_the_same_checks(model_cls):
    name = model_cls.__name__
    model = model_cls((16, 12))
    assert isinstance(model, SenseReconstructor) and model.shape == (16, 12)
    assert model.extra_repr().startswith("shape=(16, 12)")
    side = 2 if model_cls in (MSENSE, DiagonalSENSE) else 1
    with pytest.raises(ValueError, match=rf"{name}: shape must be the image size \(H, W\) with H, W >= {side}, got"):
        model_cls((16,))
    with pytest.raises(ValueError, match=rf"{name}: shape must be .* got \(16, 0\)"):
        model_cls((16, 0))


@pytest.mark.parametrize("model_cls", [DiagonalSENSE, UnrolledSENSE, UNetRecon], ids=lambda c: c.__name__)
def test_real_data_dtypes_are_refused(model_cls):
    name = model_cls.__name__
    with pytest.raises(
        TypeError, match=rf"{name}: dtype must be torch.complex64 or torch.complex128, got torch.float32"
    ):
        model_cls((16, 12), dtype=torch.float32)


def test_peak_scale_is_the_per_image_peak_and_never_zero():
    x = torch.randn(3, 5, 4, dtype=torch.complex128)
    x[2] = 0
    s = peak_scale(x)
    assert s.shape == (3, 1, 1) and s.dtype == torch.float64
    assert torch.equal(s[:2, 0, 0], x[:2].abs().flatten(1).amax(1))
    assert s[2].item() > 0
    assert torch.allclose(peak_scale(x[:2] / s[:2]), torch.ones(2, 1, 1, dtype=torch.float64))


def test_unet_zero_head_survives_reset_and_reset_redraws_the_rest():
    net = UNet(2, 2, channels=4, depth=2, zero_head=True)
    assert net.head.weight.abs().max() == 0 and net.head.bias.abs().max() == 0
    with torch.no_grad():
        net.head.weight.normal_()
    first = net.down[0][0].weight.detach().clone()
    net.reset_parameters()
    assert net.head.weight.abs().max() == 0 and net.head.bias.abs().max() == 0
    assert not torch.equal(net.down[0][0].weight, first)
    plain = UNet(2, 2, channels=4, depth=2)
    plain.reset_parameters()
    assert plain.head.weight.abs().max() > 0


@pytest.mark.parametrize("regulariser", ["cnn", "unet"])
def test_unrolled_reset_restarts_as_landweber(regulariser):
    net = UnrolledSENSE((16, 16), cascades=2, channels=4, layers=2, regulariser=regulariser)
    for p in net.parameters():
        with torch.no_grad():
            p.normal_()
    net.reset_parameters()
    for reg in net.regularisers:
        last = reg.head if regulariser == "unet" else reg.net[-1]
        assert last.weight.abs().max() == 0 and last.bias.abs().max() == 0
    assert torch.equal(net.step, torch.ones(2))
