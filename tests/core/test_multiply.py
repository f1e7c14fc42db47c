import pytest
import torch

from monarch_sci.multiply import monarch_adjoint, monarch_multiply, monarch_to_dense

SHAPES = [
    # (k, q, p), (l, s, r)
    ((4, 4, 4), (4, 4, 4)),  # square classic
    ((2, 8, 8), (8, 2, 2)),  # square, nblocks != sqrt(n)
    ((3, 5, 4), (5, 7, 3)),  # rectangular, fully mixing
    ((4, 6, 2), (3, 5, 8)),  # rectangular, rank-2 sub-blocks
]
DTYPES = [torch.float64, torch.complex128]


def _rand(shape, dtype):
    return torch.randn(*shape, dtype=dtype)


@pytest.mark.parametrize("rs,ls", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_multiply_matches_dense(rs, ls, dtype):
    r, l = _rand(rs, dtype), _rand(ls, dtype)
    M = monarch_to_dense(r, l)
    x = _rand((2, 3, rs[0] * rs[2]), dtype)
    torch.testing.assert_close(monarch_multiply(x, r, l), x @ M.T, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("rs,ls", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_adjoint_matches_dense(rs, ls, dtype):
    r, l = _rand(rs, dtype), _rand(ls, dtype)
    M = monarch_to_dense(r, l)
    y = _rand((5, ls[0] * ls[1]), dtype)
    torch.testing.assert_close(monarch_adjoint(y, r, l), y @ M.conj(), rtol=1e-12, atol=1e-12)


def test_square_classic_is_PtLPR():
    # For square blocks M = Pᵀ L P R with P the reshape-transpose permutation of a (m, m) grid.
    m = 3
    r, l = _rand((m, m, m), torch.float64), _rand((m, m, m), torch.float64)
    P = torch.eye(m * m, dtype=torch.float64).reshape(m, m, m * m).transpose(0, 1).reshape(m * m, m * m)
    expected = P.T @ torch.block_diag(*l) @ P @ torch.block_diag(*r)
    torch.testing.assert_close(monarch_to_dense(r, l), expected)
