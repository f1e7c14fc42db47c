"""Any sampling pattern: 2-D masks through the reader, ReconProblem and every classical method; inferred masks;
CG-SENSE equal to sigpy's SenseRecon on a 2-D Poisson-disc case."""

import numpy as np
import pytest
import torch

from monarch_sci.datasets.mri.fastmri import FastMRISliceDataset, inspect_volume, volume_mask, write_fastmri_volume
from monarch_sci.datasets.mri.ismrmrd_header import make_ismrmrd_header
from monarch_sci.datasets.mri.masks import infer_mask, poisson_mask
from monarch_sci.fourier import fft2c
from monarch_sci.metrics import nmse
from monarch_sci.operators.mri.classical import CLASSICAL_METHODS, ReconProblem, cg_sense
from monarch_sci.operators.mri.coil_maps import calibration_width

H, W, C = 40, 32, 8


def acquisition(seed=0, accel=4, calib=16, noise=1e-3):
    """A smooth phantom seen by birdcage coils, undersampled by a 2-D Poisson-disc pattern (float64)."""
    import sigpy.mri

    rng = np.random.default_rng(seed)
    maps = sigpy.mri.birdcage_maps((C, H, W), r=1.3)
    y, x = np.mgrid[:H, :W]
    y, x = (y - H / 2) / (H / 2), (x - W / 2) / (W / 2)
    img = (((x / 0.8) ** 2 + (y / 0.7) ** 2) < 1) * (1 + 0.3 * np.cos(3 * x + 2 * y)) * np.exp(1j * 0.5 * x)
    mask = poisson_mask((H, W), accel, calib=calib, seed=seed)
    k = fft2c(maps * img) + noise * (rng.standard_normal((C, H, W)) + 1j * rng.standard_normal((C, H, W)))
    return k * mask, mask, maps, img


def test_cg_sense_agrees_with_sigpy_sense_recon_float64():
    import sigpy.mri

    k, mask, maps, _ = acquisition()
    lam = 1e-2
    ours, res = cg_sense(
        torch.from_numpy(k)[None], torch.from_numpy(maps)[None], torch.from_numpy(mask.astype(np.float64)),
        lam=lam, max_iter=500, tol=1e-12,
    )  # fmt: skip
    assert ours.dtype == torch.complex128 and bool(res.converged.all())
    ref = sigpy.mri.app.SenseRecon(k, maps, lamda=lam, weights=mask.astype(np.float64), max_iter=500,
                                   tol=1e-14, show_pbar=False).run()  # fmt: skip
    ref = np.asarray(ref)
    assert np.linalg.norm(ours[0].numpy() - ref) / np.linalg.norm(ref) < 1e-8


def test_every_classical_method_takes_a_two_dimensional_mask():
    # what is tested is the 2-D mask's path through every method; CG-SENSE's gain is checked at the fixed weight
    # this (nearly noiseless) acquisition was written for, as the adaptive default is chosen on realistic noise
    # (tests/operators/mri/test_regularisation.py, benchmarks/mri_lam_auto.py)
    k, mask, maps, img = acquisition(seed=1)
    support = np.abs(img) > 0.3
    for given in (mask, mask[None], None):  # (H, W), (slices, H, W), inferred from the zeros
        problem = ReconProblem(k[None].astype(np.complex64), given, recon_height=H // 2)
        assert problem.mask.shape == (1, H, W) and (problem.mask[0] == mask).all()
        assert problem.mask_inferred == (given is None)
        assert problem.kspace.shape == (1, C, H, W)  # no readout crop: both axes are phase encodes
        assert calibration_width(problem.mask[0]) == 16
        out = {name: np.abs(fn(problem))[0] for name, fn in CLASSICAL_METHODS.items()}
        out["cg_sense_1e-3"] = cg_sense(*problem.tensors(), lam=1e-3)[0].abs().numpy()[0]
        err = {name: nmse(np.abs(img)[support], x[support] / np.median(x[support] / np.abs(img)[support]))
               for name, x in out.items()}  # fmt: skip
        assert err["cg_sense_1e-3"] < 0.5 * err["zero_filled_sense"], err
        assert err["cg_sense"] < err["zero_filled_sense"], err  # the built-in method, at its adaptive weight
        assert err["l1_wavelet"] < 0.5 * err["zero_filled_sense"], err


def test_inferred_line_masks_stay_line_masks():
    k, _, _, _ = acquisition()
    rng = np.random.default_rng(0)
    full = rng.standard_normal((2, C, H, W)) + 1j * rng.standard_normal((2, C, H, W))
    lines = np.zeros(W, bool)
    lines[::3] = lines[W // 2 - 4 : W // 2 + 4] = True
    problem = ReconProblem((full * lines).astype(np.complex64), None, recon_height=H // 2)
    assert problem.mask_inferred and problem.mask.shape == (2, W) and (problem.mask == lines).all()
    assert problem.kspace.shape == (2, C, H // 2, W)  # line masks keep the readout crop
    np.testing.assert_array_equal(infer_mask(k), np.abs(k).sum(0) > 0)


def test_fastmri_files_with_two_dimensional_masks(tmp_path):
    k, mask, _, _ = acquisition()
    S = 3
    kspace = np.repeat(k[None], S, axis=0).astype(np.complex64)
    header = make_ismrmrd_header(encoding_size=(H, W), recon_size=(H, W))
    for stored in (mask, np.repeat(mask[None], S, axis=0)):
        path = tmp_path / f"m{stored.ndim}.h5"
        write_fastmri_volume(path, kspace=kspace, header_xml=header, mask=stored)
        assert inspect_volume(path, check_data=True).has_mask
        assert (FastMRISliceDataset(path)[1]["mask"] == mask).all()
    bad = mask.copy()
    bad[H // 2, W // 2] = False  # a sampled point the mask disowns
    write_fastmri_volume(tmp_path / "bad.h5", kspace=kspace, header_xml=header, mask=bad)
    with pytest.raises(ValueError, match=r"bad.h5: 'kspace' slice 0 has non-zero samples at 1 points"):
        inspect_volume(tmp_path / "bad.h5", check_data=True)
    with pytest.raises(ValueError, match=r"'mask' must be \(W,\) = \(32,\), .* \(slices, H, W\) = \(3, 40, 32\), got"):
        volume_mask(np.ones((H + 1, W)), kspace.shape)
