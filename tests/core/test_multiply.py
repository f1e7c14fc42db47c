"""The fast Monarch multiply and its adjoint against the dense twin ``monarch_to_dense``: values and gradients."""

import re

import pytest
import torch

import monarch_sci.multiply as multiply_mod
from monarch_sci.multiply import monarch_adjoint, monarch_multiply, monarch_to_dense

SHAPES = [
    # (k, q, p), (l, s, r)
    ((4, 4, 4), (4, 4, 4)),  # square classic
    ((2, 8, 8), (8, 2, 2)),  # square, nblocks != sqrt(n), q != l (intermediate straddles blocks)
    ((3, 5, 4), (5, 7, 3)),  # rectangular, fully mixing
    ((4, 6, 2), (3, 5, 8)),  # rectangular, rank-2 sub-blocks (q = 2l)
    ((3, 4, 2), (6, 3, 2)),  # rectangular, q and l not multiples of each other
]
IDS = ["square", "square-2blocks", "rect", "rect-rank2", "rect-straddle"]
EXACT = [torch.float64, torch.complex128]


def _rand(shape, dtype):
    return torch.randn(*shape, dtype=dtype)


@pytest.fixture(params=["one-chunk", "many-chunks"])
def chunking(request, monkeypatch):
    """Run each test with the default chunk size and with tiny chunks (several, the last one partial)."""
    if request.param == "many-chunks":
        monkeypatch.setattr(multiply_mod, "_CHUNK_BYTES", 1)
        monkeypatch.setattr(multiply_mod, "_MIN_CHUNK", 4)  # -> 4 rows per chunk
    return request.param


