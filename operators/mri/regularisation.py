"""Data-adaptive regularisation weights of CG-SENSE and ℓ1-wavelet SENSE (``--lam auto``, the default).

A fixed weight serves one noise level: tuned on clean simulations it under-regularises a real scan by 2–5 dB
(issue 26). The weight here follows the data: a robust estimate ``σ̂`` of the receiver noise
(:func:`~monarch_sci.datasets.mri.noise.estimate_noise`: the outermost sampled k-space, or a noise scan) set
against the scale of the coil-combined adjoint ``Aᴴy`` (coil maps normalised, ``‖AᴴA‖ ≤ 1``):

* CG-SENSE, ``argmin ‖Ax − y‖² + λ‖x‖²``: ``λ = a · σ̂² / P + b`` with ``P = ‖Aᴴy‖² / N`` the mean power of
  ``Aᴴy`` over the volume's ``N`` pixels — the Wiener weight ``σ²/σ_x²`` (noise over signal power) scaled by
  ``a``, plus a floor ``b`` for what is not noise (coil-map and discretisation error, aliasing) — one λ per
  volume;
* ℓ1-wavelet (sigpy's ``½‖Ax − y‖² + λ‖Ψx‖₁``): ``λ_s = a · σ̂ + b · max|Aᴴy_s|`` per slice — a soft threshold
  proportional to the noise level (as in wavelet denoising), plus the scale-free floor that ``lam_rel`` is.

Both are invariant to the data's scale. The constants ``(a, b)`` of :data:`CG_RULE` and :data:`L1_RULE` were
chosen on simulated validation scans (correlated coil noise at per-coil SNR 33 and 10, 2×–8×, line and 2-D
Poisson-disc masks) by ``benchmarks/mri_lam_auto.py``, whose record :data:`SELECTION_RECORD` holds them with the
test-scan table; a test pins these constants to that record. CG-SENSE's weight follows the noise
(``a ≈ 2.4``, floor ``1e-4``); for ℓ1 the selection gave ``a = 0``, i.e. ``λ_s = 1.33e-3 · max|Aᴴy_s|`` (the old
fixed ``lam_rel`` was 3e-4). On the test scans both are within 0.5 dB PSNR of the grid's best in most cells, not
all (``benchmarks/results/mri_lam_auto.md``).

>>> rng = np.random.default_rng(0)
>>> k = (rng.standard_normal((1, 2, 32, 32)) + 1j * rng.standard_normal((1, 2, 32, 32))).astype(np.complex64)
>>> maps = np.full((1, 2, 32, 32), np.sqrt(0.5), np.complex64)
>>> choice = auto_lam("cg_sense", k, maps, np.ones((1, 1, 1, 32), np.float32))
>>> choice.rule.method, len(choice.lam), choice.noise.source
('cg_sense', 1, 'periphery')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from monarch_sci.datasets.mri.noise import NoiseEstimate, estimate_noise
from monarch_sci.operators.mri.sense import SenseOperator

__all__ = ["CG_RULE", "L1_RULE", "SELECTION_RECORD", "AutoLamRule", "LamChoice", "auto_lam"]

#: The selection record (repository path) that :data:`CG_RULE` and :data:`L1_RULE` come from.
SELECTION_RECORD = "benchmarks/results/mri_lam_auto.json"


@dataclass(frozen=True)
class AutoLamRule:
    """The constants of an adaptive weight: ``noise`` (``a``) and ``floor`` (``b``) of the module's formulas.

    Examples
    --------
    >>> AutoLamRule("l1_wavelet", noise=1.0, floor=1e-4).formula
    'λ_s = 1 · σ̂ + 0.0001 · max|Aᴴy_s|'
    """

    method: Literal["cg_sense", "l1_wavelet"]
    noise: float
    floor: float

    def __post_init__(self) -> None:
        if self.method not in ("cg_sense", "l1_wavelet"):
            raise ValueError(f"AutoLamRule: method must be 'cg_sense' or 'l1_wavelet', got {self.method!r}")
        if not (self.noise >= 0 and self.floor >= 0 and self.noise + self.floor > 0):
            raise ValueError(f"AutoLamRule: noise and floor must be >= 0, not both 0, got {self.noise}, {self.floor}")

    @property
    def formula(self) -> str:
        if self.method == "cg_sense":
            return f"λ = {self.noise:g} · σ̂² / (‖Aᴴy‖²/N) + {self.floor:g}"
        return f"λ_s = {self.noise:g} · σ̂ + {self.floor:g} · max|Aᴴy_s|"


#: CG-SENSE's rule (selected by ``benchmarks/mri_lam_auto.py``; see :data:`SELECTION_RECORD`).
CG_RULE = AutoLamRule("cg_sense", noise=2.371373705661655, floor=0.0001)
#: ℓ1-wavelet's rule (selected by ``benchmarks/mri_lam_auto.py``; see :data:`SELECTION_RECORD`): the noise term
#: did not help on the validation scans (its best weight there is 0), so ℓ1's default is the relative weight.
L1_RULE = AutoLamRule("l1_wavelet", noise=0.0, floor=0.001333521432163324)


@dataclass(frozen=True)
class LamChoice:
    """The weight an adaptive rule chose, with what it was computed from (what records store).

    Attributes
    ----------
    lam
        λ per slice (CG-SENSE: one value per volume, repeated).
    rule
        The rule and its constants.
    noise
        The noise estimate ``σ̂``.
    power, peak
        ``‖Aᴴy_s‖² / N_s`` and ``max|Aᴴy_s|`` per slice.
    """

    lam: tuple[float, ...]
    rule: AutoLamRule
    noise: NoiseEstimate
    power: tuple[float, ...]
    peak: tuple[float, ...]

    def as_record(self) -> dict:
        """A JSON-ready dict: ``lam``, ``rule`` (formula and constants), ``noise`` and the scales."""
        return {
            "lam": list(self.lam),
            "rule": {"formula": self.rule.formula, "noise": self.rule.noise, "floor": self.rule.floor},
            "noise": self.noise.as_record(),
            "power": list(self.power),
            "peak": list(self.peak),
        }


def auto_lam(
    method: Literal["cg_sense", "l1_wavelet"],
    kspace: np.ndarray | torch.Tensor,
    maps: np.ndarray | torch.Tensor,
    mask: np.ndarray | torch.Tensor,
    *,
    rule: AutoLamRule | None = None,
    noise: NoiseEstimate | None = None,
) -> LamChoice:
    """The adaptive weight of ``method`` for one volume (the module's formulas).

    Parameters
    ----------
    method
        ``"cg_sense"`` or ``"l1_wavelet"``.
    kspace, maps, mask
        Masked k-space ``(S, C, H, W)``, coil maps ``(S, C, H, W)`` and the mask broadcastable to
        ``(S, 1, H, W)``, as the solver takes them.
    rule
        The constants (default: :data:`CG_RULE` / :data:`L1_RULE`).
    noise
        A noise estimate to use (e.g. :func:`~monarch_sci.datasets.mri.noise.noise_from_scan`); default: estimated
        from the outermost sampled k-space.

    Shape
    -----
    ``kspace``, ``maps`` ``(S, C, H, W)``; ``mask`` broadcastable to ``(S, 1, H, W)`` → ``lam`` of length ``S``.
    """
    if method not in ("cg_sense", "l1_wavelet"):
        raise ValueError(f"auto_lam: method must be 'cg_sense' or 'l1_wavelet', got {method!r}")
    rule = rule or (CG_RULE if method == "cg_sense" else L1_RULE)
    if rule.method != method:
        raise ValueError(f"auto_lam: a {rule.method} rule given for {method}")
    k, s, m = (a if isinstance(a, torch.Tensor) else torch.from_numpy(np.array(a)) for a in (kspace, maps, mask))
    if noise is None:
        noise = estimate_noise(k.detach().cpu().numpy(), m.detach().cpu().numpy())
    with torch.no_grad():
        aty = SenseOperator(s, m.to(s.real.dtype), learn="none").adjoint(k).abs().flatten(1).double()
    power = aty.square().mean(1).cpu().numpy()
    peak = aty.amax(1).cpu().numpy()
    if not (power.sum() > 0):
        raise ValueError(f"auto_lam: Aᴴy is zero for every slice ({method}: no data to set a weight from)")
    sigma = noise.sigma
    if method == "cg_sense":
        lam = [rule.noise * sigma**2 / float(power.mean()) + rule.floor] * len(power)
    else:
        lam = [rule.noise * sigma + rule.floor * float(p) for p in peak]
    return LamChoice(tuple(float(v) for v in lam), rule, noise, tuple(map(float, power)), tuple(map(float, peak)))
