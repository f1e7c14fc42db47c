"""ISMRMRD raw data (HDF5) to our fastMRI layout: Cartesian acquisitions placed by their encoding counters.

An ISMRMRD file holds a group (usually ``dataset``) with ``xml`` (the header) and ``data`` (one record per
acquisition: a header with flags and encoding counters ``idx``, and ``(channels, samples)`` complex data). The
header is parsed with the ``ismrmrd`` package's schema model (``ismrmrd.xsd``; install ``monarch-sci[ismrmrd]``);
the acquisition records are read in blocks with h5py in the layout the ISMRMRD format defines.

Rules (:func:`read_ismrmrd_kspace`):

* The first encoding only; its trajectory must be ``cartesian`` and its ``encodingLimits`` must give
  ``kspace_encoding_step_1`` (and ``kspace_encoding_step_2`` for 3-D, i.e. ``encodedSpace`` ``z > 1``).
* Skipped: noise scans, navigators, phase-correction, feedback, dummy-scan, surface-coil-correction and
  phase-stabilisation acquisitions (by their flags), and acquisitions of other encodings
  (``encoding_space_ref ≠ 0``). Parallel-imaging calibration lines are k-space data and are kept.
* Each kept acquisition goes to phase-encode column ``step_1 − center_1 + y // 2`` (fastMRI's padding rule),
  partition ``step_2 − center_2 + z // 2``, slice ``idx.slice``; its samples to readout rows
  ``x // 2 − center_sample + [discard_pre, samples − discard_post)`` (all ``x`` rows when it has ``x`` samples).
  The sampling pattern is where acquisitions were placed (the ``mask``), not where the data are non-zero.
* Noise prewhitening (``prewhiten=True``, the default) when the file carries a noise scan (acquisitions flagged
  ``ACQ_IS_NOISE_MEASUREMENT``): the noise covariance ``Ψ`` of its samples, rescaled by the ratio of the noise and
  data dwell times (``sample_time_us``), and the data multiplied by ``L⁻¹`` with ``Ψ = L Lᴴ``
  (:mod:`~monarch_sci.datasets.mri.prewhitening`): coils decorrelated, unit noise. What was done is
  :attr:`IsmrmrdScan.noise` (and ``Ψ`` itself :attr:`IsmrmrdScan.noise_covariance`).
* Averages and repetitions (acquisitions filling the same k-space location with different ``idx.average`` /
  ``idx.repetition``) are refused unless ``average=True``, which averages them sample by sample (recorded in
  :attr:`IsmrmrdScan.averaged`); the same location twice with the same counters is always refused.
* Refused with one message naming the file, the acquisition and the field: non-Cartesian trajectories or
  per-sample trajectories, missing limits, counters outside the limits or the matrix, two acquisitions for the
  same k-space location (unless averaged), several contrasts/phases/sets, differing channel counts, reversed
  (EPI) readouts, and a 3-D readout that is not fully sampled.

2-D (multi-slice) data keep their layout: ``kspace`` ``(slices, coils, x, y)`` and the header is carried over
verbatim (fastMRI's own files hold the scanner's ISMRMRD header). 3-D data are stored as slices of the
phase-encode plane, as ``mri simulate --acquisition 3d`` stores them: the readout is inverse transformed
(centred, orthonormal), cropped to ``reconSpace`` ``x`` positions, and ``kspace`` is
``(x positions, coils, y, z)``; the header is rewritten to say so (encoded matrix ``(y, z, 1)``, the
``kspace_encoding_step_2`` limits as the phase-encode limits of the ``W = z`` axis, slice limits), every other
field kept.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from monarch_sci.training.outputs import check_memory

__all__ = ["IsmrmrdScan", "find_ismrmrd_group", "is_ismrmrd_path", "read_ismrmrd_kspace"]

#: Acquisition flags (bit numbers, 1-based as in ISMRMRD) of data that are not image k-space: skipped.
SKIPPED_FLAGS = {
    19: "noise scan",
    23: "navigator",
    24: "phase correction",
    26: "HP feedback",
    27: "dummy scan",
    28: "RT feedback",
    29: "surface-coil correction",
    30: "phase stabilisation reference",
    31: "phase stabilisation",
}
_REVERSE = 22
_BLOCK = 4096  # acquisitions read per HDF5 access


@dataclass
class IsmrmrdScan:
    """A Cartesian ISMRMRD scan in our layout (what :func:`read_ismrmrd_kspace` returns).

    Attributes
    ----------
    kspace
        ``(S, C, H, W)`` complex64, zero where nothing was acquired.
    sampled
        ``(S, H, W)`` bool: where acquisitions were placed (the sampling pattern).
    header_xml
        The ISMRMRD header for our file (encoded matrix ``(H, W, 1)``).
    recon_size
        ``(h, w)`` from the header's ``reconSpace`` (at most ``(H, W)``).
    acquisition
        ``"2d"`` or ``"3d"``.
    counts
        Acquisitions used and skipped, by reason.
    noise
        ``None`` without a noise scan; else ``{"prewhitened", "noise_acquisitions", "samples_per_coil",
        "dwell_ratio", "noise_std_per_coil", "max_correlation"}`` (the noise before whitening).
    noise_covariance
        ``(C, C)`` complex128 ``Ψ`` the data were whitened with (``None`` when not whitened).
    averaged
        ``None`` unless acquisitions were averaged: ``{"locations", "max_count"}`` (k-space points averaged over
        more than one acquisition, and the most acquisitions one point averaged).
    """

    kspace: np.ndarray
    sampled: np.ndarray
    header_xml: str
    recon_size: tuple[int, int]
    acquisition: str
    counts: dict[str, int] = field(default_factory=dict)
    noise: dict | None = None
    noise_covariance: np.ndarray | None = None
    averaged: dict | None = None


def find_ismrmrd_group(path: str | os.PathLike, group: str | None = None) -> str | None:
    """The group of an ISMRMRD HDF5 file holding ``xml`` and ``data`` (``group`` if given), or ``None``.

    ``None`` when ``path`` is not HDF5 or holds no such group; ``ValueError`` when several groups qualify and
    ``group`` is not given.
    """
    import h5py

    try:
        hf = h5py.File(path, "r")
    except (OSError, ValueError):
        return None
    with hf:
        names = [k for k in hf if isinstance(hf[k], h5py.Group) and {"xml", "data"} <= set(hf[k].keys())]
    if group is not None:
        return group if group in names else None
    if len(names) > 1:
        raise ValueError(f"{path}: several ISMRMRD groups {names}; choose one with --group")
    return names[0] if names else None


def _limits(lims, name: str, source: str) -> tuple[int, int, int]:
    lim = getattr(lims, name, None) if lims is not None else None
    if lim is None:
        raise ValueError(f"{source}: the ISMRMRD header has no encodingLimits/{name} (needed to place the lines)")
    return int(lim.minimum), int(lim.maximum), int(lim.center)


def _parse_header(xml: bytes | str, source: str):
    import ismrmrd.xsd

    try:
        header = ismrmrd.xsd.CreateFromDocument(xml)
    except Exception as err:  # xsdata raises several types for malformed or non-schema XML
        raise ValueError(
            f"{source}: the 'xml' header is not a valid ISMRMRD header ({type(err).__name__}: {err})"
        ) from None
    if not header.encoding:
        raise ValueError(f"{source}: the ISMRMRD header has no <encoding>")
    enc = header.encoding[0]
    trajectory = getattr(enc.trajectory, "value", enc.trajectory)
    if trajectory != "cartesian":
        raise ValueError(f"{source}: encoding trajectory is {trajectory!r}; only Cartesian data can be imported")
    return header, enc


def _read_records(dset, keep: np.ndarray):
    """Yield ``(index, data (channels·samples·2,) float32)`` for the kept acquisitions, block by block."""
    for start in range(0, keep.size, _BLOCK):
        stop = min(start + _BLOCK, keep.size)
        if not keep[start:stop].any():
            continue
        block = dset[start:stop]["data"]
        for i in np.flatnonzero(keep[start:stop]):
            yield start + int(i), block[i]


def _noise_scan(dset, heads, noise: np.ndarray, C: int, data_dwell: np.ndarray, source: str):
    """``(samples (C, N), dwell_ratio)`` of the noise acquisitions ``noise`` (a boolean row mask): noise dwell time
    over data dwell time, 1 when the file gives none."""
    idx = np.flatnonzero(noise)
    h = heads[noise]
    bad = np.flatnonzero(h["active_channels"] != C)
    if bad.size:
        raise ValueError(
            f"{source}: noise acquisition {int(idx[bad[0]])} has {int(h['active_channels'][bad[0]])} channels, the "
            f"data {C}; cannot prewhiten (import with --no-prewhiten)"
        )
    ns = h["number_of_samples"].astype(np.int64)
    samples = []
    for a, data in _read_records(dset, noise):
        j = int(np.searchsorted(idx, a))
        samples.append(data.view(np.complex64).reshape(C, int(ns[j])))
    noise_dwell, dwell = np.unique(h["sample_time_us"]), np.unique(data_dwell)
    if noise_dwell.size == 1 and dwell.size == 1 and noise_dwell[0] > 0 and dwell[0] > 0:
        ratio = float(noise_dwell[0] / dwell[0])  # noise power grows with bandwidth, i.e. with 1/dwell
    elif noise_dwell.size > 1 or dwell.size > 1:
        raise ValueError(
            f"{source}: the noise scan's dwell times {noise_dwell.tolist()} or the data's {dwell.tolist()} "
            "(sample_time_us) are not one value each; cannot scale the noise covariance (import with --no-prewhiten)"
        )
    else:
        ratio = 1.0  # dwell times not in the file: the noise scan is taken at the data's bandwidth
    return np.concatenate(samples, axis=1), ratio


def read_ismrmrd_kspace(
    path: str | os.PathLike, *, group: str | None = None, prewhiten: bool = True, average: bool = False
) -> IsmrmrdScan:
    """Read a Cartesian ISMRMRD raw HDF5 file into our layout (the rules are in the module docstring).

    ``prewhiten``: whiten the coils with the file's noise scan, if it has one; ``average``: average the
    acquisitions of repeated k-space locations (averages, repetitions) instead of refusing them.

    Examples
    --------
    >>> import tempfile, ismrmrd
    >>> from monarch_sci.datasets.mri.ismrmrd_header import make_ismrmrd_header
    >>> path = Path(tempfile.mkdtemp()) / "raw.h5"
    >>> with ismrmrd.Dataset(path, "dataset", create_if_needed=True) as d:
    ...     d.write_xml_header(make_ismrmrd_header(encoding_size=(8, 6), recon_size=(8, 6), num_coils=2))
    ...     for line in (0, 2, 3, 4):
    ...         a = ismrmrd.Acquisition.from_array(np.ones((2, 8), np.complex64))
    ...         a.idx.kspace_encode_step_1, a.center_sample = line, 4
    ...         d.append_acquisition(a)
    >>> scan = read_ismrmrd_kspace(path)
    >>> scan.kspace.shape, scan.sampled[0, 0].astype(int).tolist(), scan.acquisition
    ((1, 2, 8, 6), [1, 0, 1, 1, 1, 0], '2d')
    """
    import h5py
    import ismrmrd.xsd

    from monarch_sci.fourier import centered_fft

    source = os.fspath(path)
    found = find_ismrmrd_group(path, group)
    if found is None:
        what = f"group {group!r} with" if group else "a group with"
        raise ValueError(f"{source}: not an ISMRMRD file ({what} 'xml' and 'data' datasets expected)")
    with h5py.File(path, "r") as hf:
        g = hf[found]
        xml = g["xml"][0]
        dset = g["data"]
        if dset.dtype.names is None or not {"head", "traj", "data"} <= set(dset.dtype.names):
            raise ValueError(
                f"{source}: '{found}/data' is not an ISMRMRD acquisition table (fields {dset.dtype.names})"
            )
        heads = dset["head"]
        header, enc = _parse_header(xml, source)
        x, y, z = (int(v) for v in (enc.encodedSpace.matrixSize.x, enc.encodedSpace.matrixSize.y,
                                    enc.encodedSpace.matrixSize.z))  # fmt: skip
        three_d = z > 1
        lims = enc.encodingLimits
        lo1, hi1, c1 = _limits(lims, "kspace_encoding_step_1", source)
        lo2, hi2, c2 = _limits(lims, "kspace_encoding_step_2", source) if three_d else (0, 0, 0)
        for axis, (lo, hi, c), n in (("kspace_encoding_step_1", (lo1, hi1, c1), y),
                                     ("kspace_encoding_step_2", (lo2, hi2, c2), z)):  # fmt: skip
            off = n // 2 - c
            if not (0 <= lo <= c <= hi and 0 <= lo + off and hi + off < n):
                raise ValueError(
                    f"{source}: header encodingLimits/{axis} (minimum, maximum, center) = ({lo}, {hi}, {c}) place "
                    f"lines outside the encoded matrix of {n} (line = counter - center + {n // 2})"
                )
        flags = heads["flags"].astype(np.uint64)
        counts: dict[str, int] = {}
        skip = heads["encoding_space_ref"] != 0
        noise_rows = ((flags & np.uint64(1 << 18)) != 0) & ~skip  # ACQ_IS_NOISE_MEASUREMENT (bit 19)
        counts["other encoding"] = int(skip.sum())
        for bit, name in SKIPPED_FLAGS.items():
            hit = (flags & np.uint64(1 << (bit - 1))) != 0
            counts[name] = int((hit & ~skip).sum())
            skip |= hit
        keep = ~skip
        counts = {k: v for k, v in counts.items() if v}
        idx = np.flatnonzero(keep)
        if idx.size == 0:
            raise ValueError(f"{source}: no imaging acquisitions (of {keep.size}: skipped {counts})")
        h = heads[keep]
        first = int(idx[0])

        def refuse(mask: np.ndarray, what: str) -> None:
            if mask.any():
                bad = int(idx[np.flatnonzero(mask)[0]])
                raise ValueError(f"{source}: acquisition {bad} {what}")

        refuse(h["trajectory_dimensions"] != 0, "has a per-sample trajectory (non-Cartesian data)")
        refuse((h["flags"].astype(np.uint64) & np.uint64(1 << (_REVERSE - 1))) != 0,
               "has a reversed readout (ACQ_IS_REVERSE, EPI); not supported")  # fmt: skip
        C = int(h["active_channels"][0])
        refuse(h["active_channels"] != C, f"has a different channel count than acquisition {first} ({C})")
        cnt = h["idx"]
        for name in ("contrast", "phase", "set"):
            values = np.unique(cnt[name])
            if values.size > 1:
                raise ValueError(f"{source}: acquisitions hold {values.size} values of idx.{name} "
                                 f"({values[:5].tolist()}...); import one {name} at a time")  # fmt: skip
        step1 = cnt["kspace_encode_step_1"].astype(np.int64)
        step2 = cnt["kspace_encode_step_2"].astype(np.int64)
        refuse((step1 < lo1) | (step1 > hi1), f"has kspace_encode_step_1 outside the header limits {lo1}..{hi1}")
        if three_d:
            refuse((step2 < lo2) | (step2 > hi2), f"has kspace_encode_step_2 outside the header limits {lo2}..{hi2}")
        else:
            refuse(step2 != 0, "has kspace_encode_step_2 > 0 but the encoded matrix z is 1 (2-D)")
        col1, col2 = step1 - c1 + y // 2, step2 - c2 + z // 2
        sl = cnt["slice"].astype(np.int64)
        slice_lim = getattr(lims, "slice", None)
        S = int(slice_lim.maximum) + 1 if slice_lim is not None else int(sl.max()) + 1
        refuse(sl >= S, f"has idx.slice outside the header's slice limits 0..{S - 1}")
        if three_d:
            refuse(sl != 0, "is 3-D data with idx.slice > 0 (several slabs); not supported")
            S = 1
        ns = h["number_of_samples"].astype(np.int64)
        ro = np.where(ns == x, 0, x // 2 - h["center_sample"].astype(np.int64))
        refuse((ro < 0) | (ro + ns > x), f"has samples that do not fit the encoded readout of {x} (center_sample)")
        pre, post = h["discard_pre"].astype(np.int64), h["discard_post"].astype(np.int64)
        refuse(pre + post >= ns, "discards all its samples (discard_pre + discard_post)")
        if three_d:
            partial = (ns != x) | (pre > 0) | (post > 0)
            refuse(
                partial, f"covers part of the readout only; a 3-D import transforms the readout: all {x} samples needed"
            )
        key = (sl * y + col1) * z + col2
        repeat = cnt["average"].astype(np.int64) * (int(cnt["repetition"].max()) + 1) + cnt["repetition"]
        for k_, what in ((key, " (averages or repetitions); import with --average to average them"),
                         (np.stack([key, repeat]), " with the same idx.average and idx.repetition")):  # fmt: skip
            if average and k_ is key:
                continue
            uniq, inverse, n_at = np.unique(k_, axis=-1, return_inverse=True, return_counts=True)
            if (n_at > 1).any():
                again = np.flatnonzero(inverse.reshape(-1) == int(np.flatnonzero(n_at > 1)[0]))
                raise ValueError(
                    f"{source}: acquisitions {int(idx[again[0]])} and {int(idx[again[1]])} both fill slice "
                    f"{int(sl[again[0]])}, line {int(step1[again[0]])}" + (f", partition {int(step2[again[0]])}"
                    if three_d else "") + what
                )  # fmt: skip
        if not three_d:
            missing = np.setdiff1d(np.arange(S), sl)
            if missing.size:
                raise ValueError(f"{source}: slices {missing[:5].tolist()} of 0..{S - 1} have no acquisitions")
        matrix = f"{source}: the header's encoded matrix {x}×{y}×{z} ({S} slices, {C} coils)"
        check_memory(2 * S * C * x * y * z * 9, matrix)  # k-space and mask, and one copy while converting
        raw = np.zeros((S, C, x, y, z), np.complex64)
        hits = np.zeros((S, x, y, z), np.int32)  # acquisitions per sample point (> 1 only when averaging)
        pos = {int(a): j for j, a in enumerate(idx)}
        for a, data in _read_records(dset, keep):
            j = pos[a]
            n = int(ns[j])
            if data.size != 2 * C * n:
                raise ValueError(f"{source}: acquisition {a} holds {data.size // 2} samples, expected {C}×{n}")
            d = data.view(np.complex64).reshape(C, n)
            r0, a0, a1 = int(ro[j]), int(pre[j]), n - int(post[j])
            raw[sl[j], :, r0 + a0 : r0 + a1, col1[j], col2[j]] += d[:, a0:a1]
            hits[sl[j], r0 + a0 : r0 + a1, col1[j], col2[j]] += 1
        noise_info, psi = None, None
        if noise_rows.any():
            noise_info = {"prewhitened": False, "noise_acquisitions": int(noise_rows.sum())}
        if noise_rows.any() and prewhiten:
            from monarch_sci.datasets.mri.prewhitening import noise_covariance, whitening_matrix
            from monarch_sci.datasets.mri.prewhitening import prewhiten as whiten

            samples, ratio = _noise_scan(dset, heads, noise_rows, C, h["sample_time_us"], source)
            try:
                psi = noise_covariance(samples, dwell_ratio=ratio)
                raw = whiten(raw, whitening_matrix(psi), coil_axis=1)
            except ValueError as err:
                raise ValueError(f"{source}: noise scan: {err}; import with --no-prewhiten to skip it") from None
            sd = np.sqrt(np.diag(psi).real)
            corr = np.abs(psi) / np.outer(sd, sd)
            noise_info |= {"prewhitened": True, "samples_per_coil": int(samples.shape[1]), "dwell_ratio": ratio,
                           "noise_std_per_coil": sd.tolist(),
                           "max_correlation": float((corr - np.eye(C)).max()) if C > 1 else 0.0}  # fmt: skip
    sampled = hits > 0
    averaged = None
    if (hits > 1).any():
        raw /= np.maximum(hits, 1)[:, None].astype(np.float32)  # the mean of each point's acquisitions (complex64)
        averaged = {"locations": int((hits > 1).sum()), "max_count": int(hits.max())}
    counts["used"] = int(idx.size)
    rx, ry, rz = (int(v) for v in (enc.reconSpace.matrixSize.x, enc.reconSpace.matrixSize.y,
                                   enc.reconSpace.matrixSize.z))  # fmt: skip
    channels = getattr(header.acquisitionSystemInformation, "receiverChannels", None)
    xml_text = xml.decode("utf-8") if isinstance(xml, bytes) else str(xml)
    if not three_d:
        kspace, mask = raw[..., 0], sampled[..., 0]
        if channels is not None and int(channels) != C:  # sizes must match the data: rewrite that one field
            header.acquisitionSystemInformation.receiverChannels = C
            xml_text = ismrmrd.xsd.ToXML(header, encoding="utf-8")
        return IsmrmrdScan(kspace, mask, xml_text, (min(rx, x), min(ry, y)), "2d", counts, noise_info, psi, averaged)
    # 3-D: readout → image positions (centred orthonormal inverse DFT), cropped to the recon field of view
    img = centered_fft(raw[0], dims=(1,), inverse=True).astype(np.complex64)  # (C, x, y, z)
    nx = min(max(rx, 1), x)
    top = (x - nx) // 2
    kspace = np.ascontiguousarray(np.moveaxis(img[:, top : top + nx], 1, 0))  # (nx, C, y, z)
    mask = np.broadcast_to(sampled[0, 0], (nx, y, z)).copy()
    e = enc.encodedSpace
    enc.encodedSpace.matrixSize.x, enc.encodedSpace.matrixSize.y, enc.encodedSpace.matrixSize.z = y, z, 1
    fx = float(e.fieldOfView_mm.x)
    e.fieldOfView_mm.x, e.fieldOfView_mm.y, e.fieldOfView_mm.z = e.fieldOfView_mm.y, e.fieldOfView_mm.z, fx / x
    r = enc.reconSpace
    rfx = float(r.fieldOfView_mm.x)
    r.matrixSize.x, r.matrixSize.y, r.matrixSize.z = min(ry, y), min(rz, z), 1
    r.fieldOfView_mm.x, r.fieldOfView_mm.y, r.fieldOfView_mm.z = (
        r.fieldOfView_mm.y,
        r.fieldOfView_mm.z,
        rfx / max(rx, 1),
    )
    step1_lim, step2_lim = lims.kspace_encoding_step_1, lims.kspace_encoding_step_2
    lims.kspace_encoding_step_1 = step2_lim  # fastMRI's phase-encode limits are those of W = z
    lims.kspace_encoding_step_2 = type(step1_lim)(minimum=0, maximum=0, center=0)
    lims.slice = type(step1_lim)(minimum=0, maximum=nx - 1, center=nx // 2)
    header.encoding = [enc]
    if channels is not None:
        header.acquisitionSystemInformation.receiverChannels = C
    xml_text = ismrmrd.xsd.ToXML(header, encoding="utf-8")
    return IsmrmrdScan(kspace, mask, xml_text, (min(ry, y), min(rz, z)), "3d", counts, noise_info, psi, averaged)


def is_ismrmrd_path(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an HDF5 file with an ISMRMRD group (content, not suffix)."""
    try:
        return Path(path).is_file() and find_ismrmrd_group(path) is not None
    except ValueError:
        return True  # several groups: it is ISMRMRD; the reader asks for --group
