"""Getting k-space in: NumPy arrays and BART ``.cfl``/``.hdr`` files to our fastMRI-layout file (ISMRMRD raw
data: :mod:`~monarch_sci.datasets.mri.ismrmrd_raw`, then :func:`import_kspace`).

Our file (:func:`~monarch_sci.datasets.mri.fastmri.write_fastmri_volume`): ``kspace`` ``(slices, coils, H, W)``
complex64 with ``H`` the readout and ``W`` the phase encode (the axis line masks act on), an ISMRMRD header whose
encoded matrix is ``(H, W)``, and a ``mask``:

* ``(W,)`` or ``(slices, W)`` — fastMRI's own line masks (every readout row of a sampled column acquired);
* ``(H, W)`` or ``(slices, H, W)`` — our documented extension for 2-D sampling patterns (e.g. the phase-encode
  plane of a 3-D Cartesian scan with Poisson-disc sampling). A 2-D mask that is a line mask is stored as one.

Without a mask, a k-space with exactly-zero points is not taken as fully sampled: the pattern is inferred
(sigpy's rule: sampled where any coil is non-zero), stored as ``mask`` and flagged by the attribute
``mask_inferred``. A fully sampled import also gets fastMRI's ``reconstruction_rss`` target.

BART stores arrays column-major (Fortran order) as complex64 with 16 dimensions: READ, PHS1, PHS2, COIL, MAPS,
TE, COEFF, COEFF2, ITER, CSHIFT, TIME, TIME2, LEVEL, SLICE, AVG, BATCH. Which of READ, PHS1, PHS2 are 1 says
what the array is (:data:`BART_LAYOUTS`, :func:`bart_to_fastmri_layout`): a 2-D scan ``READ × PHS1 × 1 × COIL``
(slices in SLICE), a phase-encode plane ``1 × PHS1 × PHS2 × COIL`` of a 3-D scan, or a 3-D volume
``READ × PHS1 × PHS2 × COIL``, whose readout is inverse transformed so that each readout position becomes a
phase-encode plane (as the ISMRMRD reader stores 3-D scans); COIL gives the coils; every other dimension must be
1.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "BART_LAYOUTS",
    "bart_layout",
    "bart_mask_to_fastmri_layout",
    "bart_to_fastmri_layout",
    "import_kspace",
    "read_cfl",
    "read_numpy_kspace",
    "reduce_mask",
    "to_fastmri_layout",
    "write_cfl",
]

BART_DIMS = ("READ", "PHS1", "PHS2", "COIL", "MAPS", "TE", "COEFF", "COEFF2", "ITER", "CSHIFT", "TIME", "TIME2",
             "LEVEL", "SLICE", "AVG", "BATCH")  # fmt: skip


def _cfl_base(path: str | os.PathLike) -> Path:
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".cfl", ".hdr") else p


def read_cfl(path: str | os.PathLike) -> np.ndarray:
    """Read a BART array (``NAME.hdr`` + ``NAME.cfl``; ``path`` with or without suffix), in BART's axis order.

    Examples
    --------
    >>> import tempfile
    >>> base = Path(tempfile.mkdtemp()) / "k"
    >>> x = (np.arange(6) + 1j).astype(np.complex64).reshape(2, 3)
    >>> write_cfl(base, x)
    >>> bool(np.array_equal(read_cfl(base), x))
    True
    """
    base = _cfl_base(path)
    hdr, cfl = base.with_suffix(".hdr"), base.with_suffix(".cfl")
    for f in (hdr, cfl):
        if not f.is_file():
            raise FileNotFoundError(f"read_cfl: {f} does not exist (a BART array is NAME.hdr + NAME.cfl)")
    lines = [ln.strip() for ln in hdr.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    try:
        dims = [int(v) for v in lines[0].split()]
    except (IndexError, ValueError):
        raise ValueError(f"read_cfl: {hdr} must hold '# Dimensions' and a line of integers, got {lines[:1]}") from None
    if not dims or any(d < 1 for d in dims):
        raise ValueError(f"read_cfl: {hdr}: dimensions must be positive integers, got {dims}")
    n = int(np.prod(dims))
    size = cfl.stat().st_size
    if size != 8 * n:
        raise ValueError(f"read_cfl: {cfl} holds {size} bytes; dimensions {dims} need {8 * n} (complex64)")
    data = np.fromfile(cfl, dtype=np.complex64, count=n)
    return data.reshape(dims, order="F")


def write_cfl(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` as a BART array (column-major complex64), for exchange with BART and for tests."""
    base = _cfl_base(path)
    a = np.asarray(array, dtype=np.complex64)
    base.with_suffix(".hdr").write_text("# Dimensions\n" + " ".join(str(d) for d in a.shape) + "\n")
    a.reshape(-1, order="F").tofile(base.with_suffix(".cfl"))


