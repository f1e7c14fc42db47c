"""neuraloperator drop-in: the conv_module signature, refused options, and one epoch in neuraloperator's Trainer."""

import pytest
import torch

from monarch_sci.operators.pde.neuralop_conv import NeuralopSpectralConv, monarch_conv
from monarch_sci.operators.pde.spectral_conv import SpectralConv


def test_monarch_drop_in_equals_our_fft_layer_at_init_and_refuses_unsupported_options():
    mon = NeuralopSpectralConv(3, 3, (8, 8), size=(16, 16), bias=False, dtype=torch.float64)
    fft = SpectralConv(3, 3, (4, 5), dtype=torch.float64)
    fft.weight.data.copy_(mon.weight.data)
    for grid in ((16, 16), (32, 24)):
        x = torch.randn(2, 3, *grid, dtype=torch.float64)
        assert torch.allclose(mon(x), fft(x), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match=r"separable=True, factorization='tucker' not supported"):
        NeuralopSpectralConv(3, 3, (8, 8), size=(16, 16), factorization="tucker", separable=True)
    with pytest.raises(ValueError, match="output_shape"):
        mon(torch.randn(1, 3, 16, 16, dtype=torch.float64), output_shape=(32, 32))


def test_one_epoch_inside_neuraloperators_trainer():
    neuralop = pytest.importorskip("neuralop")
    from neuralop.models import FNO
    from neuralop.training import Trainer

    torch.manual_seed(0)
    model = FNO(
        n_modes=(8, 8), in_channels=1, out_channels=1, hidden_channels=8, n_layers=2, conv_module=monarch_conv((16, 16))
    )
    assert all(isinstance(c, NeuralopSpectralConv) for c in model.fno_blocks.convs)
    x = torch.randn(8, 1, 16, 16)
    y = torch.roll(x, 1, dims=-1)
    samples = [{"x": a, "y": b} for a, b in zip(x, y)]
    loader = torch.utils.data.DataLoader(samples, batch_size=4)
    factors = [p for n, p in model.named_parameters() if n.endswith("_blocks")]
    before = [p.detach().clone() for p in factors]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1)
    loss = neuralop.LpLoss(d=2, p=2)
    trainer = Trainer(model=model, n_epochs=1, device="cpu", verbose=False)
    metrics = trainer.train(loader, {"16": loader}, opt, sched, training_loss=loss, eval_losses={"l2": loss})
    assert factors and all(not torch.equal(p, q) for p, q in zip(factors, before))  # the Monarch factors learned
    assert any("l2" in k for k in metrics)
    with torch.no_grad():
        assert model(torch.randn(2, 1, 32, 32)).shape == (2, 1, 32, 32)  # and it runs on a finer grid
