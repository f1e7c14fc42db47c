"""ISMRMRD raw HDF5 import: files written with the ``ismrmrd`` package, placed by counters, round trips, refusals."""

from pathlib import Path

import h5py
import numpy as np
import pytest

ismrmrd = pytest.importorskip("ismrmrd")

from monarch_sci.datasets.mri.fastmri import inspect_volume  # noqa: E402
from monarch_sci.datasets.mri.importers import import_kspace  # noqa: E402
from monarch_sci.datasets.mri.ismrmrd_header import make_ismrmrd_header, parse_ismrmrd_header  # noqa: E402
from monarch_sci.datasets.mri.ismrmrd_raw import read_ismrmrd_kspace  # noqa: E402
from monarch_sci.fourier import centered_fft  # noqa: E402


def _kspace(shape, seed):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def _acq(data, *, step1=0, step2=0, slice_=0, center=None, flags=(), trajectory=None):
    a = ismrmrd.Acquisition.from_array(np.ascontiguousarray(data, np.complex64), trajectory=trajectory)
    a.idx.kspace_encode_step_1, a.idx.kspace_encode_step_2, a.idx.slice = step1, step2, slice_
    a.center_sample = data.shape[-1] // 2 if center is None else center
    for f in flags:
        a.set_flag(f)
    return a


def _write(path, xml, acquisitions):
    with ismrmrd.Dataset(str(path), "dataset", create_if_needed=True) as d:
        d.write_xml_header(xml)
        for a in acquisitions:
            d.append_acquisition(a)


