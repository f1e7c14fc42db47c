"""BART's layouts: a 2-D scan, a phase-encode plane and a 3-D volume, each written as BART defines a ``.cfl``
(column-major complex64 beside a ``.hdr`` dimensions line), imported through ``mri import`` and reconstructed;
with the ``bart`` binary installed, round trips through BART itself."""

import shutil
import subprocess

import h5py
import numpy as np
import pytest

from monarch_sci.cli import main
from monarch_sci.datasets.mri.importers import bart_layout, read_cfl
from monarch_sci.fourier import centered_fft


def write_bart(base, array) -> None:
    """A test writer of BART's format, independent of ours: the dims line, then the bytes in Fortran order."""
    a = np.asarray(array, np.complex64)
    dims = list(a.shape) + [1] * (16 - a.ndim)
    base.with_suffix(".hdr").write_text("# Dimensions\n" + " ".join(map(str, dims)) + "\n")
    base.with_suffix(".cfl").write_bytes(a.tobytes(order="F"))


def coil_kspace(rng, shape, coils):
    """Smooth object × smooth coils, transformed over every axis of ``shape``: ``shape + (coils,)``."""
    grids = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    r2 = sum(g**2 for g in grids)
    obj = (r2 < 0.6) * (1 + 0.2 * rng.standard_normal(shape))
    maps = np.stack([np.exp(1j * (c + 1) * sum(grids)) * (1.2 + grids[0] * (c % 2)) for c in range(coils)], -1)
    return centered_fft(obj[..., None] * maps, dims=tuple(range(len(shape)))).astype(np.complex64)


def imported(tmp_path, base, *flags):
    out = tmp_path / (base.name + ".h5")
    assert main(["mri", "import", str(base.with_suffix(".cfl")), "--out", str(out), *flags]) == 0
    with h5py.File(out) as hf:
        return out, hf["kspace"][()], dict(hf.attrs)


def test_layout_by_singletons():
    assert bart_layout((64, 48, 1, 8)) == "2d"
    assert bart_layout((1, 230, 180, 8)) == "plane"
    assert bart_layout((32, 24, 20, 8)) == "3d"


def test_two_d_scan_with_slices(tmp_path):
    rng = np.random.default_rng(0)
    ks = np.stack([coil_kspace(rng, (24, 20), 4) for _ in range(3)], -1)  # READ, PHS1, COIL, SLICE
    write_bart(tmp_path / "k2", ks[:, :, None, :, None, None, None, None, None, None, None, None, None, :])
    _, k, attrs = imported(tmp_path, tmp_path / "k2")
    assert k.shape == (3, 4, 24, 20) and attrs["bart_layout"] == "2d" and not attrs["readout_transformed"]
    np.testing.assert_array_equal(k[2, 1], ks[:, :, 1, 2])  # READ → H, PHS1 → W, SLICE → slices


