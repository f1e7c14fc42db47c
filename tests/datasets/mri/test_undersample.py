"""``undersample_files``: the Python API under ``mri undersample`` (typed spec, checks before output, record)."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from monarch_sci.datasets import UndersampleSpec, undersample_files


@pytest.fixture
def full(fully_sampled_mri):
    return fully_sampled_mri


def test_line_masks_keep_only_sampled_columns_and_record_the_spec(full, tmp_path):
    spec = UndersampleSpec(source=full, out=tmp_path / "u", acceleration=4, mask_type="random", mask_policy="slice")
    written = undersample_files(spec)
    assert [p.name for p in written] == sorted(p.name for p in full.glob("*.h5"))
    for p in written:
        with h5py.File(p) as hf, h5py.File(full / p.name) as src:
            k, mask = hf["kspace"][()], hf["mask"][()]
            assert mask.shape == (2, 32)  # one line mask per slice (policy "slice")
            assert hf.attrs["acceleration"] == 4 and "reconstruction_rss" not in hf
            np.testing.assert_array_equal(k, src["kspace"][()] * mask[:, None, None, :])
            assert 0 < mask.mean() < 0.6
    assert sorted(p.name for p in (tmp_path / "u").iterdir()) == [p.name for p in written]  # no record inside
    record = json.loads((tmp_path / "u.json").read_text())  # beside the folder
    assert record["command"] == "mri undersample" and record["files"] == [p.name for p in written]
    assert record["args"]["mask_policy"] == "slice" and record["args"]["acceleration"] == 4


def test_poisson_masks_are_2d(full, tmp_path):
    (written, *_) = undersample_files(UndersampleSpec(source=full, out=tmp_path, mask_type="poisson", progress=False))
    with h5py.File(written) as hf:
        assert hf["mask"].shape == (64, 32)  # policy "volume": one (H, W) pattern per file


def test_bad_input_is_refused_before_any_output(full, tmp_path):
    out = tmp_path / "u"
    with pytest.raises(ValueError, match="--center-fraction / --acceleration: LineMaskFunc"):
        undersample_files(UndersampleSpec(source=full, out=out, center_fraction=0.9, acceleration=8))
    undersample_files(UndersampleSpec(source=full, out=tmp_path / "once"))
    with pytest.raises(ValueError, match="already holds a 'mask'"):
        undersample_files(UndersampleSpec(source=tmp_path / "once", out=out))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        undersample_files(UndersampleSpec(source=tmp_path / "nothing", out=out))
    assert not out.exists()