def _header_2d(H, W, C, S, limits):
    return make_ismrmrd_header(encoding_size=(H, W), recon_size=(H // 2, W), num_coils=C, num_slices=S,
                               enc_step1_limits=limits, vendor="ACME scanner 7T")  # fmt: skip


def _scan_2d(tmp_path, seed=0):
    """3 slices, 4 coils, 24×20 k-space; lines 0..17 of a 20-column matrix (partial Fourier: 2 columns padded)."""
    S, C, H, W = 3, 4, 24, 20
    k = _kspace((S, C, H, W), seed)
    rng = np.random.default_rng(seed)
    center, pad = 8, W // 2 - 8  # line l goes to column l + 2
    lines = [np.union1d(np.arange(6, 11), rng.choice(18, 7, replace=False)) for _ in range(S)]
    acqs = [_acq(_kspace((C, H), 9), flags=[ismrmrd.ACQ_IS_NOISE_MEASUREMENT])]
    for s in range(S):
        for l in lines[s]:
            acqs.append(_acq(k[s, :, :, l + pad], step1=int(l), slice_=s))
        acqs.append(_acq(_kspace((C, H), 10), step1=3, slice_=s, flags=[ismrmrd.ACQ_IS_NAVIGATION_DATA]))
    acqs = [acqs[0]] + [acqs[1:][i] for i in rng.permutation(len(acqs) - 1)]  # any order
    xml = _header_2d(H, W, C, S, (0, 17, center))
    _write(tmp_path / "raw.h5", xml, acqs)
    mask = np.zeros((S, W), bool)
    for s in range(S):
        mask[s, lines[s] + pad] = True
    return tmp_path / "raw.h5", k * mask[:, None, None, :], mask, xml


def test_2d_round_trip_kspace_mask_and_header(tmp_path):
    path, expected, mask, xml = _scan_2d(tmp_path)
    scan = read_ismrmrd_kspace(path, prewhiten=False)  # as acquired (prewhitening: test_ismrmrd_noise.py)
    assert scan.acquisition == "2d" and scan.counts == {"noise scan": 1, "navigator": 3, "used": int(mask.sum())}
    assert scan.noise == {"prewhitened": False, "noise_acquisitions": 1} and scan.noise_covariance is None
    np.testing.assert_array_equal(scan.kspace, expected)  # placed by counters, bit for bit
    np.testing.assert_array_equal(scan.sampled, np.broadcast_to(mask[:, None, :], scan.sampled.shape))
    assert scan.header_xml == xml and scan.recon_size == (12, 20)
    out = tmp_path / "scan.h5"
    info = import_kspace(scan.kspace, out, mask=scan.sampled, recon_size=scan.recon_size, header_xml=scan.header_xml)
    assert info["mask"] == "(3, 20)" and not info["mask_inferred"]
    with h5py.File(out, "r") as hf:
        np.testing.assert_array_equal(hf["kspace"][()], expected)
        np.testing.assert_array_equal(hf["mask"][()], mask)
        assert hf["ismrmrd_header"][()].decode() == xml  # the scanner's header, verbatim
    v = inspect_volume(out, check_data=True)
    assert v.geometry.padding_left == 2 and v.geometry.padding_right == 20


def _header_3d(C, X, Y, Z):
    """A 3-D Cartesian header: encoded (X, Y, Z), recon (X/2, Y, Z) (2× readout oversampling)."""
    xml = make_ismrmrd_header(encoding_size=(X, Y), recon_size=(X // 2, Y), num_coils=C, vendor="ACME 3D")
    xml = xml.replace(f"<x>{X}</x><y>{Y}</y><z>1</z>", f"<x>{X}</x><y>{Y}</y><z>{Z}</z>", 1)  # encodedSpace
    xml = xml.replace(f"<x>{X // 2}</x><y>{Y}</y><z>1</z>", f"<x>{X // 2}</x><y>{Y}</y><z>{Z}</z>", 1)  # reconSpace
    step2 = "<kspace_encoding_step_2><minimum>0</minimum><maximum>{}</maximum><center>{}</center>"
    return xml.replace(step2.format(0, 0), step2.format(Z - 1, Z // 2))


def test_3d_phase_encode_plane_with_readout_transformed(tmp_path):
    C, X, Y, Z = 3, 16, 12, 10
    k = _kspace((C, X, Y, Z), 1)
    rng = np.random.default_rng(1)
    plane = rng.random((Y, Z)) < 0.3
    plane[4:8, 3:7] = True  # calibration centre
    xml = _header_3d(C, X, Y, Z)
    acqs = [_acq(k[:, :, ky, kz], step1=int(ky), step2=int(kz)) for ky, kz in zip(*np.nonzero(plane))]
    _write(tmp_path / "raw3d.h5", xml, acqs)
    scan = read_ismrmrd_kspace(tmp_path / "raw3d.h5")
    assert scan.acquisition == "3d" and scan.kspace.shape == (X // 2, C, Y, Z)
    full = centered_fft(k * plane, dims=(1,), inverse=True)[:, X // 4 : X // 4 + X // 2]  # (C, x, y, z)
    np.testing.assert_allclose(scan.kspace, np.moveaxis(full, 1, 0), rtol=0, atol=1e-5)
    np.testing.assert_array_equal(scan.sampled, np.broadcast_to(plane, scan.sampled.shape))
    g = parse_ismrmrd_header(scan.header_xml)
    assert g.encoding_size == (Y, Z, 1) and g.recon_size == (Y, Z, 1)
    assert (g.padding_left, g.padding_right) == (0, Z)  # the W = z axis takes the step_2 limits
    assert "ACME 3D" in scan.header_xml and "<maximum>7</maximum>" in scan.header_xml  # other fields; slice limits
    out = tmp_path / "scan3d.h5"
    info = import_kspace(scan.kspace, out, mask=scan.sampled, recon_size=scan.recon_size, header_xml=scan.header_xml)
    assert info["mask"] == f"({Y}, {Z})"
    with h5py.File(out, "r") as hf:
        np.testing.assert_array_equal(hf["mask"][()], plane)
    inspect_volume(out, check_data=True)


def test_cli_detects_ismrmrd_by_content(tmp_path):
    from monarch_sci.cli import main

    path, expected, mask, xml = _scan_2d(tmp_path, seed=2)
    odd = tmp_path / "scan.mrd"
    path.rename(odd)
    assert main(["mri", "import", str(odd), "--no-prewhiten", "--out", str(tmp_path / "a.h5")]) == 0
    argv = ["mri", "import", str(odd), "--format", "ismrmrd", "--no-prewhiten", "--out", str(tmp_path / "b.h5")]
    assert main(argv) == 0
    for name in ("a.h5", "b.h5"):
        with h5py.File(tmp_path / name, "r") as hf:
            np.testing.assert_array_equal(hf["kspace"][()], expected)
            np.testing.assert_array_equal(hf["mask"][()], mask)
    assert (
        main(["mri", "import", str(odd), "--format", "ismrmrd", "--mask", "m.npy", "--out", str(tmp_path / "c.h5")])
        == 2
    )
    assert not (tmp_path / "c.h5").exists()


def _refuse(tmp_path, xml, acqs, match):
    tmp_path.mkdir()
    _write(tmp_path / "bad.h5", xml, acqs)
    with pytest.raises(ValueError, match=match):
        read_ismrmrd_kspace(tmp_path / "bad.h5")


def test_refusals(tmp_path):
    C, H, W = 2, 8, 6
    xml = make_ismrmrd_header(encoding_size=(H, W), recon_size=(H, W), num_coils=C)
    line = _kspace((C, H), 3)
    radial = xml.replace("<trajectory>cartesian</trajectory>", "<trajectory>radial</trajectory>")
    _refuse(tmp_path / "a", radial, [_acq(line)], "trajectory is 'radial'; only Cartesian")
    no_limits = xml.replace(
        "<kspace_encoding_step_1><minimum>0</minimum><maximum>5</maximum><center>3</center></kspace_encoding_step_1>",
        "",
    )
    assert no_limits != xml
    _refuse(tmp_path / "b", no_limits, [_acq(line)], "no encodingLimits/kspace_encoding_step_1")
    _refuse(
        tmp_path / "c",
        xml,
        [_acq(line, step1=1), _acq(line, step1=1)],
        r"acquisitions 0 and 1 both fill slice 0, line 1 \(averages or repetitions\); import with --average",
    )
    traj = np.zeros((H, 2), np.float32)
    _refuse(tmp_path / "d", xml, [_acq(line, trajectory=traj)], "acquisition 0 has a per-sample trajectory")
    _refuse(tmp_path / "e", xml, [_acq(line, step1=7)], "acquisition 0 has kspace_encode_step_1 outside")
    _refuse(tmp_path / "f", xml, [_acq(line, flags=[ismrmrd.ACQ_IS_NOISE_MEASUREMENT])], "no imaging acquisitions")
    partial = _acq(_kspace((C, 12), 5), step1=1, step2=2, center=8)  # 12 of 16 readout samples
    _refuse(tmp_path / "h", _header_3d(C, 16, 6, 4), [partial], "acquisition 0 covers part of the readout only")
    (tmp_path / "g").mkdir()
    with h5py.File(tmp_path / "g" / "plain.h5", "w") as hf:
        hf["x"] = np.zeros(3)
    with pytest.raises(ValueError, match="not an ISMRMRD file"):
        read_ismrmrd_kspace(Path(tmp_path / "g" / "plain.h5"))


def test_partial_readout_gives_a_two_dimensional_mask(tmp_path):
    # asymmetric echo: 6 of 8 readout samples, k-space centre at sample 2 (rows 2..7), and 1 sample discarded
    C, H, W = 2, 8, 6
    xml = make_ismrmrd_header(encoding_size=(H, W), recon_size=(H, W), num_coils=C)
    k = _kspace((C, H, W), 4)
    acqs = []
    for l in (0, 2, 3, 4):
        a = _acq(k[:, 2:, l], step1=l, center=2)
        a.discard_pre = 1  # sample 0 of the acquisition (row 2) is invalid
        acqs.append(a)
    _write(tmp_path / "pe.h5", xml, acqs)
    scan = read_ismrmrd_kspace(tmp_path / "pe.h5")
    rows = np.zeros(H, bool)
    rows[3:] = True
    cols = np.isin(np.arange(W), (0, 2, 3, 4))
    np.testing.assert_array_equal(scan.sampled[0], rows[:, None] & cols[None, :])
    np.testing.assert_array_equal(scan.kspace[0], k * (rows[:, None] & cols[None, :]))
    info = import_kspace(scan.kspace, tmp_path / "out.h5", mask=scan.sampled, header_xml=scan.header_xml)
    assert info["mask"] == f"({H}, {W})"  # not a line mask: rows 0..2 were never acquired
