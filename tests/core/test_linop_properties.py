"""One property suite over every registered linear operator (``monarch_sci.linop.OPERATOR_REGISTRY``).

Modules that define operators register a small example with ``register_operator(name)``; importing them here
is all it takes for their operators to be checked. Each example is built with
``factory(torch.complex128, "cpu", seed)``; ``complex_input=False`` examples take real float64 inputs (their
adjoint is then the real-linear adjoint, so the dot test compares real parts). Inputs carry a leading batch
of 2, which operators with a batch of their own (SENSE: coil maps per slice) may broadcast against.
"""

import importlib
import importlib.util
import pkgutil

import pytest
import torch

import monarch_sci
from monarch_sci.linop import OPERATOR_REGISTRY, LinearOperator


def _import_all_operator_modules() -> None:
    # Core modules (monarch_matrix, dft, fourier, ...) and every module of monarch_sci.operators register on
    # import; the command line (monarch_sci.cli) defines no operator.
    for pkg_name in ("monarch_sci", "monarch_sci.operators"):
        pkg = importlib.import_module(pkg_name)
        for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{pkg_name}."):
            if info.name.startswith("monarch_sci.cli"):
                continue
            importlib.import_module(info.name)


_import_all_operator_modules()
NAMES = sorted(OPERATOR_REGISTRY)
DTYPE = torch.complex128


def _build(name: str, seed: int = 0) -> LinearOperator:
    op = OPERATOR_REGISTRY[name].factory(DTYPE, "cpu", seed)
    assert isinstance(op, LinearOperator), f"{name}: the factory must return a LinearOperator"
    return op


def _input(name: str, shape: tuple[int, ...], g: torch.Generator) -> torch.Tensor:
    if OPERATOR_REGISTRY[name].complex_input:
        return torch.randn(shape, generator=g, dtype=DTYPE)
    return torch.randn(shape, generator=g, dtype=torch.float64)


def _like(t: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    return torch.randn(t.shape, generator=g, dtype=t.dtype)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().norm() / b.abs().norm()).item()


def _vdot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a.conj() * b).sum() if a.is_complex() or b.is_complex() else (a * b).sum()


def test_the_registry_is_populated():
    assert {"MonarchMatrix", "MonarchMatrix-rect-rank2", "MonarchMatrix-real"} <= set(NAMES)
    if importlib.util.find_spec("monarch_sci.dft") is not None:
        assert "MonarchDFT" in NAMES
    assert monarch_sci.LinearOperator is LinearOperator


@pytest.mark.parametrize("name", NAMES)
def test_linearity(name):
    A = _build(name)
    g = torch.Generator().manual_seed(1)
    x, y = _input(name, (2, *A.ishape), g), _input(name, (2, *A.ishape), g)
    if OPERATOR_REGISTRY[name].complex_input:
        alpha, beta = complex(0.7, -1.3), complex(-0.4, 2.1)
    else:
        alpha, beta = 0.7, -2.1
    lhs = A(alpha * x + beta * y)
    rhs = alpha * A(x) + beta * A(y)
    assert lhs.shape == (2, *A.oshape)
    assert _rel(lhs, rhs) < 1e-12


@pytest.mark.parametrize("name", NAMES)
def test_batch_dims_are_carried(name):
    A = _build(name)
    g = torch.Generator().manual_seed(2)
    x = _input(name, (3, 2, *A.ishape), g)
    y = A(x)
    assert y.shape == (3, 2, *A.oshape)
    # The outer dim is pure batch; the inner one may meet an operator's own batch (SENSE: one map per slice).
    assert _rel(A(x[1]), y[1]) < 1e-12
    assert A.H(y).shape == (3, 2, *A.ishape)


