"""The GPU path: every piece run on CUDA agrees with a CPU float64 reference (``pytest -m gpu``).

All tests carry the ``gpu`` marker and are skipped when CUDA is not available, so the default CPU suite
collects them and reports them as skipped (nothing is deselected). ``benchmarks/gpu_check.py`` runs them.

Tolerances: the CUDA computation runs in the precision stated per test (float32/complex64 unless said
otherwise, TF32 off — see ``tests/conftest.py``) and is compared with the same computation in float64 on the CPU,
relative to the reference's norm.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from monarch_sci.dft import MonarchDFT, MonarchDFT2d
from monarch_sci.multiply import monarch_adjoint, monarch_multiply, monarch_to_dense
from monarch_sci.projection import project

ROOT = Path(__file__).resolve().parents[1]


def gpu(test):
    """Marker ``gpu`` plus a skip without CUDA: the CPU suite collects and skips these tests."""
    skip = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (run `pytest -m gpu` on a GPU machine)")
    return pytest.mark.gpu(skip(test))


CUDA = "cuda"


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """``‖a − b‖ / ‖b‖`` with ``a`` brought to ``b``'s device and dtype."""
    b = b.detach()
    a = a.detach().to(device=b.device, dtype=b.dtype)
    return float((a - b).norm() / b.norm())


@gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.complex64])
def test_multiply_and_adjoint_match_cpu_float64(dtype):
    g = torch.Generator().manual_seed(1)
    wide = torch.complex128 if dtype.is_complex else torch.float64
    r = torch.randn(8, 6, 5, generator=g, dtype=wide)
    l_ = torch.randn(4, 7, 12, generator=g, dtype=wide)
    x = torch.randn(33, 40, generator=g, dtype=wide)
    y = torch.randn(33, 28, generator=g, dtype=wide)
    dense = monarch_to_dense(r, l_)
    ref_y, ref_x = x @ dense.T, y @ dense.conj()
    rc, lc, xc, yc = (t.to(device=CUDA, dtype=dtype) for t in (r, l_, x, y))
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    assert rel(monarch_multiply(xc, rc, lc), ref_y) < tol
    assert rel(monarch_adjoint(yc, rc, lc), ref_x) < tol


@gpu
def test_multiply_gradients_match_cpu_float64():
    g = torch.Generator().manual_seed(2)
    r = torch.randn(4, 4, 4, generator=g, dtype=torch.float64)
    l_ = torch.randn(4, 4, 4, generator=g, dtype=torch.float64)
    x = torch.randn(10, 16, generator=g, dtype=torch.float64)
    gy = torch.randn(10, 16, generator=g, dtype=torch.float64)

    def grads(device, dtype):
        ts = [t.to(device=device, dtype=dtype).requires_grad_(True) for t in (x, r, l_)]
        monarch_multiply(*ts).backward(gy.to(device=device, dtype=dtype))
        return [t.grad for t in ts]

    for got, want in zip(grads(CUDA, torch.float32), grads("cpu", torch.float64), strict=True):
        assert rel(got, want) < 1e-5


@gpu
def test_monarch_dft_matches_fft_float64():
    x = torch.randn(6, 48, dtype=torch.complex128)
    ref = torch.fft.fft(x, norm="ortho")
    dft = MonarchDFT(48, norm="ortho", dtype=torch.complex64, device=CUDA)
    assert rel(dft(x.to(device=CUDA, dtype=torch.complex64)), ref) < 1e-5
    dft2 = MonarchDFT2d((16, 12), norm="ortho", centered=True, dtype=torch.complex64, device=CUDA)
    img = torch.randn(3, 16, 12, dtype=torch.complex128)
    ref2 = torch.fft.fftshift(torch.fft.fft2(torch.fft.ifftshift(img, dim=(-2, -1)), norm="ortho"), dim=(-2, -1))
    assert rel(dft2(img.to(device=CUDA, dtype=torch.complex64)), ref2) < 1e-5


