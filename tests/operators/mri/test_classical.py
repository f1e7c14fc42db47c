"""Classical reconstructions on a well-posed synthetic problem (known smooth maps), ESPIRiT, ReconProblem."""

import numpy as np
import pytest
import torch

from monarch_sci.datasets.mri.fastmri import center_crop, fastmri_rss
from monarch_sci.datasets.mri.masks import LineMaskFunc
from monarch_sci.metrics import nmse
from monarch_sci.operators.mri.classical import CLASSICAL_METHODS, ReconProblem, cg_sense, l1_wavelet, zero_filled_rss
from monarch_sci.operators.mri.coil_maps import calibration_width, espirit_maps

H = W = 32
C = 8


def fft2c(x):
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))


def phantom(seed=0, h=H, w=W):
    """Piecewise-smooth object with smooth phase, zero near the border."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:h, :w]
    y, x = (y - h / 2) / (h / 2), (x - w / 2) / (w / 2)
    img = 1.0 * ((x / 0.8) ** 2 + (y / 0.7) ** 2 < 1)
    for _ in range(4):
        cx, cy, r = rng.uniform(-0.4, 0.4), rng.uniform(-0.4, 0.4), rng.uniform(0.1, 0.25)
        img += rng.uniform(-0.5, 0.8) * (((x - cx) ** 2 + (y - cy) ** 2) < r**2)
    img = np.clip(img, 0, None) * (1 + 0.2 * np.cos(3 * x))
    return img * np.exp(1j * (0.6 * x + 0.3 * y))


def acquisition(acc, seed=0, noise=1e-3, h=H):
    import sigpy.mri

    maps = sigpy.mri.birdcage_maps((C, h, W), r=1.3)
    x = phantom(seed, h)
    rng = np.random.default_rng(seed)
    k = fft2c(maps * x) + noise * (rng.standard_normal((C, h, W)) + 1j * rng.standard_normal((C, h, W)))
    mask = np.ones(W, bool) if acc == 1 else LineMaskFunc("equispaced", [acc], [0.25])(W, seed=3).mask
    return (k * mask)[None].astype(np.complex64), mask, maps[None].astype(np.complex64), x


def test_zero_filled_rss_is_fastmri_rss():
    k, _, _, _ = acquisition(1)
    ours, ref = zero_filled_rss(torch.from_numpy(k)).numpy(), fastmri_rss(k, (H, W))
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5 * ref.max())  # complex64 FFTs


@pytest.mark.parametrize("acc", [2, 4])
def test_cg_sense_beats_zero_filled_and_converges(acc):
    k, mask, maps, x = acquisition(acc)
    kt, mt = torch.from_numpy(k.astype(np.complex128)), torch.from_numpy(maps.astype(np.complex128))
    rec, res = cg_sense(kt, mt, torch.from_numpy(mask.astype(np.float64)), lam=1e-6, max_iter=300, tol=1e-8)
    assert res.converged.all() and res.iterations < 300
    zero_filled = CLASSICAL_METHODS["zero_filled_sense"](ReconProblem(k, mask, maps=maps))
    err_cg, err_zf = nmse(np.abs(x), np.abs(rec[0].numpy())), nmse(np.abs(x), np.abs(zero_filled[0]))
    assert err_cg < 0.05 * err_zf and err_cg < 1e-3
    # the registered method (complex64, its default stopping rule, the adaptive λ it records) is close to converged
    problem = ReconProblem(k, mask, maps=maps)
    quick = CLASSICAL_METHODS["cg_sense"](problem)
    lam = problem.chosen["cg_sense"]["lam_auto"]["lam"][0]
    exact, _ = cg_sense(kt, mt, torch.from_numpy(mask.astype(np.float64)), lam=lam, max_iter=5000, tol=1e-12)
    assert np.linalg.norm(quick[0] - exact[0].numpy()) < 1e-2 * np.linalg.norm(exact[0].numpy())


def test_cg_sense_monarch_equals_fft_at_init():
    k, mask, maps, _ = acquisition(4)
    args = [torch.from_numpy(a.astype(np.complex128)) for a in (k, maps)]
    maskt = torch.from_numpy(mask.astype(np.float64))
    a, _ = cg_sense(*args, maskt, max_iter=10, fourier="fft")
    b, _ = cg_sense(*args, maskt, max_iter=10, fourier="monarch")
    assert ((a - b).abs().norm() / a.abs().norm()).item() <= 1e-10


def test_l1_wavelet_beats_zero_filled():
    k, mask, maps, x = acquisition(4)
    rec = l1_wavelet(k, maps, mask[None, None, None], lam_rel=1e-3, max_iter=50)
    zero_filled = CLASSICAL_METHODS["zero_filled_sense"](ReconProblem(k, mask, maps=maps))
    assert nmse(np.abs(x), np.abs(rec[0])) < 0.3 * nmse(np.abs(x), np.abs(zero_filled[0]))


def test_espirit_recovers_smooth_maps():
    k, mask, maps, x = acquisition(1, noise=1e-4)
    est = espirit_maps(k[0], 12)
    support = np.abs(x) > 0.3
    # ESPIRiT maps equal the true normalised maps up to one phase per pixel
    overlap = np.abs((maps[0].conj() * est).sum(0))
    assert np.median(overlap[support]) > 0.98
    # then fully sampled SENSE equals RSS on the support
    problem = ReconProblem(k, mask)
    sense = np.abs(CLASSICAL_METHODS["zero_filled_sense"](problem))[0]
    rss = fastmri_rss(k, (H, W))[0]
    assert np.median(np.abs(sense - rss)[support] / rss[support]) < 0.02
    assert problem.maps_seconds > 0


def test_readout_crop_is_exact_for_kept_rows():
    k, mask, maps, _ = acquisition(4, h=2 * H)  # a readout-oversampled acquisition
    full = ReconProblem(k, mask, maps=maps)
    cropped = ReconProblem(k, mask, maps=maps, recon_height=H)
    assert (
        cropped.kspace.shape == (1, C, H, W)
        and full.kspace.shape == (1, C, 2 * H, W)
        and cropped.coil_maps().shape == (1, C, H, W)
    )
    for name in ("zero_filled_rss", "zero_filled_sense"):  # linear: exact
        a = center_crop(CLASSICAL_METHODS[name](full), (H, W))
        b = CLASSICAL_METHODS[name](cropped)
        assert np.abs(a - b).max() <= 1e-5 * np.abs(a).max(), name
    # CG-SENSE: the solutions agree (truncated iterates need not, the inner products span other rows)
    sols = []
    for p in (full, cropped):
        kt, mt, mask_t = (t.to(torch.complex128) if t.is_complex() else t.double() for t in p.tensors())
        sols.append(cg_sense(kt, mt, mask_t, lam=1e-3, max_iter=500, tol=1e-10)[0].numpy())
    a = center_crop(sols[0], (H, W))
    assert np.abs(a - sols[1]).max() <= 1e-6 * np.abs(a).max()  # complex64 data: the crop is exact to ~1e-7


def test_errors():
    k, mask, _, _ = acquisition(4)
    with pytest.raises(
        ValueError,
        match=r"mask must be \(W,\) or \(slices, W\) = \(1, 32\), or a 2-D pattern \(H, W\) or \(slices, H, W\) = "
        r"\(1, 32, 32\), got \(31,\)",
    ):
        ReconProblem(k, mask[:31])
    with pytest.raises(ValueError, match="kspace must be complex"):
        ReconProblem(k.real, mask)
    with pytest.raises(ValueError, match=r"maps \(1, 8, 30, 32\) must have H = 32 \(acquired\) or 16 \(recon\) rows"):
        ReconProblem(k, mask, recon_height=16, maps=np.zeros((1, C, 30, W), np.complex64))
    narrow = np.zeros(64, bool)
    narrow[30:34] = True
    with pytest.raises(ValueError, match="fully sampled centre is 4 lines wide; ESPIRiT needs at least 5"):
        calibration_width(narrow)
    assert calibration_width(np.ones(64, bool)) == 24


def test_l1_wavelet_lam_is_sigpys_lamda():
    """``lam`` is exactly sigpy's ``L1WaveletRecon`` λ: same objective, step size, iterations (float64)."""
    import sigpy.mri

    from monarch_sci.operators.mri.classical import l1_wavelet_recon

    k, mask, maps, _ = acquisition(4)
    k, maps = k.astype(np.complex128), maps.astype(np.complex128)
    weights = np.broadcast_to(mask.astype(np.float64), (H, W))
    lam = 2e-3
    ours, res = l1_wavelet_recon(k, maps, mask[None, None, None], lam=lam, max_iter=40, tol=0)
    np.random.seed(0)  # sigpy's power iteration for the step size draws from np.random; ours seeds it with 0
    ref = sigpy.mri.app.L1WaveletRecon(k[0], maps[0], lam, weights=weights, max_iter=40, show_pbar=False).run()
    assert ours.dtype == np.complex128 and res.lam == [lam] and res.iterations == [40]
    assert np.linalg.norm(ours[0] - ref) <= 1e-12 * np.linalg.norm(ref)
    assert rel_change(ours[0], l1_wavelet(k, maps, mask[None, None, None], lam=10 * lam, max_iter=40, tol=0)[0]) > 1e-3
    # lam_rel: λ = lam_rel · max|Aᴴy| per slice
    peak = np.abs(sigpy.mri.linop.Sense(maps[0], weights=weights).H(k[0])).max()
    _, rel_res = l1_wavelet_recon(k, maps, mask[None, None, None], lam_rel=1e-3, max_iter=2, tol=0)
    assert rel_res.lam[0] == pytest.approx(1e-3 * peak, rel=1e-12)
    # tol: stops once the relative step is below it
    _, early = l1_wavelet_recon(k, maps, mask[None, None, None], lam=lam, max_iter=500, tol=1e-3)
    assert early.iterations[0] < 500 and early.step[0] <= 1e-3
    with pytest.raises(ValueError, match="give lam or lam_rel, not both"):
        l1_wavelet_recon(k, maps, mask[None, None, None], lam=lam, lam_rel=1e-3)


def rel_change(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(a))
