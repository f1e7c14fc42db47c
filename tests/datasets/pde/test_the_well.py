"""The Well files: one component of one field read as rollout frames, the refusals, and (where the ``the_well``
package is installed) the same values as The Well's own ``WellDataset``."""

import h5py
import numpy as np
import pytest
import torch
from bench_files import write_the_well

from monarch_sci.datasets.pde import NavierStokesDataset, WellFrames, detect_rollout_format, open_frames


@pytest.fixture(scope="module")
def well(tmp_path_factory):
    path = tmp_path_factory.mktemp("well") / "tiny_flow_0.hdf5"
    return path, write_the_well(path)


@pytest.mark.parametrize(("field", "channel", "label"), [("density", None, "density"), ("velocity", 1, "velocity_y")])
def test_frames_are_the_stored_component(well, field, channel, label):
    path, arrays = well
    src = WellFrames(path, field=field, channel=channel)
    want = arrays[field] if channel is None else arrays[field][..., channel]
    assert (src.n, src.n_frames, src.s) == (6, 8, 16)
    np.testing.assert_array_equal(src.read(5), want[5])
    np.testing.assert_allclose(src.times, np.linspace(0, 0.7, 8))
    m = src.mapping
    assert m["format"] == "the-well" and m["dataset_name"] == "tiny_flow" and m["component"] == label
    assert m["boundary_conditions"] == {"x_periodic": "PERIODIC", "y_periodic": "PERIODIC"}
    assert detect_rollout_format(path) == "the-well"


@pytest.mark.parametrize("constant_axis", ["absent", "singleton"])
def test_a_field_constant_along_an_axis_is_repeated_along_it(tmp_path, constant_axis):
    arrays = write_the_well(tmp_path / "w.hdf5", constant_axis=constant_axis)
    u = WellFrames(tmp_path / "w.hdf5", field="tracer").read(2)  # stored (n, t, x[, 1]): constant along y
    np.testing.assert_array_equal(u, np.broadcast_to(arrays["tracer"][2][:, :, None], (8, 16, 16)))


def test_windows(well):
    path, arrays = well
    ds = NavierStokesDataset(path, t_in=2, t_out=3, field="velocity", channel=0, indices=[4, 1])
    x, y = ds.tensors()
    v = torch.from_numpy(arrays["velocity"][[4, 1], ..., 0])  # (2, T, X, Y)
    torch.testing.assert_close(x, v[:, :2].permute(0, 2, 3, 1), rtol=0, atol=0)
    torch.testing.assert_close(y, v[:, 2:5].permute(0, 2, 3, 1), rtol=0, atol=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {},
            r"holds the time-varying fields density \(t0: 0=density\), tracer .*velocity \(t1: 0=velocity_x, "
            r"1=velocity_y\); choose one with --field NAME",
        ),
        ({"field": "mask"}, r"no time-varying field 'mask' \('mask' is constant in time\)"),
        ({"field": "velocity"}, r"'velocity' has 2 components \(velocity_x, velocity_y\); choose one with --channel"),
        ({"field": "density", "channel": 1}, r"--channel 1 out of range for 'density' \(density\)"),
        ({"format": "pdebench"}, r"not a PDEBench 2-D rollout file"),
    ],
)
def test_ambiguous_or_wrong_choices_are_refused(well, kwargs, message):
    path, _ = well
    with pytest.raises(ValueError, match=message):
        open_frames(path, **kwargs)


def test_grids_the_rollout_cannot_take_are_refused(tmp_path):
    write_the_well(tmp_path / "rect.hdf5", sizes=(8, 12))
    with pytest.raises(ValueError, match=r"rect.hdf5 \(The Well 'tiny_flow'\): 'density' is on a 8×12 grid"):
        WellFrames(tmp_path / "rect.hdf5", field="density")
    write_the_well(tmp_path / "cube.hdf5", s=4, ndim=3)
    with pytest.raises(ValueError, match=r"n_spatial_dims = 3; the FNO rollout reads 2-D data only"):
        WellFrames(tmp_path / "cube.hdf5", field="density")
    with h5py.File(tmp_path / "broken.hdf5", "a") as h5:
        h5.attrs.update(dataset_name="x", n_spatial_dims=2, n_trajectories=1)
        h5.create_group("t0_fields")
    with pytest.raises(ValueError, match=r"broken.hdf5: unreadable The Well file \(KeyError"):
        WellFrames(tmp_path / "broken.hdf5")


def test_same_values_as_the_wells_own_reader(tmp_path):
    """The Well's ``WellDataset`` (reading the folder) and ours give the same input and output windows."""
    datasets = pytest.importorskip("the_well.data.datasets", reason="the_well package not installed")
    path = tmp_path / "tiny_flow_0.hdf5"
    write_the_well(path, constant_axis="singleton")  # WellDataset tiles a constant axis kept with size 1
    theirs = datasets.WellDataset(
        path=str(path.parent), n_steps_input=3, n_steps_output=2, use_normalization=False, boundary_return_type=None
    )
    names = [*theirs.field_names[0], *theirs.field_names[1]]  # their flattened channels, t0 then t1
    assert names == ["density", "tracer", "velocity_x", "velocity_y"]
    windows_per_trajectory = 8 - 5 + 1
    for field, channel, k in (("density", None, 0), ("tracer", None, 1), ("velocity", 1, 3)):
        ours = NavierStokesDataset(path, t_in=3, t_out=2, window_stride=1, field=field, channel=channel)
        for item in (0, 2 * windows_per_trajectory + 1):
            sample = theirs[item]
            x, y = ours[item]
            torch.testing.assert_close(x, sample["input_fields"][..., k].permute(1, 2, 0), rtol=0, atol=0)
            torch.testing.assert_close(y, sample["output_fields"][..., k].permute(1, 2, 0), rtol=0, atol=0)


@pytest.mark.parametrize("constant_axis", ["absent", "singleton"])
def test_strided_reads(tmp_path, constant_axis):
    arrays = write_the_well(tmp_path / "w.hdf5", constant_axis=constant_axis)
    for field, want in (("tracer", np.broadcast_to(arrays["tracer"][..., None], (6, 8, 16, 16))),
                        ("density", arrays["density"])):  # fmt: skip
        src = WellFrames(tmp_path / "w.hdf5", field=field, include_initial=False)
        np.testing.assert_array_equal(src.read(3, slice(0, 7, 2), sub=2), want[3, 1::2, ::2, ::2])
        np.testing.assert_array_equal(src.read_many([1], frames=slice(2, 4), sub=3), want[[1], 3:5, ::3, ::3])