@gpu
def test_projection_on_cuda_matches_cpu_float64():
    g = torch.Generator().manual_seed(3)
    a = torch.randn(16, 16, generator=g, dtype=torch.float64)
    r_cpu, l_cpu = project(a)
    r_gpu, l_gpu = project(a.to(CUDA))
    assert r_gpu.device.type == "cuda"
    # The factors are defined up to per-block gauge; the projected matrix is unique.
    assert rel(monarch_to_dense(r_gpu, l_gpu), monarch_to_dense(r_cpu, l_cpu)) < 1e-10


@gpu
@pytest.mark.parametrize("transform", ["fft", "monarch"])
def test_fno_forward_and_gradient_match_cpu_float64(transform):
    from monarch_sci.operators.pde.fno import FNO2d

    torch.manual_seed(0)
    ref_model = FNO2d(4, 4, 8, size=(16, 16), fourier=transform, dtype=torch.float64)
    model = FNO2d(4, 4, 8, size=(16, 16), fourier=transform, dtype=torch.float32, device=CUDA)
    with torch.no_grad():
        for p_gpu, p_ref in zip(model.parameters(), ref_model.parameters(), strict=True):
            p_gpu.copy_(p_ref.to(device=CUDA, dtype=p_gpu.dtype))
    x = torch.randn(2, 16, 16, 10, dtype=torch.float64)
    ref = ref_model.rollout(x, 2)
    out = model.rollout(x.to(device=CUDA, dtype=torch.float32), 2)
    assert out.device.type == "cuda"
    assert rel(out, ref) < 1e-4
    ref.square().mean().backward()
    out.square().mean().backward()
    for p_gpu, p_ref in zip(model.parameters(), ref_model.parameters(), strict=True):
        if p_ref.grad is None:  # a parameter the loss does not reach
            assert p_gpu.grad is None
        else:
            assert rel(p_gpu.grad, p_ref.grad) < 1e-3


@gpu
@pytest.mark.parametrize("fourier", ["fft", "monarch"])
def test_sense_and_cg_sense_match_cpu_float64(fourier):
    from monarch_sci.operators.mri.classical import cg_sense
    from monarch_sci.operators.mri.sense import SenseOperator

    g = torch.Generator().manual_seed(4)
    maps = torch.randn(2, 4, 16, 12, generator=g, dtype=torch.complex128)
    maps = maps / maps.abs().square().sum(1, keepdim=True).sqrt()
    mask = (torch.rand(2, 1, 1, 12, generator=g) < 0.5).double()
    mask[..., 6] = 1
    x = torch.randn(2, 16, 12, generator=g, dtype=torch.complex128)
    ref_op = SenseOperator(maps, mask, fourier=fourier, learn="none")
    op = SenseOperator(maps.to(CUDA, torch.complex64), mask.to(CUDA, torch.float32), fourier=fourier, learn="none")
    xc = x.to(CUDA, torch.complex64)
    with torch.no_grad():
        assert rel(op(xc), ref_op(x)) < 1e-5
        assert rel(op.adjoint(op(xc)), ref_op.adjoint(ref_op(x))) < 1e-5
    y = ref_op(x).detach()
    ref_img, _ = cg_sense(y, maps, mask, max_iter=20, fourier=fourier)
    img, res = cg_sense(
        y.to(CUDA, torch.complex64), maps.to(CUDA, torch.complex64), mask.to(CUDA), max_iter=20, fourier=fourier
    )
    assert img.device.type == "cuda"
    assert rel(img, ref_img) < 1e-3


def test_gpu_check_without_gpu_exits_nonzero_with_one_line():
    """Not a GPU test: with CUDA hidden the prepared script refuses in one line, with a non-zero status."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--out", os.devnull],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and "Warning" not in ln and "warn(" not in ln]
    assert len(lines) == 1 and "no CUDA device" in lines[0], proc.stderr