#: How a BART array is read (``--layout`` for a ``.cfl``; auto: by which of READ, PHS1, PHS2 are 1).
BART_LAYOUTS = {
    "2d": "READ × PHS1 × 1 × COIL (× … × SLICE): a 2-D scan, READ → H, PHS1 → W, SLICE → slices",
    "plane": "1 × PHS1 × PHS2 × COIL (× … × SLICE): phase-encode planes of a 3-D scan whose readout is transformed, "
    "PHS1 → H, PHS2 → W",
    "3d": "READ × PHS1 × PHS2 × COIL: a 3-D k-space volume; the readout is inverse transformed (centred, "
    "orthonormal) and every readout position becomes a slice (PHS1, PHS2)",
    "hybrid": "READ × PHS1 × PHS2 × COIL with the readout already in image space (BART `fft -i 1`): every readout "
    "position is a slice (PHS1, PHS2)",
}


def bart_layout(dims: tuple[int, ...]) -> str:
    """The layout of :data:`BART_LAYOUTS` that the singleton dimensions of a BART array imply.

    PHS2 = 1: ``"2d"``; READ = 1: ``"plane"``; READ, PHS1 and PHS2 all > 1: ``"3d"`` (a k-space volume; an
    array whose readout is already transformed must say ``"hybrid"``, which the sizes cannot tell).

    Examples
    --------
    >>> bart_layout((256, 180, 1, 8)), bart_layout((1, 230, 180, 8)), bart_layout((64, 48, 32, 8))
    ('2d', 'plane', '3d')
    """
    read, phs1, phs2 = (list(dims) + [1] * 3)[:3]
    if phs2 == 1:
        return "2d"
    return "plane" if read == 1 else "3d"


def bart_to_fastmri_layout(array: np.ndarray, source: str, layout: str | None = None) -> tuple[np.ndarray, str]:
    """A BART k-space array as ``(S, C, H, W)``, and the layout it was read in (:data:`BART_LAYOUTS`).

    ``layout`` (``None``: :func:`bart_layout`) names how READ, PHS1, PHS2 and SLICE map to our axes; COIL gives
    the coils; every other dimension must be 1 (several ESPIRiT map sets, MAPS > 1, are refused: they describe
    coil maps or images, not one k-space).

    Examples
    --------
    >>> k, how = bart_to_fastmri_layout(np.ones((1, 24, 20, 4), np.complex64), "plane.cfl")
    >>> k.shape, how
    ((1, 4, 24, 20), 'plane')
    """
    from monarch_sci.fourier import centered_fft

    if array.ndim > 16:
        raise ValueError(f"{source}: a BART array has at most 16 dimensions, got {array.ndim}")
    dims = list(array.shape) + [1] * (16 - array.ndim)
    if dims[4] > 1:
        raise ValueError(
            f"{source}: MAPS = {dims[4]}: several ESPIRiT map sets; k-space has one set (choose one, e.g. "
            f"`bart slice 4 0 IN OUT`, or import the k-space rather than maps)"
        )
    extra = {BART_DIMS[i]: d for i, d in enumerate(dims) if i not in (0, 1, 2, 3, 13) and d != 1}
    if extra:
        raise ValueError(f"{source}: BART dimensions {extra} must be 1 (only READ, PHS1, PHS2, COIL, SLICE are read)")
    found = bart_layout(dims)
    layout = found if layout is None else layout
    if layout not in BART_LAYOUTS:
        raise ValueError(f"{source}: --layout {layout!r}: a BART array is read as one of {', '.join(BART_LAYOUTS)}")
    read, phs2, slices = dims[0], dims[2], dims[13]
    shape = "×".join(map(str, dims[:4])) + (f" (SLICE {slices})" if slices > 1 else "")
    need = {"2d": phs2 == 1, "plane": read == 1, "3d": slices == 1, "hybrid": slices == 1}[layout]
    if not need:
        why = {"2d": "PHS2 = 1", "plane": "READ = 1", "3d": "SLICE = 1", "hybrid": "SLICE = 1"}[layout]
        raise ValueError(f"{source}: READ × PHS1 × PHS2 × COIL = {shape} cannot be read as --layout {layout} "
                         f"(it needs {why}; the sizes suggest {found})")  # fmt: skip
    a = np.asarray(array).reshape(dims, order="A")
    if layout == "2d":
        k = np.moveaxis(a[:, :, 0, :, 0, 0, 0, 0, 0, 0, 0, 0, 0, :, 0, 0], (3, 2, 0, 1), (0, 1, 2, 3))
    elif layout == "plane":
        k = np.moveaxis(a[0, :, :, :, 0, 0, 0, 0, 0, 0, 0, 0, 0, :, 0, 0], (3, 2, 0, 1), (0, 1, 2, 3))
    else:
        v = a[:, :, :, :, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]  # (READ, PHS1, PHS2, COIL)
        if layout == "3d":  # readout → image positions, as the ISMRMRD reader does for 3-D scans
            v = centered_fft(np.ascontiguousarray(v), dims=(0,), inverse=True)
        k = np.moveaxis(v, (0, 3, 1, 2), (0, 1, 2, 3))
    if min(k.shape[2:]) < 2:
        raise ValueError(
            f"{source}: READ × PHS1 × PHS2 × COIL = {shape} read as --layout {layout} gives slices of "
            f"{k.shape[2]} × {k.shape[3]}; a slice needs two phase-encode or readout axes larger than 1"
        )
    return np.ascontiguousarray(k, dtype=np.complex64), layout


