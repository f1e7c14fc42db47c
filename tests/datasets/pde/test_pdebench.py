"""PDEBench 2-D files: each layout read as rollout frames (values, axes, times, mapping), the Darcy pairs, and the
refusals that name the file, what was expected and what arrived."""

import pickle

import h5py
import numpy as np
import pytest
import torch
from bench_files import (
    write_pdebench_cfd,
    write_pdebench_darcy,
    write_pdebench_groups,
    write_pdebench_incompressible,
)

from monarch_sci.datasets.pde import (
    NavierStokesDataset,
    PDEBenchFrames,
    StoreError,
    detect_rollout_format,
    open_frames,
    read_steady_pairs,
)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("pdebench")
    paths = {k: root / f"{k}.h5" for k in ("incomp", "cfd", "groups", "darcy")}
    arrays = {
        "incomp": write_pdebench_incompressible(paths["incomp"]),
        "cfd": write_pdebench_cfd(paths["cfd"]),
        "groups": write_pdebench_groups(paths["groups"]),
        "darcy": write_pdebench_darcy(paths["darcy"]),
    }
    return paths, arrays


@pytest.mark.parametrize(("field", "channel"), [("velocity", 0), ("velocity", 1), ("particles", None)])
def test_incompressible_ns_frames_are_the_stored_component(files, field, channel):
    paths, arrays = files
    src = PDEBenchFrames(paths["incomp"], field=field, channel=channel)
    want = arrays["incomp"][field][..., 0 if channel is None else channel]  # (N, T, X, Y)
    assert (src.n, src.n_frames, src.s) == (6, 8, 16)
    np.testing.assert_array_equal(src.read(4), want[4])
    np.testing.assert_array_equal(src.read_many([3, 1]), want[[3, 1]])
    np.testing.assert_allclose(src.times, np.linspace(0, 0.35, 8), rtol=1e-6)
    assert src.mapping["layout"] == "incompressible-ns" and src.mapping["field"] == field
    assert src.mapping["component"] == ("particles" if channel is None else "xy"[channel])
    assert src.mapping["first_frame"].startswith("t=0")


def test_windows_of_a_pdebench_file(files):
    paths, arrays = files
    ds = NavierStokesDataset(paths["incomp"], t_in=3, t_out=2, t_start=1, field="velocity", channel=1, sub=2)
    x, y = ds[2]  # sample 2, frames 1..3 in, 4..5 out, channels last, every 2nd grid point
    v = torch.from_numpy(arrays["incomp"]["velocity"][2, :, ::2, ::2, 1])  # (T, 8, 8)
    torch.testing.assert_close(x, v[1:4].permute(1, 2, 0), rtol=0, atol=0)
    torch.testing.assert_close(y, v[4:6].permute(1, 2, 0), rtol=0, atol=0)
    xs, ys = ds.tensors()
    torch.testing.assert_close(xs[2], x, rtol=0, atol=0)
    assert ds.mapping["channel"] == 1 and ds.resolution == 16
    dropped = NavierStokesDataset(paths["incomp"], t_in=3, t_out=2, field="particles", include_initial=False)
    torch.testing.assert_close(dropped[0][0][..., 0], torch.from_numpy(arrays["incomp"]["particles"][0, 1, :, :, 0]))


def test_cfd_and_groups_and_tensor_layouts(files, tmp_path):
    paths, arrays = files
    cfd = PDEBenchFrames(paths["cfd"], field="Vy")
    np.testing.assert_array_equal(cfd.read(5), arrays["cfd"]["Vy"][5])
    assert cfd.mapping["times"] == "'t-coordinate'" and cfd.times.size == 8  # its t+1 entries cut to the frames
    groups = PDEBenchFrames(paths["groups"], field="data", channel=1)
    np.testing.assert_array_equal(groups.read(3), arrays["groups"][3, ..., 1])
    assert groups.n == 6 and groups.mapping["times"] == "'0000/grid/t'" and groups.times[-1] == 5
    u = np.random.default_rng(0).standard_normal((3, 5, 8, 8)).astype(np.float32)
    with h5py.File(tmp_path / "tensor.h5", "w") as h5:
        h5["tensor"] = u
    one = PDEBenchFrames(tmp_path / "tensor.h5")  # one scalar field: no --field needed
    np.testing.assert_array_equal(one.read(2), u[2])
    assert one.mapping["times"].startswith("frame index")
    assert pickle.loads(pickle.dumps(groups)).read(0).shape == (8, 16, 16)  # DataLoader workers reopen the file


