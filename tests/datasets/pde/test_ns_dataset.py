"""NavierStokesDataset: windows, layouts, splits over our store and both FNO .mat kinds; clear errors."""

import h5py
import numpy as np
import pytest
import scipy.io
import torch
from torch.utils.data import DataLoader

from monarch_sci.datasets.pde.ns_dataset import NavierStokesDataset, detect_ns_format, read_ns_frames
from monarch_sci.datasets.pde.ns_store import StoreError, create_store

N, S, R = 5, 8, 6  # samples, grid, snapshots after the initial one


@pytest.fixture
def frames():
    """(N, R+1, S, S) float32 random vorticity, frame 0 the 'initial field'."""
    return torch.randn(N, R + 1, S, S, generator=torch.Generator().manual_seed(0)).numpy()


@pytest.fixture
def store(tmp_path, frames):
    path = tmp_path / "ns.h5"
    create_store(path, n=N, t=np.arange(R + 1) * 0.5, f=np.zeros((S, S)), attrs={"visc": 1e-3})
    with h5py.File(path, "r+") as h5:
        h5["u"][...] = frames
        h5["done"][...] = True
    return path


def _fno_arrays(frames):
    # The original generator's arrays: a (N, s, s) initial field, u (N, s, s, T) snapshots after it, t (1, T).
    return frames[:, 0], np.ascontiguousarray(frames[:, 1:].transpose(0, 2, 3, 1)), np.arange(1, R + 1)[None] * 0.5


def _write_v5(path, frames):
    a, u, t = _fno_arrays(frames)
    scipy.io.savemat(path, {"a": a, "u": u, "t": t})
    return path


def _write_v73(path, frames, keys=("a", "u", "t")):
    # MATLAB v7.3: HDF5 behind a 512-byte header, each array stored with its axes reversed.
    arrays = dict(zip(("a", "u", "t"), _fno_arrays(frames)))
    with h5py.File(path, "w", userblock_size=512) as h5:
        for key in keys:
            h5.create_dataset(key, data=arrays[key].T)
            h5[key].attrs["MATLAB_class"] = np.bytes_("single" if arrays[key].dtype == np.float32 else "double")
    with open(path, "r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: test HDF5 schema 1.00 .")
    return path


def test_store_windows_layouts_and_splits(store, frames):
    ds = NavierStokesDataset(store, t_in=2, t_out=3, indices=[3, 1])
    assert len(ds) == 2 and ds.resolution == S
    np.testing.assert_allclose(ds.times, np.arange(1, R + 1) * 0.5)
    x, y = ds[0]  # sample 3, frames after the initial one: t_in = frames 1..2, t_out = frames 3..5
    assert x.shape == (S, S, 2) and y.shape == (S, S, 3) and x.dtype == torch.float32
    np.testing.assert_array_equal(x.numpy(), frames[3, 1:3].transpose(1, 2, 0))
    np.testing.assert_array_equal(y.numpy(), frames[3, 3:6].transpose(1, 2, 0))

    first = NavierStokesDataset(store, t_in=2, t_out=1, include_initial=True, layout="channels_first", sub=2)
    x, y = first[4]
    np.testing.assert_array_equal(x.numpy(), frames[4, 0:2, ::2, ::2])
    np.testing.assert_array_equal(y.numpy(), frames[4, 2:3, ::2, ::2])

    sliding = NavierStokesDataset(store, t_in=2, t_out=1, window_stride=2, indices=range(2))
    assert sliding.n_windows == 2 and len(sliding) == 4  # frames 1..6: windows at 0 and 2 (+3 would not fit)
    np.testing.assert_array_equal(sliding[3][0].numpy(), frames[1, 3:5].transpose(1, 2, 0))


def test_default_window_does_not_fit_small_store(store):
    with pytest.raises(ValueError, match=r"t_in=10 .* does not fit the 6 frames per sample of .*ns.h5"):
        NavierStokesDataset(store)
    ds = NavierStokesDataset(store, t_in=4)
    assert ds.t_out == 2  # every frame after the input window


