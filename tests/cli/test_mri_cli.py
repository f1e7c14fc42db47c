"""``monarch-sci mri``: simulate → undersample → recon → compare on a tiny data set, and bad input."""

import json

import h5py
import numpy as np
import pytest

from monarch_sci.cli import main
from monarch_sci.cli import mri as mri_job
from monarch_sci.datasets.mri.fastmri import FastMRISliceDataset
from monarch_sci.operators.mri import methods as mri_methods


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    args = "mri simulate --volumes 2 --slices 2 --coils 4 --size 32 --oversampling 2 --no-progress --seed 3"
    assert main([*args.split(), "--out", str(out)]) == 0
    return out


def test_simulate_writes_fastmri_files(sim):
    files = sorted(sim.glob("*.h5"))
    assert [f.name for f in files] == ["file_sim0030000.h5", "file_sim0030001.h5"]
    ds = FastMRISliceDataset(sim)
    assert len(ds) == 4 and ds[0]["kspace"].shape == (4, 64, 32) and ds[0]["target"].shape == (32, 32)


def test_recon_fully_sampled_zero_filled_equals_target(sim, tmp_path):
    src = sim / "file_sim0030000.h5"
    out = tmp_path / "rec.h5"
    assert main(["mri", "recon", "--model", "zero_filled_rss", "--in", str(src), "--out", str(out)]) == 0
    with h5py.File(out, "r") as hf, h5py.File(src, "r") as ref:
        rec = hf["reconstruction_zero_filled_rss"][()]
        assert rec.shape == (2, 32, 32) and rec.dtype == np.float32
        np.testing.assert_allclose(hf["reconstruction"][()], rec)
        target = ref["reconstruction_rss"][()]
        np.testing.assert_allclose(rec, target, rtol=1e-4, atol=1e-5 * target.max())


def test_undersample_then_recon_test_style_with_png(sim, tmp_path):
    test_dir = tmp_path / "test"
    assert main(["mri", "undersample", "--in", str(sim), "--out", str(test_dir), "--acceleration", "2"]) == 0
    f = test_dir / "file_sim0030001.h5"
    with h5py.File(f, "r") as hf:
        mask = hf["mask"][()]
        assert mask.shape == (32,) and "reconstruction_rss" not in hf
        assert np.abs(hf["kspace"][()][..., ~mask]).max() == 0
    out, png = tmp_path / "cg.h5", tmp_path / "png"
    assert main(["mri", "recon", "--model", "cg_sense", "--in", str(f), "--out", str(out), "--png", str(png)]) == 0
    with h5py.File(out, "r") as hf:
        assert hf["reconstruction_cg_sense"].shape == (2, 32, 32)
        assert hf.attrs["undersampled"] and 0.4 < hf.attrs["sampled_fraction"] < 0.65
    assert len(list(png.glob("*.png"))) == 2


def test_compare_table_json_figure(sim, tmp_path):
    out = tmp_path / "cmp"
    args = ["mri", "compare", "--data", str(sim), "--out", str(out), "--accelerations", "2"]
    args += ["--methods", "zero_filled_rss", "cg_sense", "--threads", "1", "--no-progress"]
    assert main(args) == 0
    record = json.loads((out / "results.json").read_text())
    rows = {(r["acceleration"], r["method"]): r for r in record["summary"]}
    assert set(rows) == {(2, "zero_filled_rss"), (2, "cg_sense"), (2, "espirit_maps")}
    zf = rows[(2, "zero_filled_rss")]
    assert zf["volumes"] == 2 and 0 < zf["nmse"] < 1 and 0 < zf["ssim"] < 1 and zf["psnr"] > 10
    assert "| 2× | cg_sense |" in (out / "results.md").read_text()
    assert (out / "figure.png").stat().st_size > 1000


