"""ISMRMRD noise prewhitening (from the file's noise scan) and averaged repetitions, on synthetic files written with
the ``ismrmrd`` package: correlated coil noise comes out white, the data are ``L⁻¹ y``, averages are means."""

import json

import h5py
import numpy as np
import pytest

ismrmrd = pytest.importorskip("ismrmrd")

from monarch_sci.cli import main  # noqa: E402
from monarch_sci.datasets.mri.ismrmrd_header import make_ismrmrd_header  # noqa: E402
from monarch_sci.datasets.mri.ismrmrd_raw import read_ismrmrd_kspace  # noqa: E402
from monarch_sci.datasets.mri.prewhitening import noise_covariance, prewhiten, whitening_matrix  # noqa: E402

C, H, W = 4, 16, 12
#: a coil mixing matrix: noise = MIX @ white, covariance MIX MIXᴴ (correlated, unequal coils)
MIX = np.array([[1.0, 0, 0, 0], [0.6, 0.8, 0, 0], [0.2, 0.3, 1.5, 0], [0.0, 0.5, 0.4, 0.5]]) * (1 + 0.3j)


def _white(rng, shape):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2)


def _acq(data, *, step1=0, average=0, repetition=0, noise=False, dwell=None):
    a = ismrmrd.Acquisition.from_array(np.ascontiguousarray(data, np.complex64))
    a.idx.kspace_encode_step_1, a.idx.average, a.idx.repetition = step1, average, repetition
    a.center_sample = data.shape[-1] // 2
    if dwell is not None:
        a.sample_time_us = dwell
    if noise:
        a.set_flag(ismrmrd.ACQ_IS_NOISE_MEASUREMENT)
    return a


