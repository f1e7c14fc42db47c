"""How far the learned Fourier maps moved from the DFT, their picture, and the random-Monarch control."""

import pytest
import torch

from monarch_sci.operators.pde.factor_analysis import exact_transform, fourier_drift, plot_learned_transforms
from monarch_sci.operators.pde.factor_init import randomize_factors
from monarch_sci.operators.pde.fno import FNO2d, FNO3d
from monarch_sci.operators.pde.forecasting import ForecastSpec, build_forecaster
from monarch_sci.operators.pde.steady_training import SteadySpec, build_steady_model
from monarch_sci.training.factors import factor_parameters


def _fno(fourier="monarch", **kw):
    torch.manual_seed(0)
    return FNO2d(3, 3, 6, t_in=2, size=(12, 10), fourier=fourier, n_layers=2, **kw)


def _train_steps(model, steps=3, lr=1e-2):
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(4, 12, 10, 2, generator=g), torch.randn(4, 12, 10, 1, generator=g)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        opt.step()


def test_drift_is_zero_at_initialisation_and_grows_with_training():
    model = _fno()
    rows = fourier_drift(model)
    assert len(rows) == 2 * 2 * 2  # layers × axes × directions
    assert [(r["layer"], r["axis"], r["direction"]) for r in rows[:4]] == [
        (0, 0, "forward"),
        (0, 1, "forward"),
        (0, 0, "inverse"),
        (0, 1, "inverse"),
    ]
    assert rows[0]["module"] == "convs.0.fourier" and rows[0]["n"] == 12 and rows[0]["modes"] == 6
    assert rows[1]["n"] == 10 and rows[1]["modes"] == 3  # the half axis keeps 0…m−1
    assert max(r["drift"] for r in rows) < 1e-6  # complex64 factors: round-off only
    _train_steps(model)
    rows = fourier_drift(model)
    assert min(r["drift"] for r in rows) > 1e-4


def test_drift_is_exactly_the_relative_distance_in_complex128():
    model = FNO2d(3, 3, 4, size=(12, 10), fourier="monarch", n_layers=1, dtype=torch.float64)
    assert max(r["drift"] for r in fourier_drift(model)) < 1e-13
    op = model.convs[0].fourier.inv[1]
    with torch.no_grad():
        op.l_blocks.mul_(1.5)  # every entry of the map scales by 1.5: drift 0.5
    row = next(r for r in fourier_drift(model) if (r["direction"], r["axis"]) == ("inverse", 1))
    assert row["drift"] == pytest.approx(0.5, rel=1e-12)
    assert torch.allclose(op.to_dense(), 1.5 * exact_transform(op))


def test_only_learnable_maps_drift_and_shared_maps_appear_once():
    model = _fno(learn="forward")
    _train_steps(model)
    rows = fourier_drift(model)
    assert all(r["learnable"] == (r["direction"] == "forward") for r in rows)
    assert all(r["drift"] > 1e-4 for r in rows if r["learnable"])
    assert all(r["drift"] < 1e-6 for r in rows if not r["learnable"])
    shared = _fno(share_transform=True)
    assert {r["layer"] for r in fourier_drift(shared)} == {0} and len(fourier_drift(shared)) == 4


def test_drift_of_an_fft_model_is_empty_and_fno3d_has_three_axes():
    assert fourier_drift(_fno("fft")) == []
    fno3d = FNO3d(2, 2, 2, 4, t_in=2, size=(8, 8, 6), fourier="monarch", n_layers=1)
    assert sorted({r["axis"] for r in fourier_drift(fno3d)}) == [0, 1, 2]


def test_plot_writes_a_png_and_refuses_models_without_monarch_maps(tmp_path):
    model = _fno()
    _train_steps(model)
    out = plot_learned_transforms(model, tmp_path / "maps.png", layer=1, vectors=2)
    assert out == tmp_path / "maps.png" and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["maps.png"]  # no temporary file left
    with pytest.raises(ValueError, match="has no Monarch Fourier maps"):
        plot_learned_transforms(_fno("fft"), tmp_path / "fft.png")
    with pytest.raises(ValueError, match=r"expected layer in \[0, 2\), got 2"):
        plot_learned_transforms(model, tmp_path / "x.png", layer=2)


