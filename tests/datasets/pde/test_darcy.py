"""Darcy generator: second-order convergence on a manufactured solution, the FNO coefficient, the HDF5 file."""

import itertools
import math
from dataclasses import replace

import h5py
import numpy as np
import pytest

from monarch_sci.datasets.pde.darcy import DarcyConfig, darcy_coefficient, generate_darcy, solve_darcy
from monarch_sci.datasets.pde.pairs import read_field_pairs


def _manufactured(s: int) -> float:
    """Max nodal error for u = sin(πx) sin(πy) with a = 1 + x + y² (f = −∇·(a∇u) by hand)."""
    x = np.linspace(0, 1, s)
    X, Y = np.meshgrid(x, x, indexing="ij")
    u = np.sin(np.pi * X) * np.sin(np.pi * Y)
    a = 1 + X + Y**2
    ux, uy = np.pi * np.cos(np.pi * X) * np.sin(np.pi * Y), np.pi * np.sin(np.pi * X) * np.cos(np.pi * Y)
    f = 2 * np.pi**2 * a * u - 1.0 * ux - 2 * Y * uy
    return float(np.abs(solve_darcy(a, f) - u).max())


def test_second_order_convergence_on_a_manufactured_solution():
    errs = [_manufactured(s) for s in (9, 17, 33, 65)]
    orders = [math.log2(e0 / e1) for e0, e1 in itertools.pairwise(errs)]
    assert errs[-1] < 1e-3
    assert all(1.9 < p < 2.1 for p in orders), (errs, orders)


def test_coefficient_is_the_thresholded_field_and_depends_only_on_seed_and_index():
    cfg = DarcyConfig(n=3, s=33, seed=5)
    a = darcy_coefficient(cfg, [0, 1, 2])
    assert set(np.unique(a)) == {3.0, 12.0}
    assert 0.2 < (a == 12.0).mean() < 0.8
    assert np.array_equal(darcy_coefficient(cfg, [2])[0], a[2])


def test_generated_file_is_complete_atomic_and_resumable(tmp_path):
    cfg = DarcyConfig(n=3, s=17, seed=1)
    out = tmp_path / "d.h5"
    # Simulate an interrupted run: a partial file with the first sample done.
    partial = tmp_path / "d.h5.partial"
    generate_darcy(tmp_path / "first.h5", DarcyConfig(n=1, s=17, seed=1)).rename(partial)
    with h5py.File(partial, "r+") as h5:  # grow it to the full config, as the interrupted run would have made it
        x0, y0 = h5["x"][0], h5["y"][0]
        del h5["x"], h5["y"], h5["done"]
        h5.attrs["n"] = 3
        h5.create_dataset("x", (3, 17, 17), dtype="f4")
        h5.create_dataset("y", (3, 17, 17), dtype="f4")
        h5.create_dataset("done", (3,), dtype=bool, fillvalue=False)
        h5["x"][0], h5["y"][0], h5["done"][0] = x0, y0, True
    generate_darcy(out, cfg)
    assert out.exists() and not partial.exists()
    x, y = read_field_pairs(out)
    fresh = generate_darcy(tmp_path / "fresh.h5", cfg)
    xf, yf = read_field_pairs(fresh)
    assert np.array_equal(x.numpy(), xf.numpy()) and np.array_equal(y.numpy(), yf.numpy())
    with h5py.File(out, "r") as h5:
        assert h5.attrs["tau"] == 3.0 and h5.attrs["a_pos"] == 12.0 and h5["done"][()].all()
    assert float(y.min()) == 0.0 and float(y.max()) > 0  # zero on the boundary, positive inside
    with pytest.raises(FileExistsError):
        generate_darcy(out, cfg)


def test_an_interrupted_run_leaves_its_partial_file_and_overwrite_continues_it_for_the_same_data(tmp_path, monkeypatch):
    import monarch_sci.datasets.pde.darcy as darcy

    out, cfg, solve = tmp_path / "d.h5", DarcyConfig(n=3, s=9, seed=5), darcy.solve_darcy
    calls = []

    def dies_at_the_third_sample(a, f):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return solve(a, f)

    monkeypatch.setattr(darcy, "solve_darcy", dies_at_the_third_sample)
    with pytest.raises(KeyboardInterrupt):
        generate_darcy(out, cfg)
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["d.h5.partial"]
    with h5py.File(tmp_path / "d.h5.partial") as h5:
        assert h5["done"][()].tolist() == [True, True, False]
    monkeypatch.setattr(darcy, "solve_darcy", solve)
    calls.clear()
    with h5py.File(tmp_path / "d.h5.partial", "r+") as h5:
        h5["y"][0] = 7.0  # a marker: continuing keeps it, restarting recomputes it
    generate_darcy(out, cfg)
    with h5py.File(out) as h5:
        assert (h5["y"][0] == 7.0).all() and h5["done"][()].all()
    out.unlink()
    with pytest.raises(KeyboardInterrupt):
        monkeypatch.setattr(darcy, "solve_darcy", dies_at_the_third_sample)
        generate_darcy(out, cfg)
    monkeypatch.setattr(darcy, "solve_darcy", solve)
    with h5py.File(tmp_path / "d.h5.partial", "r+") as h5:
        h5["y"][0] = 7.0
    # overwrite continues a partial file of the same data (sample i depends only on (seed, i): continuing gives
    # the fresh result) and discards one of other parameters
    old = out.with_name("old.h5")
    generate_darcy(old, replace(cfg, seed=cfg.seed + 1))
    old.replace(out)  # an existing output, replaced only once the new one is complete
    generate_darcy(out, cfg, overwrite=True)
    with h5py.File(out) as h5:
        assert (h5["y"][0] == 7.0).all() and h5["done"][()].all() and h5.attrs["seed"] == cfg.seed
    with pytest.raises(KeyboardInterrupt):
        monkeypatch.setattr(darcy, "solve_darcy", dies_at_the_third_sample)
        calls.clear()
        generate_darcy(out, replace(cfg, seed=cfg.seed + 2), overwrite=True)
    monkeypatch.setattr(darcy, "solve_darcy", solve)
    with h5py.File(out) as h5:  # the previous output is intact while the new one is written beside it
        assert h5.attrs["seed"] == cfg.seed and (h5["y"][0] == 7.0).all()
    generate_darcy(out, cfg, overwrite=True)  # other parameters than the partial file: it is discarded
    fresh = generate_darcy(tmp_path / "fresh.h5", cfg)
    with h5py.File(out) as h5, h5py.File(fresh) as ref:
        assert np.array_equal(h5["y"][()], ref["y"][()])
    assert not (tmp_path / "d.h5.partial").exists()


def test_resume_with_other_parameters_is_refused(tmp_path):
    generate_darcy(tmp_path / "a.h5", DarcyConfig(n=1, s=9)).rename(tmp_path / "b.h5.partial")
    with pytest.raises(ValueError, match="started with other parameters"):
        generate_darcy(tmp_path / "b.h5", DarcyConfig(n=1, s=9, seed=2))


def test_bad_coefficient_is_refused():
    with pytest.raises(ValueError, match="solve_darcy: a must be finite and positive"):
        solve_darcy(np.zeros((5, 5)))
    with pytest.raises(ValueError, match=r"square \(s, s\) array"):
        solve_darcy(np.ones((5, 4)))
