"""The mri jobs through the real CLI in subprocesses: bad input is one clear error and leaves no output; a job
killed just before its final rename leaves the previous output intact and readable; `mri import` end to end."""

import json
import os
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest
from forked_cli import ForkedCLI

from monarch_sci.cli import main
from monarch_sci.datasets.mri.fastmri import inspect_volume
from monarch_sci.datasets.mri.ismrmrd_header import make_ismrmrd_header
from monarch_sci.datasets.mri.simulate import SimulationConfig, simulate_dataset

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


#: Run before ``monarch-sci ARGV`` in its process: with ``KILL_TARGET`` set, it dies (as with ``kill -9``) at the
#: first rename onto a path ending in it, i.e. just before a file would appear under its final name.
KILLABLE = textwrap.dedent(
    """
    import os
    target, real = os.environ.get("KILL_TARGET"), os.replace
    def replace(src, dst, *a, **k):
        if target is not None and os.fspath(dst).endswith(target):
            os._exit(137)
        return real(src, dst, *a, **k)
    os.replace = replace
    """
)
FORKED = ForkedCLI(KILLABLE, ENV)  # each command in a fresh process forked from one that imported the CLI once


@pytest.fixture(autouse=True, scope="module")
def _forked_cli_server():
    yield
    FORKED.close()


def cli(*argv, kill_at: str | None = None, timeout: int = 180) -> subprocess.CompletedProcess:
    """``monarch-sci ARGV`` in a fresh process; with ``kill_at``, the process dies (as with ``kill -9``) at the
    first rename onto a path ending in ``kill_at``, i.e. just before a file would appear under its final name."""
    env = {k: v for k, v in ENV.items() if k != "KILL_TARGET"}
    return FORKED(*argv, env=env if kill_at is None else {**env, "KILL_TARGET": kill_at}, timeout=timeout)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    root = tmp_path_factory.mktemp("sim") / "full"
    cfg = SimulationConfig(recon_size=(32, 32), num_coils=4, num_slices=2, oversampling=1, fine_factor=1, seed=2)
    simulate_dataset(root, cfg, 2)
    return root


def copy_with(src, dst, *, kspace=None, header=None, rss=None):
    with h5py.File(src) as a, h5py.File(dst, "w") as b:
        for key in a:
            a.copy(key, b)
        for k, v in a.attrs.items():
            b.attrs[k] = v
        if kspace is not None:
            b["kspace"][...] = kspace(b["kspace"][()])
        if header is not None:
            del b["ismrmrd_header"]
            b.create_dataset("ismrmrd_header", data=np.bytes_(header.encode()))
        if rss is not None:
            b["reconstruction_rss"][...] = rss(b["reconstruction_rss"][()])
    return dst


def with_nan(k):
    k[1, 0, 3, 3] = np.nan
    return k


