"""Batched conjugate gradient against a dense solve; per-system convergence; λ; errors."""

import pytest
import torch

from monarch_sci.operators.mri.cg import conjugate_gradient


def spd_batch(B=4, n=12, dtype=torch.complex128, cond=50.0):
    q, _ = torch.linalg.qr(torch.randn(B, n, n, dtype=dtype))
    eig = torch.logspace(0, torch.log10(torch.tensor(cond)).item(), n, dtype=torch.float64)
    return q @ torch.diag_embed(eig.to(dtype)) @ q.mH


@pytest.mark.parametrize("dtype", [torch.complex128, torch.float64])
@pytest.mark.parametrize("lam", [0.0, 0.3])
def test_matches_dense_solve(dtype, lam):
    M = spd_batch(dtype=dtype)
    b = torch.randn(4, 3, 4, dtype=dtype)  # unknowns of shape (3, 4): ndim = 2

    def normal(x):
        return (M @ x.reshape(4, 12, 1)).reshape(4, 3, 4)

    res = conjugate_gradient(normal, b, lam=lam, max_iter=100, tol=1e-12)
    eye = torch.eye(12, dtype=dtype)
    ref = torch.linalg.solve(M + lam * eye, b.reshape(4, 12, 1)).reshape(4, 3, 4)
    assert ((res.x - ref).abs().norm() / ref.abs().norm()) <= 1e-10
    assert res.converged.all() and res.iterations <= 12 + 2  # exact arithmetic: ≤ n steps


def test_each_system_stops_on_its_own():
    # system 0 is the identity (one step), system 1 is ill-conditioned (many steps)
    M = torch.stack([torch.eye(30, dtype=torch.float64), spd_batch(1, 30, torch.float64, 1e4)[0]])
    b = torch.randn(2, 30, dtype=torch.float64)

    def normal(x):
        return (M @ x.unsqueeze(-1)).squeeze(-1)

    res = conjugate_gradient(normal, b, max_iter=200, tol=1e-10, ndim=1)
    assert res.converged.all() and res.iterations > 2
    assert torch.allclose(res.x[0], b[0], atol=1e-12)  # frozen after converging, not disturbed later
    assert torch.allclose(normal(res.x), b, atol=1e-8)


def test_warm_start_and_zero_rhs():
    M = spd_batch(2, 8)

    def normal(x):
        return (M @ x.unsqueeze(-1)).squeeze(-1)

    b = torch.randn(2, 8, dtype=torch.complex128)
    exact = torch.linalg.solve(M, b.unsqueeze(-1)).squeeze(-1)
    res = conjugate_gradient(normal, b, x0=exact, tol=1e-10, ndim=1)
    assert res.iterations == 0 and torch.equal(res.x, exact)
    zero = conjugate_gradient(normal, torch.zeros(2, 8, dtype=torch.complex128), ndim=1)
    assert zero.iterations == 0 and zero.x.abs().sum() == 0


def test_max_iter_reports_not_converged():
    M = spd_batch(1, 40, torch.float64, 1e6)
    b = torch.randn(1, 40, dtype=torch.float64)
    res = conjugate_gradient(lambda x: (M @ x.unsqueeze(-1)).squeeze(-1), b, max_iter=3, tol=1e-12, ndim=1)
    assert res.iterations == 3 and not res.converged.any() and res.residual.item() > 1e-12


def test_differentiable():
    M = spd_batch(1, 6, torch.float64)
    b = torch.randn(1, 6, dtype=torch.float64, requires_grad=True)
    res = conjugate_gradient(lambda x: (M @ x.unsqueeze(-1)).squeeze(-1), b, max_iter=50, tol=1e-14, ndim=1)
    res.x.sum().backward()
    ref = torch.linalg.solve(M[0].T, torch.ones(6, dtype=torch.float64))  # d(1ᵀM⁻¹b)/db = M⁻ᵀ1
    assert torch.allclose(b.grad[0], ref, atol=1e-8)


def test_errors():
    b = torch.randn(2, 3)
    with pytest.raises(ValueError, match="lam must be >= 0"):
        conjugate_gradient(lambda x: x, b, lam=-1.0)
    with pytest.raises(ValueError, match=r"ndim must be in \[1, 2\]"):
        conjugate_gradient(lambda x: x, b, ndim=3)
    with pytest.raises(ValueError, match=r"x0 shape \(3,\) must equal b's \(2, 3\)"):
        conjugate_gradient(lambda x: x, b, x0=torch.zeros(3))


def test_float32_with_tol_zero_stops_at_rounding_level_instead_of_diverging():
    # tol = 0 ("run max_iter iterations") once drove the float32 recursion past rounding: its squared residual
    # norms underflowed and x became inf/NaN after a few hundred iterations
    g = torch.Generator().manual_seed(0)
    Q, _ = torch.linalg.qr(torch.randn(40, 40, generator=g, dtype=torch.float64))
    M = (Q * torch.logspace(-2, 0, 40, dtype=torch.float64)) @ Q.T
    b = 1e-4 * torch.randn(3, 40, generator=g, dtype=torch.float64)
    exact = torch.linalg.solve(M, b.T).T
    M32, b32 = M.float(), b.float()
    res = conjugate_gradient(lambda x: x @ M32.T, b32, max_iter=3000, tol=0.0, ndim=1)
    assert torch.isfinite(res.x).all() and torch.isfinite(res.residual).all() and res.iterations < 3000
    # (before: residuals of 2e22 and inf after 1654 iterations)
    assert ((res.x.double() - exact).norm() / exact.norm()).item() < 1e-4
    assert (res.residual <= torch.finfo(torch.float32).eps).all()