@pytest.mark.parametrize("rs,ls", SHAPES, ids=IDS)
@pytest.mark.parametrize("dtype", EXACT)
def test_multiply_and_adjoint_match_dense(rs, ls, dtype, chunking):
    r, l = _rand(rs, dtype), _rand(ls, dtype)
    M = monarch_to_dense(r, l)
    x = _rand((3, 7, rs[0] * rs[2]), dtype)  # 21 rows: 6 chunks of 4, the last partial
    torch.testing.assert_close(monarch_multiply(x, r, l), x @ M.T, rtol=1e-12, atol=1e-12)
    y = _rand((21, ls[0] * ls[1]), dtype)
    torch.testing.assert_close(monarch_adjoint(y, r, l), y @ M.conj(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("rs,ls", SHAPES, ids=IDS)
@pytest.mark.parametrize("dtype", EXACT)
@pytest.mark.parametrize("op", ["multiply", "adjoint"])
def test_gradients_match_dense(rs, ls, dtype, op, chunking):
    r0, l0 = _rand(rs, dtype), _rand(ls, dtype)
    n_in, n_out = rs[0] * rs[2], ls[0] * ls[1]
    n_arg, n_res = (n_in, n_out) if op == "multiply" else (n_out, n_in)
    x0, g = _rand((2, 9, n_arg), dtype), _rand((2, 9, n_res), dtype)

    def run(fast):
        x, r, l = (t.clone().requires_grad_(True) for t in (x0, r0, l0))
        if fast:
            y = (monarch_multiply if op == "multiply" else monarch_adjoint)(x, r, l)
        else:
            M = monarch_to_dense(r, l)
            y = x @ M.T if op == "multiply" else x @ M.conj()
        y.backward(g)
        return y.detach(), x.grad, r.grad, l.grad

    for got, want in zip(run(True), run(False)):
        torch.testing.assert_close(got, want, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("rs,ls", [((3, 3, 3), (3, 3, 3)), ((3, 4, 2), (6, 3, 2))], ids=["square", "rect-straddle"])
@pytest.mark.parametrize("fn", [monarch_multiply, monarch_adjoint], ids=["multiply", "adjoint"])
def test_gradcheck_complex128(rs, ls, fn, chunking):
    r = _rand(rs, torch.complex128).requires_grad_(True)
    l = _rand(ls, torch.complex128).requires_grad_(True)
    n = rs[0] * rs[2] if fn is monarch_multiply else ls[0] * ls[1]
    x = _rand((5, n), torch.complex128).requires_grad_(True)  # 2 chunks with "many-chunks"
    assert torch.autograd.gradcheck(fn, (x, r, l))


@pytest.mark.parametrize("rs,ls", [((2, 2, 2), (2, 2, 2)), ((3, 2, 1), (2, 2, 3))], ids=["square", "rect"])
@pytest.mark.parametrize("fn", [monarch_multiply, monarch_adjoint], ids=["multiply", "adjoint"])
def test_gradgradcheck_complex128(rs, ls, fn):
    r = _rand(rs, torch.complex128).requires_grad_(True)
    l = _rand(ls, torch.complex128).requires_grad_(True)
    n = rs[0] * rs[2] if fn is monarch_multiply else ls[0] * ls[1]
    x = _rand((2, n), torch.complex128).requires_grad_(True)
    assert torch.autograd.gradgradcheck(fn, (x, r, l))


@pytest.mark.parametrize("fn", [monarch_multiply, monarch_adjoint], ids=["multiply", "adjoint"])
def test_create_graph_gradients_equal_fast_gradients(fn, chunking):
    # The differentiable (create_graph) backward and the fast chunked backward give the same first derivatives.
    rs, ls = (3, 4, 2), (6, 3, 2)
    n_arg, n_res = (6, 18) if fn is monarch_multiply else (18, 6)
    x0, r0, l0 = _rand((13, n_arg), torch.complex128), _rand(rs, torch.complex128), _rand(ls, torch.complex128)
    g = _rand((13, n_res), torch.complex128)
    grads = []
    for create_graph in (False, True):
        x, r, l = (t.clone().requires_grad_(True) for t in (x0, r0, l0))
        grads.append(torch.autograd.grad(fn(x, r, l), (x, r, l), g, create_graph=create_graph))
    for fast, graph in zip(*grads):
        torch.testing.assert_close(fast, graph.detach(), rtol=1e-12, atol=1e-12)


def test_adjoint_dot_product_identity():
    r, l = _rand((3, 4, 2), torch.complex128), _rand((6, 3, 2), torch.complex128)
    x, y = _rand((5, 6), torch.complex128), _rand((5, 18), torch.complex128)
    lhs = torch.vdot(monarch_multiply(x, r, l).flatten(), y.flatten())
    rhs = torch.vdot(x.flatten(), monarch_adjoint(y, r, l).flatten())
    assert abs(lhs - rhs) <= 1e-12 * abs(lhs)


@pytest.mark.parametrize(
    "layout", ["transposed", "sliced", "expanded", "conj-view", "vector", "empty-batch", "real-into-complex"]
)
def test_input_layouts(layout, chunking):
    dtype = torch.complex128
    r, l = _rand((3, 5, 4), dtype), _rand((5, 7, 3), dtype)
    M = monarch_to_dense(r, l)
    if layout == "transposed":  # column-major rows
        x = _rand((12, 11), dtype).T
    elif layout == "sliced":  # row stride larger than the row
        x = _rand((11, 30), dtype)[:, 3:15]
    elif layout == "expanded":  # zero stride along the batch
        x = _rand((12,), dtype).expand(4, 11, 12)
    elif layout == "conj-view":
        x = _rand((11, 12), dtype).conj()
    elif layout == "vector":
        x = _rand((12,), dtype)
    elif layout == "empty-batch":
        x = _rand((0, 12), dtype)
    else:
        x = _rand((11, 12), torch.float64)
    want = x.to(dtype) @ M.T
    got = monarch_multiply(x, r, l)
    assert got.shape == want.shape and got.dtype == dtype
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    y = want.conj() if layout == "conj-view" else want
    torch.testing.assert_close(monarch_adjoint(y, r, l), y @ M.conj(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.complex64, torch.bfloat16])
def test_low_precision_against_float64_dense(dtype):
    # Tolerances follow the unit roundoff: 2⁻²⁴ (fp32) and 2⁻⁸ (bf16), times the sqrt of the sum length
    # and a safety margin, on relative Frobenius errors.
    tol = {torch.float32: 1e-5, torch.complex64: 1e-5, torch.bfloat16: 3e-2}[dtype]
    hi = torch.complex128 if dtype.is_complex else torch.float64
    r, l = _rand((8, 8, 8), dtype), _rand((8, 8, 8), dtype)
    x, g = _rand((40, 64), dtype).requires_grad_(True), _rand((40, 64), dtype)
    r.requires_grad_(True)
    l.requires_grad_(True)
    y = monarch_multiply(x, r, l)
    assert y.dtype == dtype
    y.backward(g)
    r64, l64, x64 = (t.detach().to(hi).requires_grad_(True) for t in (r, l, x))
    y64 = x64 @ monarch_to_dense(r64, l64).T
    y64.backward(g.to(hi))
    for got, want in ((y, y64), (x.grad, x64.grad), (r.grad, r64.grad), (l.grad, l64.grad)):
        assert got.dtype == dtype
        err = (got.detach().to(hi) - want.detach()).norm() / want.norm()
        assert err < tol, (dtype, float(err))
    v = monarch_adjoint(g, r.detach(), l.detach())
    v64 = g.to(hi) @ monarch_to_dense(r64, l64).detach().conj()
    assert v.dtype == dtype and (v.to(hi) - v64).norm() / v64.norm() < tol


def test_runs_on_meta_device():
    # No device is hard-coded: shape propagation on "meta" goes through the same kernels.
    r, l = torch.empty(3, 5, 4, device="meta"), torch.empty(5, 7, 3, device="meta")
    assert monarch_multiply(torch.empty(2, 6, 12, device="meta"), r, l).shape == (2, 6, 35)
    assert monarch_adjoint(torch.empty(9, 35, device="meta"), r, l).shape == (9, 12)


def test_square_classic_is_PtLPR():
    # For square blocks M = Pᵀ L P R with P the reshape-transpose permutation of a (m, m) grid.
    m = 3
    r, l = _rand((m, m, m), torch.float64), _rand((m, m, m), torch.float64)
    P = torch.eye(m * m, dtype=torch.float64).reshape(m, m, m * m).transpose(0, 1).reshape(m * m, m * m)
    expected = P.T @ torch.block_diag(*l) @ P @ torch.block_diag(*r)
    torch.testing.assert_close(monarch_to_dense(r, l), expected)


# --- bad input: every error names the object, what was expected and what arrived --------------------------


def _good():
    return torch.randn(3, 5, 4), torch.randn(5, 7, 3)


@pytest.mark.parametrize("fn", [monarch_multiply, monarch_adjoint], ids=["multiply", "adjoint"])
def test_wrong_last_dimension(fn):
    r, l = _good()
    n, arg = (12, "x") if fn is monarch_multiply else (35, "y")
    with pytest.raises(ValueError, match=rf"{fn.__name__}: expected {arg} of shape \(\*batch, {n}\), got \(2, 13\)"):
        fn(torch.randn(2, 13), r, l)
    with pytest.raises(ValueError, match=r"got \(\)"):
        fn(torch.tensor(1.0), r, l)


def test_mismatched_block_shapes():
    with pytest.raises(ValueError, match=r"r_blocks \(3, 5, 4\) gives k·q=15.*l_blocks \(4, 7, 3\) expects l·r=12"):
        monarch_multiply(torch.randn(2, 12), torch.randn(3, 5, 4), torch.randn(4, 7, 3))
    with pytest.raises(ValueError, match=r"l_blocks must have 3 nonzero dims .* got shape \(35, 3\)"):
        monarch_adjoint(torch.randn(2, 35), torch.randn(3, 5, 4), torch.randn(35, 3))
    with pytest.raises(ValueError, match=r"r_blocks must have 3 nonzero dims .* got shape \(0, 2, 2\)"):
        monarch_multiply(torch.randn(2, 0), torch.randn(0, 2, 2), torch.randn(0, 2, 2))


def test_non_floating_dtypes():
    r, l = _good()
    with pytest.raises(TypeError, match=re.escape("r_blocks must have a floating or complex dtype, got torch.int64")):
        monarch_multiply(torch.randn(2, 12), r.long(), l)
    with pytest.raises(
        TypeError,
        match=re.escape("monarch_multiply: expected x of dtype torch.float32, got torch.int32; cast it explicitly"),
    ):
        monarch_multiply(torch.ones(2, 12, dtype=torch.int32), r, l)
    with pytest.raises(TypeError, match=re.escape("monarch_multiply: x must be a torch.Tensor, got list")):
        monarch_multiply([1.0] * 12, r, l)


def test_mixed_dtypes_are_not_cast():
    r, l = _good()
    with pytest.raises(TypeError, match=re.escape("share a dtype, got torch.float32 and torch.float64")):
        monarch_multiply(torch.randn(2, 12), r, l.double())
    with pytest.raises(
        TypeError, match=re.escape("monarch_multiply: expected x of dtype torch.float32, got torch.float64")
    ):
        monarch_multiply(torch.randn(2, 12, dtype=torch.float64), r, l)
    # A real x is promoted only into complex factors of the same precision.
    with pytest.raises(
        TypeError,
        match=re.escape("monarch_adjoint: expected y of dtype torch.complex128 (or torch.float64), got torch.float32"),
    ):
        monarch_adjoint(torch.randn(2, 35), r.to(torch.complex128), l.to(torch.complex128))


def test_one_input_check_for_functions_and_modules():
    # check_operand is the check of monarch_multiply/monarch_adjoint and of the modules (re-exported there)
    from monarch_sci.monarch_matrix import check_operand as reexported

    assert reexported is multiply_mod.check_operand
    c = torch.randn(2, 2, 2, dtype=torch.complex128)
    x = torch.randn(3, 4, dtype=torch.complex128)
    assert multiply_mod.check_operand("f", x, 4, c) is x  # the same tensor when the dtype matches
    promoted = multiply_mod.check_operand("f", x.real, 4, c)  # the one exact promotion: real into complex
    assert promoted.dtype == torch.complex128 and torch.equal(promoted.real, x.real)
    with pytest.raises(TypeError, match=re.escape("f: expected v of dtype torch.float64, got torch.float32")):
        multiply_mod.check_operand("f", torch.randn(3, 4), 4, c.real, "v")


def test_factors_and_input_on_different_devices():
    r, l = _good()
    with pytest.raises(ValueError, match="must be on one device, got cpu and meta"):
        monarch_multiply(torch.randn(2, 12), r, l.to("meta"))
    with pytest.raises(ValueError, match="monarch_multiply: x is on meta but the factors are on cpu"):
        monarch_multiply(torch.randn(2, 12, device="meta"), r, l)
