"""The fastMRI HDF5 layout: header parsing, validation, a lazy slice dataset, and a writer.

A fastMRI file holds

* ``kspace``: ``(slices, coils, H, W)`` complex64 (single-coil: ``(slices, H, W)``), ``H`` the readout (with
  2× oversampling in the public data) and ``W`` the phase-encode axis that line masks act on;
* ``reconstruction_rss`` (multi-coil) / ``reconstruction_esc`` (single-coil): ``(slices, h, w)`` float32 targets
  at the header's recon size (absent from test files);
* ``mask``: ``(W,)`` sampled columns, in test files whose ``kspace`` is already undersampled (we also accept
  ``(slices, W)``, one mask per slice, and 2-D sampling patterns ``(H, W)`` / ``(slices, H, W)``, our
  documented extension for 3-D Cartesian acquisitions; see :func:`volume_mask`);
* ``ismrmrd_header``: ISMRMRD XML; ``encoding/encodedSpace/matrixSize`` ``(x, y, z) = (H, W, 1)``,
  ``encoding/reconSpace/matrixSize`` ``(h, w, 1)``, ``encoding/encodingLimits/kspace_encoding_step_1``
  ``center`` and ``maximum`` (columns outside ``[padding_left, padding_right)`` were never acquired);
* attrs ``acquisition``, ``max``, ``norm``, ``patient_id`` (test files: ``acceleration``,
  ``num_low_frequency``).

Header fields are read the way fastMRI's ``SliceDataset`` reads them (nested ``.//ns:tag`` queries in the
ISMRMRD namespace), including ``padding_left = W_enc // 2 − center`` and
``padding_right = padding_left + maximum + 1``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from monarch_sci.datasets.mri.ismrmrd_header import IsmrmrdGeometry, parse_ismrmrd_header
from monarch_sci.fourier import centered_fft, ifft2c

__all__ = [
    "FastMRIFileError",
    "FastMRISliceDataset",
    "VolumeInfo",
    "center_crop",
    "fastmri_rss",
    "inspect_volume",
    "list_volume_files",
    "read_kspace_slice",
    "remove_readout_oversampling",
    "volume_mask",
    "write_fastmri_volume",
]

Challenge = Literal["multicoil", "singlecoil"]


class FastMRIFileError(ValueError):
    """A fastMRI file that cannot be used; the message names the file and the problem."""

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass(frozen=True)
class VolumeInfo:
    """What :func:`inspect_volume` learned about one file (cheap: no k-space samples are read)."""

    path: str
    num_slices: int
    kspace_shape: tuple[int, ...]
    geometry: IsmrmrdGeometry
    attrs: dict[str, Any] = field(default_factory=dict)
    has_mask: bool = False
    recon_keys: tuple[str, ...] = ()

    @property
    def multicoil(self) -> bool:
        return len(self.kspace_shape) == 4

    @property
    def num_coils(self) -> int:
        return self.kspace_shape[1] if self.multicoil else 1

    @property
    def name(self) -> str:
        return os.path.basename(self.path)


def _attr_value(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.generic):
        return v.item()
    return v


def inspect_volume(path: str | os.PathLike, *, check_data: bool = False) -> VolumeInfo:
    """Open a fastMRI file, check that ``kspace``, ``mask``, header and targets agree, and describe it.

    Checks: the file is HDF5; ``kspace`` exists, is complex and ``(slices, [coils,] H, W)``; the header parses,
    its encoded matrix is ``(H, W)`` and its recon size ``(h, w)`` is usable (``1 ≤ h ≤ 2H``, ``1 ≤ w ≤ 2W``);
    the phase-encode limits lie inside ``[0, W]``; a ``mask`` is one of the layouts of :func:`volume_mask`, of
    zeros and ones; each ``reconstruction_*`` is ``(slices, h, w)``. ``check_data`` also reads every k-space slice
    and rejects NaN/Inf, and (test files) non-zero samples where the mask
    says nothing was acquired. Every failure raises :class:`FastMRIFileError` naming the file.
    """
    import h5py

    path = os.fspath(path)
    try:
        hf = h5py.File(path, "r")
    except (OSError, ValueError) as err:
        raise FastMRIFileError(path, f"cannot be opened as an HDF5 file ({err})") from err
    with hf:
        if "kspace" not in hf:
            raise FastMRIFileError(path, f"has no 'kspace' dataset (keys: {sorted(hf.keys())})")
        ks = hf["kspace"]
        if ks.ndim not in (3, 4):
            raise FastMRIFileError(
                path, f"'kspace' must be (slices, coils, H, W) or (slices, H, W), got shape {ks.shape}"
            )
        if ks.dtype.kind != "c":
            raise FastMRIFileError(path, f"'kspace' must be complex (complex64), got dtype {ks.dtype}")
        if min(ks.shape) < 1:
            raise FastMRIFileError(path, f"'kspace' is empty: shape {ks.shape}")
        if "ismrmrd_header" not in hf:
            raise FastMRIFileError(path, "has no 'ismrmrd_header' dataset")
        try:
            geom = parse_ismrmrd_header(hf["ismrmrd_header"][()], source=path)
        except ValueError as err:
            raise FastMRIFileError(path, str(err).removeprefix(f"{path}: ")) from err
        S, H, W = ks.shape[0], ks.shape[-2], ks.shape[-1]
        if geom.encoding_size[:2] != (H, W):
            raise FastMRIFileError(
                path,
                f"header encodedSpace matrixSize (x, y) = {geom.encoding_size[:2]} disagrees with the k-space "
                f"(H, W) = {(H, W)} of 'kspace' {ks.shape}",
            )
        h, w = geom.recon_size[:2]
        if not (1 <= h <= 2 * H and 1 <= w <= 2 * W):  # it sizes every image allocated, the crops and metrics
            raise FastMRIFileError(
                path,
                f"header reconSpace matrixSize (x, y) = ({h}, {w}) is not a usable image size for k-space "
                f"(H, W) = ({H}, {W}); expected 1..{2 * H} by 1..{2 * W}; fix the header's reconSpace",
            )
        if not 0 <= geom.padding_left < geom.padding_right <= W:
            raise FastMRIFileError(
                path,
                f"header phase-encode limits give acquired columns [{geom.padding_left}, {geom.padding_right}), "
                f"outside the k-space width {W}",
            )
        has_mask = "mask" in hf
        if has_mask:
            mask = np.asarray(hf["mask"])
            try:
                per_slice = volume_mask(mask, (S, H, W))
            except ValueError as err:
                raise FastMRIFileError(path, f"{err} to match 'kspace' {ks.shape}") from None
            if not np.isin(mask, (0, 1)).all():
                raise FastMRIFileError(path, "'mask' must hold only zeros and ones")
            if not per_slice.reshape(S, -1).any(axis=-1).all():
                raise FastMRIFileError(path, "'mask' samples no column or point (for at least one slice)")
        recon_keys = tuple(sorted(k for k in hf.keys() if k.startswith("reconstruction")))
        for key in recon_keys:
            shp = hf[key].shape
            if len(shp) != 3 or shp[0] != S:
                raise FastMRIFileError(path, f"'{key}' must be (slices={S}, h, w), got {shp}")
        if check_data:
            for s in range(S):
                data = ks[s]
                _check_finite(path, s, data)
                if has_mask:
                    sampled = np.broadcast_to(per_slice[s] if per_slice.ndim == 3 else per_slice[s, None], (H, W))
                    stray = np.abs(data).reshape(-1, H, W).max(axis=0) > 0
                    stray &= ~sampled
                    if stray.any():
                        cols = np.flatnonzero(stray.any(axis=0))
                        where = (
                            f"in {cols.size} columns"
                            if per_slice.ndim == 2
                            else f"at {int(stray.sum())} points (in {cols.size} columns)"
                        )
                        raise FastMRIFileError(
                            path,
                            f"'kspace' slice {s} has non-zero samples {where} that 'mask' marks as not acquired "
                            f"(first columns: {cols[:5].tolist()}); k-space and mask disagree",
                        )
        attrs = {k: _attr_value(v) for k, v in hf.attrs.items()}
    return VolumeInfo(path, S, tuple(ks.shape), geom, attrs, has_mask, recon_keys)


def list_volume_files(root: str | os.PathLike | Sequence[str | os.PathLike], where: str) -> list[Path]:
    """The files of a data set: a folder's ``*.h5`` files sorted by name, one file, or a list of files.

    Raises ``FileNotFoundError`` (a missing path, a folder without ``*.h5``) or ``ValueError`` (an empty list),
    the message starting with ``where``.
    """
    if isinstance(root, (str, os.PathLike)):
        p = Path(root)
        if p.is_dir():
            files = sorted(p.glob("*.h5"))
            if not files:
                raise FileNotFoundError(f"{where}: no *.h5 files in {p}")
            return files
        if p.is_file():
            return [p]
        raise FileNotFoundError(f"{where}: {p} does not exist")
    files = [Path(f) for f in root]
    if not files:
        raise ValueError(f"{where}: the list of files is empty")
    return files


def volume_mask(mask: np.ndarray, kspace_shape: tuple[int, ...]) -> np.ndarray:
    """One mask per slice from a file's ``mask`` dataset: line masks ``(S, W)`` or 2-D masks ``(S, H, W)``, bool.

    Accepted layouts for k-space ``(S, [coils,] H, W)``: ``(W,)`` (fastMRI), ``(S, W)`` (one line mask per
    slice), ``(H, W)`` (one 2-D sampling pattern, e.g. Poisson-disc in a phase-encode plane) and ``(S, H, W)``.
    A ``(S, W)`` array that is also ``(H, W)`` (``S == H``) reads as per-slice line masks; write such 2-D
    patterns as ``(S, H, W)``.

    Examples
    --------
    >>> volume_mask(np.ones(6), (2, 4, 4, 6)).shape, volume_mask(np.ones((4, 6)), (2, 4, 4, 6)).shape
    ((2, 6), (2, 4, 6))
    """
    m = np.asarray(mask)
    S, H, W = int(kspace_shape[0]), int(kspace_shape[-2]), int(kspace_shape[-1])
    if m.shape in ((W,), (S, W)):
        return np.broadcast_to(m.astype(bool), (S, W))
    if m.shape in ((H, W), (S, H, W)):
        return np.broadcast_to(m.astype(bool), (S, H, W))
    raise ValueError(
        f"'mask' must be (W,) = ({W},), (slices, W) = ({S}, {W}), (H, W) = ({H}, {W}) or (slices, H, W) = "
        f"({S}, {H}, {W}), got {m.shape}"
    )


def _check_finite(path: str, s: int, data: np.ndarray) -> None:
    if not np.isfinite(data).all():
        bad = int((~np.isfinite(data)).sum())
        raise FastMRIFileError(path, f"'kspace' slice {s} holds {bad} non-finite (NaN/Inf) values")


def read_kspace_slice(path: str | os.PathLike, s: int, *, check_finite: bool = True) -> np.ndarray:
    """Read one k-space slice ``(coils, H, W)`` (or ``(H, W)``) without loading the rest of the volume."""
    import h5py

    path = os.fspath(path)
    with h5py.File(path, "r") as hf:
        ks = hf["kspace"]
        if not 0 <= s < ks.shape[0]:
            raise IndexError(f"{path}: slice {s} out of range for 'kspace' with {ks.shape[0]} slices")
        data = ks[s]
    if check_finite:
        _check_finite(path, s, data)
    return data


class FastMRISliceDataset(torch.utils.data.Dataset):
    """Slices of fastMRI files: an index built once, each sample read lazily from its file.

    Parameters
    ----------
    root
        A directory (its ``*.h5`` files, sorted) or a sequence of files.
    challenge
        ``"multicoil"`` (target ``reconstruction_rss``) or ``"singlecoil"`` (``reconstruction_esc``); files
        must have the matching ``kspace`` rank.
    transform
        Optional ``transform(sample) -> anything`` applied to each sample dict.
    sample_rate
        Fraction of volumes kept (chosen with ``seed``; the whole volume is kept or dropped).
    check_finite
        Reject slices with NaN/Inf k-space when they are read.

    A sample is a dict: ``kspace`` ``(coils, H, W)`` complex64 (single-coil ``(H, W)``), ``mask`` ``(W,)`` float32
    or ``None``, ``target`` ``(h, w)`` float32 or ``None``, ``attrs`` (the file attrs plus fastMRI's
    ``padding_left``, ``padding_right``, ``encoding_size``, ``recon_size``), ``fname`` (file name), ``slice``.

    Files are opened per ``__getitem__`` and closed again, so the dataset pickles cleanly into DataLoader
    workers (no HDF5 handle is shared between processes).

    Examples
    --------
    >>> ds = FastMRISliceDataset("data/sim_knee")  # doctest: +SKIP
    >>> ds[0]["kspace"].shape  # doctest: +SKIP
    (8, 640, 320)
    """

    def __init__(
        self,
        root: str | os.PathLike | Sequence[str | os.PathLike],
        *,
        challenge: Challenge = "multicoil",
        transform: Callable[[dict[str, Any]], Any] | None = None,
        sample_rate: float = 1.0,
        seed: int = 0,
        check_finite: bool = True,
    ) -> None:
        if challenge not in ("multicoil", "singlecoil"):
            raise ValueError(f"FastMRISliceDataset: challenge must be 'multicoil' or 'singlecoil', got {challenge!r}")
        if not 0.0 < sample_rate <= 1.0:
            raise ValueError(f"FastMRISliceDataset: sample_rate must be in (0, 1], got {sample_rate}")
        files = list_volume_files(root, "FastMRISliceDataset")
        if sample_rate < 1.0:
            keep = round(len(files) * sample_rate)
            order = np.random.default_rng(seed).permutation(len(files))[: max(keep, 1)]
            files = [files[i] for i in sorted(order)]
        self.challenge = challenge
        self.recons_key = "reconstruction_rss" if challenge == "multicoil" else "reconstruction_esc"
        self.transform = transform
        self.check_finite = check_finite
        self.volumes: list[VolumeInfo] = []
        for f in files:
            info = inspect_volume(f)
            if info.multicoil != (challenge == "multicoil"):
                raise FastMRIFileError(
                    f,
                    f"'kspace' {info.kspace_shape} does not fit challenge {challenge!r} (expects rank "
                    f"{4 if challenge == 'multicoil' else 3})",
                )
            self.volumes.append(info)
        self.examples: list[tuple[int, int]] = [
            (v, s) for v, info in enumerate(self.volumes) for s in range(info.num_slices)
        ]

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> Any:
        import h5py

        v, s = self.examples[i]
        info = self.volumes[v]
        with h5py.File(info.path, "r") as hf:
            kspace = hf["kspace"][s]
            mask = None
            if "mask" in hf:
                m = np.asarray(hf["mask"], dtype=np.float32)
                mask = m if m.ndim == 1 else volume_mask(m, hf["kspace"].shape)[s].astype(np.float32)
            target = hf[self.recons_key][s] if self.recons_key in hf else None
        if self.check_finite:
            _check_finite(info.path, s, kspace)
        attrs = dict(info.attrs)
        attrs.update(info.geometry.metadata())
        sample = {
            "kspace": kspace,
            "mask": mask,
            "target": target,
            "attrs": attrs,
            "fname": info.name,
            "slice": s,
        }
        return self.transform(sample) if self.transform is not None else sample


def write_fastmri_volume(
    path: str | os.PathLike,
    *,
    kspace: np.ndarray,
    header_xml: str,
    reconstructions: dict[str, np.ndarray] | None = None,
    mask: np.ndarray | None = None,
    attrs: dict[str, Any] | None = None,
) -> None:
    """Write one volume in the fastMRI layout (then re-read it with :func:`inspect_volume` as a check).

    ``kspace`` is stored as complex64 ``(slices, coils, H, W)``; ``reconstructions`` maps names such as
    ``"reconstruction_rss"`` to ``(slices, h, w)`` float32; ``attrs`` become HDF5 attributes.
    """
    import h5py

    path = os.fspath(path)
    with h5py.File(path, "w") as hf:
        hf.create_dataset("kspace", data=np.asarray(kspace, dtype=np.complex64))
        hf.create_dataset("ismrmrd_header", data=np.bytes_(header_xml.encode("utf-8")))
        for key, val in (reconstructions or {}).items():
            hf.create_dataset(key, data=np.asarray(val, dtype=np.float32))
        if mask is not None:
            hf.create_dataset("mask", data=np.asarray(mask).astype(bool))
        for key, val in (attrs or {}).items():
            hf.attrs[key] = val
    inspect_volume(path)


def center_crop(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Centre-crop the last two axes to ``shape`` with fastMRI's offsets ``(N − n) // 2``.

    Where ``shape`` exceeds the array (a recon size larger than the acquired matrix) the array is zero-padded
    symmetrically instead, so the output is always ``(..., *shape)``.
    """
    h, w = (int(v) for v in shape)
    H, W = x.shape[-2:]
    if h > H or w > W:
        ph, pw = max(h - H, 0), max(w - W, 0)
        pad = [(0, 0)] * (x.ndim - 2) + [(ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2)]
        x = np.pad(x, pad)
        H, W = x.shape[-2:]
    top, left = (H - h) // 2, (W - w) // 2
    return x[..., top : top + h, left : left + w]


