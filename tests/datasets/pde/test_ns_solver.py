"""Navier–Stokes solver: analytic decay, convergence order in dt, zero mean, CFL refusal, downsampling."""

import math

import pytest
import torch

from monarch_sci.datasets.pde.grf import GaussianRandomField
from monarch_sci.datasets.pde.ns_solver import CFLError, NavierStokes2d, downsample_field, fno_forcing


def _grid(s):
    x = torch.arange(s, dtype=torch.float64) / s
    return x[:, None], x[None, :]


@pytest.mark.parametrize("integrator", ["heun-cn", "euler-cn"])
def test_taylor_green_decays_as_the_analytic_solution(integrator):
    # Any combination of modes with one |k| is a steady Euler flow (u·∇w = 0), so with f = 0 it decays as
    # exp(-4π²|k|²νt). The nonlinear term is still computed (and must cancel) — here |k|² = 5 with two modes.
    s, visc, T = 16, 1e-3, 0.5
    x1, x2 = _grid(s)
    w0 = torch.cos(2 * math.pi * (x1 + 2 * x2)) + 0.7 * torch.sin(2 * math.pi * (2 * x1 - x2))
    w0 = torch.stack([w0, -2.0 * w0])  # (2, s, s)
    solver = NavierStokes2d(s, visc=visc, dt=0.0025, integrator=integrator, dtype=torch.float64)
    w, t = solver(w0, T, record=2)
    for j in range(3):
        exact = w0 * math.exp(-visc * 4 * math.pi**2 * 5 * t[j].item())
        rel = ((w[:, j] - exact).norm() / exact.norm()).item()
        assert rel <= 1e-8, f"t={t[j].item()}: relative error {rel:.2e}"
    # The decay is visible (the test would fail for a solver that does nothing).
    assert (w[:, -1].norm() / w0.norm()).item() < 1 - 1e-3


def _final(w0, integrator, dt, T=0.4, s=16):
    solver = NavierStokes2d(s, visc=1e-2, dt=dt, integrator=integrator, forcing=fno_forcing(s), dtype=torch.float64)
    return solver(w0, T, record=1)[0][:, -1]


@pytest.mark.parametrize(("integrator", "order"), [("heun-cn", 2), ("euler-cn", 1)])
def test_time_step_convergence_has_the_scheme_order(integrator, order):
    w0 = 4.0 * GaussianRandomField().sample(16, seed=3, indices=range(2))  # strong enough to be nonlinear
    ref = _final(w0, "heun-cn", 0.4 / 512)
    errs = [((_final(w0, integrator, dt) - ref).norm() / ref.norm()).item() for dt in (0.4 / 16, 0.4 / 32, 0.4 / 64)]
    rates = [math.log2(errs[i] / errs[i + 1]) for i in range(2)]
    assert all(abs(r - order) < 0.25 for r in rates), f"{integrator}: errors {errs}, observed orders {rates}"


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_mean_vorticity_stays_zero_and_dtypes_agree(dtype):
    s = 32
    w0 = GaussianRandomField().sample(s, seed=11, indices=range(3))
    solver = NavierStokes2d(s, visc=1e-3, dt=0.02, forcing=fno_forcing(s), dtype=dtype)
    w, _ = solver(w0.to(dtype), 2.0, record=4)
    scale = w.abs().max().item()
    eps = torch.finfo(dtype).eps
    assert w.mean(dim=(-2, -1)).abs().max().item() <= 50 * eps * scale
    ref, _ = NavierStokes2d(s, visc=1e-3, dt=0.02, forcing=fno_forcing(s), dtype=torch.float64)(w0, 2.0, record=4)
    assert ((w.double() - ref).norm() / ref.norm()).item() <= 1e3 * eps
    assert (w[:, -1] - w[:, 0]).abs().max().item() > 1e-3 * scale  # it moved


def test_batch_and_single_sample_agree():
    s = 16
    w0 = GaussianRandomField().sample(s, seed=5, indices=range(3))
    solver = NavierStokes2d(s, visc=1e-3, dt=0.05, forcing=fno_forcing(s), dtype=torch.float64)
    batch, _ = solver(w0, 1.0, record=2)
    single, _ = solver(w0[1:2], 1.0, record=2)
    torch.testing.assert_close(batch[1:2], single, rtol=1e-12, atol=1e-12)


def test_cfl_violation_is_refused_with_a_usable_dt():
    s = 32
    w0 = 50.0 * GaussianRandomField().sample(s, seed=0, indices=[0])
    solver = NavierStokes2d(s, visc=1e-3, dt=0.05, cfl_max=0.5)
    with pytest.raises(CFLError, match=r"CFL number .* exceeds cfl_max=0.5 .* use dt <="):
        solver(w0, 1.0, record=1)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="not a whole number of steps"):
        NavierStokes2d(16, visc=1e-3, dt=0.03)(torch.zeros(1, 16, 16, dtype=torch.float64), 1.0, record=1)
    with pytest.raises(ValueError, match=r"expected w0 of shape \(B, 16, 16\)"):
        NavierStokes2d(16, visc=1e-3, dt=0.01)(torch.zeros(16, 16, dtype=torch.float64), 1.0, record=1)
    with pytest.raises(TypeError, match=r"dtype torch\.float64"):
        NavierStokes2d(16, visc=1e-3, dt=0.01)(torch.zeros(1, 16, 16), 1.0, record=1)
    with pytest.raises(ValueError, match="even grid size"):
        NavierStokes2d(15, visc=1e-3, dt=0.01)
    with pytest.raises(ValueError, match="integrator"):
        NavierStokes2d(16, visc=1e-3, dt=0.01, integrator="rk9")


def test_downsampling():
    s = 32
    x1, x2 = _grid(s)
    band_limited = torch.sin(2 * math.pi * (3 * x1 - 2 * x2)) + torch.cos(2 * math.pi * 5 * x2)  # (s, s)
    y1, y2 = _grid(16)
    exact = torch.sin(2 * math.pi * (3 * y1 - 2 * y2)) + torch.cos(2 * math.pi * 5 * y2) + 0 * y1
    torch.testing.assert_close(downsample_field(band_limited, 16, "subsample"), exact, rtol=0, atol=1e-13)
    torch.testing.assert_close(downsample_field(band_limited, 16, "spectral"), exact, rtol=0, atol=1e-13)
    # The spectral route removes what the coarse grid cannot hold; subsampling aliases it.
    high = torch.cos(2 * math.pi * 12 * x1) + 0 * x2  # (s, s)
    assert downsample_field(high, 16, "spectral").abs().max().item() < 1e-13
    assert downsample_field(high, 16, "subsample").abs().max().item() > 0.5
    with pytest.raises(ValueError, match="divide"):
        downsample_field(band_limited, 12, "subsample")
