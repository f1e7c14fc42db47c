"""Simulated acquisitions: fastMRI-readable files, fastMRI's target, realistic variety, no inverse crime."""

import xml.etree.ElementTree as etree

import h5py
import numpy as np
import pytest

from monarch_sci.datasets.mri.simulate import (
    SimulationConfig,
    coil_sensitivities,
    load_sample_slice,
    simulate_dataset,
    simulate_volume,
)

CFG = SimulationConfig(recon_size=(32, 32), num_coils=3, num_slices=2, seed=5)


def fft2c(x):
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))


def ifft2c(k):
    return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))


def et_query(root, qlist, namespace="http://www.ismrm.org/ISMRMRD"):
    # fastMRI's own header query (fastmri/data/mri_data.py), replicated: fastmri 0.3.0 would replace torch.
    s = "."
    for el in qlist:
        s += f"//ismrmrd_namespace:{el}"
    return root.find(s, {"ismrmrd_namespace": namespace}).text


def fastmri_slice_dataset_examples(files):
    """fastMRI SliceDataset's index and __getitem__ reads, replicated step by step."""
    out = []
    for fname in sorted(files):
        with h5py.File(fname, "r") as hf:
            et_root = etree.fromstring(hf["ismrmrd_header"][()])
            enc = ["encoding", "encodedSpace", "matrixSize"]
            enc_size = tuple(int(et_query(et_root, [*enc, a])) for a in "xyz")
            rec = ["encoding", "reconSpace", "matrixSize"]
            recon_size = tuple(int(et_query(et_root, [*rec, a])) for a in "xyz")
            lims = ["encoding", "encodingLimits", "kspace_encoding_step_1"]
            center = int(et_query(et_root, [*lims, "center"]))
            maximum = int(et_query(et_root, [*lims, "maximum"])) + 1
            padding_left = enc_size[1] // 2 - center
            meta = {
                "padding_left": padding_left,
                "padding_right": padding_left + maximum,
                "encoding_size": enc_size,
                "recon_size": recon_size,
            }
            for s in range(hf["kspace"].shape[0]):
                out.append((fname, s, meta))
    samples = []
    for fname, s, meta in out:
        with h5py.File(fname, "r") as hf:
            kspace = hf["kspace"][s]
            mask = np.asarray(hf["mask"]) if "mask" in hf else None
            target = hf["reconstruction_rss"][s] if "reconstruction_rss" in hf else None
            attrs = dict(hf.attrs)
            attrs.update(meta)
        samples.append((kspace, mask, target, attrs, fname.name, s))
    return samples


def test_files_read_by_fastmri_logic_with_fastmri_target(tmp_path):
    files = simulate_dataset(tmp_path, CFG, 2)
    samples = fastmri_slice_dataset_examples(files)
    assert len(samples) == 2 * CFG.num_slices
    H, W = CFG.encoding_size
    for kspace, mask, target, attrs, _, _ in samples:
        assert kspace.shape == (3, H, W) and kspace.dtype == np.complex64 and mask is None
        assert attrs["encoding_size"] == (H, W, 1) and attrs["recon_size"] == (32, 32, 1)
        assert (attrs["padding_left"], attrs["padding_right"]) == (0, W)
        assert attrs["acquisition"] in ("SIM_PD", "SIM_PDFS") and attrs["patient_id"].startswith("sim-")
        # fastMRI's multi-coil target: ifft2c, complex centre crop to the recon size, root-sum-of-squares
        img = ifft2c(kspace.astype(np.complex128))
        top, left = (H - 32) // 2, (W - 32) // 2
        ref = np.sqrt((np.abs(img[:, top : top + 32, left : left + 32]) ** 2).sum(0))
        np.testing.assert_allclose(target, ref, rtol=1e-4, atol=1e-6 * ref.max())
    with h5py.File(files[0], "r") as hf:
        vol = hf["reconstruction_rss"][()]
        assert hf.attrs["max"] == pytest.approx(vol.max()) and hf.attrs["norm"] == pytest.approx(np.linalg.norm(vol))
        assert hf["kspace"].shape == (2, 3, 64, 32)  # readout oversampling 2: H = 2h


def test_deterministic_and_varied():
    a, b = simulate_volume(CFG, 0), simulate_volume(CFG, 0)
    np.testing.assert_array_equal(a.kspace, b.kspace)
    c = simulate_volume(CFG, 1)
    assert np.linalg.norm(c.reconstruction_rss - a.reconstruction_rss) > 0.2 * np.linalg.norm(a.reconstruction_rss)
    # slices of one volume differ, smoothly (neighbours are correlated)
    s0, s1 = a.reconstruction_rss
    assert 0 < np.linalg.norm(s1 - s0) < np.linalg.norm(s0)
    # realistic intensity scale (fastMRI knee: max of order 1e-4 to 1e-3)
    assert 1e-4 < a.reconstruction_rss.max() < 2e-3