def bart_mask_to_fastmri_layout(
    mask: np.ndarray, layout: str, shape: tuple[int, int, int, int], source: str
) -> np.ndarray:
    """A BART sampling pattern (BART's dimensions, e.g. ``1 × PHS1 × PHS2`` from ``bart poisson``) as ``(S, H, W)``
    bool for k-space ``shape`` read in ``layout`` (:func:`bart_to_fastmri_layout`): each axis is mapped as the
    k-space's is, singleton axes broadcast. In ``3d``/``hybrid`` the pattern must not vary along READ (the readout
    is transformed: each plane has one pattern).

    Examples
    --------
    >>> m = np.zeros((1, 6, 5), np.complex64); m[0, ::2] = 1
    >>> bart_mask_to_fastmri_layout(m, "3d", (8, 2, 6, 5), "pat.cfl").shape
    (8, 6, 5)
    """
    m = np.asarray(mask)
    if m.ndim > 16:
        raise ValueError(f"{source}: a BART array has at most 16 dimensions, got {m.ndim}")
    if np.iscomplexobj(m):
        if np.abs(m.imag).max(initial=0) > 0:
            raise ValueError(f"{source}: the mask must be real zeros and ones, got complex values")
        m = m.real
    dims = list(m.shape) + [1] * (16 - m.ndim)
    other = {BART_DIMS[i]: d for i, d in enumerate(dims) if i not in (0, 1, 2, 13) and d != 1}
    if other:
        raise ValueError(f"{source}: mask dimensions {other} must be 1 (a pattern has READ, PHS1, PHS2, SLICE)")
    a = m.reshape(dims)[:, :, :, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, :, 0, 0]  # (READ, PHS1, PHS2, SLICE)
    S, _, H, W = shape
    if layout == "2d":
        p = np.moveaxis(a[:, :, 0, :], 2, 0)  # (SLICE, READ, PHS1)
    elif layout == "plane":
        p = np.moveaxis(a[0], 2, 0)  # (SLICE, PHS1, PHS2)
    else:
        v = a[..., 0]  # (READ, PHS1, PHS2)
        if (v != v[:1]).any():
            raise ValueError(f"{source}: the mask varies along READ; a {layout} volume has one (PHS1, PHS2) pattern")
        p = v[:1]
    try:
        return np.ascontiguousarray(np.broadcast_to(p, (S, H, W)))
    except ValueError:
        raise ValueError(
            f"{source}: mask READ × PHS1 × PHS2 × SLICE = {'×'.join(map(str, a.shape))} does not fit the k-space "
            f"read as {layout} (slices, H, W) = ({S}, {H}, {W})"
        ) from None