def fastmri_rss(kspace: np.ndarray, recon_size: tuple[int, int]) -> np.ndarray:
    """The ``reconstruction_rss`` target as fastMRI computes it from fully sampled multi-coil k-space.

    ``sqrt(Σ_c |crop(ifft2c(k_c))|²)`` with the centred orthonormal inverse FFT
    ``ifft2c = fftshift ∘ ifft2(norm="ortho") ∘ ifftshift`` over the last two axes.

    Shape
    -----
    ``(..., coils, H, W)`` complex → ``(..., h, w)`` float32.
    """
    k = np.asarray(kspace)
    img = center_crop(ifft2c(k), recon_size)
    return np.sqrt((np.abs(img) ** 2).sum(axis=-3)).astype(np.float32)


def remove_readout_oversampling(kspace: np.ndarray, height: int) -> np.ndarray:
    """Crop the readout (``H``) field of view of fully-read-out k-space to ``height`` rows.

    ``F_x (crop_h(F_x⁻¹ k))`` with the centred orthonormal 1-D transforms along axis ``-2``. Line masks act on
    the other axis, so every image row is an independent problem: reconstructing the cropped data gives exactly
    the cropped rows of a reconstruction of the full data, at a fraction of the cost; the image is unchanged on
    the kept rows (``ifft2c`` of the result equals the centre rows of ``ifft2c(kspace)``).

    Shape
    -----
    ``(..., H, W)`` → ``(..., height, W)``; unchanged if ``height >= H``.
    """
    H = kspace.shape[-2]
    if height >= H:
        return kspace
    img = centered_fft(kspace, (-2,), inverse=True)
    top = (H - height) // 2
    out = centered_fft(img[..., top : top + height, :], (-2,))
    return out.astype(kspace.dtype, copy=False)
