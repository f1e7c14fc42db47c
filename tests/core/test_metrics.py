import math

import numpy as np
import pytest
import torch

from monarch_sci.metrics import mse, nmse, psnr, relative_l2, relative_l2_per_sample, ssim, structural_similarity


# ---- relative L2 (FNO LpLoss(p=2).rel) -------------------------------------------------------------------
def test_relative_l2_by_hand():
    true = torch.tensor([[[3.0, 0.0], [0.0, 4.0]], [[1.0, 2.0], [2.0, 0.0]]])  # norms 5 and 3
    pred = torch.tensor([[[3.0, 1.0], [0.0, 4.0]], [[1.0, 2.0], [0.0, 0.0]]])  # errors 1 and 2
    torch.testing.assert_close(relative_l2_per_sample(pred, true), torch.tensor([1 / 5, 2 / 3]))
    torch.testing.assert_close(relative_l2(pred, true), torch.tensor((1 / 5 + 2 / 3) / 2))
    # over the last dim only: per (sample, row) ratios
    per_row = relative_l2_per_sample(pred, true, dims=-1)
    torch.testing.assert_close(per_row, torch.tensor([[1 / 3, 0.0], [0.0, 1.0]]))


def test_relative_l2_matches_fno_lploss_formula():
    # FNO's LpLoss.rel: norms of the flattened samples, then the mean of the ratios.
    x, y = torch.randn(4, 8, 8, 3, dtype=torch.float64), torch.randn(4, 8, 8, 3, dtype=torch.float64)
    diff = torch.norm(x.reshape(4, -1) - y.reshape(4, -1), 2, 1)
    ref = torch.mean(diff / torch.norm(y.reshape(4, -1), 2, 1))
    torch.testing.assert_close(relative_l2(x, y), ref)


def test_relative_l2_complex_and_differentiable():
    true = torch.tensor([[3 + 4j, 0j]], dtype=torch.complex128)
    pred = torch.tensor([[3 + 4j, 1j]], dtype=torch.complex128, requires_grad=True)
    out = relative_l2(pred, true)
    torch.testing.assert_close(out.detach(), torch.tensor(0.2, dtype=torch.float64))
    out.backward()
    assert pred.grad is not None


def test_relative_l2_bad_input():
    with pytest.raises(ValueError, match=r"relative_l2: pred and true must have one shape, got \(2, 3\) and \(2, 4\)"):
        relative_l2(torch.ones(2, 3), torch.ones(2, 4))
    with pytest.raises(TypeError, match=r"relative_l2: true must have a floating or complex dtype, got torch.int64"):
        relative_l2(torch.ones(2, 3), torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"expected \(batch, \.\.\.\) inputs"):
        relative_l2(torch.ones(3), torch.ones(3))


# ---- fastMRI metrics -------------------------------------------------------------------------------------
def test_mse_nmse_psnr_by_hand():
    gt = np.array([[0.0, 1.0], [2.0, 4.0]])
    pred = gt + np.array([[1.0, 0.0], [0.0, -1.0]])
    assert mse(gt, pred) == pytest.approx((1 + 1) / 4)
    assert nmse(gt, pred) == pytest.approx((1 + 1) / (0 + 1 + 4 + 16))
    assert psnr(gt, pred) == pytest.approx(10 * math.log10(4.0**2 / 0.5))  # 15.05 dB
    assert psnr(gt, pred, maxval=8.0) == pytest.approx(10 * math.log10(8.0**2 / 0.5))
    # torch tensors are accepted as well
    assert psnr(torch.from_numpy(gt), torch.from_numpy(pred)) == pytest.approx(psnr(gt, pred))


def test_ssim_single_window_by_hand():
    # A 7×7 image is exactly one window. x = 0..48, y = 2x, data range L = max(x) = 48.
    x = np.arange(49, dtype=np.float64).reshape(1, 7, 7)
    y = 2 * x
    mu_x, mu_y = 24.0, 48.0
    var_x = (49**2 - 1) / 12 * 49 / 48  # population variance of 0..48 is 200; sample variance 204.1667
    var_y, cov_xy = 4 * var_x, 2 * var_x
    c1, c2 = (0.01 * 48) ** 2, (0.03 * 48) ** 2
    expected = (2 * mu_x * mu_y + c1) * (2 * cov_xy + c2) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    assert expected == pytest.approx(0.64033, abs=1e-5)
    assert ssim(x, y) == pytest.approx(expected, rel=1e-12)


