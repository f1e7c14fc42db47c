"""benchmarks/mri_classical.py on its tiny case: every stage and tool has a row, and the tools agree."""

import sys
from pathlib import Path

import pytest

pytest.importorskip("sigpy")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import mri_classical


def test_quick_case_times_every_stage_and_agrees_with_sigpy():
    case = mri_classical.make_case("quick")
    rows = mri_classical.bench_case(case, lam=1e-3, cg_iter=10, l1_lam_rel=3e-4, l1_iter=5, repeats=1)
    got = {(r["stage"], r["tool"]): r for r in rows}
    assert set(got) == {(s, t) for s in ("espirit", "cg_sense", "l1_wavelet") for t in ("ours", "sigpy", "bart")}
    for stage in ("espirit", "cg_sense", "l1_wavelet"):
        assert got[stage, "ours"]["seconds_per_slice"] > 0 and got[stage, "sigpy"]["seconds_per_slice"] > 0
    assert got["cg_sense", "ours"]["seconds_per_iteration"] == pytest.approx(
        got["cg_sense", "ours"]["seconds_per_slice"] / 10
    )
    assert got["espirit", "ours"]["rel_diff_vs_sigpy"] < 1e-5
    assert got["cg_sense", "ours"]["rel_diff_vs_sigpy"] < 1e-3  # same CG, same 10 iterations, complex64
    assert got["l1_wavelet", "ours"]["rel_diff_vs_sigpy"] < 1e-3
    assert "skipped" in got["cg_sense", "bart"]["note"] or got["cg_sense", "bart"]["rel_diff_vs_sigpy"] < 1e-3
    assert "| quick | cg_sense | ours |" in mri_classical.table(rows)


def test_unknown_case_is_refused():
    with pytest.raises(ValueError, match="make_case: unknown case 'brain'"):
        mri_classical.make_case("brain")