def read_numpy_kspace(path: str | os.PathLike, *, key: str | None = None) -> np.ndarray:
    """The array in a ``.npy`` file, or ``key`` of an ``.npz`` (the only array when ``key`` is None)."""
    path = Path(path)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            names = list(z.keys())
            if key is None:
                if len(names) != 1:
                    raise ValueError(f"{path} holds arrays {names}; name the k-space with --key")
                key = names[0]
            if key not in names:
                raise ValueError(f"{path} has no array {key!r}; it holds {names}")
            return np.asarray(z[key])
    return np.load(path, allow_pickle=False)


def to_fastmri_layout(array: np.ndarray, layout: str | None, *, source: str = "k-space") -> np.ndarray:
    """Reorder ``array`` to ``(S, C, H, W)``; ``layout`` names its axes with S, C, H (readout), W (phase encode).

    Default layout: ``"CHW"`` for 3-D arrays, ``"SCHW"`` for 4-D ones.

    Examples
    --------
    >>> to_fastmri_layout(np.zeros((64, 48, 8), np.complex64), "HWC").shape
    (1, 8, 64, 48)
    """
    a = np.asarray(array)
    if layout is None:
        layout = {3: "CHW", 4: "SCHW"}.get(a.ndim)
        if layout is None:
            raise ValueError(f"{source}: expected (coils, H, W) or (slices, coils, H, W), got shape {a.shape}")
    layout = layout.upper()
    if (
        len(layout) != a.ndim
        or len(set(layout)) != len(layout)
        or not set(layout) <= set("SCHW")
        or not ({"C", "H", "W"} <= set(layout))
    ):
        raise ValueError(
            f"{source}: --layout {layout!r} must name each axis of the shape {a.shape} once with S (slices, optional), "
            "C (coils), H (readout), W (phase encode)"
        )
    if "S" not in layout:
        a, layout = a[None], "S" + layout
    a = np.transpose(a, [layout.index(c) for c in "SCHW"])
    if a.dtype.kind != "c":
        raise ValueError(f"{source}: k-space must be complex, got dtype {a.dtype}")
    if not np.isfinite(a).all():
        raise ValueError(f"{source}: k-space holds {int((~np.isfinite(a)).sum())} NaN/Inf values")
    return a.astype(np.complex64)


def reduce_mask(mask: np.ndarray) -> np.ndarray | None:
    """The smallest stored form of a sampling pattern ``(S, H, W)`` (bool).

    ``None`` when fully sampled; ``(W,)`` / ``(S, W)`` when it is a line mask (every column all or nothing);
    else ``(H, W)`` / ``(S, H, W)``; the per-slice forms only when slices differ.

    Examples
    --------
    >>> m = np.zeros((2, 4, 6), bool); m[:, :, ::2] = True
    >>> reduce_mask(m).shape
    (6,)
    """
    from monarch_sci.datasets.mri.masks import as_line_mask

    m = np.asarray(mask, bool)
    if m.all():
        return None
    lines = as_line_mask(m)
    m = m if lines is None else lines
    if (m == m[:1]).all() and not (lines is None and m.shape[0] == m.shape[1]):
        return m[0]  # one pattern for every slice (a 2-D one only where (H, W) cannot read as (S, W) lines)
    return m


def _check_mask(mask: np.ndarray, shape: tuple[int, ...], source: str) -> np.ndarray:
    """A user's mask as ``(S, H, W)`` bool; the layouts of :func:`~monarch_sci.datasets.mri.fastmri.volume_mask`."""
    from monarch_sci.datasets.mri.fastmri import volume_mask

    S, _, H, W = shape
    m = np.asarray(mask)
    if m.dtype.kind == "c" or not np.isin(m, (0, 1)).all():
        raise ValueError(f"{source}: the mask must hold only zeros and ones (bool), got dtype {m.dtype}")
    try:
        m = volume_mask(m, shape)
    except ValueError as err:
        raise ValueError(f"{source}: mask shape {m.shape} fits none of the layouts ({err}; k-space {shape})") from None
    full = np.broadcast_to(m[:, None, :], (S, H, W)) if m.ndim == 2 else m
    if not full.reshape(S, -1).any(axis=1).all():
        raise ValueError(f"{source}: the mask samples nothing (for at least one slice)")
    return np.ascontiguousarray(full)


