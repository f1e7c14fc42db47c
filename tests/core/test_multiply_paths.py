"""Every kernel behind ``monarch_multiply`` (``path=``) against the dense twin: values and gradients.

The two-``bmm`` path (fly's structure, the CUDA default without Triton) runs anywhere. The fused Triton kernels
run on CUDA, or on this CPU in Triton's interpreter (``TRITON_INTERPRET=1``, set here before the kernels are
imported when no GPU is present); they are skipped when Triton is not installed (``pip install '.[triton]'``).
"""

from __future__ import annotations

import importlib.util
import os

import pytest
import torch

from monarch_sci.multiply import monarch_multiply, monarch_to_dense, multiply_path

HAS_TRITON = importlib.util.find_spec("triton") is not None
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
if HAS_TRITON and DEVICE == "cpu":
    os.environ.setdefault("TRITON_INTERPRET", "1")  # read when the kernels are defined (first import)
needs_triton = pytest.mark.skipif(not HAS_TRITON, reason="Triton not installed (pip install 'monarch-sci[triton]')")

SHAPES = [  # (k, q, p), (l, s, r)
    ((4, 4, 4), (4, 4, 4)),  # square classic
    ((3, 5, 4), (5, 7, 3)),  # rectangular, fully mixing
    ((2, 8, 8), (8, 2, 2)),  # square, 2 blocks of 8×8 in R, 8 of 2×2 in L
    ((3, 4, 2), (6, 3, 2)),  # q != l (the intermediate straddles blocks): not fully mixing, bmm only
]
IDS = ["square", "rect", "square-2blocks", "rect-straddle"]
MIXING = SHAPES[:3]
EXACT = [torch.float64, torch.complex128]


def _case(rs, ls, dtype, batch=(3, 13), device="cpu", seed=0):
    g = torch.Generator().manual_seed(seed)
    r = torch.randn(rs, dtype=dtype, generator=g)
    l = torch.randn(ls, dtype=dtype, generator=g)
    x = torch.randn(*batch, rs[0] * rs[2], dtype=dtype, generator=g)
    gy = torch.randn(*batch, ls[0] * ls[1], dtype=dtype, generator=g)
    return tuple(t.to(device) for t in (x, r, l, gy))


def _values_and_grads(x0, r0, l0, gy, path, need=(True, True, True)):
    x, r, l = (t.clone().requires_grad_(w) for t, w in zip((x0, r0, l0), need))
    if path == "dense":
        y = x @ monarch_to_dense(r, l).T
    else:
        y = monarch_multiply(x, r, l, path=path)
    y.backward(gy)
    return y.detach(), x.grad, r.grad, l.grad


def _wide(t):
    return t.detach().cpu().to(torch.complex128 if t.is_complex() else torch.float64)


def _assert_match(path, x, r, l, gy, tol, need=(True, True, True)):
    got = _values_and_grads(x, r, l, gy, path, need)
    want = _values_and_grads(*(_wide(t) for t in (x, r, l, gy)), "dense", need)  # float64 dense reference
    for name, a, b in zip(("y", "grad x", "grad r", "grad l"), got, want):
        if b is None:
            assert a is None, name
            continue
        a = a.cpu().to(b.dtype)
        assert float((a - b).norm() / b.norm()) < tol, (name, float((a - b).norm() / b.norm()))


def test_auto_path_on_cpu_is_the_chunked_kernel():
    x, r, l, _ = _case(*SHAPES[0], torch.float32)
    assert multiply_path(x, r, l) == "chunked"
    torch.testing.assert_close(monarch_multiply(x, r, l), monarch_multiply(x, r, l, path="chunked"), rtol=0, atol=0)


def test_unknown_or_unfit_path_is_refused():
    x, r, l, _ = _case(*SHAPES[3], torch.float64)
    with pytest.raises(ValueError, match="path must be one of"):
        monarch_multiply(x, r, l, path="cuda")
    if HAS_TRITON:
        with pytest.raises(ValueError, match="fully mixing plan"):
            monarch_multiply(x, r, l, path="triton")


@pytest.mark.parametrize("rs,ls", SHAPES, ids=IDS)
@pytest.mark.parametrize("dtype", EXACT)
def test_bmm_path_matches_dense(rs, ls, dtype):
    _assert_match("bmm", *_case(rs, ls, dtype), tol=1e-12)


def test_bmm_path_partial_gradients_and_float32():
    x, r, l, gy = _case(*SHAPES[1], torch.float32, batch=(50,))
    _assert_match("bmm", x, r, l, gy, tol=1e-5)
    _assert_match("bmm", x, r, l, gy, tol=1e-5, need=(False, True, False))
    _assert_match("bmm", x, r, l, gy, tol=1e-5, need=(True, False, False))


@needs_triton
@pytest.mark.parametrize("rs,ls", MIXING, ids=IDS[:3])
@pytest.mark.parametrize("dtype", EXACT)
def test_triton_path_matches_dense(rs, ls, dtype):
    # 39 rows: three tiles of 16, the last partial
    _assert_match("triton", *_case(rs, ls, dtype, device=DEVICE), tol=1e-12)


@needs_triton
def test_triton_float32_half_and_partial_gradients():
    x, r, l, gy = _case(*MIXING[1], torch.float32, batch=(90,), device=DEVICE)  # 6 tiles over 4 programs (CPU)
    _assert_match("triton", x, r, l, gy, tol=1e-5)
    _assert_match("triton", x, r, l, gy, tol=1e-5, need=(True, False, False))
    _assert_match("triton", x, r, l, gy, tol=1e-5, need=(False, False, True))
    xh, rh, lh, gh = (t.half() for t in (x, r, l, gy))
    _assert_match("triton", xh, rh, lh, gh, tol=3e-3)  # fp16 inputs, float32 accumulation


@needs_triton
def test_triton_backward_partials_sum_over_programs():
    from monarch_sci.multiply_triton import triton_backward

    x, r, l, gy = _case(*MIXING[0], torch.float64, batch=(70,), device=DEVICE)
    one = triton_backward(x, gy, r, l, (True, True, True), programs=1)
    many = triton_backward(x, gy, r, l, (True, True, True), programs=5)
    for a, b in zip(one, many):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@needs_triton
def test_triton_second_order_gradients_are_exact():
    x, r, l, _ = _case(*MIXING[1], torch.float64, batch=(5,), device=DEVICE)
    x, r, l = (t.requires_grad_(True) for t in (x, r, l))

    def f(path):
        y = monarch_multiply(x, r, l, path=path) if path else x @ monarch_to_dense(r, l).T
        (gx,) = torch.autograd.grad(y.square().sum(), x, create_graph=True)
        return torch.autograd.grad(gx.sum(), (r, l))

    for a, b in zip(f("triton"), f(None)):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-11)
