"""Classical multi-coil reconstructions: zero-filled, CG-SENSE (ℓ2) and ℓ1-wavelet (sigpy).

With ``y`` the (undersampled) multi-coil k-space, ``M`` the mask, ``F`` the centred orthonormal FFT and ``S``
ESPIRiT coil maps (:mod:`monarch_sci.operators.mri.coil_maps`):

* ``zero_filled_rss``: ``sqrt(Σ_c |F⁻¹ M y_c|²)`` — fastMRI's zero-filled baseline;
* ``zero_filled_sense``: the coil-combined adjoint ``Aᴴ y = Σ_c S̄_c F⁻¹ M y_c``;
* ``cg_sense``: ``argmin_x ‖A x − y‖² + λ‖x‖²``, i.e. ``(AᴴA + λI) x = Aᴴ y`` by our batched conjugate
  gradient (:func:`~monarch_sci.operators.mri.cg.conjugate_gradient`) on the SENSE operator, CPU or GPU, with
  ``fourier="fft"`` or ``"monarch"``;
* ``l1_wavelet`` / ``l1_wavelet_recon``: ``argmin_x ½‖A x − y‖² + λ‖Ψ x‖₁`` with a Daubechies-4 wavelet ``Ψ``
  (``sigpy.mri.app.L1WaveletRecon``, per slice): ``lam`` is exactly sigpy's ``lamda``; ``lam_rel`` sets
  ``λ = lam_rel · max|Aᴴ y|`` instead, a weight that does not depend on the data scale.

Both weights default to ``"auto"``: a rule that follows the data's noise level
(:func:`~monarch_sci.operators.mri.regularisation.auto_lam`: a noise estimate from the outermost sampled k-space
against the scale of ``Aᴴy``), recorded with the result (``lam_choice``); a number is used as given.

Every method takes a :class:`ReconProblem` (one volume: masked k-space, its line masks, lazily estimated
coil maps) and returns the complex or magnitude images ``(slices, H, W)`` on the acquisition grid; the caller
crops to the recon size. :data:`CLASSICAL_METHODS` maps method names to these callables; the ``monarch-sci
mri`` jobs add learned methods to the same table.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from monarch_sci.fourier import ifft2c
from monarch_sci.operators.mri.cg import CGResult, conjugate_gradient
from monarch_sci.operators.mri.coil_maps import CoilMapSpec
from monarch_sci.operators.mri.regularisation import LamChoice, auto_lam
from monarch_sci.operators.mri.sense import SenseOperator

__all__ = [
    "CLASSICAL_METHODS",
    "L1Result",
    "ReconProblem",
    "SenseCGResult",
    "cg_sense",
    "l1_wavelet",
    "l1_wavelet_recon",
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


@dataclass
class SenseCGResult(CGResult):
    """:class:`~monarch_sci.operators.mri.cg.CGResult` of :func:`cg_sense`, with the weight it used.

    Attributes
    ----------
    lam
        The Tikhonov weight λ solved with.
    lam_choice
        How ``lam="auto"`` chose it (:class:`~monarch_sci.operators.mri.regularisation.LamChoice`); ``None`` for a
        given number.
    """

    lam: float = 0.0
    lam_choice: LamChoice | None = None


def _check_auto(name: str, lam: object) -> None:
    if isinstance(lam, str) and lam != "auto":
        raise ValueError(f"{name}: lam must be a number or 'auto', got {lam!r}")


def cg_sense(
    kspace: torch.Tensor,
    maps: torch.Tensor,
    mask: torch.Tensor,
    *,
    lam: float | Literal["auto"] = "auto",
    max_iter: int = 500,
    tol: float = 1e-5,
    fourier: str = "fft",
) -> tuple[torch.Tensor, SenseCGResult]:
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
    lam
        Tikhonov weight λ, or ``"auto"``: one λ per volume from its noise level
        (:func:`~monarch_sci.operators.mri.regularisation.auto_lam`, ``benchmarks/results/mri_lam_auto.md``).
    max_iter, tol
        Iteration cap and relative-residual target ``‖r‖/‖Aᴴy‖ ≤ tol``. With ``‖AᴴA‖ ≤ 1`` the system's condition
        number is at most ``(1 + λ)/λ``, so the defaults stop within about ``(1 + λ)/λ · tol`` of the exact
        solution (λ = 1e-3: about 1%); measured on a 230×180, 8-coil, 8× Poisson-disc slice at λ = 1e-3
        (``benchmarks/results/mri_recon_defaults.md``) they stop after 83 iterations, 0.12% from it (30 iterations:
        3.3%).
    fourier
        ``"fft"`` or ``"monarch"`` (exact at initialisation).

    Shape
    -----
    → images ``(S, H, W)`` complex and the :class:`SenseCGResult`.
    """
    _check_auto("cg_sense", lam)
    choice = auto_lam("cg_sense", kspace, maps, mask) if lam == "auto" else None
    weight = float(choice.lam[0] if choice is not None else lam)
    A = SenseOperator(maps, mask, fourier=fourier, learn="none")
    with torch.no_grad():
        b = A.adjoint(kspace)
        res = conjugate_gradient(A.normal, b, lam=weight, max_iter=max_iter, tol=tol, ndim=2)
    return res.x, SenseCGResult(res.x, res.iterations, res.residual, res.converged, weight, choice)