def test_detection_by_content(files, tmp_path):
    paths, _ = files
    assert {detect_rollout_format(p) for k, p in paths.items() if k != "darcy"} == {"pdebench"}
    with h5py.File(tmp_path / "fno.mat", "w") as h5:  # any other HDF5: an FNO .mat v7.3
        h5["u"] = np.zeros((4, 8, 8, 2), np.float32)
    assert detect_rollout_format(tmp_path / "fno.mat") == "mat-v7.3"
    assert type(open_frames(paths["cfd"], field="density")).__name__ == "PDEBenchFrames"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, r"incom.* holds the time-varying fields velocity \(2 components\), particles \(1 component\); choose"),
        ({"field": "velocity"}, r"field 'velocity' has 2 components \(x, y\); choose one with --channel 0..1"),
        ({"field": "velocity", "channel": 2}, r"--channel 2 out of range for 'velocity' \(x, y\)"),
        ({"field": "pressure"}, r"no time-varying field 'pressure'; it holds velocity"),
        ({"format": "store"}, r"--format store, but the content is 'pdebench' \(detected\); pass --format pdebench"),
    ],
)
def test_ambiguous_or_wrong_choices_are_refused(files, kwargs, message):
    paths, _ = files
    with pytest.raises((ValueError, StoreError), match=message):
        open_frames(paths["incomp"], **kwargs)


def test_layouts_the_rollout_cannot_take_are_refused(files, tmp_path):
    paths, _ = files
    with pytest.raises(ValueError, match=r"darcy.*Darcy\): steady pairs nu -> tensor.*--task steady"):
        PDEBenchFrames(paths["darcy"])
    with h5py.File(tmp_path / "rect.h5", "w") as h5:
        h5["tensor"] = np.zeros((2, 4, 8, 12), np.float32)
    with pytest.raises(ValueError, match=r"rect.h5 .*'tensor' is on a 8×12 grid; the FNO rollout needs a square grid"):
        PDEBenchFrames(tmp_path / "rect.h5")
    with h5py.File(tmp_path / "burgers.h5", "w") as h5:
        h5["tensor"] = np.zeros((2, 4, 8), np.float32)  # 1-D Burgers (N, T, X)
    with pytest.raises(ValueError, match=r"'tensor' has 1 spatial axes .*2-D files only"):
        PDEBenchFrames(tmp_path / "burgers.h5")
    with h5py.File(tmp_path / "other.h5", "w") as h5:
        h5["q"] = np.zeros(3)
    with pytest.raises(ValueError, match=r"other.h5: not a PDEBench 2-D rollout file: expected .*found \['q'\]"):
        PDEBenchFrames(tmp_path / "other.h5")


def test_darcy_pairs(files):
    paths, arrays = files
    nu, u = arrays["darcy"]
    x, y, mapping = read_steady_pairs(paths["darcy"], sub=2, indices=[7, 2, 5])  # detected by content
    assert x.shape == y.shape == (3, 8, 8, 1) and x.dtype == torch.float32
    torch.testing.assert_close(x[..., 0], torch.from_numpy(nu[[7, 2, 5], ::2, ::2]), rtol=0, atol=0)
    torch.testing.assert_close(y[..., 0], torch.from_numpy(u[[7, 2, 5], 0, ::2, ::2]), rtol=0, atol=0)
    assert mapping["format"] == "pdebench" and mapping["x"].startswith("nu")
    with pytest.raises(ValueError, match="--x-key/--y-key apply to pairs files"):
        read_steady_pairs(paths["darcy"], format="pdebench", x_key="nu")
    with pytest.raises(ValueError, match=r"cfd.h5: not a PDEBench Darcy file: expected the arrays 'nu'"):
        read_steady_pairs(paths["cfd"], format="pdebench")


@pytest.mark.parametrize("kind", ["incomp", "groups", "cfd"])
def test_only_the_frames_and_grid_points_used_are_read(files, kind):
    paths, arrays = files
    field, channel = {"incomp": ("velocity", 1), "groups": ("data", 0), "cfd": ("pressure", None)}[kind]
    stored = {"incomp": arrays["incomp"]["velocity"][..., 1], "groups": arrays["groups"][..., 0]}
    want = torch.from_numpy(stored.get(kind, arrays["cfd"]["pressure"]))  # (N, T, X, Y)
    for keep, first in ((True, 0), (False, 1)):  # without the initial state, frame 0 is stored step 1
        ds = NavierStokesDataset(paths[kind], t_in=1, t_out=2, t_sub=3, sub=2, field=field, channel=channel,
                                 include_initial=keep, indices=[5, 0])  # fmt: skip
        x, y = ds.tensors()  # frames first, first+3, first+6 of samples 5 and 0, every 2nd grid point
        u = want[[5, 0], first::3][:, :3, ::2, ::2]
        torch.testing.assert_close(x[..., 0], u[:, 0], rtol=0, atol=0)
        torch.testing.assert_close(y, u[:, 1:3].permute(0, 2, 3, 1), rtol=0, atol=0)
        assert ds._span == slice(0, 7, 3) and ds.times.size == 3
        if kind == "incomp":  # its times: 't' of sample 0, 0.05 apart
            np.testing.assert_allclose(ds.times, 0.05 * np.arange(first, 8, 3), rtol=1e-6)
    with pytest.raises(ValueError, match=r"does not fit the 3 frames per sample .*t_sub=3"):
        NavierStokesDataset(paths[kind], t_in=2, t_out=2, t_sub=3, field=field, channel=channel)
