"""The simulator's anatomy: augmented sample slices and procedural knee-like structures (see ``simulate``).

The object of a simulated slice is evaluated on normalised coordinates ``(u, v)`` of the fine grid: matplotlib's
sample MRI slice (:func:`load_sample_slice`) strongly augmented (rotation, flips, scale, shear, an elastic warp
from smooth random fields, an intensity curve) mixed with a procedural limb (muscle compartments, fat rim,
bones with cortex and marrow, cartilage, vessels). :func:`volume_params` draws a volume's parameters once;
:func:`anatomy` evaluates them at a slice position ``t`` so that consecutive slices drift smoothly.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import ndimage

__all__ = ["anatomy", "load_sample_slice", "smooth_noise", "volume_params", "warp_fields"]


@lru_cache(maxsize=1)
def load_sample_slice() -> np.ndarray:
    """matplotlib's sample MRI slice ``s1045.ima.gz`` as a float64 ``(256, 256)`` image scaled to ``[0, 1]``.

    The file is 131072 bytes of big-endian uint16 (values 0–215 read that way), shipped with matplotlib.
    """
    import matplotlib.cbook as cbook

    raw = cbook.get_sample_data("s1045.ima.gz")
    data = raw.read()
    if len(data) != 2 * 256 * 256:
        raise ValueError(f"load_sample_slice: s1045.ima.gz holds {len(data)} bytes, expected {2 * 256 * 256}")
    img = np.frombuffer(data, dtype=">u2").reshape(256, 256).astype(np.float64)
    return img / img.max()


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Zero-mean, unit-std Gaussian random field with correlation length ``sigma`` pixels."""
    white = rng.standard_normal(shape)
    # Gaussian filter with periodic boundaries, applied in Fourier space (cost independent of sigma)
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    kernel = np.exp(-2.0 * (np.pi * sigma) ** 2 * (fy**2 + fx**2))
    field = np.fft.irfft2(np.fft.rfft2(white) * kernel, s=shape)
    return (field - field.mean()) / (field.std() + 1e-12)


def _soft(d: np.ndarray, width: float) -> np.ndarray:
    """Soft inside-indicator of a signed distance-like field ``d < 0`` (edge width in coordinate units)."""
    return 0.5 * (1.0 - np.tanh(d / max(width, 1e-6)))


def _ellipse(u, v, cu, cv, au, av, ang, power=2.0):
    ca, sa = np.cos(ang), np.sin(ang)
    du, dv = u - cu, v - cv
    a = (ca * du + sa * dv) / au
    b = (-sa * du + ca * dv) / av
    return (np.abs(a) ** power + np.abs(b) ** power) ** (1.0 / power) - 1.0  # < 0 inside


def _augmented_real(u: np.ndarray, v: np.ndarray, p: dict, t: float) -> np.ndarray:
    """matplotlib's slice under a random affine + elastic warp, sampled at continuous positions ``(u, v)``."""
    src = load_sample_slice()
    ang = p["rot"] + 0.05 * t
    ca, sa = np.cos(ang), np.sin(ang)
    du, dv = u - p["cu"] - 0.05 * t, v - p["cv"]
    a = (ca * du - sa * dv) / (p["su"] * (1 + 0.08 * t))
    b = (sa * du + ca * dv) / p["sv"] + p["shear"] * a
    a = a * p["flip_u"] + p["warp_amp"] * p["warp_u"]
    b = b * p["flip_v"] + p["warp_amp"] * p["warp_v"]
    rows = (a + 1.0) * 128.0
    cols = (b + 1.0) * 128.0
    out = ndimage.map_coordinates(src, [rows, cols], order=3, mode="constant", cval=0.0)
    out = np.clip(out, 0.0, None)
    return np.interp(out, p["curve_x"], p["curve_y"]) * (out > 0.02)