def test_no_inverse_crime():
    """Noise-free data are not the SENSE model of the acquisition-grid image and maps, unless fine_factor = 1."""

    def residual(fine):
        cfg = SimulationConfig(recon_size=(32, 32), num_coils=3, num_slices=1, noise_range=(0, 0), fine_factor=fine)
        vol = simulate_volume(cfg, 0)
        model = fft2c(vol.maps * vol.image[:, None])
        return np.linalg.norm(vol.kspace - model) / np.linalg.norm(vol.kspace)

    assert residual(1) < 1e-5
    assert residual(2) > 1e-2


def test_noise_level():
    quiet = simulate_volume(SimulationConfig(recon_size=(32, 32), num_coils=2, num_slices=1, noise_range=(0, 0)), 0)
    noisy = simulate_volume(
        SimulationConfig(recon_size=(32, 32), num_coils=2, num_slices=1, noise_range=(0.05, 0.05)), 0
    )
    assert quiet.noise_std == 0 and noisy.noise_std > 0
    # the outer k-space corner holds mostly noise: its std should be close to the recorded noise std
    corner = noisy.kspace[0, :, :4, :4]
    assert 0.5 < corner.std() / noisy.noise_std < 2.0


def test_edge_touching_and_smooth_phase():
    cfg = SimulationConfig(recon_size=(32, 32), num_coils=2, num_slices=1, oversampling=1, seed=0)
    touching = 0
    for v in range(8):
        vol = simulate_volume(cfg, v)
        img = vol.reconstruction_rss[0]
        touching += max(img[:, 0].mean(), img[:, -1].mean()) > 0.1 * img.max()
        x = vol.image[0]
        inside = np.abs(x) > 0.3 * np.abs(x).max()
        dphi = np.angle(x[:, 1:] * np.conj(x[:, :-1]))[inside[:, 1:] & inside[:, :-1]]
        assert np.median(np.abs(dphi)) < 0.3  # smooth
        assert np.ptp(np.angle(x[inside] * np.conj(x[inside][0]))) > 0.3  # but not constant
    assert 1 <= touching <= 7  # some volumes reach the phase-encode edge of the field of view, not all


def test_birdcage_defaults_equal_sigpy():
    import sigpy.mri

    ours = coil_sensitivities((6, 20, 16), r=1.4, normalize_rss=True)
    np.testing.assert_allclose(ours, sigpy.mri.birdcage_maps((6, 20, 16), r=1.4), atol=1e-12)
    varied = coil_sensitivities((6, 20, 16), r=1.4, rotation=0.5, offplane=0.3, gains=np.linspace(0.8, 1.2, 6))
    assert np.abs(varied - ours).max() > 0.1


def test_sample_slice():
    img = load_sample_slice()
    assert img.shape == (256, 256) and img.max() == 1.0 and img.min() == 0.0
    # big-endian uint16 with values 0..215: an 8-bit image, so 216 distinct levels at most
    assert len(np.unique(img)) <= 216 and (img > 0.05).mean() > 0.2


def test_bad_config():
    with pytest.raises(ValueError, match="recon_size must be even"):
        SimulationConfig(recon_size=(31, 32))
    with pytest.raises(ValueError, match="num_coils must be >= 1"):
        SimulationConfig(num_coils=0)


def test_a_volume_appears_under_its_name_only_when_complete(tmp_path, monkeypatch):
    import monarch_sci.datasets.mri.simulate as simulate

    cfg = SimulationConfig(recon_size=(16, 16), num_coils=2, num_slices=1, oversampling=1, fine_factor=1)
    (first,) = simulate_dataset(tmp_path, cfg, 1)
    before = first.read_bytes()
    write = simulate.write_fastmri_volume

    def dies_mid_write(path, **kw):
        write(path, **kw)
        raise KeyboardInterrupt  # the file is written (under its temporary name), the rename never happens

    monkeypatch.setattr(simulate, "write_fastmri_volume", dies_mid_write)
    with pytest.raises(KeyboardInterrupt):
        simulate_dataset(tmp_path, SimulationConfig(**{**cfg.__dict__, "noise_range": (0.05, 0.06)}), 2)
    assert first.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == [first.name]