def test_ssim_constant_slices_mean_over_slices_by_hand():
    # Constant images: all variances are 0, S = (2ab + C1)/(a² + b² + C1) in every window. The data range is
    # the volume maximum (3), shared by both slices; the result is the mean over slices.
    gt = np.stack([np.full((7, 9), 2.0), np.full((7, 9), 3.0)])
    pred = np.stack([np.full((7, 9), 1.0), np.full((7, 9), 3.0)])
    c1 = (0.01 * 3.0) ** 2
    s0 = (2 * 2 * 1 + c1) / (4 + 1 + c1)
    s1 = 1.0
    assert ssim(gt, pred) == pytest.approx((s0 + s1) / 2, rel=1e-12)
    c1m = (0.01 * 10.0) ** 2
    assert ssim(gt, pred, maxval=10.0) == pytest.approx(((4 + c1m) / (5 + c1m) + 1) / 2, rel=1e-12)


def test_ssim_averages_only_windows_inside_the_image():
    # 9×9 image: 3×3 = 9 windows fit inside. A change at pixel (0, 0) touches only the top-left window, so
    # SSIM = (8·1 + S_00)/9 with S_00 the SSIM of the top-left 7×7 patch (reflect-padded border windows of
    # scikit-image are cropped away and must not count).
    rng = np.random.default_rng(0)
    gt = rng.random((9, 9)) + 1.0
    pred = gt.copy()
    pred[0, 0] += 0.5
    L = gt.max()
    s00 = structural_similarity(gt[:7, :7], pred[:7, :7], L)
    assert s00 < 0.99
    assert structural_similarity(gt, pred, L) == pytest.approx((8 + s00) / 9, rel=1e-12)


def test_ssim_identical_is_one_and_errors():
    gt = np.random.default_rng(1).random((2, 10, 12))
    assert ssim(gt, gt) == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match=r"ssim: expected a volume of shape \(slices, H, W\), got \(10, 12\)"):
        ssim(gt[0], gt[0])
    with pytest.raises(ValueError, match=r"ssim: gt and pred must have one shape, got \(2, 10, 12\) and \(2, 10, 11\)"):
        ssim(gt, gt[..., :11])
    with pytest.raises(ValueError, match=r"smaller than the 7×7 window"):
        ssim(gt[:, :6], gt[:, :6])
    with pytest.raises(TypeError, match=r"must be a real image \(magnitude\), got dtype complex128"):
        nmse(gt.astype(complex), gt)
    with pytest.raises(TypeError, match=r"must be a numpy array or torch tensor, got list"):
        mse([1.0], [1.0])


def test_against_scikit_image_when_installed():
    metrics = pytest.importorskip("skimage.metrics", reason="scikit-image not installed: extra cross-check skipped")
    rng = np.random.default_rng(2)
    gt = rng.random((3, 20, 17)) * 5
    pred = gt + 0.3 * rng.standard_normal(gt.shape)
    ref_ssim = np.mean([metrics.structural_similarity(g, p, data_range=gt.max()) for g, p in zip(gt, pred)])
    assert ssim(gt, pred) == pytest.approx(ref_ssim, rel=1e-10)
    assert psnr(gt, pred) == pytest.approx(metrics.peak_signal_noise_ratio(gt, pred, data_range=gt.max()), rel=1e-12)
    assert mse(gt, pred) == pytest.approx(metrics.mean_squared_error(gt, pred), rel=1e-12)


def test_pool_seeds_still_imports_from_metrics_with_a_warning():
    from monarch_sci import metrics
    from monarch_sci.training import records

    with pytest.warns(DeprecationWarning, match="use monarch_sci.training.records.pool_seeds"):
        from monarch_sci.metrics import pool_seeds
    assert pool_seeds is records.pool_seeds
    assert "pool_seeds" not in metrics.__all__
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        metrics.nothing  # noqa: B018
