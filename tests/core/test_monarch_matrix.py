import pytest
import torch

from monarch_sci.linop import OPERATOR_REGISTRY
from monarch_sci.monarch_matrix import MonarchMatrix
from monarch_sci.multiply import monarch_to_dense
from monarch_sci.plan import MonarchPlan, plan_equal_blocks, plan_monarch
from monarch_sci.projection import project


def test_is_registered():
    assert {"MonarchMatrix", "MonarchMatrix-rect-rank2", "MonarchMatrix-real"} <= set(OPERATOR_REGISTRY)


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_forward_adjoint_match_dense(dtype):
    r, l = torch.randn(4, 6, 4, dtype=dtype), torch.randn(3, 5, 8, dtype=dtype)
    A = MonarchMatrix(r, l)
    assert (A.ishape, A.oshape) == ((16,), (15,))
    M = monarch_to_dense(r, l)
    torch.testing.assert_close(A.to_dense(), M)
    x, y = torch.randn(2, 16, dtype=dtype), torch.randn(2, 15, dtype=dtype)
    torch.testing.assert_close(A(x), x @ M.T, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(A.adjoint(y), y @ M.conj(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(A.H(y), y @ M.conj(), rtol=1e-12, atol=1e-12)


def test_factors_are_parameters_and_copies():
    r, l = torch.randn(4, 4, 4), torch.randn(4, 4, 4)
    A = MonarchMatrix(r, l)
    assert [n for n, _ in A.named_parameters()] == ["r_blocks", "l_blocks"]
    with torch.no_grad():
        A.r_blocks.zero_()
    assert r.abs().sum() > 0  # the caller's tensor is untouched


def test_from_dense_is_the_projection():
    D = torch.randn(64, 64, dtype=torch.float64)
    A = MonarchMatrix.from_dense(D, plan_equal_blocks(64, nblocks=4))
    torch.testing.assert_close(A.to_dense(), monarch_to_dense(*project(D, plan_equal_blocks(64, nblocks=4))))
    with pytest.raises(ValueError, match=r"from_dense: expected a \(n_out, n_in\) matrix, got \(2, 16, 16\)"):
        MonarchMatrix.from_dense(torch.randn(2, 16, 16))


def test_random_has_linear_scale_and_reset_redraws():
    A = MonarchMatrix.random(plan_monarch(256), dtype=torch.float64)
    assert abs(A.to_dense().var().item() * 3 * 256 - 1) < 0.2
    before = A.r_blocks.detach().clone()
    A.reset_parameters()
    assert not torch.equal(before, A.r_blocks)
    C = MonarchMatrix.random(MonarchPlan.from_shapes((2, 3, 2), (3, 2, 2)), dtype=torch.complex64)
    assert C.r_blocks.dtype == torch.complex64
    with pytest.raises(TypeError, match=r"MonarchMatrix.random: dtype must be floating or complex, got torch.int64"):
        MonarchMatrix.random(plan_monarch(16), dtype=torch.int64)


def test_bad_input():
    with pytest.raises(ValueError, match=r"MonarchMatrix: factor shapes do not chain"):
        MonarchMatrix(torch.randn(4, 4, 4), torch.randn(3, 4, 4))
    with pytest.raises(
        TypeError, match=r"MonarchMatrix: r_blocks must have a floating or complex dtype, got torch.int64"
    ):
        MonarchMatrix(torch.ones(4, 4, 4, dtype=torch.long), torch.ones(4, 4, 4, dtype=torch.long))
    with pytest.raises(TypeError, match=r"MonarchMatrix: r_blocks and l_blocks must share a dtype"):
        MonarchMatrix(torch.randn(4, 4, 4), torch.randn(4, 4, 4, dtype=torch.float64))
    with pytest.raises(
        ValueError, match=r"MonarchMatrix: r_blocks and l_blocks must be on one device, got cpu and meta"
    ):
        MonarchMatrix(torch.randn(4, 4, 4), torch.empty(4, 4, 4, device="meta"))
    A = MonarchMatrix(torch.randn(4, 6, 4, dtype=torch.float64), torch.randn(3, 5, 8, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"MonarchMatrix: expected input of shape \(\*batch, 16\), got \(2, 15\)"):
        A(torch.randn(2, 15, dtype=torch.float64))
    with pytest.raises(
        ValueError, match=r"MonarchMatrix: expected adjoint input of shape \(\*batch, 15\), got \(16,\)"
    ):
        A.adjoint(torch.randn(16, dtype=torch.float64))
    with pytest.raises(TypeError, match=r"MonarchMatrix: expected input of dtype torch.float64, got torch.complex128"):
        A(torch.randn(16, dtype=torch.complex128))
    with pytest.raises(ValueError, match=r"MonarchMatrix: input is on meta but the factors are on cpu"):
        A(torch.empty(16, dtype=torch.float64, device="meta"))
