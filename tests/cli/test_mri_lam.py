"""``mri recon --lam``: ``auto`` (the default) recorded with its rule and noise estimate; a number overrides it;
``mri compare`` records the weights its classical rows used."""

from __future__ import annotations

import json

import h5py
import pytest

from monarch_sci.cli import main
from monarch_sci.operators.mri.regularisation import CG_RULE, L1_RULE


@pytest.fixture
def src(fully_sampled_mri):
    return sorted(fully_sampled_mri.glob("*.h5"))[0]


@pytest.mark.parametrize(("model", "rule"), [("cg_sense", CG_RULE), ("l1_wavelet", L1_RULE)])
def test_recon_default_is_auto_and_recorded(src, tmp_path, model, rule):
    out = tmp_path / "o.h5"
    assert main(["mri", "recon", "--model", model, "--in", str(src), "--out", str(out), "--max-iter", "5",
                 "--no-progress"]) == 0  # fmt: skip
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["settings"]["lam"] == "auto"
    auto = record["convergence"]["lam_auto"]
    assert auto["rule"]["formula"] == rule.formula and auto["noise"]["sigma"] > 0
    used = record["convergence"]["lam_used"]  # CG-SENSE: one λ per volume; ℓ1: one per slice
    assert len(auto["lam"]) == 2 and (used == auto["lam"][0] if model == "cg_sense" else used == auto["lam"])
    with h5py.File(out) as hf:
        assert hf.attrs["lam_rule"] == rule.formula and hf.attrs["noise_sigma"] == auto["noise"]["sigma"]


def test_explicit_lam_overrides_and_bad_values_are_one_line(src, tmp_path, capsys):
    out = tmp_path / "o.h5"
    assert main(["mri", "recon", "--model", "cg_sense", "--in", str(src), "--out", str(out), "--lam", "0.02",
                 "--max-iter", "5", "--no-progress"]) == 0  # fmt: skip
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["settings"]["lam"] == 0.02 and record["convergence"]["lam_used"] == 0.02
    assert "lam_auto" not in record["convergence"]
    out2 = tmp_path / "l1.h5"
    assert main(["mri", "recon", "--model", "l1_wavelet", "--in", str(src), "--out", str(out2), "--lam", "auto",
                 "--lam-rel", "1e-3", "--max-iter", "3", "--no-progress"]) == 0  # fmt: skip
    l1 = json.loads(out2.with_suffix(".json").read_text())
    assert l1["settings"]["lam_rel"] == 1e-3 and "lam" not in l1["settings"] and "lam_auto" not in l1["convergence"]
    assert main(["mri", "recon", "--model", "zero_filled_rss", "--in", str(src), "--out", str(tmp_path / "z.h5"),
                 "--lam", "auto", "--no-progress"]) == 0  # the default said out loud is not a control  # fmt: skip
    with pytest.raises(SystemExit):
        main(["mri", "recon", "--model", "cg_sense", "--in", str(src), "--out", str(out), "--lam", "high"])
    assert "--lam: expected a number or 'auto', got 'high'" in capsys.readouterr().err


def test_compare_records_the_classical_weights(fully_sampled_mri, tmp_path):
    out = tmp_path / "cmp"
    assert main(["mri", "compare", "--data", str(fully_sampled_mri), "--out", str(out), "--methods", "cg_sense",
                 "zero_filled_rss", "--accelerations", "2", "--center-fraction", "0.25", "--max-volumes", "1",
                 "--no-progress"]) == 0  # fmt: skip
    rows = json.loads((out / "results.json").read_text())["per_volume"]
    cg = [r for r in rows if r["method"] == "cg_sense"]
    assert cg and all(r["lam_auto"]["rule"]["formula"] == CG_RULE.formula for r in cg)
    assert all("lam_auto" not in r for r in rows if r["method"] == "zero_filled_rss")
