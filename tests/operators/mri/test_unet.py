"""U-Net and the image-domain baseline."""

import pytest
import torch

from monarch_sci.fourier import CenteredFFT2
from monarch_sci.operators.mri.networks import UNet
from monarch_sci.operators.mri.sense import SenseOperator
from monarch_sci.operators.mri.unet import UNetRecon


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_unet_shapes_and_skip_path(depth):
    net = UNet(2, 3, channels=4, depth=depth)
    x = torch.randn(2, 2, 16, 24)
    assert net(x).shape == (2, 3, 16, 24)
    with pytest.raises(ValueError, match=r"multiples of"):
        net(torch.randn(1, 2, 16 + 2**depth // 2, 16)) if depth > 1 else net(torch.randn(1, 2, 15, 16))


def test_recon_starts_as_zero_filled_sense_pads_odd_sizes_and_is_scale_equivariant():
    torch.manual_seed(0)
    h, w = 18, 22
    net = UNetRecon((h, w), channels=4, depth=2, dtype=torch.complex128)
    y = torch.randn(2, 3, h, w, dtype=torch.complex128)
    maps = torch.randn(2, 3, h, w, dtype=torch.complex128)
    mask = torch.ones(1, 1, 1, w, dtype=torch.float64)
    zf = SenseOperator(maps, mask).adjoint(y)
    assert ((net(y, mask, maps) - zf).abs().max() / zf.abs().max()) <= 1e-12
    with torch.no_grad():
        net.unet.head.weight.normal_()
    out = net(y, mask, maps)
    assert out.shape == (2, h, w) and (out - zf).abs().max() > 1e-3 * zf.abs().max()
    assert torch.allclose(net(50 * y, mask, maps), 50 * out, rtol=1e-9, atol=1e-9)


def test_recon_learns_a_denoiser():
    torch.manual_seed(2)
    net = UNetRecon((16, 16), channels=8, depth=2)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    maps = torch.ones(4, 1, 16, 16, dtype=torch.complex64)
    clean = torch.zeros(4, 16, 16, dtype=torch.complex64)
    clean[:, 4:12, 4:12] = 1
    mask = torch.ones(1, 1, 1, 16)
    F = CenteredFFT2((16, 16))
    losses = []
    for _ in range(40):
        y = F(clean + 0.2 * torch.randn_like(clean)).unsqueeze(1)
        opt.zero_grad()
        loss = (net(y, mask, maps) - clean).abs().square().mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) < 0.7 * sum(losses[:5])