def test_tensors_and_read_frames(store, frames):
    x, y = NavierStokesDataset(store, t_in=2, t_out=2, indices=range(1, 4)).tensors()
    assert x.shape == (3, S, S, 2) and y.shape == (3, S, S, 2)
    u = read_ns_frames(store, indices=[2, 0], sub=2)
    assert u.shape == (2, S // 2, S // 2, R)
    np.testing.assert_array_equal(u.numpy(), frames[[2, 0], 1:, ::2, ::2].transpose(0, 2, 3, 1))


@pytest.mark.parametrize("kind", ["mat-v5", "mat-v7.3"])
def test_fno_mat_files_read_like_the_store(tmp_path, store, frames, kind):
    path = _write_v5(tmp_path / "ns.mat", frames) if kind == "mat-v5" else _write_v73(tmp_path / "ns.mat", frames)
    assert detect_ns_format(path) == kind
    for include_initial in (False, True):
        mat = NavierStokesDataset(path, t_in=2, t_out=3, include_initial=include_initial, indices=[4, 0])
        ours = NavierStokesDataset(store, t_in=2, t_out=3, include_initial=include_initial, indices=[4, 0])
        np.testing.assert_allclose(mat.times, ours.times)
        for k in range(2):
            for a, b in zip(mat[k], ours[k]):
                torch.testing.assert_close(a, b, rtol=0, atol=0)
        # Block reads (several samples per read, out of order) agree with per-item reads.
        blocks = mat.source.read_many([4, 0, 3, 4], block=2)
        np.testing.assert_array_equal(blocks, np.stack([ours.source.read(i) for i in (4, 0, 3, 4)]))
        for a, b in zip(mat.tensors(), ours.tensors()):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    # The FNO layout (N, s, s, T) of the .mat's u comes back unchanged.
    np.testing.assert_array_equal(read_ns_frames(path).numpy(), _fno_arrays(frames)[1])


def test_multi_worker_dataloader_matches_direct_reads(store):
    ds = NavierStokesDataset(store, t_in=3, t_out=2)
    loader = DataLoader(ds, batch_size=2, num_workers=2, shuffle=False)
    x = torch.cat([xb for xb, _ in loader])
    torch.testing.assert_close(x, torch.stack([ds[k][0] for k in range(len(ds))]), rtol=0, atol=0)


def test_errors_name_the_file_and_the_problem(tmp_path, store, frames):
    with pytest.raises(FileNotFoundError, match=r"nope\.h5"):
        NavierStokesDataset(tmp_path / "nope.h5")
    junk = tmp_path / "junk.mat"
    junk.write_bytes(b"this is not a data file" * 10)
    with pytest.raises(StoreError, match=r"junk.mat: neither an HDF5 file"):
        NavierStokesDataset(junk)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(store.read_bytes()[: store.stat().st_size // 2])
    with pytest.raises(StoreError, match=r"truncated.h5: .*(damaged or truncated|cannot)"):
        NavierStokesDataset(truncated, t_in=2)
    no_u = _write_v73(tmp_path / "no_u.mat", frames, keys=("a", "t"))
    with pytest.raises(StoreError, match=r"no_u.mat: no key 'u' \(found \['a', 't'\]\)"):
        NavierStokesDataset(no_u, t_in=2)
    flat = tmp_path / "flat.mat"
    scipy.io.savemat(flat, {"u": np.zeros((3, 8, 8))})
    with pytest.raises(StoreError, match=r"flat.mat: 'u' has shape \(3, 8, 8\), expected 4 axes"):
        NavierStokesDataset(flat, t_in=2)
    with h5py.File(store, "r+") as h5:
        h5["done"][2] = False
    with pytest.raises(StoreError, match=r"ns.h5: incomplete store, 4 of 5 samples done"):
        NavierStokesDataset(store, t_in=2)
    with pytest.raises(StoreError, match=r"no_a\.mat: no key 'a'"):
        NavierStokesDataset(_write_v73(tmp_path / "no_a.mat", frames, keys=("u",)), t_in=2, include_initial=True)