def volume_params(rng: np.random.Generator, os_: int) -> dict:
    n_bones = int(rng.integers(1, 4))
    p = {
        "mode": str(rng.choice(["real", "procedural", "mixed"], p=[0.35, 0.35, 0.3])),
        "limb": {
            "cu": rng.uniform(-0.25, 0.25) * os_,
            "cv": rng.uniform(-0.35, 0.35),
            "au": rng.uniform(0.7, 0.95 * os_),
            "av": rng.uniform(0.55, 1.15),  # > 1 - |cv| reaches the phase-encode edge
            "ang": rng.uniform(-0.3, 0.3),
            "power": rng.uniform(2.0, 3.5),
            "fat": rng.uniform(0.04, 0.1),
        },
        "bones": [
            {
                "cu": rng.uniform(-0.6, 0.6),
                "cv": rng.uniform(-0.35, 0.35),
                "au": rng.uniform(0.2, 0.55),
                "av": rng.uniform(0.12, 0.3),
                "ang": rng.uniform(-np.pi, np.pi),
                "cortex": rng.uniform(0.015, 0.04),
            }
            for _ in range(n_bones)
        ],
        "vessels": [(rng.uniform(-0.8, 0.8), rng.uniform(-0.6, 0.6), rng.uniform(0.01, 0.035)) for _ in range(4)],
        "contrast": {
            "muscle": rng.uniform(0.25, 0.5),
            "fat": rng.uniform(0.5, 1.0),
            "marrow": rng.uniform(0.3, 0.9),
            "cartilage": rng.uniform(0.6, 1.0),
            "vessel": rng.uniform(0.1, 1.0),
        },
        "real": {
            "rot": rng.uniform(-np.pi, np.pi),
            "cu": rng.uniform(-0.3, 0.3),
            "cv": rng.uniform(-0.4, 0.4),
            "su": rng.uniform(0.6, 1.3),
            "sv": rng.uniform(0.6, 1.3),
            "shear": rng.uniform(-0.25, 0.25),
            "flip_u": rng.choice([-1.0, 1.0]),
            "flip_v": rng.choice([-1.0, 1.0]),
            "warp_amp": rng.uniform(0.02, 0.08),
            "curve_x": np.linspace(0, 1, 6),
            "curve_y": np.clip(np.sort(rng.uniform(0, 1, 6)) ** rng.uniform(0.6, 1.6) + rng.normal(0, 0.08, 6), 0, 1),
        },
        "phase": rng.normal(0, [np.pi, 0.8, 0.8, 0.4, 0.3, 0.3]),
    }
    return p


def anatomy(rng: np.random.Generator, u: np.ndarray, v: np.ndarray, p: dict, t: float, px: float) -> np.ndarray:
    """Magnitude of one slice at continuous positions ``(u, v)`` (recon field of view = ``[-1, 1)²``)."""
    shape = u.shape
    edge = 1.5 * px
    L = p["limb"]
    grow = 1.0 + 0.1 * t
    limb_d = _ellipse(u, v, L["cu"], L["cv"], L["au"] * grow, L["av"] * grow, L["ang"], L["power"])
    limb = _soft(limb_d, edge)
    fat_rim = limb * (1.0 - _soft(limb_d + L["fat"], edge))
    c = p["contrast"]
    # muscle compartments: the sign pattern of two smooth random fields, fascia along their zero lines
    f1, f2 = smooth_noise(rng, shape, sigma=0.2 / px), smooth_noise(rng, shape, sigma=0.3 / px)
    levels = np.sign(f1) + 0.5 * np.sign(f2)
    fascia = np.maximum(np.exp(-((f1 / 0.08) ** 2)), np.exp(-((f2 / 0.06) ** 2)))
    tex = 0.12 * smooth_noise(rng, shape, sigma=0.01 / px) + 0.08 * smooth_noise(rng, shape, sigma=0.04 / px)
    muscle = c["muscle"] * (1.0 + 0.12 * levels + tex) * (1.0 - 0.6 * fascia)
    img = limb * (1.0 - fat_rim) * muscle + fat_rim * c["fat"] * (1.0 + 0.5 * tex)
    for b in p["bones"]:
        d = _ellipse(u, v, b["cu"] + 0.05 * t, b["cv"], b["au"] * (1 - 0.15 * t), b["av"], b["ang"])
        inside = _soft(d, edge)
        marrow = inside * (1.0 - _soft(d + b["cortex"] * 2.0, edge))
        core = _soft(d + b["cortex"] * 2.0, edge)
        trab = np.clip(smooth_noise(rng, shape, sigma=0.012 / px), -1.5, 1.5)
        cart = _soft(np.abs(d - 0.03) - 0.012, edge) * (v > b["cv"])
        img = img * (1.0 - inside) + 0.03 * marrow + core * c["marrow"] * (1.0 + 0.25 * trab)
        img = img * (1.0 - cart) + cart * c["cartilage"]
    for cu, cv, rad in p["vessels"]:
        ves = _soft(np.hypot(u - cu, v - cv) - rad, edge) * limb
        img = img * (1.0 - ves) + ves * c["vessel"]
    if p["mode"] == "procedural":
        return img
    real = _augmented_real(u, v, p["real"], t)
    if p["mode"] == "real":
        return np.maximum(real, 0.25 * img * (real < 0.05))
    return img * (0.5 + 0.8 * real)


def warp_fields(rng: np.random.Generator, shape: tuple[int, int], px: float) -> tuple[np.ndarray, np.ndarray]:
    return smooth_noise(rng, shape, sigma=0.2 / px), smooth_noise(rng, shape, sigma=0.2 / px)
