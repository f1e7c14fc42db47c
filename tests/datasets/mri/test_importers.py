"""Importing k-space: NumPy and BART (column-major) round trips, 1-D and 2-D masks, inferred masks, refusals."""

import h5py
import numpy as np
import pytest

from monarch_sci.datasets.mri.fastmri import inspect_volume
from monarch_sci.datasets.mri.importers import (
    bart_to_fastmri_layout,
    import_kspace,
    read_cfl,
    to_fastmri_layout,
    write_cfl,
)


def kspace(rng, shape):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def test_numpy_layouts_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    k = kspace(rng, (2, 4, 12, 10))  # (S, C, H, W)
    hwc = np.transpose(k[0], (1, 2, 0))  # (H, W, C)
    np.testing.assert_array_equal(to_fastmri_layout(hwc, "HWC")[0], k[0])
    np.testing.assert_array_equal(to_fastmri_layout(k, None), k)
    info = import_kspace(k, tmp_path / "a.h5")
    assert info["mask"] == "none (fully sampled)" and not info["mask_inferred"]
    with h5py.File(tmp_path / "a.h5") as hf:
        np.testing.assert_array_equal(hf["kspace"][()], k)
        assert "mask" not in hf and hf["reconstruction_rss"].shape == (2, 12, 10)
    assert inspect_volume(tmp_path / "a.h5").geometry.encoding_size[:2] == (12, 10)
    with pytest.raises(ValueError, match="must name each axis"):
        to_fastmri_layout(hwc, "HWX")
    with pytest.raises(ValueError, match="must be complex"):
        to_fastmri_layout(hwc.real, "HWC")


def test_bart_cfl_is_column_major(tmp_path):
    rng = np.random.default_rng(1)
    arr = kspace(rng, (12, 10, 1, 4))  # READ, PHS1, PHS2, COIL
    base = tmp_path / "k"
    # written by hand (not by write_cfl): BART's bytes are the array in Fortran order
    (tmp_path / "k.hdr").write_text("# Dimensions\n12 10 1 4 1 1 1 1 1 1 1 1 1 1 1 1\n")
    (tmp_path / "k.cfl").write_bytes(np.asfortranarray(arr).tobytes(order="F"))
    got = read_cfl(base)
    np.testing.assert_array_equal(got.reshape(12, 10, 1, 4), arr)
    k, layout = bart_to_fastmri_layout(got, "k")
    assert k.shape == (1, 4, 12, 10) and layout == "2d"
    np.testing.assert_array_equal(k[0, 2], arr[:, :, 0, 2])  # READ -> H, PHS1 -> W
    write_cfl(tmp_path / "w", arr)
    assert (tmp_path / "w.cfl").read_bytes() == (tmp_path / "k.cfl").read_bytes()
    (tmp_path / "k.hdr").write_text("# Dimensions\n12 10 1 5\n")
    with pytest.raises(ValueError, match=r"holds 3840 bytes; dimensions \[12, 10, 1, 5\] need 4800"):
        read_cfl(base)
    with pytest.raises(ValueError, match="MAPS"):
        bart_to_fastmri_layout(np.zeros((4, 4, 1, 2, 2), np.complex64), "x")


def test_two_dimensional_mask_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    k = kspace(rng, (1, 3, 16, 12))
    mask = rng.random((16, 12)) < 0.4
    mask[6:10, 4:8] = True  # a calibration region
    k *= mask
    info = import_kspace(k, tmp_path / "m.h5", mask=mask)
    assert info["mask"] == "(16, 12)" and info["sampled_fraction"] == pytest.approx(mask.mean())
    with h5py.File(tmp_path / "m.h5") as hf:
        np.testing.assert_array_equal(hf["mask"][()], mask)
        np.testing.assert_array_equal(hf["kspace"][()], k)
    # without the mask the same pattern is inferred (sampled where any coil is non-zero), never "fully sampled"
    info = import_kspace(k, tmp_path / "i.h5")
    assert info["mask_inferred"] and info["mask"] == "(16, 12)"
    with h5py.File(tmp_path / "i.h5") as hf:
        np.testing.assert_array_equal(hf["mask"][()], mask)
        assert hf.attrs["mask_inferred"] and "reconstruction_rss" not in hf


def test_line_patterns_are_stored_as_fastmri_masks(tmp_path):
    rng = np.random.default_rng(3)
    k = kspace(rng, (2, 2, 8, 10))
    cols = np.zeros(10, bool)
    cols[[0, 3, 4, 5, 8]] = True
    k *= cols
    info = import_kspace(k, tmp_path / "l.h5")
    assert info["mask"] == "(10,)" and info["mask_inferred"]
    assert inspect_volume(tmp_path / "l.h5").has_mask  # fastMRI's own reader accepts it
    info = import_kspace(k, tmp_path / "g.h5", mask=np.broadcast_to(cols, (8, 10)))
    assert info["mask"] == "(10,)" and not info["mask_inferred"]


def test_inconsistent_input_is_refused_before_writing(tmp_path):
    rng = np.random.default_rng(4)
    k = kspace(rng, (1, 2, 8, 10))
    out = tmp_path / "x.h5"
    with pytest.raises(ValueError, match="non-zero samples at 40 points the mask marks as not acquired"):
        import_kspace(k, out, mask=np.r_[np.ones(5), np.zeros(5)].astype(bool))
    with pytest.raises(ValueError, match="fits none of"):
        import_kspace(k, out, mask=np.ones(7, bool))
    with pytest.raises(ValueError, match="zeros and ones"):
        import_kspace(k, out, mask=np.full(10, 0.5))
    bad = k.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN/Inf"):
        import_kspace(bad, out)
    with pytest.raises(ValueError, match="recon_size"):
        import_kspace(k, out, recon_size=(0, 4))
    assert not out.exists() and list(tmp_path.iterdir()) == []