def import_kspace(
    kspace: np.ndarray,
    out: str | os.PathLike,
    *,
    mask: np.ndarray | None = None,
    recon_size: tuple[int, int] | None = None,
    attrs: dict | None = None,
    header_xml: str | None = None,
    source: str = "import_kspace",
    record: Mapping[str, Any] | None = None,
) -> dict:
    """Write ``(S, C, H, W)`` k-space as our fastMRI-layout file ``out``, atomically; returns what was written.

        ``mask`` (any of ``(W,)``, ``(H, W)``, ``(S, W)``, ``(S, H, W)``;
        :func:`~monarch_sci.datasets.mri.fastmri.volume_mask`) must cover every non-zero sample; without one the
        pattern is inferred (:func:`~monarch_sci.datasets.mri.masks.infer_mask`). ``recon_size`` defaults to
        ``(H, W)``. ``header_xml`` (an ISMRMRD header, e.g. the scanner's) is stored as given and must state the
    encoded matrix ``(H, W)``; by default a minimal one is written. ``record`` (a job record) is stored, with
    what was written under ``"written"``, as the JSON attribute ``record`` of the file (not as a file beside it,
    which would sit in the data folder). Everything is checked before ``out`` is touched; a kill leaves the
    previous ``out`` as it was.

        Examples
        --------
        >>> import tempfile
        >>> k = np.ones((1, 2, 8, 6), np.complex64); k[..., 1::2] = 0
        >>> info = import_kspace(k, Path(tempfile.mkdtemp()) / "scan.h5")
        >>> info["mask"], info["mask_inferred"], info["sampled_fraction"]
        ('(6,)', True, 0.5)
    """
    from monarch_sci.datasets.mri.fastmri import FastMRIFileError, fastmri_rss, write_fastmri_volume
    from monarch_sci.datasets.mri.ismrmrd_header import make_ismrmrd_header, parse_ismrmrd_header
    from monarch_sci.datasets.mri.masks import infer_mask
    from monarch_sci.training.checkpoint import atomic_output

    k = np.asarray(kspace)
    if k.ndim != 4 or k.dtype.kind != "c" or min(k.shape) < 1:
        raise ValueError(f"import_kspace: kspace must be complex (slices, coils, H, W), got {k.shape} {k.dtype}")
    if not np.isfinite(k).all():
        raise ValueError(f"{source}: k-space holds {int((~np.isfinite(k)).sum())} NaN/Inf values")
    S, C, H, W = k.shape
    h, w = (H, W) if recon_size is None else (int(recon_size[0]), int(recon_size[1]))
    if not (1 <= h <= H and 1 <= w <= W):
        raise ValueError(f"import_kspace: recon_size must lie within the k-space (H, W) = ({H}, {W}), got ({h}, {w})")
    sampled = infer_mask(k)
    inferred = mask is None
    if mask is None:
        full = sampled
    else:
        full = _check_mask(mask, k.shape, source)
        stray = int((sampled & ~full).sum())
        if stray:
            raise ValueError(
                f"{source}: k-space has non-zero samples at {stray} points the mask marks as not acquired; "
                "k-space and mask disagree (wrong axes? see --layout)"
            )
    stored = reduce_mask(full)
    attrs = dict(attrs or {})
    attrs["mask_inferred"] = bool(inferred and stored is not None)
    if header_xml is None:
        header = make_ismrmrd_header(encoding_size=(H, W), recon_size=(h, w), num_coils=C, num_slices=S)
    else:
        geometry = parse_ismrmrd_header(header_xml, source=source)
        if geometry.encoding_size[:2] != (H, W):
            raise ValueError(
                f"import_kspace: header_xml encodedSpace matrixSize (x, y) = {geometry.encoding_size[:2]} must equal "
                f"the k-space (H, W) = ({H}, {W})"
            )
        header = header_xml
    written = {
        "path": os.fspath(out),
        "kspace": list(k.shape),
        "recon_size": [h, w],
        "mask": "none (fully sampled)" if stored is None else str(tuple(stored.shape)),
        "mask_inferred": attrs["mask_inferred"],
        "sampled_fraction": float(full.mean()),
    }
    if record is not None:  # inside the file: a record beside it would sit in the folder its readers open
        attrs["record"] = json.dumps({**record, "written": written}, default=str)
    recons = {"reconstruction_rss": fastmri_rss(k, (h, w))} if stored is None else None
    try:
        with atomic_output(out) as tmp:
            write_fastmri_volume(tmp, kspace=k, header_xml=header, reconstructions=recons, mask=stored, attrs=attrs)
    except FastMRIFileError as err:  # name the user's files, not the temporary one
        raise ValueError(
            f"{source}: not written to {out}: the file would fail fastMRI's checks: {err.problem}"
        ) from None
    return written
