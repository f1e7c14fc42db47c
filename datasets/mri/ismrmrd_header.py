"""The ISMRMRD XML header of a fastMRI file: what we read from it (:class:`IsmrmrdGeometry`) and how we write it.

Fields are read the way fastMRI's ``SliceDataset`` reads them (nested ``.//ns:tag`` queries in the ISMRMRD
namespace): ``encoding/encodedSpace/matrixSize`` ``(x, y, z) = (H, W, 1)``, ``encoding/reconSpace/matrixSize``
``(h, w, 1)``, and ``encoding/encodingLimits/kspace_encoding_step_1`` ``center`` and ``maximum``, from which
``padding_left = W_enc // 2 − center`` and ``padding_right = padding_left + maximum + 1``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ISMRMRD_NAMESPACE", "IsmrmrdGeometry", "make_ismrmrd_header", "parse_ismrmrd_header"]

ISMRMRD_NAMESPACE = "http://www.ismrm.org/ISMRMRD"


@dataclass(frozen=True)
class IsmrmrdGeometry:
    """Sizes read from the ISMRMRD header.

    Attributes
    ----------
    encoding_size, recon_size
        ``(x, y, z)`` of ``encodedSpace`` / ``reconSpace`` ``matrixSize`` (x = readout ``H``, y = phase ``W``).
    enc_limits_center
        ``kspace_encoding_step_1/center``.
    enc_limits_max
        ``kspace_encoding_step_1/maximum + 1`` (as fastMRI stores it).
    """

    encoding_size: tuple[int, int, int]
    recon_size: tuple[int, int, int]
    enc_limits_center: int
    enc_limits_max: int

    @property
    def padding_left(self) -> int:
        """First acquired phase-encode column."""
        return self.encoding_size[1] // 2 - self.enc_limits_center

    @property
    def padding_right(self) -> int:
        """One past the last acquired phase-encode column."""
        return self.padding_left + self.enc_limits_max

    def metadata(self) -> dict[str, Any]:
        """The per-volume metadata fastMRI's ``SliceDataset`` adds to a sample's attrs."""
        return {
            "padding_left": self.padding_left,
            "padding_right": self.padding_right,
            "encoding_size": self.encoding_size,
            "recon_size": self.recon_size,
        }


def _query(root: ET.Element, path: Sequence[str], source: str) -> str:
    query = "." + "".join(f"//ismrmrd:{tag}" for tag in path)
    node = root.find(query, {"ismrmrd": ISMRMRD_NAMESPACE})
    if node is None or node.text is None or not node.text.strip():
        raise KeyError(f"{source}: ISMRMRD header has no {'/'.join(path)}")
    return node.text.strip()


def parse_ismrmrd_header(xml: bytes | str, *, source: str = "ismrmrd_header") -> IsmrmrdGeometry:
    """Read the encoded/recon matrix sizes and phase-encode limits from an ISMRMRD XML header.

    Raises ``ValueError`` naming ``source`` (typically the file) when the XML is malformed or a field is missing.

    Examples
    --------
    >>> g = parse_ismrmrd_header(make_ismrmrd_header(encoding_size=(640, 368), recon_size=(320, 320)))
    >>> g.encoding_size, g.recon_size, g.padding_left, g.padding_right
    ((640, 368, 1), (320, 320, 1), 0, 368)
    """
    if isinstance(xml, np.ndarray):
        xml = xml.tobytes() if xml.dtype.kind in "SV" else str(xml)
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as err:
        raise ValueError(f"{source}: ismrmrd_header is not valid XML ({err})") from err
    try:
        enc = ("encoding", "encodedSpace", "matrixSize")
        rec = ("encoding", "reconSpace", "matrixSize")
        lims = ("encoding", "encodingLimits", "kspace_encoding_step_1")
        enc_size = tuple(int(_query(root, (*enc, a), source)) for a in "xyz")
        rec_size = tuple(int(_query(root, (*rec, a), source)) for a in "xyz")
        center = int(_query(root, (*lims, "center"), source))
        maximum = int(_query(root, (*lims, "maximum"), source)) + 1
    except KeyError as err:
        raise ValueError(str(err.args[0])) from err
    return IsmrmrdGeometry(enc_size, rec_size, center, maximum)  # type: ignore[arg-type]


def make_ismrmrd_header(
    *,
    encoding_size: tuple[int, int],
    recon_size: tuple[int, int],
    fov_mm: tuple[float, float, float] = (280.0, 140.0, 3.0),
    recon_fov_mm: tuple[float, float, float] | None = None,
    num_coils: int = 1,
    num_slices: int = 1,
    enc_step1_limits: tuple[int, int, int] | None = None,
    vendor: str = "monarch-sci simulator",
    field_strength_t: float = 3.0,
) -> str:
    """A minimal valid ISMRMRD XML header with the fields fastMRI reads.

    Parameters
    ----------
    encoding_size
        ``(H, W)`` of the stored k-space (readout, phase encode).
    recon_size
        ``(h, w)`` of the reconstruction targets.
    fov_mm
        Encoded field of view ``(x, y, z)`` in mm; ``recon_fov_mm`` defaults to it scaled by ``recon/encoded``.
    enc_step1_limits
        ``(minimum, maximum, center)`` of the phase-encode index; default all ``W`` columns, centre ``W // 2``.
    """
    H, W = (int(v) for v in encoding_size)
    h, w = (int(v) for v in recon_size)
    if recon_fov_mm is None:
        recon_fov_mm = (fov_mm[0] * h / H, fov_mm[1] * w / W, fov_mm[2])
    lo, hi, center = enc_step1_limits if enc_step1_limits is not None else (0, W - 1, W // 2)

    def xyz(tag: str, v: Sequence[Any]) -> str:
        return f"<{tag}><x>{v[0]}</x><y>{v[1]}</y><z>{v[2]}</z></{tag}>"

    def limit(tag: str, a: int, b: int, c: int) -> str:
        return f"<{tag}><minimum>{a}</minimum><maximum>{b}</maximum><center>{c}</center></{tag}>"

    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<ismrmrdHeader xmlns="{ISMRMRD_NAMESPACE}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:schemaLocation="{ISMRMRD_NAMESPACE} ismrmrd.xsd">'
        "<acquisitionSystemInformation>"
        f"<systemVendor>{vendor}</systemVendor><systemFieldStrength_T>{field_strength_t}</systemFieldStrength_T>"
        f"<receiverChannels>{int(num_coils)}</receiverChannels>"
        "</acquisitionSystemInformation>"
        f"<experimentalConditions><H1resonanceFrequency_Hz>{round(42.577478e6 * field_strength_t)}"
        "</H1resonanceFrequency_Hz></experimentalConditions>"
        "<encoding>"
        "<encodedSpace>" + xyz("matrixSize", (H, W, 1)) + xyz("fieldOfView_mm", fov_mm) + "</encodedSpace>"
        "<reconSpace>" + xyz("matrixSize", (h, w, 1)) + xyz("fieldOfView_mm", recon_fov_mm) + "</reconSpace>"
        "<trajectory>cartesian</trajectory>"
        "<encodingLimits>"
        + limit("kspace_encoding_step_1", lo, hi, center)
        + limit("kspace_encoding_step_2", 0, 0, 0)
        + limit("average", 0, 0, 0)
        + limit("slice", 0, max(int(num_slices) - 1, 0), int(num_slices) // 2)
        + limit("contrast", 0, 0, 0)
        + limit("phase", 0, 0, 0)
        + limit("repetition", 0, 0, 0)
        + limit("set", 0, 0, 0)
        + limit("segment", 0, 0, 0)
        + "</encodingLimits>"
        "</encoding>"
        "</ismrmrdHeader>"
    )
