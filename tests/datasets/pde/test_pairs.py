"""Input/output field pairs from every file format, dtype conversion, subsampling, normaliser, bad files."""

import h5py
import numpy as np
import pytest
import torch
from scipy.io import savemat

from monarch_sci.datasets.pde.pairs import FieldNormalizer, FieldPairs, detect_pairs_format, read_field_pairs

N, S = 5, 12


@pytest.fixture
def arrays():
    rng = np.random.default_rng(0)
    return rng.random((N, S, S)) > 0.5, rng.standard_normal((N, S, S, 2))


def _write(kind: str, path, x, y):
    if kind == "h5":
        with h5py.File(path, "w") as h5:
            h5["coeff"], h5["sol"] = x, y
    elif kind == "npz":
        np.savez(path, coeff=x, sol=y)
    elif kind == "mat":
        savemat(path, {"coeff": x, "sol": y})
    elif kind == "mat73":  # MATLAB v7.3: HDF5 after a 512-byte header, every array with its axes reversed
        with h5py.File(path, "w", userblock_size=512) as h5:
            h5["coeff"], h5["sol"] = x.T.astype(np.uint8), y.T
        with open(path, "r+b") as fh:
            fh.write(b"MATLAB 7.3 MAT-file, written by a test")
    else:
        torch.save({"coeff": torch.from_numpy(x), "sol": torch.from_numpy(y)}, path)


@pytest.mark.parametrize(
    ("kind", "suffix", "fmt"),
    [
        ("h5", ".h5", "hdf5"),
        ("npz", ".npz", "npz"),
        ("mat", ".mat", "mat-v5"),
        ("mat73", ".mat", "mat-v7.3"),
        ("pt", ".pt", "pt"),
    ],
)
def test_every_format_reads_the_same_pairs(tmp_path, arrays, kind, suffix, fmt):
    x_np, y_np = arrays
    path = tmp_path / f"data{suffix}"
    _write(kind, path, x_np, y_np)
    assert detect_pairs_format(path) == fmt
    x, y = read_field_pairs(path, x_key="coeff", y_key="sol", sub=2)
    assert x.shape == (N, 6, 6, 1) and y.shape == (N, 6, 6, 2) and x.dtype == y.dtype == torch.float32
    assert torch.equal(x[..., 0], torch.from_numpy(x_np[:, ::2, ::2].astype(np.float32)))  # bool -> 0.0 / 1.0
    assert torch.allclose(y, torch.from_numpy(y_np[:, ::2, ::2]).float())
    xs, ys = read_field_pairs(path, x_key="coeff", y_key="sol", indices=[3, 0], dtype=torch.float64)
    assert xs.dtype == torch.float64 and torch.equal(ys, torch.from_numpy(y_np[[3, 0]]))


def test_bad_files_are_refused_with_the_names(tmp_path, arrays):
    x_np, y_np = arrays
    path = tmp_path / "d.npz"
    np.savez(path, x=x_np, y=y_np[:, :10], z=x_np.astype(np.complex64), w=x_np[0])
    with pytest.raises(ValueError, match=r"has no array 'a'; it holds \['w', 'x', 'y', 'z'\]"):
        read_field_pairs(path, x_key="a")
    with pytest.raises(ValueError, match="must share the sample count and the grid"):
        read_field_pairs(path)
    with pytest.raises(ValueError, match=r"\['z'\] has dtype complex64"):
        read_field_pairs(path, x_key="z", y_key="x")
    with pytest.raises(ValueError, match=r"\['w'\] has shape \(12, 12\); expected \(N, s1, s2\)"):
        read_field_pairs(path, x_key="w", y_key="x")
    with pytest.raises(ValueError, match="indices out of range"):
        read_field_pairs(path, y_key="x", indices=[7])
    (tmp_path / "junk.bin").write_bytes(b"hello world")
    with pytest.raises(ValueError, match="none of HDF5"):
        read_field_pairs(tmp_path / "junk.bin")
    nan = tmp_path / "nan.npz"
    np.savez(nan, x=np.full((2, 4, 4), np.nan), y=np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="NaN or Inf"):
        read_field_pairs(nan)


def test_normalizer_is_fitted_per_channel_and_round_trips_in_a_state_dict():
    y = torch.randn(20, 8, 8, 2, dtype=torch.float64) * torch.tensor([1.0, 5.0]) + torch.tensor([0.0, 3.0])
    norm = FieldNormalizer.fit(y)
    z = norm.encode(y)
    assert torch.allclose(z.mean((0, 1, 2)), torch.zeros(2, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(z.std((0, 1, 2), correction=0), torch.ones(2, dtype=torch.float64), atol=1e-5)
    other = FieldNormalizer(2).double()
    other.load_state_dict(norm.state_dict())
    assert torch.equal(other.decode(z), norm.decode(z))
    first = FieldNormalizer.fit(y.movedim(-1, 1), channel_dim=1)
    assert torch.allclose(first.mean, norm.mean) and torch.allclose(first.std, norm.std)


def test_field_pairs_layouts():
    x, y = torch.randn(3, 8, 6, 1), torch.randn(3, 8, 6, 2)
    assert FieldPairs(x, y)[1][1].shape == (8, 6, 2)
    assert torch.equal(FieldPairs(x, y, layout="channels_first")[1][1], y[1].movedim(-1, 0))
    with pytest.raises(ValueError, match="must share"):
        FieldPairs(x, y[:, :4])
