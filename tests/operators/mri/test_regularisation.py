"""The adaptive weights (``lam="auto"``): the rule's formula and record, scale invariance, and the constants
pinned to the committed selection record of ``benchmarks/mri_lam_auto.py``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from monarch_sci.datasets.mri.noise import estimate_noise
from monarch_sci.operators.mri.classical import ReconProblem, cg_sense, l1_wavelet_recon
from monarch_sci.operators.mri.regularisation import CG_RULE, L1_RULE, SELECTION_RECORD, AutoLamRule, auto_lam
from monarch_sci.operators.mri.sense import SenseOperator

ROOT = Path(__file__).resolve().parents[3]


def scan(noise: float, seed: int = 0, scale: float = 1.0):
    """A 2-coil 32×32 scan: a smooth object, normalised maps, random lines, white noise of level ``noise``."""
    rng = np.random.default_rng(seed)
    H = W = 32
    y, x = np.mgrid[:H, :W] / H - 0.5
    obj = np.exp(-(x**2 + y**2) / 0.05) * (1 + 0.2 * rng.standard_normal((H, W)))
    maps = np.stack([np.exp(1j * (x + y)), np.exp(-1j * x)]) / np.sqrt(2)
    k = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(maps * obj, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))
    k = k + noise * (rng.standard_normal(k.shape) + 1j * rng.standard_normal(k.shape)) / np.sqrt(2)
    mask = np.zeros(W, np.float32)
    mask[W // 2 - 4 : W // 2 + 4] = 1
    mask[rng.choice(W, 10, replace=False)] = 1
    k = (scale * k * mask)[None].astype(np.complex64)
    return k, maps[None].astype(np.complex64), mask[None, None, None]


def test_the_formulas_and_the_record():
    k, maps, mask = scan(0.05)
    cg = auto_lam("cg_sense", k, maps, mask)
    l1 = auto_lam("l1_wavelet", k, maps, mask)
    sigma = estimate_noise(k, mask).sigma
    aty = SenseOperator(torch.from_numpy(maps), torch.from_numpy(mask)).adjoint(torch.from_numpy(k)).abs().double()
    power, peak = float(aty.square().mean()), float(aty.max())
    assert cg.noise.sigma == l1.noise.sigma == sigma
    assert cg.lam[0] == pytest.approx(CG_RULE.noise * sigma**2 / power + CG_RULE.floor, rel=1e-5)
    assert l1.lam[0] == pytest.approx(L1_RULE.noise * sigma + L1_RULE.floor * peak, rel=1e-5)
    rec = cg.as_record()
    assert rec["rule"] == {"formula": CG_RULE.formula, "noise": CG_RULE.noise, "floor": CG_RULE.floor}
    assert rec["noise"]["source"] == "periphery" and rec["lam"] == list(cg.lam)
    json.dumps(rec)  # JSON-ready


def test_scale_invariance_and_growth_with_noise():
    a, b = scan(0.05), scan(0.05, scale=1e-4)
    assert auto_lam("cg_sense", *b).lam[0] == pytest.approx(auto_lam("cg_sense", *a).lam[0], rel=1e-4)
    assert auto_lam("l1_wavelet", *b).lam[0] == pytest.approx(1e-4 * auto_lam("l1_wavelet", *a).lam[0], rel=1e-4)
    lams = [auto_lam("cg_sense", *scan(n)).lam[0] for n in (0.01, 0.05, 0.2)]
    assert lams[0] < lams[1] < lams[2], lams
    rule = AutoLamRule("l1_wavelet", noise=1.0, floor=1e-4)  # a noise term grows with the noise, at any floor
    lams = [auto_lam("l1_wavelet", *scan(n), rule=rule).lam[0] for n in (0.01, 0.05, 0.2)]
    assert lams[0] < lams[1] < lams[2], lams


def test_solvers_default_to_auto_and_record_it():
    k, maps, mask = scan(0.05)
    kt, mt, mk = (torch.from_numpy(a) for a in (k, maps, mask))
    x, res = cg_sense(kt, mt, mk, max_iter=50)
    assert res.lam_choice is not None and res.lam == res.lam_choice.lam[0]
    y, res2 = cg_sense(kt, mt, mk, lam=res.lam, max_iter=50)
    assert res2.lam_choice is None and torch.equal(x, y)
    _, r1 = l1_wavelet_recon(k, maps, mask, max_iter=5, tol=0)
    assert r1.lam_choice is not None and r1.lam == list(r1.lam_choice.lam)
    _, r2 = l1_wavelet_recon(k, maps, mask, lam_rel=1e-3, max_iter=5, tol=0)
    assert r2.lam_choice is None
    with pytest.raises(ValueError, match="lam must be a number or 'auto', got 'Auto'"):
        cg_sense(kt, mt, mk, lam="Auto")
    with pytest.raises(ValueError, match="a l1_wavelet rule given for cg_sense"):
        auto_lam("cg_sense", k, maps, mask, rule=L1_RULE)
    with pytest.raises(ValueError, match="not both 0"):
        AutoLamRule("cg_sense", noise=0.0, floor=0.0)


def test_the_registered_methods_record_their_choice():
    from monarch_sci.operators.mri.classical import CLASSICAL_METHODS

    k, maps, mask = scan(0.05)
    problem = ReconProblem(k, np.broadcast_to(mask[0, 0, 0], (1, 32)), maps=maps)
    CLASSICAL_METHODS["cg_sense"](problem)
    assert problem.chosen["cg_sense"]["lam_auto"]["rule"]["formula"] == CG_RULE.formula


def test_constants_are_the_committed_selection():
    """The rules' constants are those ``benchmarks/mri_lam_auto.py`` selected (rerun it to change them)."""
    record = json.loads((ROOT / SELECTION_RECORD).read_text())
    for rule in (CG_RULE, L1_RULE):
        chosen = record["selection"][rule.method]
        assert (rule.noise, rule.floor) == (chosen["noise"], chosen["floor"]), rule
        assert chosen["formula"] == rule.formula
