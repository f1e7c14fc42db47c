"""Metrics for the whole toolkit: the FNO relative L2 error and the fastMRI image metrics.

PDE side (torch, differentiable): :func:`relative_l2` is the FNO benchmark's ``LpLoss(p=2)`` ``rel``: per
sample ``‖pred − true‖₂ / ‖true‖₂`` over the given dims, averaged over the batch.

MRI side (NumPy, as ``fastmri/evaluate.py`` defines them, per volume ``(slices, H, W)``):

* ``mse = mean((gt − pred)²)``
* ``nmse = ‖gt − pred‖² / ‖gt‖²``
* ``psnr = 10·log10(maxval² / mse)`` with ``maxval = gt.max()`` (scikit-image's ``peak_signal_noise_ratio``
  with ``data_range=gt.max()``)
* ``ssim`` = mean over slices of scikit-image's ``structural_similarity(gt[i], pred[i], data_range=maxval)``
  with its defaults: a uniform 7×7 window, ``K1 = 0.01``, ``K2 = 0.03``, sample covariances (factor
  ``N/(N−1)``, ``N = 49``), and the mean of the SSIM map over the pixels whose window lies fully inside the
  image (scikit-image crops a 3-pixel border). ``maxval`` defaults to ``gt.max()`` over the volume.

These are re-implemented here (scikit-image is not a dependency) and checked against hand arithmetic and,
when it is installed, against scikit-image itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = [
    "mse",
    "nmse",
    "psnr",
    "relative_l2",
    "relative_l2_per_sample",
    "ssim",
    "structural_similarity",
]


# ---------------------------------------------------------------------------------------------------------
# PDE: relative L2 (FNO benchmark)
# ---------------------------------------------------------------------------------------------------------
def relative_l2_per_sample(
    pred: torch.Tensor, true: torch.Tensor, dims: int | Sequence[int] | None = None
) -> torch.Tensor:
    """Per-sample relative error ``‖pred − true‖₂ / ‖true‖₂`` over ``dims``.

    Parameters
    ----------
    pred, true
        Tensors of one shape (real or complex).
    dims
        Dims the norms run over; default: every dim but the first (the FNO convention, which flattens each
        sample).

    Returns
    -------
    torch.Tensor
        The ratios, with ``dims`` reduced away.

    Shape
    -----
    ``(B, ...) → (B,)`` with the default ``dims``.

    Examples
    --------
    >>> true = torch.tensor([[3.0, 4.0], [1.0, 0.0]])
    >>> pred = torch.tensor([[3.0, 3.0], [1.0, 1.0]])
    >>> relative_l2_per_sample(pred, true)
    tensor([0.2000, 1.0000])
    """
    for name, t in (("pred", pred), ("true", true)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"relative_l2: {name} must be a torch.Tensor, got {type(t).__name__}")
        if not (t.is_floating_point() or t.is_complex()):
            raise TypeError(f"relative_l2: {name} must have a floating or complex dtype, got {t.dtype}")
    if pred.shape != true.shape:
        raise ValueError(
            f"relative_l2: pred and true must have one shape, got {tuple(pred.shape)} and {tuple(true.shape)}"
        )
    if dims is None:
        if true.dim() < 2:
            raise ValueError(f"relative_l2: expected (batch, ...) inputs with dims=None, got {tuple(true.shape)}")
        dims = tuple(range(1, true.dim()))
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    diff = torch.linalg.vector_norm(pred - true, ord=2, dim=dims)
    ref = torch.linalg.vector_norm(true, ord=2, dim=dims)
    return diff / ref


def relative_l2(pred: torch.Tensor, true: torch.Tensor, dims: int | Sequence[int] | None = None) -> torch.Tensor:
    """Mean over the batch of :func:`relative_l2_per_sample` (the FNO ``LpLoss(p=2)``, ``size_average=True``).

    .. math:: \\frac{1}{B}\\sum_b \\frac{\\|\\hat u_b - u_b\\|_2}{\\|u_b\\|_2}

    Shape
    -----
    ``(B, ...) → ()``

    Examples
    --------
    >>> true = torch.tensor([[3.0, 4.0], [1.0, 0.0]])
    >>> relative_l2(torch.tensor([[3.0, 3.0], [1.0, 1.0]]), true)
    tensor(0.6000)
    """
    return relative_l2_per_sample(pred, true, dims).mean()


# ---------------------------------------------------------------------------------------------------------
# MRI: fastMRI metrics
# ---------------------------------------------------------------------------------------------------------
def _as_numpy(name: str, a) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    if not isinstance(a, np.ndarray):
        raise TypeError(f"fastMRI metrics: {name} must be a numpy array or torch tensor, got {type(a).__name__}")
    if np.iscomplexobj(a) or not np.issubdtype(a.dtype, np.number):
        raise TypeError(f"fastMRI metrics: {name} must be a real image (magnitude), got dtype {a.dtype}")
    return a


def _pair(gt, pred, where: str) -> tuple[np.ndarray, np.ndarray]:
    gt, pred = _as_numpy("gt", gt), _as_numpy("pred", pred)
    if gt.shape != pred.shape:
        raise ValueError(f"{where}: gt and pred must have one shape, got {gt.shape} and {pred.shape}")
    return gt, pred


def mse(gt, pred) -> float:
    """Mean squared error ``mean((gt − pred)²)`` (fastMRI ``mse``), accumulated in float64."""
    gt, pred = _pair(gt, pred, "mse")
    return float(np.mean((gt.astype(np.float64) - pred) ** 2))


def nmse(gt, pred) -> float:
    """Normalised MSE ``‖gt − pred‖₂² / ‖gt‖₂²`` (fastMRI ``nmse``) over the whole array."""
    gt, pred = _pair(gt, pred, "nmse")
    gt = gt.astype(np.float64)
    return float(np.linalg.norm(gt - pred) ** 2 / np.linalg.norm(gt) ** 2)


def psnr(gt, pred, maxval: float | None = None) -> float:
    """Peak signal-to-noise ratio ``10·log10(maxval² / mse(gt, pred))`` in dB (fastMRI ``psnr``).

    ``maxval`` defaults to ``gt.max()`` (fastMRI's ``data_range``); pass the file's ``max`` attribute to use
    that instead.
    """
    gt, pred = _pair(gt, pred, "psnr")
    maxval = float(gt.max()) if maxval is None else float(maxval)
    return float(10.0 * np.log10(maxval**2 / mse(gt, pred)))


def _box_mean(a: np.ndarray, w: int) -> np.ndarray:
    """Mean of ``a`` over every ``w×w`` window lying fully inside (``valid`` correlation), via cumulative sums."""
    c = np.zeros((a.shape[0] + 1, a.shape[1] + 1))
    c[1:, 1:] = a.cumsum(0).cumsum(1)
    return (c[w:, w:] - c[:-w, w:] - c[w:, :-w] + c[:-w, :-w]) / (w * w)


def structural_similarity(
    im1,
    im2,
    data_range: float,
    *,
    win_size: int = 7,
    k1: float = 0.01,
    k2: float = 0.03,
) -> float:
    """Mean SSIM of two 2-D images, as scikit-image's ``structural_similarity`` with its defaults.

    With window means ``μ``, sample (co)variances ``σ`` (``N/(N−1)``, ``N = win_size²``), ``C1 = (k1·L)²``,
    ``C2 = (k2·L)²`` and ``L = data_range``:

    .. math:: S = \\frac{(2μ_xμ_y + C_1)(2σ_{xy} + C_2)}{(μ_x^2 + μ_y^2 + C_1)(σ_x^2 + σ_y^2 + C_2)},

    averaged over the windows that lie fully inside the image.

    Shape
    -----
    ``(H, W), (H, W) → ()`` with ``H, W ≥ win_size``.
    """
    im1, im2 = _pair(im1, im2, "structural_similarity")
    if im1.ndim != 2:
        raise ValueError(f"structural_similarity: expected 2-D images, got shape {im1.shape}")
    if win_size % 2 != 1 or win_size < 2:
        raise ValueError(f"structural_similarity: win_size must be an odd integer >= 3, got {win_size}")
    if min(im1.shape) < win_size:
        raise ValueError(f"structural_similarity: images {im1.shape} are smaller than the {win_size}×{win_size} window")
    x, y = im1.astype(np.float64), im2.astype(np.float64)
    n = win_size * win_size
    cov_norm = n / (n - 1)
    ux, uy = _box_mean(x, win_size), _box_mean(y, win_size)
    vx = cov_norm * (_box_mean(x * x, win_size) - ux * ux)
    vy = cov_norm * (_box_mean(y * y, win_size) - uy * uy)
    vxy = cov_norm * (_box_mean(x * y, win_size) - ux * uy)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s = (2 * ux * uy + c1) * (2 * vxy + c2) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    return float(s.mean())


def ssim(gt, pred, maxval: float | None = None) -> float:
    """SSIM of a volume ``(slices, H, W)``: the mean over slices of :func:`structural_similarity` (fastMRI).

    ``maxval`` (the data range) defaults to ``gt.max()`` over the whole volume.

    Examples
    --------
    >>> gt = np.random.default_rng(0).random((2, 16, 16))
    >>> ssim(gt, gt)
    1.0
    """
    gt, pred = _pair(gt, pred, "ssim")
    if gt.ndim != 3:
        raise ValueError(f"ssim: expected a volume of shape (slices, H, W), got {gt.shape}")
    maxval = float(gt.max()) if maxval is None else float(maxval)
    return float(np.mean([structural_similarity(g, p, maxval) for g, p in zip(gt, pred)]))


def __getattr__(name: str):
    # Deprecated alias (one release): seed pooling moved to the training package, with the run records.
    if name == "pool_seeds":
        import warnings

        from monarch_sci.training.records import pool_seeds

        warnings.warn(
            "monarch_sci.metrics.pool_seeds is deprecated and will be removed in the next release; use "
            "monarch_sci.training.records.pool_seeds",
            DeprecationWarning,
            stacklevel=2,
        )
        return pool_seeds
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
