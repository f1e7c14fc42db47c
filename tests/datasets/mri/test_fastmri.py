"""fastMRI layout: header parsing, validation errors that name the file, lazy multi-worker slice reads."""

import h5py
import numpy as np
import pytest
import torch

from monarch_sci.datasets.mri.fastmri import (
    FastMRIFileError,
    FastMRISliceDataset,
    center_crop,
    fastmri_rss,
    inspect_volume,
    remove_readout_oversampling,
    write_fastmri_volume,
)
from monarch_sci.datasets.mri.ismrmrd_header import make_ismrmrd_header, parse_ismrmrd_header

S, C, H, W, h, w = 3, 2, 24, 16, 12, 14


def kspace(seed=0, shape=(S, C, H, W)):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def write(path, k=None, header=None, **kw):
    k = kspace() if k is None else k
    header = header or make_ismrmrd_header(encoding_size=k.shape[-2:], recon_size=(h, w), num_coils=C, num_slices=S)
    kw.setdefault("reconstructions", {"reconstruction_rss": fastmri_rss(k, (h, w))} if k.ndim == 4 else {})
    kw.setdefault("attrs", {"acquisition": "SIM_PD", "max": 1.0, "norm": 2.0, "patient_id": "p"})
    write_fastmri_volume(path, kspace=k, header_xml=header, **kw)
    return path


def test_header_roundtrip_and_fastmri_padding():
    xml = make_ismrmrd_header(encoding_size=(640, 372), recon_size=(320, 320), enc_step1_limits=(0, 366, 183))
    g = parse_ismrmrd_header(xml)
    assert g.encoding_size == (640, 372, 1) and g.recon_size == (320, 320, 1)
    # fastMRI: padding_left = enc_y // 2 - center, padding_right = padding_left + maximum + 1
    assert (g.padding_left, g.padding_right) == (372 // 2 - 183, 372 // 2 - 183 + 367)
    with pytest.raises(ValueError, match=r"scan\.h5: ISMRMRD header has no encoding/reconSpace/matrixSize/x"):
        parse_ismrmrd_header(
            xml.replace("<reconSpace><matrixSize><x>320</x>", "<reconSpace><matrixSize>"), source="scan.h5"
        )
    with pytest.raises(ValueError, match="not valid XML"):
        parse_ismrmrd_header(b"<ismrmrdHeader", source="scan.h5")


def test_fastmri_rss_by_hand():
    k = kspace()
    img = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))
    top, left = (H - h) // 2, (W - w) // 2
    ref = np.sqrt((np.abs(img[..., top : top + h, left : left + w]) ** 2).sum(1))
    np.testing.assert_allclose(fastmri_rss(k, (h, w)), ref, rtol=1e-5)


def test_center_crop_pads_when_recon_is_larger():
    x = np.arange(12.0).reshape(3, 4)
    assert center_crop(x, (2, 2)).tolist() == [[1.0, 2.0], [5.0, 6.0]]
    y = center_crop(x, (5, 4))
    assert y.shape == (5, 4) and (y[0] == 0).all() and (y[1:4] == x).all()


def test_remove_readout_oversampling_keeps_centre_rows():
    k = kspace(1).astype(np.complex128)
    ifft2c = lambda a: np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(a, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))  # noqa: E731
    np.testing.assert_allclose(ifft2c(remove_readout_oversampling(k, 10)), center_crop(ifft2c(k), (10, W)), atol=1e-12)


def test_dataset_reads_lazily_with_fastmri_metadata(tmp_path):
    files = [write(tmp_path / f"file{i}.h5", kspace(i)) for i in range(2)]
    ds = FastMRISliceDataset(tmp_path)
    assert len(ds) == 2 * S and [v.name for v in ds.volumes] == ["file0.h5", "file1.h5"]
    sample = ds[S + 1]
    assert sample["fname"] == "file1.h5" and sample["slice"] == 1
    np.testing.assert_array_equal(sample["kspace"], kspace(1)[1])
    assert sample["target"].shape == (h, w) and sample["mask"] is None
    attrs = sample["attrs"]
    assert attrs["acquisition"] == "SIM_PD" and attrs["recon_size"] == (h, w, 1)
    assert (attrs["padding_left"], attrs["padding_right"]) == (0, W)
    # the file is not held open: it can be rewritten between reads
    write(files[1], kspace(7))
    np.testing.assert_array_equal(ds[S]["kspace"], kspace(7)[0])


def test_dataset_multiworker_dataloader(tmp_path):
    for i in range(2):
        write(tmp_path / f"file{i}.h5", kspace(i))
    ds = FastMRISliceDataset(tmp_path, transform=lambda s: torch.from_numpy(s["kspace"]))
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2)
    got = torch.cat(list(loader))
    ref = torch.from_numpy(np.concatenate([kspace(0), kspace(1)]))
    assert torch.equal(got, ref)


