"""Simulated multi-coil Cartesian acquisitions written in the fastMRI layout.

No real raw data can be downloaded here, so we make volumes that look and behave like fastMRI knee scans:

* **Anatomy.** Each volume mixes (a) the MRI slice shipped with matplotlib (``s1045.ima.gz``, a 256×256
  big-endian uint16 head slice), strongly augmented — random rotation, flips, anisotropic scale and shear,
  an elastic warp, a random intensity curve — and (b) procedural knee-like structures: a limb with textured
  muscle compartments separated by fascia, a subcutaneous fat rim, bones with a dark cortex and trabecular
  marrow, a cartilage band, vessels. Placement is random: some limbs reach the phase-encode edge of the
  field of view. Consecutive slices of a volume vary smoothly (sizes, positions, textures drift with ``z``).
* **Physics.** A smooth phase (low-order polynomial plus a low-frequency random field); coil sensitivities
  from a generalised birdcage model (:func:`coil_sensitivities`: sigpy's ``birdcage_maps`` formula with a
  rotated, elliptical, jittered, off-plane coil array, per-coil gain and phase, no RSS flattening, so the
  images carry realistic coil shading), varied per volume; correlated complex Gaussian receiver noise.
* **No inverse crime.** The object and the coil maps are evaluated on a ``fine_factor``-times finer grid, the
  coil images are Fourier transformed there, and the central ``(H, W)`` block of k-space is kept (scaled by
  ``1/fine_factor`` to keep image intensities). The data therefore hold Gibbs truncation and a continuous
  (not pixel-piecewise) object, and no reconstruction's ``M F S`` on the ``(H, W)`` grid reproduces them.
* **Readout oversampling.** As in fastMRI (``H = 2 ×`` recon height), by default the readout field of view
  is ``oversampling = 2`` times the recon field of view: ``kspace`` is ``(slices, coils, 2h, w)`` and the
  targets are centre-cropped to ``(h, w)``. ``oversampling=1`` gives ``H = h`` (smaller, faster files).
  The phase-encode axis is not oversampled: ``W = w`` and all ``W`` columns are within the encoding limits.

**3-D acquisitions** (``acquisition="3d"``, ``mri simulate --acquisition 3d``): a 3-D Cartesian scan with the
readout ``x`` already inverse transformed, stored as the slices of the phase-encode plane in our fastMRI layout:
``kspace`` ``(slices, coils, ky, kz)`` with one slice per readout position, ``(ky, kz) = recon_size`` and no
readout oversampling (``oversampling`` must be 1: the readout axis is the slice axis). The object is the 2-D
phantom above evaluated in the ``(y, z)`` plane and varied smoothly along the readout (sizes, positions and
contrasts drift with ``x``; fine textures are drawn per readout position); the coil array surrounds the object,
so each coil's sensitivity falls off smoothly along ``x`` too (its distance to the readout position enters the
birdcage formula as the off-plane height), and the smooth phase gains terms in ``x``. Undersampling is a 2-D
pattern in ``(ky, kz)``, the same for every readout position (one 2-D mask per file, e.g.
:func:`~monarch_sci.datasets.mri.masks.poisson_mask`).

Targets are computed exactly as fastMRI does (:func:`~monarch_sci.datasets.mri.fastmri.fastmri_rss` of the
noisy, fully sampled k-space); attrs ``max`` and ``norm`` are the target volume's maximum and Frobenius norm.
Intensities are scaled to the order of magnitude of the fastMRI knee data (``max`` ≈ 1e-4 to 1e-3).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from monarch_sci.datasets.mri.fastmri import fastmri_rss, write_fastmri_volume
from monarch_sci.datasets.mri.ismrmrd_header import make_ismrmrd_header
from monarch_sci.datasets.mri.phantom import anatomy, load_sample_slice, smooth_noise, volume_params, warp_fields
from monarch_sci.fourier import fft2c, ifft2c
from monarch_sci.training.checkpoint import atomic_folder, atomic_output
from monarch_sci.training.outputs import check_memory
from monarch_sci.training.ranks import rank_env, rank_group, rank_share

__all__ = [
    "SimulatedVolume",
    "SimulationConfig",
    "coil_sensitivities",
    "load_sample_slice",
    "simulate_dataset",
    "simulate_volume",
]


@dataclass(frozen=True)
class SimulationConfig:
    """Sizes and ranges of a simulated data set.

    Parameters
    ----------
    recon_size
        ``(h, w)`` of the targets (fastMRI knee: ``(320, 320)``).
    num_coils, num_slices
        Receiver coils and slices per volume.
    oversampling
        Readout oversampling factor: ``H = oversampling · h`` (fastMRI: 2).
    fine_factor
        Simulation grid refinement (≥ 2 avoids the inverse crime; 1 only for tests of the pipeline).
    noise_range
        Range of the receiver noise standard deviation relative to the mean coil-image magnitude over the
        object. The noise model: per volume ``u ~ U(noise_range)``, ``σ = u ·`` that mean, and
        ``n = L w · σ/√2`` added to the k-space, with ``w`` white complex Gaussian (unit real and imaginary parts)
        and ``L = I + E`` a per-volume coil-mixing matrix (off-diagonal ``E ~ N(0, 0.12²)``): complex Gaussian,
        white in k-space (thermal), covariance ``σ² L Lᴴ`` across coils, the same for every slice. ``1/u`` is about
        the per-coil SNR over the object: the default gives 25–100; ``benchmarks/mri_lam_auto.py`` (the adaptive
        weights of ``mri recon``) simulates 0.03 and 0.1 (SNR ≈ 33 and 10).
    seed
        Base seed; volume ``v`` uses ``SeedSequence([seed, v])``.
    acquisition
        ``"2d"`` (slices of a multi-slice 2-D scan, readout ``H``) or ``"3d"`` (slices of the phase-encode plane
        of a 3-D scan, readout transformed: ``H, W = ky, kz``; needs ``oversampling=1``).

    Examples
    --------
    >>> SimulationConfig(recon_size=(16, 12), acquisition="3d", oversampling=1).encoding_size
    (16, 12)
    """

    recon_size: tuple[int, int] = (320, 320)
    num_coils: int = 8
    num_slices: int = 8
    oversampling: int = 2
    fine_factor: int = 2
    noise_range: tuple[float, float] = (0.01, 0.04)
    seed: int = 0
    acquisition: str = "2d"

    def __post_init__(self) -> None:
        h, w = self.recon_size
        if h < 8 or w < 8 or h % 2 or w % 2:
            raise ValueError(f"SimulationConfig: recon_size must be even and >= 8, got {self.recon_size}")
        for name in ("num_coils", "num_slices", "oversampling", "fine_factor"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"SimulationConfig: {name} must be >= 1, got {getattr(self, name)}")
        if self.acquisition not in ("2d", "3d"):
            raise ValueError(f"SimulationConfig: acquisition must be '2d' or '3d', got {self.acquisition!r}")
        if self.acquisition == "3d" and self.oversampling != 1:
            raise ValueError(
                "SimulationConfig: acquisition '3d' stores phase-encode planes (the readout is the slice axis), so "
                f"oversampling must be 1, got {self.oversampling}"
            )
        lo, hi = self.noise_range
        if not 0 <= lo <= hi:
            raise ValueError(f"SimulationConfig: noise_range must satisfy 0 <= lo <= hi, got {self.noise_range}")

    @property
    def encoding_size(self) -> tuple[int, int]:
        """``(H, W)`` of the stored k-space."""
        return self.oversampling * self.recon_size[0], self.recon_size[1]


@dataclass
class SimulatedVolume:
    """One simulated volume: what goes into the file, plus the ground truth used to make it."""

    kspace: np.ndarray  # (S, C, H, W) complex64
    reconstruction_rss: np.ndarray  # (S, h, w) float32
    image: np.ndarray  # (S, H, W) complex64: the noiseless object at acquisition resolution (band-limited)
    maps: np.ndarray  # (C, H, W) complex64: coil sensitivities at acquisition resolution ((S, C, H, W) for 3-D)
    acquisition: str
    noise_std: float


def coil_sensitivities(
    shape: tuple[int, int, int],
    *,
    r: float = 1.5,
    ellipticity: float = 1.0,
    rotation: float = 0.0,
    center: tuple[float, float] = (0.0, 0.0),
    offplane: float = 0.0,
    angle_jitter: np.ndarray | None = None,
    gains: np.ndarray | None = None,
    phases: np.ndarray | None = None,
    normalize_rss: bool = False,
) -> np.ndarray:
    """Birdcage-style coil sensitivities, generalised from ``sigpy.mri.birdcage_maps``.

    Coil ``c`` sits at ``(r cos θ_c, ε r sin θ_c)`` rotated by ``rotation`` and shifted by ``center``, with
    ``θ_c = 2πc/C + jitter_c``, at height ``offplane`` above the slice; in the axis-normalised coordinates
    ``x = (j − W/2)/(W/2)``, ``y = (i − H/2)/(H/2)`` its sensitivity is

    .. math:: s_c = g_c e^{i φ_c} \\frac{e^{i(\\operatorname{atan2}(x_c, −y_c) − θ_c)}}{\\sqrt{x_c^2 + y_c^2 + d^2}}

    with ``(x_c, y_c)`` the offset from the coil. With all defaults and ``normalize_rss=True`` this is exactly
    sigpy's ``birdcage_maps(shape, r)``.

    Shape
    -----
    ``shape = (C, H, W)`` → complex128 ``(C, H, W)``.
    """
    nc, ny, nx = shape
    c = np.arange(nc)[:, None, None]
    y, x = np.mgrid[:ny, :nx]
    theta = c * (2 * np.pi / nc)
    if angle_jitter is not None:
        theta = theta + np.asarray(angle_jitter, dtype=np.float64).reshape(nc, 1, 1)
    px, py = r * np.cos(theta), ellipticity * r * np.sin(theta)
    cr, sr = np.cos(rotation), np.sin(rotation)
    coilx = cr * px - sr * py + center[0]
    coily = sr * px + cr * py + center[1]
    x_co = (x - nx / 2.0) / (nx / 2.0) - coilx
    y_co = (y - ny / 2.0) / (ny / 2.0) - coily
    rr = np.sqrt(x_co**2 + y_co**2 + offplane**2)
    phi = np.arctan2(x_co, -y_co) - c * (2 * np.pi / nc)
    out = (1.0 / rr) * np.exp(1j * phi)
    if gains is not None:
        out = out * np.asarray(gains, dtype=np.float64).reshape(nc, 1, 1)
    if phases is not None:
        out = out * np.exp(1j * np.asarray(phases, dtype=np.float64).reshape(nc, 1, 1))
    if normalize_rss:
        out = out / np.sqrt((np.abs(out) ** 2).sum(axis=0))
    return out


def simulate_volume(cfg: SimulationConfig, index: int) -> SimulatedVolume:
    """Simulate volume ``index`` of the data set described by ``cfg`` (deterministic in ``(cfg.seed, index)``).

    Shape
    -----
    ``kspace`` ``(S, C, H, W)`` with ``(H, W) = cfg.encoding_size``; ``reconstruction_rss`` ``(S, h, w)``.
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(cfg.seed), int(index)]))
    S, C, f = cfg.num_slices, cfg.num_coils, cfg.fine_factor
    H, W = cfg.encoding_size
    Hf, Wf = f * H, f * W
    os_ = cfg.oversampling
    # positions of the fine-grid pixel centres, in units of the recon field of view: pixel n ↔ (n − N/2)·Δ
    px = 2.0 / Wf
    u = (np.arange(Hf) - Hf // 2)[:, None] * (2.0 * os_ / Hf) * np.ones((1, Wf))
    v = (np.arange(Wf) - Wf // 2)[None, :] * px * np.ones((Hf, 1))
    p = volume_params(rng, os_)
    p["real"]["warp_u"], p["real"]["warp_v"] = warp_fields(rng, (Hf, Wf), px)
    acquisition = "SIM_PDFS" if p["contrast"]["fat"] < 0.65 else "SIM_PD"
    coil_kw = {
        "r": rng.uniform(1.15, 1.8),
        "ellipticity": rng.uniform(0.8, 1.2),
        "rotation": rng.uniform(-np.pi, np.pi),
        "center": (rng.uniform(-0.15, 0.15), rng.uniform(-0.15, 0.15)),
        "offplane": rng.uniform(0.25, 0.6),
        "angle_jitter": rng.normal(0, 0.15, C),
        "gains": rng.uniform(0.7, 1.3, C),
        "phases": rng.uniform(-np.pi, np.pi, C),
    }
    maps_f = coil_sensitivities((C, Hf, Wf), **coil_kw)
    map_scale = np.sqrt((np.abs(maps_f) ** 2).sum(0)).max()
    maps_f /= map_scale
    three_d = cfg.acquisition == "3d"
    if three_d:  # own stream: the 2-D volumes stay exactly as they were
        rng3 = np.random.default_rng(np.random.SeedSequence([int(cfg.seed), int(index), 3]))
        coil_x = rng3.uniform(-0.3, 0.3)  # readout position of the coil ring (in units of the slab half-width)
        slab = rng3.uniform(0.6, 1.2)  # slab half-width along the readout, in the plane's coordinate units
        phase_x = rng3.normal(0, [0.8, 0.4, 0.4])  # phase terms t, t·u, t·v
    ph = p["phase"]
    uu, vv = u / os_, v
    phase = ph[0] + ph[1] * uu + ph[2] * vv + ph[3] * uu * vv + ph[4] * uu**2 + ph[5] * vv**2
    phase = phase + 0.6 * smooth_noise(rng, (Hf, Wf), sigma=0.3 / px)
    chol = np.eye(C) + rng.normal(0, 0.12, (C, C)) * (1 - np.eye(C))
    scale_target = 10 ** rng.uniform(np.log10(2e-4), np.log10(1e-3))
    noise_rel = rng.uniform(*cfg.noise_range)

    kspace = np.empty((S, C, H, W), np.complex64)
    images = np.empty((S, H, W), np.complex64)
    top, left = (Hf - H) // 2, (Wf - W) // 2
    maps_slices = []
    for s in range(S):
        t = (s - (S - 1) / 2) / max(S, 1)
        mag = anatomy(rng, u, v, p, t, px)
        obj = mag * np.exp(1j * (phase + 0.2 * t))
        if three_d:
            # the coil ring sits at readout position coil_x: its height above this plane grows with the distance
            height = np.hypot(coil_kw["offplane"], slab * (2 * t - coil_x))
            maps_f = coil_sensitivities((C, Hf, Wf), **{**coil_kw, "offplane": height}) / map_scale
            obj = obj * np.exp(1j * (phase_x[0] * t + phase_x[1] * t * uu + phase_x[2] * t * vv))
            maps_slices.append(ifft2c(fft2c(maps_f)[:, top : top + H, left : left + W] / f))
        coil_imgs = maps_f * obj[None]
        k_f = fft2c(coil_imgs)
        kspace[s] = k_f[:, top : top + H, left : left + W] / f  # 1/f keeps image intensities (ortho FFTs)
        o_k = fft2c(obj)[top : top + H, left : left + W] / f
        images[s] = ifft2c(o_k)
    # noise relative to the mean coil-image magnitude over the object, correlated across coils
    coil_mag = np.abs(ifft2c(kspace))
    support = np.abs(images)[:, None] > 0.1 * np.abs(images).max()
    level = float(coil_mag[np.broadcast_to(support, coil_mag.shape)].mean())
    sigma = noise_rel * level
    noise = rng.standard_normal((S, H, W, C)) + 1j * rng.standard_normal((S, H, W, C))
    noise = np.einsum("cd,shwd->schw", chol, noise) * (sigma / np.sqrt(2.0))
    kspace = kspace + noise.astype(np.complex64)
    rss = fastmri_rss(kspace, cfg.recon_size)
    gain = scale_target / float(rss.max())
    kspace = (kspace * gain).astype(np.complex64)
    rss = (rss * gain).astype(np.float32)
    images = (images * gain).astype(np.complex64)
    # coil maps at acquisition resolution: the same band-limiting as the data (for reference/analysis only)
    if three_d:
        maps = np.stack(maps_slices)
    else:
        maps = ifft2c(fft2c(maps_f)[:, top : top + H, left : left + W] / f)
    return SimulatedVolume(kspace, rss, images, maps.astype(np.complex64), acquisition, sigma * gain)


def simulate_dataset(
    out_dir: str | os.PathLike,
    cfg: SimulationConfig,
    num_volumes: int,
    *,
    prefix: str = "file_sim",
    progress: bool = False,
    overwrite: bool = False,
) -> list[Path]:
    """Write ``num_volumes`` simulated volumes as fastMRI files ``{prefix}{seed:03d}{v:04d}.h5`` in ``out_dir``.

    Written into a new folder beside ``out_dir`` (:func:`~monarch_sci.training.checkpoint.atomic_folder`): a run
    killed midway leaves ``out_dir`` as it was; the new files then join its others (``overwrite=True``: replace it
    whole). Under ``torchrun`` (``RANK`` / ``WORLD_SIZE``) each rank simulates a contiguous share (volume ``v``
    depends only on ``(cfg, v)``); every rank returns once all are written. Returns all ``num_volumes`` paths.
    """
    if num_volumes < 1:
        raise ValueError(f"simulate_dataset: num_volumes must be >= 1, got {num_volumes}")
    out = Path(out_dir)
    H, W = cfg.encoding_size  # a lower bound of one volume's memory: k-space, fine-grid coil images (3 copies)
    need = cfg.num_slices * cfg.num_coils * H * W * 8 + 3 * cfg.num_coils * H * W * cfg.fine_factor**2 * 16
    check_memory(need, f"--size {cfg.recon_size[0]} --width {cfg.recon_size[1]} (one volume)")
    header = make_ismrmrd_header(
        encoding_size=(H, W),
        recon_size=cfg.recon_size,
        fov_mm=(140.0 * cfg.oversampling, 140.0, 3.0),
        recon_fov_mm=(140.0, 140.0, 3.0),
        num_coils=cfg.num_coils,
        num_slices=cfg.num_slices,
    )
    rank, world = rank_env("simulate_dataset")
    it = rank_share(num_volumes, rank, world)
    if progress and rank == 0:
        from monarch_sci.training.progress import progress_bar

        it = progress_bar(it, desc="simulate", unit="vol")
    paths = [out / f"{prefix}{cfg.seed:03d}{v:04d}.h5" for v in range(num_volumes)]
    with rank_group(world) as barrier, atomic_folder(out, replace=overwrite, shared=world > 1) as folder:
        for v in it:
            _write_volume(cfg, v, folder / paths[v].name, header)
        barrier()
    return paths


def _write_volume(cfg: SimulationConfig, v: int, path: Path, header: str) -> None:
    """Simulate volume ``v`` and write it to ``path`` (atomically), with every simulation parameter as attrs."""
    params = {f"sim_{k}": (list(x) if isinstance(x, tuple) else x) for k, x in asdict(cfg).items()}
    vol = simulate_volume(cfg, v)
    attrs = {
        "acquisition": vol.acquisition,
        "max": float(vol.reconstruction_rss.max()),
        "norm": float(np.linalg.norm(vol.reconstruction_rss)),
        "patient_id": f"sim-{cfg.seed:03d}-{v:04d}",
        "sim_volume_index": v,
        "sim_noise_std": vol.noise_std,
        **params,
    }
    with atomic_output(path) as tmp:
        write_fastmri_volume(
            tmp,
            kspace=vol.kspace,
            header_xml=header,
            reconstructions={"reconstruction_rss": vol.reconstruction_rss},
            attrs=attrs,
        )
