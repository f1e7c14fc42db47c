"""Classical multi-coil reconstructions: zero-filled, CG-SENSE (ℓ2) and ℓ1-wavelet (sigpy).

With ``y`` the (undersampled) multi-coil k-space, ``M`` the mask, ``F`` the centred orthonormal FFT and ``S``
ESPIRiT coil maps (:mod:`monarch_sci.operators.mri.coil_maps`):

* ``zero_filled_rss``: ``sqrt(Σ_c |F⁻¹ M y_c|²)`` — fastMRI's zero-filled baseline;
* ``zero_filled_sense``: the coil-combined adjoint ``Aᴴ y = Σ_c S̄_c F⁻¹ M y_c``;
* ``cg_sense``: ``argmin_x ‖A x − y‖² + λ‖x‖²``, i.e. ``(AᴴA + λI) x = Aᴴ y`` by our batched conjugate
  gradient (:func:`~monarch_sci.operators.mri.cg.conjugate_gradient`) on the SENSE operator, CPU or GPU, with
  ``fourier="fft"`` or ``"monarch"``;
* ``l1_wavelet``: ``argmin_x ½‖A x − y‖² + λ‖Ψ x‖₁`` with a Daubechies-4 wavelet ``Ψ``
  (``sigpy.mri.app.L1WaveletRecon``, per slice), ``λ = lam_rel · max|Aᴴ y|`` so that the weight does not
  depend on the data scale.

Every method takes a :class:`ReconProblem` (one volume: masked k-space, its line masks, lazily estimated
coil maps) and returns the complex or magnitude images ``(slices, H, W)`` on the acquisition grid; the caller
crops to the recon size. :data:`CLASSICAL_METHODS` maps method names to these callables; the ``monarch-sci
mri`` jobs add learned methods to the same table.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from monarch_sci.fourier import ifft2c
from monarch_sci.operators.mri.cg import CGResult, conjugate_gradient
from monarch_sci.operators.mri.coil_maps import calibration_width, espirit_maps
from monarch_sci.operators.mri.sense import SenseOperator

__all__ = [
    "CLASSICAL_METHODS",
    "ReconProblem",
    "cg_sense",
    "l1_wavelet",
    "rss",
    "zero_filled_rss",
]


def rss(x: torch.Tensor, dim: int = -3) -> torch.Tensor:
    """Root-sum-of-squares over the coil axis: ``sqrt(Σ_c |x_c|²)``."""
    return x.abs().square().sum(dim=dim).sqrt()


def zero_filled_rss(kspace: torch.Tensor) -> torch.Tensor:
    """``sqrt(Σ_c |F⁻¹ y_c|²)`` of (already masked) k-space.

    Shape
    -----
    ``(*batch, C, H, W)`` complex → ``(*batch, H, W)`` real.
    """
    return rss(ifft2c(kspace))


def cg_sense(
    kspace: torch.Tensor,
    maps: torch.Tensor,
    mask: torch.Tensor,
    *,
    lam: float = 1e-3,
    max_iter: int = 30,
    tol: float = 1e-5,
    fourier: str = "fft",
) -> tuple[torch.Tensor, CGResult]:
    """CG-SENSE with Tikhonov regularisation: solve ``(AᴴA + λI) x = Aᴴ y`` for every slice at once.

    Parameters
    ----------
    kspace
        Masked k-space ``y`` ``(S, C, H, W)`` complex.
    maps
        Coil maps ``(S, C, H, W)`` (normalised, ``Σ|S_c|² ≤ 1``, so ``‖AᴴA‖ ≤ 1`` and ``λ`` is scale-free
        relative to it).
    mask
        Broadcastable to ``(S, 1, H, W)``, e.g. line masks ``(S, 1, 1, W)``.
    lam, max_iter, tol
        Tikhonov weight, CG iterations and relative-residual target.
    fourier
        ``"fft"`` or ``"monarch"`` (exact at initialisation).

    Shape
    -----
    → images ``(S, H, W)`` complex and the :class:`~monarch_sci.operators.mri.cg.CGResult`.
    """
    A = SenseOperator(maps, mask, fourier=fourier, learn="none")
    with torch.no_grad():
        b = A.adjoint(kspace)
        res = conjugate_gradient(A.normal, b, lam=lam, max_iter=max_iter, tol=tol, ndim=2)
    return res.x, res


def l1_wavelet(
    kspace: np.ndarray,
    maps: np.ndarray,
    mask: np.ndarray,
    *,
    lam_rel: float = 3e-4,
    max_iter: int = 60,
    wave_name: str = "db4",
) -> np.ndarray:
    """ℓ1-wavelet regularised SENSE, slice by slice, with sigpy's ``L1WaveletRecon``.

    Shape
    -----
    ``kspace``, ``maps`` ``(S, C, H, W)``; ``mask`` broadcastable to ``(S, 1, H, W)`` → ``(S, H, W)`` complex64.
    """
    import sigpy.mri

    S, _, H, W = kspace.shape
    mask = np.broadcast_to(np.asarray(mask, dtype=np.float32), (S, 1, H, W))
    out = np.empty((S, H, W), np.complex64)
    maps_t, mask_t, kspace_t = (
        torch.from_numpy(np.array(a, dtype))
        for a, dtype in ((maps, np.complex64), (mask, np.float32), (kspace, np.complex64))
    )
    with torch.no_grad():  # λ relative to the peak of zero-filled SENSE, per slice
        peak = SenseOperator(maps_t, mask_t).H(kspace_t).abs().flatten(1).amax(1).numpy()
    for s in range(S):
        y = kspace[s].astype(np.complex64)
        lam = lam_rel * float(peak[s])
        app = sigpy.mri.app.L1WaveletRecon(
            y,
            maps[s].astype(np.complex64),
            lam,
            weights=mask[s, 0],
            wave_name=wave_name,
            max_iter=max_iter,
            show_pbar=False,
        )
        out[s] = np.asarray(app.run(), dtype=np.complex64)
    return out


@dataclass
class ReconProblem:
    """One volume to reconstruct.

    Attributes
    ----------
    kspace
        ``(S, C, H', W)`` complex64, masked (zeros where not sampled): the k-space the methods reconstruct. The
        constructor takes the acquired ``(S, C, H, W)`` k-space; with ``recon_height`` it keeps the central
        ``H' = recon_height`` readout rows (:func:`~monarch_sci.datasets.mri.fastmri.remove_readout_oversampling`).
    mask
        Line masks ``(W,)`` or ``(S, W)`` (all ``True`` for fully sampled data), stored as ``(S, W)``, or 2-D
        sampling patterns ``(H, W)`` or ``(S, H, W)`` (e.g. Poisson-disc in the phase-encode plane of a 3-D
        Cartesian acquisition), stored as ``(S, H, W)`` — or as line masks if they sample whole columns only.
        ``None``: inferred from the k-space (sampled where any coil is non-zero, sigpy's rule;
        :func:`~monarch_sci.datasets.mri.masks.infer_mask`) and :attr:`mask_inferred` set — never taken as
        fully sampled.
    recon_height
        Optional readout field of view to reconstruct (the header's recon height). A line mask leaves the image
        rows decoupled, so the linear methods and the exact CG-SENSE solution are unchanged on the kept rows
        (truncated CG iterates differ slightly: their step sizes use inner products over all rows), at a
        fraction of the cost. A 2-D mask couples the rows (both axes are phase encodes): ``recon_height`` is
        then ignored and the methods reconstruct the full ``(H, W)`` grid (the caller crops).
    device
        Torch device for the torch methods.
    maps
        Coil maps, ``(S, C, H, W)`` (acquired grid) or ``(S, C, H', W)``; estimated by ESPIRiT from each slice's
        ACS on first use if ``None``. ESPIRiT runs on the acquired ``(H, W)`` k-space, not the cropped one: a
        cropped, wrapped readout field of view has discontinuities at its edges that break its model.
    maps_seconds, maps_cpu_seconds
        Wall and CPU time spent estimating the maps (0 if they were given).
    acquired_kspace
        The ``(S, C, H, W)`` k-space as given.
    mask_inferred
        Whether :attr:`mask` was inferred from the k-space.
    """

    kspace: np.ndarray
    mask: np.ndarray | None
    recon_height: int | None = None
    device: str = "cpu"
    maps: np.ndarray | None = None
    maps_seconds: float = 0.0
    maps_cpu_seconds: float = 0.0

    def __post_init__(self) -> None:
        from monarch_sci.datasets.mri.fastmri import remove_readout_oversampling, volume_mask
        from monarch_sci.datasets.mri.masks import as_line_mask, infer_mask

        k = self.kspace
        if k.ndim != 4 or not np.iscomplexobj(k):
            raise ValueError(f"ReconProblem: kspace must be complex (slices, coils, H, W), got {k.shape} {k.dtype}")
        S, _, H, W = k.shape
        self.mask_inferred = self.mask is None
        m = infer_mask(k) if self.mask is None else np.asarray(self.mask)
        try:
            m = volume_mask(m, k.shape)
        except ValueError:
            raise ValueError(
                f"ReconProblem: mask must be (W,) or (slices, W) = ({S}, {W}), or a 2-D pattern (H, W) or "
                f"(slices, H, W) = ({S}, {H}, {W}), got {m.shape}"
            ) from None
        if m.ndim == 3:
            lines = as_line_mask(m)
            m = m if lines is None else lines
        self.mask = np.ascontiguousarray(m)
        height = H if self.recon_height is None or m.ndim == 3 else min(int(self.recon_height), H)
        top = (H - height) // 2
        self._rows = slice(top, top + height)
        self.acquired_kspace = k
        self.kspace = np.ascontiguousarray(remove_readout_oversampling(k, height))
        if self.maps is not None and self.maps.shape[-2] not in (H, height):
            raise ValueError(
                f"ReconProblem: maps {self.maps.shape} must have H = {H} (acquired) or {height} (recon) rows"
            )

    @property
    def num_slices(self) -> int:
        return self.kspace.shape[0]

    def coil_maps(self) -> np.ndarray:
        """Maps ``(S, C, H', W)`` matching :attr:`kspace` (ESPIRiT on first use, timed in :attr:`maps_seconds`)."""
        if self.maps is None:
            t0, c0 = time.perf_counter(), time.process_time()
            self.maps = np.stack(
                [espirit_maps(self.acquired_kspace[s], calibration_width(self.mask[s])) for s in range(self.num_slices)]
            )
            self.maps_seconds = time.perf_counter() - t0
            self.maps_cpu_seconds = time.process_time() - c0
        if self.maps.shape[-2] == self.kspace.shape[-2]:
            return np.ascontiguousarray(self.maps)
        return np.ascontiguousarray(self.maps[..., self._rows, :])

    def sampling(self) -> np.ndarray:
        """The mask as float32 broadcastable to the k-space: ``(S, 1, 1, W)`` (lines) or ``(S, 1, H, W)``."""
        m = self.mask.astype(np.float32)
        return m[:, None, None, :] if m.ndim == 2 else m[:, None]

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(kspace, maps, mask)`` as torch tensors on :attr:`device` (readout-cropped), mask :meth:`sampling`."""
        dev = torch.device(self.device)
        k = torch.from_numpy(self.kspace).to(dev)
        maps = torch.from_numpy(self.coil_maps()).to(dev)
        return k, maps, torch.from_numpy(self.sampling()).to(dev)


def _zero_filled_rss(p: ReconProblem) -> np.ndarray:
    return zero_filled_rss(torch.from_numpy(p.kspace).to(p.device)).cpu().numpy()


def _zero_filled_sense(p: ReconProblem) -> np.ndarray:
    k, maps, mask = p.tensors()
    return SenseOperator(maps, mask).adjoint(k).cpu().numpy()


def _cg_sense(p: ReconProblem) -> np.ndarray:
    k, maps, mask = p.tensors()
    x, _ = cg_sense(k, maps, mask)
    return x.cpu().numpy()


def _l1_wavelet(p: ReconProblem) -> np.ndarray:
    return l1_wavelet(p.kspace, p.coil_maps(), p.sampling())


#: name -> method(problem) -> images (S, H, W); the jobs take magnitudes and crop to the recon size.
CLASSICAL_METHODS: dict[str, Callable[[ReconProblem], np.ndarray]] = {
    "zero_filled_rss": _zero_filled_rss,
    "zero_filled_sense": _zero_filled_sense,
    "cg_sense": _cg_sense,
    "l1_wavelet": _l1_wavelet,
}