def test_method_names_and_help(capsys):
    from monarch_sci.operators.mri.classical import CLASSICAL_METHODS

    assert tuple(CLASSICAL_METHODS) == mri_job.CLASSICAL_METHOD_NAMES
    with pytest.raises(SystemExit):
        main(["mri", "recon", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "zero_filled_rss, zero_filled_sense, cg_sense, l1_wavelet" in text
    # the defaults --help states (written out so that --help stays light) are the solvers' own
    import inspect

    from monarch_sci.operators.mri.classical import cg_sense, l1_wavelet_recon

    cg, l1 = inspect.signature(cg_sense).parameters, inspect.signature(l1_wavelet_recon).parameters
    stated = {  # what --help says -> the value in the code
        "iteration cap (None: 500)": (cg["max_iter"].default, l1["max_iter"].default, 500),
        "recorded (None: auto)": (cg["lam"].default, "auto"),
        "(None: --lam auto)": (l1["lam"].default, l1["lam_rel"].default, None),
        "(cg_sense; None: 1e-5)": (cg["tol"].default, 1e-5),
        "(l1_wavelet; None: 1e-4)": (l1["tol"].default, 1e-4),
    }
    for phrase, values in stated.items():
        assert phrase in text and len(set(values)) == 1, (phrase, values)


def test_bad_input_is_one_clear_error(sim, tmp_path, capsys):
    src = sim / "file_sim0030000.h5"
    bad = tmp_path / "badmask.h5"
    bad.write_bytes(src.read_bytes())
    with h5py.File(bad, "a") as hf:
        hf.create_dataset("mask", data=np.ones(31, bool))
    assert main(["mri", "recon", "--model", "zero_filled_rss", "--in", str(bad), "--out", str(tmp_path / "o.h5")]) == 2
    err = capsys.readouterr().err
    assert "badmask.h5" in err and "'mask' must be (W,) = (32,)" in err

    nan = tmp_path / "nan.h5"
    nan.write_bytes(src.read_bytes())
    with h5py.File(nan, "a") as hf:
        k = hf["kspace"][()]
        k[1, 0, 5, 5] = np.nan
        hf["kspace"][...] = k
    assert main(["mri", "recon", "--model", "zero_filled_rss", "--in", str(nan), "--out", str(tmp_path / "o.h5")]) == 2
    assert "nan.h5: 'kspace' slice 1 holds 1 non-finite" in capsys.readouterr().err

    assert main(["mri", "recon", "--model", "magic", "--in", str(src), "--out", str(tmp_path / "o.h5")]) == 2
    assert "unknown method 'magic'; choose one of zero_filled_rss" in capsys.readouterr().err
    assert main(["mri", "recon", "--model", str(tmp_path), "--in", str(src), "--out", str(tmp_path / "o.h5")]) == 2
    assert "no registered run loader recognises it" in capsys.readouterr().err


def test_registered_method_and_run_loader_hook(sim, tmp_path, monkeypatch):
    def half_rss(problem):
        from monarch_sci.operators.mri.classical import CLASSICAL_METHODS

        return 0.5 * CLASSICAL_METHODS["zero_filled_rss"](problem)

    monkeypatch.setattr(mri_methods, "EXTRA_METHODS", {})
    monkeypatch.setattr(
        mri_methods, "RUN_LOADERS", [lambda p: ("myrun", half_rss) if (p / "run.json").exists() else None]
    )
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text("{}")
    out = tmp_path / "o.h5"
    assert main(["mri", "recon", "--model", str(run), "--in", str(sim / "file_sim0030000.h5"), "--out", str(out)]) == 0
    with h5py.File(out, "r") as hf, h5py.File(sim / "file_sim0030000.h5", "r") as ref:
        np.testing.assert_allclose(
            2 * hf["reconstruction_myrun"][()], ref["reconstruction_rss"][()], rtol=1e-4, atol=1e-8
        )
    mri_methods.register_recon_method("half", half_rss)
    assert "half" in mri_methods.recon_methods()
    with pytest.raises(ValueError, match="already exists"):
        mri_methods.register_recon_method("cg_sense", half_rss)


def test_moved_method_registry_names_still_work_with_a_deprecation_warning():
    from monarch_sci import operators
    from monarch_sci.cli.mri import methods as cli_methods

    for module in (mri_job, cli_methods):
        for name in mri_methods.__all__:
            with pytest.warns(DeprecationWarning, match=f"{name} is deprecated; use monarch_sci.operators"):
                assert getattr(module, name) is getattr(mri_methods, name)
    assert operators.register_recon_method is mri_methods.register_recon_method
    assert operators.RUN_LOADERS is mri_methods.RUN_LOADERS
    with pytest.raises(AttributeError):
        mri_job.no_such_name  # noqa: B018


def test_singlecoil_file(tmp_path):
    from monarch_sci.datasets.mri.fastmri import write_fastmri_volume
    from monarch_sci.datasets.mri.ismrmrd_header import make_ismrmrd_header

    rng = np.random.default_rng(0)
    k = (rng.standard_normal((2, 32, 24)) + 1j * rng.standard_normal((2, 32, 24))).astype(np.complex64)
    src = tmp_path / "sc.h5"
    header = make_ismrmrd_header(encoding_size=(32, 24), recon_size=(16, 16))
    write_fastmri_volume(
        src, kspace=k, header_xml=header, reconstructions={"reconstruction_esc": np.zeros((2, 16, 16))}
    )
    out = tmp_path / "o.h5"
    assert main(["mri", "recon", "--model", "zero_filled_rss", "--in", str(src), "--out", str(out)]) == 0
    img = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))
    with h5py.File(out, "r") as hf:
        np.testing.assert_allclose(hf["reconstruction"][()], np.abs(img[:, 8:24, 4:20]), rtol=1e-4, atol=1e-6)


def test_compare_refuses_non_finite_metrics_and_takes_a_centre_fraction(sim, tmp_path, monkeypatch, capsys):
    def broken(problem):
        return np.full((problem.num_slices, 32, 32), np.nan, np.float32)

    monkeypatch.setattr(mri_methods, "EXTRA_METHODS", {"broken": broken})
    out = tmp_path / "cmp"
    args = ["mri", "compare", "--data", str(sim), "--out", str(out), "--accelerations", "2", "--no-progress"]
    assert main([*args, "--methods", "zero_filled_rss", "broken"]) == 2
    err = capsys.readouterr().err
    assert "non-finite metrics" in err and "file_sim0030000.h5 (broken, 2x)" in err and "file_sim0030001.h5" in err
    assert not out.exists()
    assert main([*args, "--methods", "zero_filled_rss", "--center-fraction", "0.3", "--max-volumes", "1"]) == 0
    record = json.loads((out / "results.json").read_text())  # standard JSON (the writer refuses NaN)
    (row,) = [r for r in record["summary"] if r["method"] == "zero_filled_rss"]
    assert row["volumes"] == 1 and row["psnr"] > 10 and record["args"]["center_fraction"] == 0.3
