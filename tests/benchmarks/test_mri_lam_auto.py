"""benchmarks/mri_lam_auto.py's selection: the interpolation it scores with and the rule it picks."""

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sigpy")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import mri_lam_auto


def synthetic_row(mask, acc, noise, g, best):
    """A validation row whose CG PSNR peaks (a parabola in log λ) at ``best``; ``g = σ̂²/P``."""
    grid = {lam: 30.0 - 4.0 * (np.log10(lam) - np.log10(best)) ** 2 for lam in mri_lam_auto.CG_GRID}
    return {"mask": mask, "acceleration": acc, "noise": noise, "sigma_est": np.sqrt(g), "power": 1.0,
            "peak": 1.0, "cg_grid": grid, "l1_grid": grid}  # fmt: skip


def test_interpolation_is_linear_in_log_lambda_and_refuses_outside_the_grid():
    grid = {1e-3: 10.0, 1e-2: 20.0}
    assert mri_lam_auto.interpolated(grid, 10**-2.5) == pytest.approx(15.0)
    assert mri_lam_auto.interpolated(grid, 1e-1) == -np.inf


def test_selection_recovers_a_noise_proportional_optimum():
    # the best λ is 3 · g in every cell: the selected CG rule is a ≈ 3 (on its 1/8-decade grid), b ≈ 0
    rows = [synthetic_row(m, a, n, g, 3 * g) for m in ("line", "2-D") for a in (2, 8)
            for n, g in ((0.03, 1e-3), (0.1, 1e-2))]  # fmt: skip
    chosen = mri_lam_auto.select(rows, "cg_sense")
    assert chosen["noise"] == pytest.approx(3.0, rel=0.16) and chosen["floor"] <= 1e-4
    assert chosen["val_worst_cell_loss_db"] < 0.05