def test_singlecoil_and_sample_rate(tmp_path):
    k1 = kspace(0, (S, H, W))
    write(tmp_path / "sc.h5", k1, reconstructions={"reconstruction_esc": np.zeros((S, h, w), np.float32)})
    ds = FastMRISliceDataset(tmp_path, challenge="singlecoil")
    assert ds[0]["kspace"].shape == (H, W) and ds[0]["target"].shape == (h, w)
    with pytest.raises(FastMRIFileError, match=r"sc\.h5: 'kspace' .* does not fit challenge 'multicoil'"):
        FastMRISliceDataset(tmp_path)
    for i in range(4):
        write(tmp_path / f"m{i}.h5", kspace(i))
    assert len(FastMRISliceDataset(sorted(tmp_path.glob("m*.h5")), sample_rate=0.5).volumes) == 2


def test_test_style_file_with_mask(tmp_path):
    mask = np.zeros(W, bool)
    mask[::3] = True
    k = kspace() * mask
    p = write(tmp_path / "t.h5", k, mask=mask, reconstructions={})
    info = inspect_volume(p, check_data=True)
    assert info.has_mask and info.recon_keys == ()
    assert (FastMRISliceDataset(p)[0]["mask"] == mask).all()


# ---- bad input: each error names the file and the problem ---------------------------------------------------


def corrupt(path, fn):
    with h5py.File(path, "a") as hf:
        fn(hf)
    return path


def test_not_hdf5(tmp_path):
    p = tmp_path / "junk.h5"
    p.write_bytes(b"not an hdf5 file")
    with pytest.raises(FastMRIFileError, match=r"junk\.h5: cannot be opened as an HDF5 file"):
        inspect_volume(p)


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda hf: hf.__delitem__("kspace"), "has no 'kspace' dataset"),
        (lambda hf: hf.__delitem__("ismrmrd_header"), "has no 'ismrmrd_header' dataset"),
        (
            lambda hf: (hf.__delitem__("kspace"), hf.create_dataset("kspace", data=np.zeros((S, C, H, W), np.float32))),
            "'kspace' must be complex",
        ),
        (
            lambda hf: (
                hf.__delitem__("kspace"),
                hf.create_dataset("kspace", data=np.zeros((H, W, 2, 2, 2), np.complex64)),
            ),
            r"'kspace' must be \(slices, coils, H, W\)",
        ),
        (lambda hf: hf.create_dataset("mask", data=np.ones(W - 1, bool)), r"'mask' must be \(W,\) = \(16,\)"),
        (lambda hf: hf.create_dataset("mask", data=np.zeros(W, bool)), "'mask' samples no column"),
        (
            lambda hf: (
                hf.__delitem__("reconstruction_rss"),
                hf.create_dataset("reconstruction_rss", data=np.zeros((S + 1, h, w))),
            ),
            r"'reconstruction_rss' must be \(slices=3, h, w\)",
        ),
    ],
)
def test_bad_layout(tmp_path, edit, message):
    p = corrupt(write(tmp_path / "bad.h5"), edit)
    with pytest.raises(FastMRIFileError, match="bad.h5: " + message):
        inspect_volume(p)


def test_header_disagrees_with_kspace(tmp_path):
    header = make_ismrmrd_header(encoding_size=(H, W + 4), recon_size=(h, w))
    with pytest.raises(
        FastMRIFileError, match=r"hdr.h5: header encodedSpace matrixSize \(x, y\) = \(24, 20\) disagrees"
    ):
        write(tmp_path / "hdr.h5", header=header)
    header = make_ismrmrd_header(encoding_size=(H, W), recon_size=(h, w), enc_step1_limits=(0, W + 3, W // 2))
    with pytest.raises(FastMRIFileError, match=r"lim\.h5: header phase-encode limits"):
        write(tmp_path / "lim.h5", header=header)


def test_kspace_and_mask_disagree(tmp_path):
    mask = np.zeros(W, bool)
    mask[::2] = True
    p = write(tmp_path / "mix.h5", kspace(), mask=mask, reconstructions={})  # k-space not masked
    inspect_volume(p)  # the layout is fine; only the data check reads samples
    with pytest.raises(FastMRIFileError, match=r"mix.h5: 'kspace' slice 0 has non-zero samples in 8 columns"):
        inspect_volume(p, check_data=True)


def test_nan_in_kspace(tmp_path):
    k = kspace()
    k[2, 1, 3, 4] = np.nan
    p = write(tmp_path / "nan.h5", k, reconstructions={})
    with pytest.raises(FastMRIFileError, match=r"nan.h5: 'kspace' slice 2 holds 1 non-finite"):
        inspect_volume(p, check_data=True)
    ds = FastMRISliceDataset(p)
    ds[1]  # other slices still read
    with pytest.raises(FastMRIFileError, match=r"nan.h5: 'kspace' slice 2 holds 1 non-finite"):
        ds[2]