def test_phase_encode_plane_imports_and_reconstructs(tmp_path, capsys):
    rng = np.random.default_rng(1)
    full = coil_kspace(rng, (230 // 10, 18), 4)  # a (PHS1, PHS2) plane, readout already transformed
    mask = rng.random(full.shape[:2]) < 0.45
    c0, c1 = full.shape[0] // 2, full.shape[1] // 2
    mask[c0 - 5 : c0 + 5, c1 - 5 : c1 + 5] = True  # a calibration square
    write_bart(tmp_path / "plane", (full * mask[..., None])[None])  # 1 × PHS1 × PHS2 × COIL
    out, k, attrs = imported(tmp_path, tmp_path / "plane")
    assert k.shape == (1, 4, 23, 18) and attrs["bart_layout"] == "plane"  # H = PHS1, W = PHS2 (not H = 1)
    np.testing.assert_array_equal(k[0].transpose(1, 2, 0), full * mask[..., None])
    with h5py.File(out) as hf:
        np.testing.assert_array_equal(hf["mask"][()], mask)  # the 2-D pattern, inferred from the zeros
    rec = tmp_path / "rec.h5"
    argv = ["mri", "recon", "--model", "cg_sense", "--in", str(out), "--out", str(rec), "--no-progress"]
    assert main([*argv, "--lam", "1e-3"]) == 0
    with h5py.File(rec) as hf:
        assert hf["reconstruction"].shape == (1, 23, 18) and np.isfinite(hf["reconstruction"][()]).all()


def test_three_d_volume_becomes_planes(tmp_path):
    rng = np.random.default_rng(2)
    vol = coil_kspace(rng, (12, 16, 14), 3)  # READ, PHS1, PHS2, COIL: k-space on all three axes
    write_bart(tmp_path / "vol", vol)
    _, k, attrs = imported(tmp_path, tmp_path / "vol")
    assert k.shape == (12, 3, 16, 14) and attrs["bart_layout"] == "3d" and attrs["readout_transformed"]
    hybrid = centered_fft(vol, dims=(0,), inverse=True)  # readout → image positions
    np.testing.assert_allclose(k, hybrid.transpose(0, 3, 1, 2), atol=1e-5 * np.abs(hybrid).max())
    write_bart(tmp_path / "hyb", hybrid)  # the same volume, readout already transformed: --layout hybrid
    _, kh, attrs = imported(tmp_path, tmp_path / "hyb", "--layout", "hybrid")
    assert attrs["bart_layout"] == "hybrid"
    np.testing.assert_allclose(kh, k, atol=1e-5 * np.abs(k).max())


def test_refusals_name_the_files_and_the_command(tmp_path, refuses_import):
    rng = np.random.default_rng(3)
    write_bart(tmp_path / "maps", rng.standard_normal((8, 8, 1, 2, 2)))  # two ESPIRiT map sets
    refuses_import(tmp_path / "maps", [], "MAPS = 2: several ESPIRiT map sets")
    write_bart(tmp_path / "k", rng.standard_normal((8, 8, 1, 2)))
    refuses_import(tmp_path / "k", ["--layout", "plane"], "cannot be read as --layout plane (it needs READ = 1")
    refuses_import(tmp_path / "k", ["--layout", "HWC"], "--layout HWC: INPUT")
    write_bart(tmp_path / "line", rng.standard_normal((1, 8, 1, 2)))
    refuses_import(tmp_path / "line", [], "gives slices of 1 × 8")


@pytest.fixture
def refuses_import(tmp_path, capsys):
    def check(base, flags, message):
        out = tmp_path / "out.h5"
        capsys.readouterr()
        assert main(["mri", "import", str(base.with_suffix(".cfl")), "--out", str(out), *flags]) == 2
        err = capsys.readouterr().err
        assert err.startswith("monarch-sci mri import: error: ") and err.count("\n") == 1, err
        assert message in err and str(base.with_suffix(".cfl")) in err and ".tmp" not in err, err
        assert str(out) in err or "--layout" in err, err  # the output named: nothing was written to it
        assert not out.exists()

    return check


def test_a_mask_that_fails_after_the_checks_names_the_user_files(tmp_path, capsys):
    # the ISMRMRD group flag once overwrote the group name in the error prefix ("monarch-sci  import")
    rng = np.random.default_rng(4)
    np.save(tmp_path / "k.npy", coil_kspace(rng, (8, 6), 2).transpose(2, 0, 1))
    assert main(["mri", "import", str(tmp_path / "k.npy"), "--group", "g", "--out", str(tmp_path / "o.h5")]) == 2
    assert capsys.readouterr().err.startswith("monarch-sci mri import: error: --group")


def test_bart_masks_map_as_the_kspace_does():
    from monarch_sci.datasets.mri.importers import bart_mask_to_fastmri_layout as to_ours

    lines = np.zeros((1, 10), np.complex64)
    lines[0, ::3] = 1  # 1 × PHS1: a line mask of a 2-D scan
    m = to_ours(lines, "2d", (2, 4, 8, 10), "pat.cfl")
    assert m.shape == (2, 8, 10) and (m == lines.real.astype(bool)).all()
    vol = np.ones((4, 6, 5))
    vol[1, 0, 0] = 0  # the pattern changes along READ: meaningless once the readout is transformed
    with pytest.raises(ValueError, match="the mask varies along READ"):
        to_ours(vol, "3d", (4, 2, 6, 5), "pat.cfl")
    with pytest.raises(ValueError, match=r"does not fit the k-space read as plane \(slices, H, W\) = \(1, 6, 5\)"):
        to_ours(np.ones((1, 5, 6)), "plane", (1, 2, 6, 5), "pat.cfl")


needs_bart = pytest.mark.skipif(shutil.which("bart") is None, reason="the bart binary is not installed (apt bart)")


def bart(*args, cwd):
    subprocess.run(["bart", *map(str, args)], cwd=cwd, check=True, capture_output=True)


@needs_bart
def test_bart_round_trip_two_d(tmp_path):
    bart("phantom", "-k", "-s", 4, "-x", 32, "ksp", cwd=tmp_path)  # 32 × 32 × 1 × 4 multi-coil k-space
    bart("fft", "-i", "-u", 3, "ksp", "img", cwd=tmp_path)
    bart("rss", 8, "img", "rss", cwd=tmp_path)
    out, k, _ = imported(tmp_path, tmp_path / "ksp")
    np.testing.assert_array_equal(k[0].transpose(1, 2, 0), read_cfl(tmp_path / "ksp").reshape(32, 32, 4))
    with h5py.File(out) as hf:
        ours = hf["reconstruction_rss"][0]
    theirs = np.abs(read_cfl(tmp_path / "rss")).reshape(32, 32)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-4 * theirs.max())  # same centred unitary FFT


@needs_bart
def test_bart_round_trip_three_d_and_plane(tmp_path):
    bart("phantom", "-3", "-k", "-s", 3, "-x", 16, "ksp", cwd=tmp_path)  # 16 × 16 × 16 × 3
    bart("fft", "-i", "-u", 1, "ksp", "hyb", cwd=tmp_path)  # BART's own readout transform
    bart("slice", 0, 5, "hyb", "plane", cwd=tmp_path)  # 1 × 16 × 16 × 3: one phase-encode plane
    _, k, _ = imported(tmp_path, tmp_path / "ksp")
    hyb = read_cfl(tmp_path / "hyb").reshape(16, 16, 16, 3).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(k, hyb, atol=1e-4 * np.abs(hyb).max())  # our readout transform is BART's
    _, plane, attrs = imported(tmp_path, tmp_path / "plane")
    assert attrs["bart_layout"] == "plane"
    np.testing.assert_allclose(plane[0], hyb[5], atol=1e-6 * np.abs(hyb).max())
    # and BART reads what we write: our write_cfl of the imported planes, transformed back by BART
    from monarch_sci.datasets.mri.importers import write_cfl

    write_cfl(tmp_path / "ours", k.transpose(0, 2, 3, 1))  # READ(image) × PHS1 × PHS2 × COIL
    bart("fft", "-u", 1, "ours", "back", cwd=tmp_path)
    np.testing.assert_allclose(
        read_cfl(tmp_path / "back").reshape(16, 16, 16, 3),
        read_cfl(tmp_path / "ksp").reshape(16, 16, 16, 3),
        atol=1e-4 * np.abs(hyb).max(),
    )


@needs_bart
def test_bart_poisson_undersampled_volume_with_its_mask(tmp_path):
    # BART's own 3-D workflow: phantom k-space, a Poisson-disc (PHS1, PHS2) pattern, undersampled with fmac
    bart("phantom", "-3", "-k", "-s", 4, "-x", 24, "ksp", cwd=tmp_path)  # 24 × 24 × 24 × 4
    bart("poisson", "-Y", 24, "-Z", 24, "-y", 1.6, "-z", 1.6, "-C", 10, "-s", 3, "pat", cwd=tmp_path)  # 1 × 24 × 24
    bart("fmac", "ksp", "pat", "us", cwd=tmp_path)
    pattern = np.abs(read_cfl(tmp_path / "pat")).reshape(24, 24) > 0
    assert 0.2 < pattern.mean() < 0.9
    out = tmp_path / "us.h5"
    argv = ["mri", "import", str(tmp_path / "us.cfl"), "--mask", str(tmp_path / "pat.cfl"), "--out", str(out)]
    assert main(argv) == 0
    with h5py.File(out) as hf:
        assert hf["kspace"].shape == (24, 4, 24, 24) and hf.attrs["bart_layout"] == "3d"
        stored = hf["mask"][()]  # (S, H, W): with S = H a lone (H, W) pattern would read as (S, W) lines
        np.testing.assert_array_equal(stored, np.broadcast_to(pattern, (24, 24, 24)))
    rec = tmp_path / "rec.h5"
    argv = [
        "mri",
        "recon",
        "--model",
        "cg_sense",
        "--in",
        str(out),
        "--out",
        str(rec),
        "--no-progress",
        "--lam",
        "1e-3",
    ]
    assert main(argv) == 0
    with h5py.File(rec) as hf:
        assert hf["reconstruction"].shape == (24, 24, 24) and np.isfinite(hf["reconstruction"][()]).all()
