"""``reconstruct_file`` and ``compare_methods``: the Python API under ``mri recon`` / ``mri compare``."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from monarch_sci.operators import CompareSpec, ReconFileSpec, compare_methods, reconstruct_file


@pytest.fixture
def full(fully_sampled_mri):
    return fully_sampled_mri


def test_zero_filled_rss_of_a_fully_sampled_file_is_its_target(full, tmp_path):
    src = sorted(full.glob("*.h5"))[0]
    spec = ReconFileSpec(model="zero_filled_rss", source=src, out=tmp_path / "o.h5", progress=False)
    record = reconstruct_file(spec)
    with h5py.File(tmp_path / "o.h5") as hf, h5py.File(src) as ref:
        np.testing.assert_allclose(hf["reconstruction"][()], ref["reconstruction_rss"][()], rtol=1e-4, atol=1e-6)
        assert hf.attrs["sampling"] == "full" and not hf.attrs["undersampled"]
    assert record == json.loads((tmp_path / "o.json").read_text())
    assert record["command"] == "mri recon" and record["args"]["model"] == "zero_filled_rss"
    assert record["sampling"] == "full" and record["mask_shape"] == [2, 32]


def test_cg_sense_records_its_settings_and_convergence(full, tmp_path):
    src = sorted(full.glob("*.h5"))[0]
    spec = ReconFileSpec(model="cg_sense", source=src, out=tmp_path / "cg.h5", max_iter=3, png=tmp_path / "png")
    record = reconstruct_file(spec)
    assert record["settings"]["max_iter"] == 3 and record["convergence"]["iterations"] <= 3
    assert len(list((tmp_path / "png").glob("*.png"))) == 2


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"model": "zero_filled_rss", "tol": 1e-3}, "--tol: method zero_filled_rss is not iterative"),
        ({"model": "cg_sense", "lam_rel": 1e-3}, "--lam-rel: only for l1_wavelet"),
        ({"model": "l1_wavelet", "lam": 1.0, "lam_rel": 1.0}, "give one ℓ1 weight, not both"),
        ({"model": "cg_sense", "max_iter": 0}, "--max-iter: expected a positive count, got 0"),
        ({"model": "cg_sense", "lam": -1.0}, "--lam: expected a number >= 0.0, got -1.0"),
        ({"model": "magic"}, "unknown method 'magic'"),
    ],
)
def test_recon_refuses_bad_settings_before_writing(full, tmp_path, changes, message):
    spec = ReconFileSpec(**{"source": sorted(full.glob("*.h5"))[0], "out": tmp_path / "o.h5", **changes})
    with pytest.raises(ValueError, match=message):
        reconstruct_file(spec)
    assert list(tmp_path.iterdir()) == []


def test_compare_methods_scores_every_method_and_acceleration(full, tmp_path):
    spec = CompareSpec(data=full, out=tmp_path / "c", accelerations=[2], methods=["zero_filled_rss"], progress=False)
    record = compare_methods(spec)
    assert record == json.loads((tmp_path / "c" / "results.json").read_text())
    (row,) = record["summary"]
    assert (row["method"], row["acceleration"], row["volumes"]) == ("zero_filled_rss", 2, 2)
    assert 10 < row["psnr"] < 60 and 0 < row["ssim"] <= 1
    assert record["args"]["methods"] == ["zero_filled_rss"] and record["command"] is None
    assert "| 2× | zero_filled_rss |" in (tmp_path / "c" / "results.md").read_text()
    assert (tmp_path / "c" / "figure.png").stat().st_size > 0


def test_compare_refuses_bad_input_before_creating_the_folder(full, tmp_path):
    out = tmp_path / "c"
    with pytest.raises(ValueError, match="--max-volumes: expected a positive count"):
        compare_methods(CompareSpec(data=full, out=out, max_volumes=0))
    with pytest.raises(ValueError, match="--center-fraction / --accelerations"):
        compare_methods(CompareSpec(data=full, out=out, accelerations=[8], center_fraction=0.9))
    assert not out.exists()