def test_random_init_keeps_support_and_block_norms_and_changes_the_function():
    dft, fft = _fno(), _fno("fft")
    x = torch.randn(2, 12, 10, 2)
    assert torch.allclose(dft(x), fft(x), atol=1e-6)  # the DFT start is the FFT twin
    model = _fno()
    before = [p.detach().clone() for p in factor_parameters(model)]
    state = torch.get_rng_state()
    assert randomize_factors(model, seed=7) == len(before)
    assert torch.equal(torch.get_rng_state(), state)  # its own generator: the global stream is untouched
    for p, q in zip(before, factor_parameters(model)):
        assert torch.equal(p != 0, q != 0)  # padding rows/columns of kept-modes maps stay zero
        assert torch.allclose(torch.linalg.vector_norm(p, dim=(-2, -1)), torch.linalg.vector_norm(q, dim=(-2, -1)))
        assert not torch.allclose(p, q)
    assert not torch.allclose(model(x), fft(x), atol=1e-3)
    assert min(r["drift"] for r in fourier_drift(model)) > 0.5  # far from the DFT
    again = _fno()
    randomize_factors(again, seed=7)
    assert all(torch.equal(p, q) for p, q in zip(factor_parameters(model), factor_parameters(again)))
    randomize_factors(again, seed=8)
    assert not torch.equal(factor_parameters(model)[0], factor_parameters(again)[0])


def test_random_init_leaves_fixed_factors_at_the_dft():
    model = _fno(learn="inverse")
    randomize_factors(model, seed=0)
    rows = fourier_drift(model)
    assert all((r["drift"] > 0.5) == (r["direction"] == "inverse") for r in rows)


def test_specs_build_the_random_control_seeded_by_the_run_seed():
    common = {"fourier": "monarch", "modes": 2, "width": 4, "t_in": 2, "t_out": 1}
    torch.manual_seed(0)
    dft = build_forecaster(ForecastSpec("ns.h5", **common), 8)
    torch.manual_seed(0)
    rnd = build_forecaster(ForecastSpec("ns.h5", monarch_init="random", seed=3, **common), 8)
    dft_state, rnd_state = dft.state_dict(), rnd.state_dict()
    for key in dft_state:  # only the factors differ: the other weights come from the same global stream
        same = torch.equal(dft_state[key], rnd_state[key])
        assert same != key.endswith(("r_blocks", "l_blocks")), key
    torch.manual_seed(0)
    rnd2 = build_forecaster(ForecastSpec("ns.h5", monarch_init="random", seed=3, **common), 8)
    assert all(torch.equal(a, b) for a, b in zip(rnd_state.values(), rnd2.state_dict().values()))
    steady = build_steady_model(
        SteadySpec("d.h5", monarch_init="random", fourier="monarch", modes=2, width=4), (8, 8), 1, 1
    )
    assert min(r["drift"] for r in fourier_drift(steady)) > 0.5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"monarch_init": "random"}, r"monarch_init='random' .* needs fourier='monarch' .* got fourier='fft'"),
        ({"monarch_init": "random", "fourier": "monarch", "learn": "none"}, "got learn='none'"),
        ({"monarch_init": "orthogonal"}, r"expected monarch_init in \('dft', 'random'\)"),
        ({"factor_start": -1}, r"expected factor_start \(--factor-start\) >= 0, got -1"),
        ({"factor_warmup": 2.0}, r"expected factor_warmup \(--factor-warmup\) >= 0, got 2.0"),
        ({"factor_anchor": -1.0}, r"expected factor_anchor \(--factor-anchor\) >= 0, got -1.0"),
    ],
)
def test_specs_refuse_bad_factor_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ForecastSpec("ns.h5", **kwargs)
    with pytest.raises(ValueError, match=message.replace("ForecastSpec", "SteadySpec")):
        SteadySpec("d.h5", **kwargs)


def test_spec_fields_reach_the_trainer():
    spec = SteadySpec("d.h5", factor_start=2, factor_warmup=3, factor_anchor=0.1, monarch_init="dft")
    config = spec.train_config()
    assert (config.factor_start, config.factor_warmup, config.factor_anchor) == (2, 3, 0.1)
    assert not hasattr(config, "monarch_init")  # a model setting, not an optimisation one