@dataclass
class L1Result:
    """Convergence record of :func:`l1_wavelet_recon`, one entry per slice.

    Attributes
    ----------
    lam
        The weight λ of sigpy's objective actually used for each slice (``lam``, or ``lam_rel · max|Aᴴ y|``).
    iterations
        Iterations run for each slice (at most ``max_iter``; fewer where the ``tol`` rule stopped it).
    step
        Final relative step ``‖x_k − x_{k−1}‖ / (α ‖Aᴴ y‖)`` per slice (α the gradient step).
    lam_choice
        How ``lam="auto"`` chose the weights (:class:`~monarch_sci.operators.mri.regularisation.LamChoice`),
        else ``None``.
    """

    lam: list[float]
    iterations: list[int]
    step: list[float]
    lam_choice: LamChoice | None = None


def l1_wavelet_recon(
    kspace: np.ndarray,
    maps: np.ndarray,
    mask: np.ndarray,
    *,
    lam: float | Literal["auto"] | None = None,
    lam_rel: float | None = None,
    max_iter: int = 500,
    tol: float = 1e-4,
    wave_name: str = "db4",
) -> tuple[np.ndarray, L1Result]:
    """ℓ1-wavelet regularised SENSE, slice by slice, with sigpy's ``L1WaveletRecon``; images and a record.

    Solves sigpy's ``argmin_x ½‖A x − y‖² + λ‖Ψ x‖₁`` (``A = M F S``, ``Ψ`` the ``wave_name`` wavelet) by its
    accelerated proximal gradient method, the step ``α = 1/‖AᴴA‖`` from sigpy's power iteration started from a
    fixed seed (so that the same input gives the same output; the caller's NumPy random state is restored).

    Parameters
    ----------
    lam
        λ exactly as sigpy's ``L1WaveletRecon(y, mps, lamda=λ)`` (absolute: it scales with the data), or
        ``"auto"``: per slice from the volume's noise level
        (:func:`~monarch_sci.operators.mri.regularisation.auto_lam`; ``benchmarks/results/mri_lam_auto.md``).
    lam_rel
        λ relative to the data: ``λ = lam_rel · max|Aᴴ y|`` per slice. Give at most one of ``lam`` and
        ``lam_rel``; with neither, ``lam = "auto"``.
    max_iter, tol
        Iteration cap, and stop once the relative step ``‖x_k − x_{k−1}‖ / (α ‖Aᴴ y‖)`` (sigpy's ``resid``
        divided by ``‖Aᴴ y‖``) is at most ``tol`` (0: always ``max_iter`` iterations, as sigpy by default). The
        defaults stop after 216 iterations, 0.40% from the converged solution, on a 230×180, 8-coil, 8×
        Poisson-disc slice (``benchmarks/results/mri_recon_defaults.md``; 50 iterations stop 3.5% from it:
        sigpy's accelerated proximal gradient method converges sublinearly).

    Shape
    -----
    ``kspace``, ``maps`` ``(S, C, H, W)``; ``mask`` broadcastable to ``(S, 1, H, W)`` → ``(S, H, W)`` complex
    (complex128 for complex128 ``kspace``, else complex64).

    Examples
    --------
    >>> k = np.zeros((1, 1, 8, 8), np.complex64); k[0, 0, 4, 4] = 8.0
    >>> x, res = l1_wavelet_recon(k, np.ones((1, 1, 8, 8), np.complex64), np.ones(1), lam=0.0, max_iter=3, tol=0)
    >>> x.shape, res.iterations, res.lam
    ((1, 8, 8), [3], [0.0])
    """
    import sigpy.mri

    if lam is not None and lam_rel is not None:
        raise ValueError(f"l1_wavelet_recon: give lam or lam_rel, not both (got lam={lam}, lam_rel={lam_rel})")
    _check_auto("l1_wavelet_recon", lam)
    if lam_rel is None and lam is None:
        lam = "auto"
    for name, v in (("lam", None if lam == "auto" else lam), ("lam_rel", lam_rel), ("tol", tol)):
        if v is not None and not v >= 0:
            raise ValueError(f"l1_wavelet_recon: {name} must be >= 0, got {v}")
    if max_iter < 1:
        raise ValueError(f"l1_wavelet_recon: max_iter must be >= 1, got {max_iter}")
    S, _, H, W = kspace.shape
    cdtype = np.complex128 if np.asarray(kspace).dtype == np.complex128 else np.complex64
    rdtype = np.float64 if cdtype == np.complex128 else np.float32
    mask = np.broadcast_to(np.asarray(mask, dtype=rdtype), (S, 1, H, W))
    kspace, maps = np.asarray(kspace, cdtype), np.asarray(maps, cdtype)
    with torch.no_grad():  # Aᴴy per slice: the scale of lam_rel and of the tol rule
        aty = SenseOperator(torch.from_numpy(np.array(maps)), torch.from_numpy(np.array(mask))).H(
            torch.from_numpy(np.array(kspace))
        )
        peak = aty.abs().flatten(1).amax(1).numpy()
        norm = aty.abs().square().flatten(1).sum(1).sqrt().numpy()
    out = np.empty((S, H, W), cdtype)
    choice = auto_lam("l1_wavelet", kspace, maps, mask) if lam == "auto" else None
    record = L1Result([], [], [], choice)
    state = np.random.get_state()
    try:
        for s in range(S):
            if choice is not None:
                lam_s = choice.lam[s]
            else:
                lam_s = float(lam) if lam is not None else float(lam_rel) * float(peak[s])
            np.random.seed(0)  # sigpy's power iteration (the step size) starts from np.random
            app = sigpy.mri.app.L1WaveletRecon(
                kspace[s], maps[s], lam_s, weights=mask[s, 0], wave_name=wave_name, max_iter=max_iter,
                tol=float(tol) * float(norm[s]), show_pbar=False,
            )  # fmt: skip
            out[s] = np.asarray(app.run(), dtype=cdtype)
            record.lam.append(lam_s)
            record.iterations.append(int(app.alg.iter))
            record.step.append(float(app.alg.resid) / float(norm[s]) if norm[s] > 0 else 0.0)
    finally:
        np.random.set_state(state)
    return out, record