@pytest.fixture(scope="module")
def bad_files(sim, tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    src = sorted(sim.glob("*.h5"))[0]
    files = {"nan": copy_with(src, d / "nan_k.h5", kspace=with_nan)}
    for size in (0, 100000):
        hdr = make_ismrmrd_header(encoding_size=(32, 32), recon_size=(size, 32), num_coils=4, num_slices=2)
        files[f"recon{size}"] = copy_with(src, d / f"recon{size}.h5", header=hdr)
    nan_rss = d / "nanrss"
    nan_rss.mkdir()
    files["nan_rss"] = copy_with(src, nan_rss / "nan_rss.h5", rss=lambda r: r * np.nan)
    return files


def _battery(sim, bad, tmp):
    f = sorted(sim.glob("*.h5"))[0]
    o = tmp / "o.h5"
    c = tmp / "cmp"
    return [
        # (argv, culprit named in the message, path that must not exist afterwards)
        (["mri", "recon", "--model", "zero_filled_rss", "--in", tmp / "missing.h5", "--out", o], "missing.h5", o),
        (["mri", "recon", "--model", "cg_sense", "--in", bad["nan"], "--out", o], "nan_k.h5", o),
        (["mri", "recon", "--model", "cg_sense", "--in", bad["recon0"], "--out", o], "recon0.h5", o),
        (["mri", "recon", "--model", "cg_sense", "--in", bad["recon100000"], "--out", o], "recon100000.h5", o),
        (["mri", "recon", "--model", "cg_sense", "--in", f, "--out", o, "--lam", "-1"], "--lam", o),
        (["mri", "recon", "--model", "cg_sense", "--in", f, "--out", o, "--max-iter", "0"], "--max-iter", o),
        (["mri", "recon", "--model", "zero_filled_rss", "--in", f, "--out", o, "--tol", "1e-3"], "--tol", o),
        (["mri", "recon", "--model", "magic", "--in", f, "--out", o], "magic", o),
        (["mri", "recon", "--model", "cg_sense", "--in", f, "--out", o, "--device", "tpu"], "--device", o),
        (["mri", "simulate", "--volumes", "0", "--out", tmp / "s"], "--volumes", tmp / "s"),
        (["mri", "simulate", "--volumes", "1", "--coils", "0", "--out", tmp / "s"], "coils", tmp / "s"),
        (["mri", "undersample", "--in", tmp / "nothing", "--out", tmp / "u"], "nothing", tmp / "u"),
        (["mri", "undersample", "--in", bad["nan"], "--out", tmp / "u"], "nan_k.h5", tmp / "u"),
        (["mri", "compare", "--data", sim, "--out", c, "--max-volumes", "-1"], "--max-volumes", c),
        (["mri", "compare", "--data", sim, "--out", c, "--accelerations", "3"], "--accelerations", c),
        (["mri", "compare", "--data", sim, "--out", c, "--accelerations", "4", "--center-fraction", "0.5"],
         "--center-fraction", c),
        (["mri", "compare", "--data", bad["nan_rss"].parent, "--out", c], "nan_rss.h5", c),
        (["mri", "compare", "--data", bad["recon0"], "--out", c], "recon0.h5", c),
        (["mri", "train", "--data", bad["nan"], "--val", f, "--model", "diag", "--out", tmp / "r"], "nan_k.h5",
         tmp / "r"),
        (["mri", "train", "--data", sim, "--model", "diag", "--lr", "-1", "--out", tmp / "r"], "--lr", tmp / "r"),
        (["mri", "train", "--data", bad["recon100000"], "--val", f, "--model", "diag", "--out", tmp / "r"],
         "recon100000.h5", tmp / "r"),
        (["mri", "train", "--data", tmp / "void", "--model", "diag", "--out", tmp / "r"], "void", tmp / "r"),
        # one volume and no --val: refused before the slice cache is written into --out
        (["mri", "train", "--data", f, "--model", "diag", "--out", tmp / "r"], "val (--val) must be given", tmp / "r"),
        (["mri", "import", tmp / "k.txt", "--out", o], "k.txt", o),
        (["mri", "import", tmp / "k.npy", "--out", o, "--layout", "CHX"], "--layout", o),
        (["mri", "import", tmp / "k.npy", "--out", o, "--mask", tmp / "halfmask.npy"], "mask", o),
    ]  # fmt: skip


BATTERY = textwrap.dedent(
    """
    import contextlib, io, json, sys
    from monarch_sci.cli import main
    results = []
    for argv in json.loads(sys.argv[1]):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            try:
                rc = main(argv)
            except SystemExit as e:  # argparse's usage errors
                rc = e.code
        results.append([rc, err.getvalue()])
    print(json.dumps(results))
    """
)


def test_bad_input_battery(sim, bad_files, tmp_path):
    """Every case through the real entry point, in one fresh process (its start-up costs seconds): exit 2, the
    culprit named, no traceback (an unexpected exception would end the process with one), no output left."""
    rng = np.random.default_rng(0)
    np.save(tmp_path / "k.npy", (rng.standard_normal((2, 8, 6)) + 1j).astype(np.complex64))
    np.save(tmp_path / "halfmask.npy", np.r_[np.ones(3), np.zeros(3)].astype(bool))
    (tmp_path / "k.txt").write_text("not k-space")
    cases = _battery(sim, bad_files, tmp_path)
    argvs = json.dumps([[str(a) for a in argv] for argv, _, _ in cases])
    r = subprocess.run([sys.executable, "-c", BATTERY, argvs], capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    failures = []
    for (argv, culprit, out), (rc, err) in zip(cases, json.loads(r.stdout.strip().splitlines()[-1])):
        if not (rc == 2 and culprit in err and "Traceback" not in err and not out.exists()):
            failures.append(f"{' '.join(map(str, argv[:3]))} ... -> rc {rc}, {err.strip()[-300:]!r}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("job", ["recon", "undersample", "simulate", "compare", "import"])
def test_killed_before_the_final_rename_keeps_the_previous_output(sim, tmp_path, job):
    f = sorted(sim.glob("*.h5"))[0]
    np.save(tmp_path / "k.npy", np.ones((2, 8, 6), np.complex64))
    jobs = {
        "recon": (["mri", "recon", "--model", "zero_filled_rss", "--in", f, "--out", tmp_path / "r.h5"], "r.h5"),
        "undersample": (["mri", "undersample", "--in", sim, "--out", tmp_path / "u"], f.name),
        "simulate": (["mri", "simulate", "--volumes", "1", "--slices", "1", "--coils", "2", "--size", "16",
                      "--oversampling", "1", "--fine-factor", "1", "--out", tmp_path / "s"], "0000.h5"),
        "compare": (["mri", "compare", "--data", sim, "--out", tmp_path / "c", "--methods", "zero_filled_rss",
                     "--accelerations", "2"], "results.json"),
        "import": (["mri", "import", tmp_path / "k.npy", "--out", tmp_path / "i.h5"], "i.h5"),
    }  # fmt: skip
    argv, target = jobs[job]
    assert main([str(a) for a in argv]) == 0  # in this process (fast); the killed rerun in a fresh one
    outputs = {
        p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p.name.endswith(target) and p.parent != sim
    }
    assert outputs, f"{job} wrote no file ending in {target}"
    # the rerun would write other content (so an in-place write would be seen)
    changes = {"undersample": ["--mask-policy", "slice"], "simulate": ["--noise-min", "0.02"],
               "compare": ["--mask-type", "random"], "import": ["--recon-size", "8", "6"]}  # fmt: skip
    argv = [*argv, *changes.get(job, []), "--overwrite"]  # the output exists: replaced only with --overwrite
    if job == "recon":
        argv = [*argv[:3], "zero_filled_sense", *argv[4:]]
    killed = cli(*argv, kill_at=target)
    assert killed.returncode == 137, killed.stderr
    for p, before in outputs.items():
        assert p.read_bytes() == before, f"{p} changed although the job died before renaming"
        if p.suffix == ".h5" and job != "recon":
            inspect_volume(p)
        elif p.suffix == ".json":
            json.loads(p.read_text())
        else:
            with h5py.File(p) as hf:
                assert hf["reconstruction"].shape[0] == 2


def test_import_then_recon_records_the_sampling_and_controls(tmp_path, capsys):
    rng = np.random.default_rng(5)
    k = (rng.standard_normal((4, 16, 24)) + 1j * rng.standard_normal((4, 16, 24))).astype(np.complex64)
    lines = np.arange(24) % 3 == 0
    lines[8:16] = True  # a fully sampled centre for ESPIRiT
    k[..., ~lines] = 0  # unsampled columns, and no mask given: inferred, never "fully sampled"
    np.save(tmp_path / "k.npy", k)
    assert main(["mri", "import", str(tmp_path / "k.npy"), "--out", str(tmp_path / "scan.h5")]) == 0
    assert "mask inferred" in capsys.readouterr().out
    with h5py.File(tmp_path / "scan.h5") as hf:  # the record is an attribute: nothing beside the file
        record = json.loads(hf.attrs["record"])
    assert not (tmp_path / "scan.json").exists()
    assert record["written"]["mask_inferred"] and record["written"]["mask"] == "(24,)"
    argv = ["mri", "recon", "--model", "cg_sense", "--in", str(tmp_path / "scan.h5"), "--out", str(tmp_path / "rec.h5")]
    assert main([*argv, "--lam", "0.01", "--max-iter", "7", "--tol", "0", "--no-progress"]) == 0
    rec = json.loads((tmp_path / "rec.json").read_text())
    assert rec["settings"] == {"lam": 0.01, "max_iter": 7, "tol": 0.0} and rec["sampling"] == "mask"
    assert rec["sampled_fraction"] == pytest.approx(lines.mean()) and "versions" in rec
    with h5py.File(tmp_path / "rec.h5") as hf:
        assert hf.attrs["lam"] == 0.01 and hf.attrs["max_iter"] == 7 and hf.attrs["undersampled"]
    # the same zeros in a file without a 'mask': the pattern is inferred and said so
    with h5py.File(tmp_path / "scan.h5", "a") as hf:
        del hf["mask"]
    assert main([*argv[:-1], str(tmp_path / "rec2.h5"), "--no-progress"]) == 0
    assert "sampling inferred" in capsys.readouterr().out
    rec2 = json.loads((tmp_path / "rec2.json").read_text())
    assert rec2["sampling"] == "inferred" and rec2["mask_pattern"] == "line" and rec2["mask_shape"] == [1, 24]
    # zeros scattered inside sampled columns, no mask: a 2-D pattern, inferred, recorded and reconstructed with it
    # (never as fully sampled; before the 2-D masks reached the reader this was refused)
    with h5py.File(tmp_path / "scan.h5", "a") as hf:
        kk = hf["kspace"][()]
        kk[:, :, 3, 0] = 0
        hf["kspace"][...] = kk
    assert main([*argv[:-1], str(tmp_path / "rec3.h5"), "--no-progress"]) == 0
    assert "2-D sampling inferred" in capsys.readouterr().out
    rec3 = json.loads((tmp_path / "rec3.json").read_text())
    assert rec3["sampling"] == "inferred" and rec3["mask_pattern"] == "2-D" and rec3["mask_shape"] == [1, 16, 24]
    assert rec3["sampled_fraction"] == pytest.approx(lines.mean() - 1 / (16 * 24))
    with h5py.File(tmp_path / "rec3.h5") as hf:
        assert hf.attrs["mask_pattern"] == "2-D" and hf.attrs["undersampled"]


def test_two_dimensional_import_reconstructs_through_the_cli(tmp_path, capsys):
    import torch

    from monarch_sci.datasets.mri.masks import as_line_mask, poisson_mask
    from monarch_sci.fourier import fft2c

    rng = np.random.default_rng(6)
    x = np.zeros((24, 20), np.complex64)
    x[6:18, 5:15] = 1 + 0.3 * rng.standard_normal((12, 10))
    yy, xx = np.mgrid[:24, :20] / 24.0
    coils = np.stack([np.exp(1j * (c + 1) * (yy + xx)) * (1 + 0.5 * c * yy) for c in range(4)])
    full = fft2c(torch.from_numpy((coils * x)[None].astype(np.complex64))).numpy()  # (1, 4, 24, 20)
    full = np.concatenate([full, full * 1.1])  # two slices
    mask = poisson_mask((24, 20), 2.0, calib=10, seed=1)
    assert mask.mean() < 0.8 and as_line_mask(mask) is None  # a 2-D pattern, not lines
    np.save(tmp_path / "k.npy", full * mask)
    np.save(tmp_path / "m.npy", mask)
    scan = tmp_path / "scan.h5"
    assert main(["mri", "import", str(tmp_path / "k.npy"), "--mask", str(tmp_path / "m.npy"), "--out", str(scan)]) == 0
    with h5py.File(scan) as hf:
        np.testing.assert_array_equal(hf["mask"][()], mask)
    inspect_volume(scan, check_data=True)
    zero = None
    for model in ("zero_filled_sense", "cg_sense", "l1_wavelet"):
        out = tmp_path / f"{model}.h5"
        argv = ["mri", "recon", "--model", model, "--in", str(scan), "--out", str(out), "--no-progress"]
        assert main([*argv, *(["--max-iter", "20"] if model != "zero_filled_sense" else [])]) == 0, model
        rec = json.loads(out.with_suffix(".json").read_text())
        assert rec["sampling"] == "mask" and rec["mask_pattern"] == "2-D"
        assert rec["sampled_fraction"] == pytest.approx(mask.mean())
        with h5py.File(out) as hf:
            img = hf["reconstruction"][()]
        assert img.shape == (2, 24, 20) and np.isfinite(img).all()
        ref = np.abs(x)
        err = np.linalg.norm(img[0] / np.abs(img[0]).max() - ref / ref.max()) / np.linalg.norm(ref / ref.max())
        if model == "zero_filled_sense":
            zero = err
        else:  # the iterative methods use the 2-D mask: they beat zero filling
            assert err < zero, (model, err, zero)


def test_recon_l1_weight_flags_and_iterations_recorded(tmp_path, capsys):
    rng = np.random.default_rng(7)
    k = (rng.standard_normal((2, 4, 16, 20)) + 1j * rng.standard_normal((2, 4, 16, 20))).astype(np.complex64)
    lines = np.arange(20) % 2 == 0
    lines[7:13] = True
    k[..., ~lines] = 0
    np.save(tmp_path / "k.npy", k)
    assert main(["mri", "import", str(tmp_path / "k.npy"), "--out", str(tmp_path / "scan.h5")]) == 0

    def recon(model, name, *flags):
        out = tmp_path / f"{name}.h5"
        status = main(["mri", "recon", "--model", model, "--in", str(tmp_path / "scan.h5"), "--out", str(out),
                       "--no-progress", *flags])  # fmt: skip
        return status, (json.loads(out.with_suffix(".json").read_text()) if status == 0 else None)

    status, rec = recon("l1_wavelet", "abs", "--lam", "2e-3", "--max-iter", "5", "--tol", "0")
    assert status == 0 and rec["settings"] == {"lam": 2e-3, "max_iter": 5, "tol": 0.0}
    assert rec["convergence"]["lam_used"] == [2e-3, 2e-3] and rec["convergence"]["iterations"] == [5, 5]
    with h5py.File(tmp_path / "abs.h5") as hf:
        assert hf.attrs["lam"] == 2e-3 and list(hf.attrs["iterations"]) == [5, 5]
    status, rec = recon("l1_wavelet", "rel", "--lam-rel", "1e-3", "--max-iter", "200", "--tol", "1e-2")
    assert status == 0 and rec["settings"] == {"lam_rel": 1e-3, "max_iter": 200, "tol": 1e-2}
    conv = rec["convergence"]
    assert all(n < 200 for n in conv["iterations"]) and conv["converged"]
    assert conv["lam_used"][0] != conv["lam_used"][1]  # relative to each slice's max|Aᴴy|
    status, rec = recon("l1_wavelet", "default")
    assert status == 0 and rec["settings"] == {"lam": "auto", "max_iter": 500, "tol": 1e-4}  # the adaptive rule
    status, rec = recon("cg_sense", "cg")
    assert status == 0 and 0 < rec["convergence"]["iterations"] <= rec["settings"]["max_iter"]
    assert rec["convergence"]["converged"] and rec["convergence"]["residual"] <= rec["settings"]["tol"]
    capsys.readouterr()
    assert recon("l1_wavelet", "both", "--lam", "1e-3", "--lam-rel", "1e-3")[0] == 2
    assert "give one ℓ1 weight" in capsys.readouterr().err
    assert recon("cg_sense", "cgrel", "--lam-rel", "1e-3")[0] == 2
    assert "--lam-rel: only for l1_wavelet" in capsys.readouterr().err
    assert not (tmp_path / "both.h5").exists() and not (tmp_path / "cgrel.h5").exists()