@pytest.mark.parametrize("name", NAMES)
def test_adjoint_dot_product(name):
    # <A x, y> = <x, Aᴴ y>, relative to |<A x, y>| (real parts for real-input operators).
    A = _build(name)
    g = torch.Generator().manual_seed(3)
    x = _input(name, (2, *A.ishape), g)
    Ax = A(x)
    y = _like(Ax, g)
    lhs, rhs = _vdot(Ax, y), _vdot(x, A.adjoint(y))
    if not OPERATOR_REGISTRY[name].complex_input:
        lhs, rhs = lhs.real, rhs.real
    assert abs(lhs - rhs) <= 1e-12 * max(abs(lhs), Ax.abs().norm() * y.abs().norm() * 1e-3)


@pytest.mark.parametrize("name", NAMES)
def test_double_adjoint_is_the_operator(name):
    A = _build(name)
    assert A.H.H is A
    g = torch.Generator().manual_seed(4)
    x = _input(name, (2, *A.ishape), g)
    torch.testing.assert_close(A.H.H(x), A(x), rtol=0, atol=0)
    assert (A.H.ishape, A.H.oshape) == (A.oshape, A.ishape)


@pytest.mark.parametrize("name", NAMES)
def test_gradient_of_half_squared_norm_is_normal_operator(name):
    # ∇ₓ ½‖A x‖² = Aᴴ A x (torch's convention for complex x: the conjugate Wirtinger gradient times 2).
    A = _build(name)
    g = torch.Generator().manual_seed(5)
    x = _input(name, (2, *A.ishape), g).requires_grad_()
    (0.5 * A(x).abs().pow(2).sum()).backward()
    expected = A.adjoint(A(x.detach()))
    if not x.is_complex() and expected.is_complex():
        expected = expected.real
    assert _rel(x.grad, expected) < 1e-12
    assert _rel(A.normal(x.detach()), A.adjoint(A(x.detach()))) < 1e-12


@pytest.mark.parametrize("name", NAMES)
def test_composition(name):
    A = _build(name)
    g = torch.Generator().manual_seed(6)
    x = _input(name, (2, *A.ishape), g)
    AHA = A.H @ A
    assert (AHA.ishape, AHA.oshape) == (A.ishape, A.ishape)
    torch.testing.assert_close(AHA(x), A.adjoint(A(x)), rtol=1e-12, atol=1e-12)
    AAH = A @ A.H
    y = _like(A(x), g)
    torch.testing.assert_close(AAH(y), A(A.adjoint(y)), rtol=1e-12, atol=1e-12)


def _gradcheck_module(fn_module: torch.nn.Module, x: torch.Tensor) -> None:
    # Gradients with respect to the input and every parameter (small examples keep this cheap).
    names, values = zip(*fn_module.named_parameters()) if list(fn_module.parameters()) else ((), ())

    def f(x, *params):
        return torch.func.functional_call(fn_module, dict(zip(names, params)), (x,))

    inputs = (x.requires_grad_(), *(v.detach().clone().requires_grad_() for v in values))
    # Full Jacobians for small examples; a random projection of them (fast mode) for larger ones (the full
    # check costs a backward pass per output element and a forward pair per input element).
    fast = sum(t.numel() for t in inputs) + f(*inputs).numel() > 200
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-6, rtol=1e-4, fast_mode=fast)


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_forward_and_adjoint(name):
    A = _build(name)
    g = torch.Generator().manual_seed(7)
    x = _input(name, (1, *A.ishape), g)
    _gradcheck_module(A, x)
    y = _like(A(x).detach(), g)
    _gradcheck_module(A.H, y)


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip(name):
    A, B = _build(name, seed=0), _build(name, seed=1)
    g = torch.Generator().manual_seed(8)
    x = _input(name, (2, *A.ishape), g)
    if any(not torch.equal(a, b) for a, b in zip(A.state_dict().values(), B.state_dict().values())):
        assert not torch.allclose(A(x), B(x)), "different state must give a different operator"
    B.load_state_dict(A.state_dict())
    torch.testing.assert_close(B(x), A(x), rtol=0, atol=0)
    y = _like(A(x), g)
    torch.testing.assert_close(B.adjoint(y), A.adjoint(y), rtol=0, atol=0)