def l1_wavelet(kspace: np.ndarray, maps: np.ndarray, mask: np.ndarray, **options: Any) -> np.ndarray:
    """The images of :func:`l1_wavelet_recon`, whose keyword ``options`` it takes (``lam`` is sigpy's ``lamda``).

    Shape
    -----
    ``kspace``, ``maps`` ``(S, C, H, W)``; ``mask`` broadcastable to ``(S, 1, H, W)`` → ``(S, H, W)`` complex.
    """
    return l1_wavelet_recon(kspace, maps, mask, **options)[0]


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
    coil_map_spec
        How the maps are estimated (:class:`~monarch_sci.operators.mri.coil_maps.CoilMapSpec`; ``None``: its
        defaults); :meth:`maps_settings` says what was used.
    chosen
        What the methods chose from the data, by method name (the adaptive λ's record of ``cg_sense`` and
        ``l1_wavelet``: :meth:`~monarch_sci.operators.mri.regularisation.LamChoice.as_record`); jobs copy it into
        their records.
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
    coil_map_spec: CoilMapSpec | None = None
    chosen: dict[str, dict] = field(default_factory=dict)

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
            spec = self.coil_map_spec or CoilMapSpec()
            t0, c0 = time.perf_counter(), time.process_time()
            calibs = [spec.block(self.mask[s]) for s in range(self.num_slices)]  # checked before any ESPIRiT
            self.maps = np.stack([spec.estimate(self.acquired_kspace[s], c) for s, c in enumerate(calibs)])
            self._maps_settings = [spec.settings(c) for c in calibs]
            self.maps_seconds = time.perf_counter() - t0
            self.maps_cpu_seconds = time.process_time() - c0
        if self.maps.shape[-2] == self.kspace.shape[-2]:
            return np.ascontiguousarray(self.maps)
        return np.ascontiguousarray(self.maps[..., self._rows, :])

    def maps_settings(self) -> dict | None:
        """The ESPIRiT settings the maps were estimated with (:meth:`CoilMapSpec.settings`; ``calib`` a list when
        slices differ), ``None`` when the maps were given or not needed."""
        done = getattr(self, "_maps_settings", None)
        if not done:
            return None
        calibs = sorted({d["calib"] for d in done})
        if len(calibs) == 1:
            return done[0]
        return {**done[0], "calib": [d["calib"] for d in done], "kernel_width": [d["kernel_width"] for d in done]}

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
    x, res = cg_sense(k, maps, mask)
    p.chosen["cg_sense"] = {"lam_auto": res.lam_choice.as_record()}
    return x.cpu().numpy()


def _l1_wavelet(p: ReconProblem) -> np.ndarray:
    x, res = l1_wavelet_recon(p.kspace, p.coil_maps(), p.sampling())
    p.chosen["l1_wavelet"] = {"lam_auto": res.lam_choice.as_record()}
    return x


#: name -> method(problem) -> images (S, H, W); the jobs take magnitudes and crop to the recon size.
CLASSICAL_METHODS: dict[str, Callable[[ReconProblem], np.ndarray]] = {
    "zero_filled_rss": _zero_filled_rss,
    "zero_filled_sense": _zero_filled_sense,
    "cg_sense": _cg_sense,
    "l1_wavelet": _l1_wavelet,
}
