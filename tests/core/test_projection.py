import pytest
import torch
from einops import rearrange

from monarch_sci.multiply import monarch_multiply, monarch_to_dense
from monarch_sci.plan import MonarchPlan, plan_equal_blocks, plan_monarch
from monarch_sci.projection import monarch_sub_blocks, project, sub_block_ranks

PLANS = {
    "square-classic": plan_monarch(16),
    "square-nblocks2": plan_monarch(64, nblocks=2),
    "equal-blocks-rank4": plan_equal_blocks(64, nblocks=4),
    "equal-blocks-uneven-ranks": plan_equal_blocks(12, nblocks=3),
    "rect-mixing": plan_monarch(48, 100),
    "rect-rank2": MonarchPlan.from_shapes((4, 6, 4), (3, 5, 8)),  # 5×4 sub-blocks of rank 2
    "zero-rank-blocks": MonarchPlan.from_shapes((4, 1, 3), (2, 3, 2)),
}
DTYPES = [torch.float64, torch.complex128]


def _rel(a, b):
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize("name", PLANS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_projecting_a_monarch_matrix_returns_it(name, dtype):
    plan = PLANS[name]
    r, l = torch.randn(plan.r_shape, dtype=dtype), torch.randn(plan.l_shape, dtype=dtype)
    M = monarch_to_dense(r, l)
    r2, l2 = project(M, plan)
    assert r2.shape == plan.r_shape and l2.shape == plan.l_shape and r2.dtype == dtype
    assert _rel(monarch_to_dense(r2, l2), M) <= 1e-10


def test_uneven_and_zero_ranks_are_exercised():
    assert sub_block_ranks(PLANS["equal-blocks-uneven-ranks"]).unique().tolist() == [1, 2]
    assert (
        0
        in sub_block_ranks(PLANS["zero-rank-blocks"]).tolist()[0]
        + sub_block_ranks(PLANS["zero-rank-blocks"]).tolist()[1]
    )


@pytest.mark.parametrize("name", PLANS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_error_is_the_discarded_singular_values(name, dtype):
    # Eckart–Young per sub-block: ‖A − proj(A)‖² = Σ_{ja} Σ_{i > ρ_ja} σ_i(A_ja)².
    plan = PLANS[name]
    A = torch.randn(plan.n_out, plan.n_in, dtype=dtype)
    err2 = (A - monarch_to_dense(*project(A, plan))).norm() ** 2
    S = torch.linalg.svdvals(monarch_sub_blocks(A, plan))  # (l, k, m)
    keep = torch.arange(S.shape[-1]) < sub_block_ranks(plan)[..., None]
    expected = (S**2 * ~keep).sum()
    torch.testing.assert_close(err2, expected, rtol=1e-10, atol=1e-10)
    assert expected > 0.1 * A.norm() ** 2  # a random matrix is far from Monarch: the test has teeth


def test_batched_equals_looped():
    plan = PLANS["rect-rank2"]
    A = torch.randn(2, 3, plan.n_out, plan.n_in, dtype=torch.complex128)
    r, l = project(A, plan)
    assert r.shape == (2, 3, *plan.r_shape) and l.shape == (2, 3, *plan.l_shape)
    for i in range(2):
        for j in range(3):
            ri, li = project(A[i, j], plan)
            torch.testing.assert_close(monarch_to_dense(r[i, j], l[i, j]), monarch_to_dense(ri, li))


def test_default_plan_and_nblocks():
    A = torch.randn(36, 36, dtype=torch.float64)
    r, l = project(A)
    assert r.shape == (6, 6, 6)
    r, l = project(A, nblocks=3)
    assert r.shape == (3, 12, 12) and l.shape == (12, 3, 3)


def test_padded_plan_keeps_the_corner_exact():
    plan = plan_monarch(13, 7, pad=True)
    assert plan.padded
    r, l = torch.randn(plan.r_shape, dtype=torch.float64), torch.randn(plan.l_shape, dtype=torch.float64)
    W = monarch_to_dense(r, l)[:7, :13]
    # A corner of a Monarch matrix is not in general the corner of the projection of its zero padding, but
    # the projection of the zero padding is never worse than zero and is exact on Monarch inputs.
    W_pad = torch.zeros(plan.n_out, plan.n_in, dtype=torch.float64)
    W_pad[:7, :13] = W
    r2, l2 = project(W, plan)
    torch.testing.assert_close(monarch_to_dense(r2, l2), monarch_to_dense(*project(W_pad, plan)))
    M = monarch_to_dense(r, l)
    M[7:] = 0
    M[:, 13:] = 0
    if (sub_block_ranks(plan) >= 1).all():
        r3, l3 = project(M[:7, :13], plan)
        assert _rel(monarch_to_dense(r3, l3)[:7, :13], W) < 1.0


@pytest.fixture
def one_thread():
    # Hundreds of tiny multiplies: OpenMP threads only add contention on a shared machine.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _dense(r, l, eye):
    # M = (M·I)ᵀᵀ through the fast multiply: cheaper per step than building block-diagonal matrices.
    return monarch_multiply(eye, r, l).T


def _fit_by_gradient_descent(A, plan, seed, steps=60):
    eye = torch.eye(plan.n_in, dtype=A.dtype)
    g = torch.Generator().manual_seed(seed)
    r = torch.randn(plan.r_shape, generator=g, dtype=A.dtype).requires_grad_()
    l = torch.randn(plan.l_shape, generator=g, dtype=A.dtype).requires_grad_()
    opt = torch.optim.LBFGS([r, l], lr=1, max_iter=steps, tolerance_grad=1e-12, tolerance_change=1e-14)

    def closure():
        opt.zero_grad()
        loss = (_dense(r, l, eye) - A).abs().pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return (monarch_to_dense(r, l) - A).norm().item()


@pytest.mark.parametrize("name", ["square-classic", "equal-blocks-uneven-ranks", "rect-rank2"])
def test_gradient_descent_never_beats_the_projection(name, one_thread):
    plan = PLANS[name]
    A = torch.randn(plan.n_out, plan.n_in, dtype=torch.float64)
    best = (A - monarch_to_dense(*project(A, plan))).norm().item()
    fitted = [_fit_by_gradient_descent(A, plan, seed) for seed in range(3)]
    assert min(fitted) >= best * (1 - 1e-9)
    # and it gets close, so the comparison is meaningful (not a broken optimiser losing by a mile)
    assert min(fitted) <= best * 1.05


@pytest.mark.slow
@pytest.mark.parametrize("plan", [plan_monarch(64), plan_equal_blocks(64, nblocks=2), plan_monarch(24, 40)])
def test_gradient_descent_never_beats_the_projection_larger(plan, one_thread):
    A = torch.randn(plan.n_out, plan.n_in, dtype=torch.float64)
    best = (A - monarch_to_dense(*project(A, plan))).norm().item()
    fitted = [_fit_by_gradient_descent(A, plan, seed, steps=500) for seed in range(5)]
    assert min(fitted) >= best * (1 - 1e-9)
    assert min(fitted) <= best * 1.01


def test_gradient_descent_complex_adam(one_thread):
    plan = PLANS["square-classic"]
    A = torch.randn(plan.n_out, plan.n_in, dtype=torch.complex128)
    best = (A - monarch_to_dense(*project(A, plan))).norm().item()
    for seed in range(2):
        g = torch.Generator().manual_seed(seed)
        r = torch.randn(plan.r_shape, generator=g, dtype=A.dtype).requires_grad_()
        l = torch.randn(plan.l_shape, generator=g, dtype=A.dtype).requires_grad_()
        opt = torch.optim.Adam([r, l], lr=0.02)
        eye = torch.eye(plan.n_in, dtype=A.dtype)
        for _ in range(200):
            opt.zero_grad()
            loss = (_dense(r, l, eye) - A).abs().pow(2).sum()
            loss.backward()
            opt.step()
            assert loss.item() ** 0.5 >= best * (1 - 1e-9)


def test_projection_does_not_track_gradients():
    A = torch.randn(16, 16, dtype=torch.float64, requires_grad=True)
    r, l = project(A)
    assert not r.requires_grad and not l.requires_grad


@pytest.mark.parametrize(
    "n,kwargs",
    [
        (48, {}),
        (64, {"norm": "ortho"}),
        (60, {"nblocks": 3}),
        (100, {"inverse": True, "norm": "forward"}),
        (16, {"centered": True, "norm": "ortho"}),
    ],
)
def test_permuted_dft_projects_exactly(n, kwargs):
    dft = pytest.importorskip("monarch_sci.dft")
    F = dft.MonarchDFT(n, dtype=torch.complex128, **kwargs)
    D = F.to_dense()
    assert F.out_index is None or kwargs.get("centered")
    # to_dense() = M · G_in with G_in[i, in_index[i]] = 1, so undoing the gather gives M = D[:, in_index].
    M = D[:, F.in_index]
    if F.out_index is not None:  # centred: undo the output gather as well (out = y[out_index])
        M = M[torch.argsort(F.out_index)]
    plan = MonarchPlan.from_shapes(tuple(F.r_blocks.shape), tuple(F.l_blocks.shape))
    r, l = project(M, plan)
    assert _rel(monarch_to_dense(r, l), M) <= 1e-10
    # while the DFT itself, unpermuted, is far from this Monarch structure
    if n == 48:
        assert _rel(monarch_to_dense(*project(D, plan)), D) > 0.1


def test_sub_blocks_layout():
    plan = MonarchPlan.from_shapes((3, 2, 4), (2, 5, 3))
    A = torch.arange(plan.n_out * plan.n_in, dtype=torch.float64).reshape(plan.n_out, plan.n_in)
    B = monarch_sub_blocks(A, plan)
    assert B.shape == (2, 3, 5, 4)
    # entry [j, a, e, b] is A[e·l + j, a·p + b]
    assert B[1, 2, 3, 1] == A[3 * 2 + 1, 2 * 4 + 1]
    assert torch.equal(rearrange(B, "j a e b -> (e j) (a b)"), A)


def test_bad_input():
    with pytest.raises(TypeError, match=r"project: dense must be a torch.Tensor, got list"):
        project([[1.0]])
    with pytest.raises(TypeError, match=r"project: dense must have a floating or complex dtype, got torch.int64"):
        project(torch.ones(16, 16, dtype=torch.long))
    with pytest.raises(ValueError, match=r"project: dense must have shape \(\*batch, n_out, n_in\), got \(16,\)"):
        project(torch.ones(16))
    with pytest.raises(ValueError, match=r"dense has matrix shape \(16, 12\) but the plan expects \(16, 16\)"):
        project(torch.ones(16, 12), plan_monarch(16))
    with pytest.raises(TypeError, match=r"plan must be a MonarchPlan or None, got tuple"):
        project(torch.ones(16, 16), (4, 4, 4))
    with pytest.raises(ValueError, match=r"either plan or nblocks"):
        project(torch.ones(16, 16), plan_monarch(16), nblocks=4)
    with pytest.raises(ValueError, match=r"in_features=13 has no useful factorisation"):
        project(torch.ones(13, 13))
