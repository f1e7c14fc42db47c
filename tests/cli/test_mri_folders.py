"""Folders written by the ``mri`` jobs hold data only: fastMRI's own ``SliceDataset`` (which opens every file of
a folder as HDF5) and our reader both read them; each job's record sits beside the folder or inside the file."""

import json

import h5py
import numpy as np
import pytest

from monarch_sci.cli import main
from monarch_sci.datasets.mri.fastmri import inspect_volume, list_volume_files
from monarch_sci.datasets.mri.importers import write_cfl
from monarch_sci.operators.mri.methods import load_volume


def _fastmri_reads(folder, n_files: int, *, targets: bool) -> None:
    mri_data = pytest.importorskip("fastmri.data.mri_data")  # `make install` installs it (no dependencies)
    ds = mri_data.SliceDataset(folder, challenge="multicoil", transform=None)
    slices = 0
    for f in sorted(folder.iterdir()):
        with h5py.File(f) as hf:
            slices += hf["kspace"].shape[0]
    assert len(ds) == slices and len({str(r.fname) for r in ds.raw_samples}) == n_files
    kspace, mask, target, attrs, fname, _ = ds[len(ds) - 1]
    assert kspace.ndim == 3 and np.iscomplexobj(kspace) and np.isfinite(kspace).all()
    assert (target is not None) == targets and {"padding_left", "padding_right", "encoding_size"} <= set(attrs)


def _ours_read(folder, n_files: int) -> None:
    files = list_volume_files(folder, "test")
    assert len(files) == n_files
    for f in files:
        inspect_volume(f, check_data=True)
        _, kspace, masks, _ = load_volume(f)
        assert kspace.ndim == 4 and masks.shape[0] == kspace.shape[0]


def test_simulate_and_undersample_folders_hold_only_data(tmp_path):
    sim, und = tmp_path / "sim", tmp_path / "und"
    argv = ["mri", "simulate", "--volumes", "2", "--slices", "2", "--coils", "3", "--size", "16", "--fine-factor",
            "1", "--out", str(sim), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    assert all(p.suffix == ".h5" for p in sim.iterdir())
    assert json.loads((tmp_path / "sim.json").read_text())["command"] == "mri simulate"
    assert main(["mri", "undersample", "--in", str(sim), "--out", str(und), "--no-progress"]) == 0
    assert all(p.suffix == ".h5" for p in und.iterdir())
    assert json.loads((tmp_path / "und.json").read_text())["files"] == sorted(p.name for p in sim.iterdir())
    for folder, targets in ((sim, True), (und, False)):
        _ours_read(folder, 2)
        _fastmri_reads(folder, 2, targets=targets)


def test_import_into_a_data_folder_adds_only_the_file(tmp_path):
    rng = np.random.default_rng(1)
    data, src = tmp_path / "data", tmp_path / "src"
    src.mkdir()
    k = (rng.standard_normal((2, 4, 16, 12)) + 1j * rng.standard_normal((2, 4, 16, 12))).astype(np.complex64)
    np.save(src / "k.npy", k)
    write_cfl(src / "b", k.transpose(2, 3, 1, 0).reshape(16, 12, 1, 4, *[1] * 9, 2))  # READ PHS1 1 COIL … SLICE
    assert main(["mri", "import", str(src / "k.npy"), "--out", str(data / "a.h5")]) == 0
    assert main(["mri", "import", str(src / "b.cfl"), "--out", str(data / "b.h5")]) == 0
    assert sorted(p.name for p in data.iterdir()) == ["a.h5", "b.h5"]
    with h5py.File(data / "a.h5") as hf:
        record = json.loads(hf.attrs["record"])
    assert record["command"] == "mri import" and record["written"]["kspace"] == [2, 4, 16, 12]
    _ours_read(data, 2)
    _fastmri_reads(data, 2, targets=True)