def _write(path, acquisitions):
    xml = make_ismrmrd_header(encoding_size=(H, W), recon_size=(H, W), num_coils=C, enc_step1_limits=(0, W - 1, W // 2))
    with ismrmrd.Dataset(str(path), "dataset", create_if_needed=True) as d:
        d.write_xml_header(xml)
        for a in acquisitions:
            d.append_acquisition(a)
    return path


def _scan(tmp_path, *, noise_dwell=5.0, data_dwell=5.0, noise_lines=64, seed=0):
    """A fully sampled (C, H, W) scan with coil noise of covariance MIX MIXᴴ, and a noise scan of that noise."""
    rng = np.random.default_rng(seed)
    signal = np.zeros((C, H, W), complex)
    signal[:, H // 2 - 2 : H // 2 + 2, W // 2 - 2 : W // 2 + 2] = 30 * _white(rng, (C, 4, 4))
    scale = np.sqrt(data_dwell / noise_dwell)  # the noise scan's noise power is dwell_noise/dwell_data times smaller
    noise = [_acq(scale * MIX @ _white(rng, (C, H)), noise=True, dwell=noise_dwell) for _ in range(noise_lines)]
    data = signal + np.einsum("dc,chw->dhw", MIX, _white(rng, (C, H, W)))
    lines = [_acq(data[:, :, l], step1=l, dwell=data_dwell) for l in range(W)]
    return _write(tmp_path / "raw.h5", [*noise, *lines]), data, noise


def test_prewhitening_decorrelates_the_coils(tmp_path):
    path, data, noise = _scan(tmp_path, noise_lines=400)
    scan = read_ismrmrd_kspace(path)
    samples = np.concatenate([a.data for a in noise], axis=1)
    psi = noise_covariance(samples)
    np.testing.assert_allclose(scan.noise_covariance, psi, rtol=1e-6)
    np.testing.assert_allclose(psi, MIX @ MIX.conj().T, atol=0.15)  # the estimate is the true covariance
    Wm = whitening_matrix(psi)
    np.testing.assert_allclose(Wm @ psi @ Wm.conj().T, np.eye(C), atol=1e-10)
    np.testing.assert_allclose(scan.kspace[0], prewhiten(data, Wm, coil_axis=0), rtol=1e-4, atol=1e-4)
    # the data's own noise (the k-space periphery is noise only) comes out white: covariance ≈ I
    periphery = scan.kspace[0][:, :4, :].reshape(C, -1)
    np.testing.assert_allclose(periphery @ periphery.conj().T / periphery.shape[1], np.eye(C), atol=0.35)
    assert scan.noise["prewhitened"] and scan.noise["noise_acquisitions"] == 400
    assert scan.noise["samples_per_coil"] == 400 * H and scan.noise["dwell_ratio"] == 1.0
    assert scan.noise["max_correlation"] > 0.5  # the raw coils were strongly correlated


def test_noise_scan_at_another_dwell_time_is_rescaled(tmp_path):
    path, data, noise = _scan(tmp_path, noise_dwell=10.0, data_dwell=5.0, noise_lines=400)
    scan = read_ismrmrd_kspace(path)
    assert scan.noise["dwell_ratio"] == 2.0
    np.testing.assert_allclose(scan.noise_covariance, MIX @ MIX.conj().T, atol=0.15)  # the data's noise


def test_cli_records_the_whitening(tmp_path, capsys):
    path, _, _ = _scan(tmp_path)
    out = tmp_path / "data" / "scan.h5"
    assert main(["mri", "import", str(path), "--out", str(out)]) == 0
    assert "prewhitened with 64 noise acquisitions" in capsys.readouterr().out
    with h5py.File(out) as hf:
        assert hf.attrs["prewhitened"] and hf.attrs["noise_covariance"].shape == (C, C)
        record = json.loads(hf.attrs["record"])
    assert record["noise"]["prewhitened"] and record["args"]["prewhiten"]
    from monarch_sci.datasets.mri.fastmri import inspect_volume

    assert inspect_volume(out, check_data=True).attrs["prewhitened"]  # our reader takes the new attributes
    mri_data = pytest.importorskip("fastmri.data.mri_data")
    kspace, *_ = mri_data.SliceDataset(out.parent, challenge="multicoil")[0]  # and fastMRI's
    assert kspace.shape == (C, H, W)
    assert main(["mri", "import", str(path), "--no-prewhiten", "--out", str(tmp_path / "raw_coils.h5")]) == 0
    with h5py.File(tmp_path / "raw_coils.h5") as hf:
        assert not hf.attrs["prewhitened"] and "noise_covariance" not in hf.attrs
    np.save(tmp_path / "k.npy", np.ones((C, H, W), np.complex64))
    capsys.readouterr()
    assert main(["mri", "import", str(tmp_path / "k.npy"), "--average", "--out", str(tmp_path / "n.h5")]) == 2
    assert "--average: only for ISMRMRD files" in capsys.readouterr().err


def test_too_short_a_noise_scan_is_refused(tmp_path):
    rng = np.random.default_rng(1)
    noise = [_acq(_white(rng, (C, 2)), noise=True)]  # 2 samples per coil for 4 coils
    lines = [_acq(_white(rng, (C, H)), step1=l) for l in range(W)]
    _write(tmp_path / "raw.h5", [*noise, *lines])
    with pytest.raises(ValueError, match="2 noise samples per coil cannot estimate the covariance of 4 coils"):
        read_ismrmrd_kspace(tmp_path / "raw.h5")
    assert read_ismrmrd_kspace(tmp_path / "raw.h5", prewhiten=False).noise == {
        "prewhitened": False,
        "noise_acquisitions": 1,
    }


def test_averages_and_repetitions_are_averaged_with_the_flag(tmp_path, capsys):
    rng = np.random.default_rng(2)
    reps = _white(rng, (3, C, H, W)).astype(np.complex64)  # three repetitions; line 5 also has a second average
    acqs = [_acq(reps[r, :, :, l], step1=l, repetition=r) for r in range(3) for l in range(W)]
    extra = _white(rng, (C, H)).astype(np.complex64)
    acqs.append(_acq(extra, step1=5, average=1))
    _write(tmp_path / "raw.h5", acqs)
    with pytest.raises(
        ValueError, match=r"both fill slice 0, line 0 \(averages or repetitions\); import with --average"
    ):
        read_ismrmrd_kspace(tmp_path / "raw.h5")
    scan = read_ismrmrd_kspace(tmp_path / "raw.h5", average=True)
    expected = reps.mean(0)
    expected[:, :, 5] = (reps[:, :, :, 5].sum(0) + extra) / 4
    np.testing.assert_allclose(scan.kspace[0], expected, rtol=1e-5, atol=1e-6)
    assert scan.averaged == {"locations": H * W, "max_count": 4} and scan.sampled.all()
    assert scan.kspace.dtype == np.complex64
    assert main(["mri", "import", str(tmp_path / "raw.h5"), "--average", "--out", str(tmp_path / "a.h5")]) == 0
    assert f"{H * W} points averaged (up to 4 each)" in capsys.readouterr().out
    with h5py.File(tmp_path / "a.h5") as hf:
        assert hf.attrs["averaged"] and json.loads(hf.attrs["record"])["averaged"]["max_count"] == 4
    # the same location twice with the same counters is a broken file, averaged or not
    _write(tmp_path / "dup.h5", [*acqs, _acq(extra, step1=5, average=1)])
    with pytest.raises(ValueError, match=r"with the same idx\.average and idx\.repetition"):
        read_ismrmrd_kspace(tmp_path / "dup.h5", average=True)
