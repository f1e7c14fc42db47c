"""``mri train`` reruns and caches: content-keyed cache outside the data, validation on every run, read-only
data, one-file data, resume refused when a defining flag changed, finished runs kept, deprecated spellings."""

import json
import stat

import h5py
import numpy as np
import pytest

from monarch_sci.cli import main
from monarch_sci.datasets.mri.simulate import SimulationConfig, simulate_dataset
from monarch_sci.operators.mri.slice_bank import slice_bank_cache
from monarch_sci.operators.mri.training import ReconTrainSpec, defining_settings, spec_calib, train_recon_model


@pytest.fixture
def data(tmp_path):
    # 64 columns: a 4× line mask holds 5 fully sampled centre columns, enough for ESPIRiT maps from acquired data
    cfg = SimulationConfig(recon_size=(32, 64), num_coils=4, num_slices=2, oversampling=1, fine_factor=1, seed=7)
    simulate_dataset(tmp_path / "data", cfg, 3)
    return tmp_path / "data"


def train(data, out, *extra):
    argv = ["mri", "train", "--data", str(data), "--out", str(out), "--model", "diag", "--epochs", "1",
            "--batch-size", "2", "--no-progress", "--threads", "1", "--device", "cpu", *extra]  # fmt: skip
    return main([str(a) for a in argv])


def slice_caches(folder):
    return sorted(p.name for p in folder.glob("slices-*.pt"))


def test_cache_lives_in_the_run_and_follows_the_content(data, tmp_path, monkeypatch):
    monkeypatch.delenv("MONARCH_SCI_CACHE", raising=False)
    before = sorted(p.name for p in data.rglob("*"))
    assert train(data, tmp_path / "r1") == 0
    assert sorted(p.name for p in data.rglob("*")) == before  # nothing written into the data folder
    assert len(slice_caches(tmp_path / "r1" / "cache")) == 1
    shared = tmp_path / "shared"
    monkeypatch.setenv("MONARCH_SCI_CACHE", str(shared))
    assert train(data, tmp_path / "r2") == 0 and len(slice_caches(shared)) == 1
    assert not (tmp_path / "r2" / "cache").exists()
    # replace a file in place (same name): a new key, a new cache; the old one is not used
    f = sorted(data.glob("*.h5"))[0]
    with h5py.File(f, "a") as hf:
        hf["kspace"][...] = 2 * hf["kspace"][()]
    assert train(data, tmp_path / "r3") == 0 and len(slice_caches(shared)) == 2


def test_nan_fails_even_when_a_cache_matches(data, tmp_path, capsys):
    cache = tmp_path / "c"
    assert train(data, tmp_path / "r1", "--cache-dir", cache) == 0
    (good,) = slice_caches(cache)
    f = sorted(data.glob("*.h5"))[1]
    with h5py.File(f, "a") as hf:
        k = hf["kspace"][()]
        k[0, 0, 1, 1] = np.nan
        hf["kspace"][...] = k
    # plant the good cache under the NaN file's key: a cache hit must still not skip validation
    files = sorted(data.glob("*.h5"))
    spec = ReconTrainSpec(data=data, model="diag")
    planted = slice_bank_cache(files, calib=spec_calib(spec, files), cache_dir=cache)  # the acquisition's own
    (cache / good).rename(planted)
    assert train(data, tmp_path / "r2", "--cache-dir", cache) == 2
    err = capsys.readouterr().err
    assert f.name in err and "non-finite" in err
    assert not (tmp_path / "r2").exists()


def test_read_only_data_and_a_single_file(data, tmp_path):
    files = sorted(data.glob("*.h5"))
    for f in files:
        f.chmod(stat.S_IRUSR | stat.S_IRGRP)
    data.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        assert train(files[0], tmp_path / "r", "--val", files[1]) == 0
    finally:
        data.chmod(stat.S_IRWXU)
        for f in files:
            f.chmod(stat.S_IRUSR | stat.S_IWUSR)
    record = json.loads((tmp_path / "r" / "record.json").read_text())
    assert record["data"]["train_volumes"] == [files[0].name] and record["status"] == "finished"
    assert sorted(p.name for p in data.iterdir()) == [f.name for f in files]


def test_resume_and_rerun_are_checked_against_the_record(data, tmp_path, capsys):
    run = tmp_path / "run"
    assert train(data, run, "--epochs", "2", "--stop-after", "1") == 0
    capsys.readouterr()
    assert train(data, run, "--epochs", "2", "--resume", "--lr", "1e-2") == 2
    err = capsys.readouterr().err
    assert "lr: 0.001 -> 0.01" in err and "cannot resume" in err  # record fields, as pde train names them
    assert train(data, run, "--epochs", "2", "--resume", "--acceleration", "2", "--model", "msense") == 2
    err = capsys.readouterr().err
    assert "acceleration: 4 -> 2" in err and "model: diag -> msense" in err
    assert json.loads((run / "record.json").read_text())["spec"]["lr"] == 0.001  # the record is untouched
    assert train(data, run, "--epochs", "2", "--resume") == 0
    assert json.loads((run / "record.json").read_text())["status"] == "finished"
    # a finished run is never replaced without --overwrite; --epochs may grow on --resume
    assert train(data, run, "--epochs", "2") == 2
    assert "already holds a finished run" in capsys.readouterr().err
    assert train(data, run, "--epochs", "3", "--resume") == 0
    assert len(json.loads((run / "record.json").read_text())["epochs"]) == 3
    assert train(data, run, "--epochs", "1", "--lr", "1e-2", "--overwrite") == 0
    record = json.loads((run / "record.json").read_text())
    assert record["spec"]["lr"] == 0.01 and len(record["epochs"]) == 1
    assert train(data, tmp_path / "new", "--resume") == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_the_python_api_matches_the_cli(data, tmp_path):
    spec = ReconTrainSpec(data=data, model="diag", epochs=1, batch_size=2, progress=False, threads=1)
    summary = train_recon_model(spec, tmp_path / "api")
    assert summary["status"] == "finished"
    record = json.loads((tmp_path / "api" / "record.json").read_text())
    assert record["spec"] == defining_settings(spec)
    with pytest.raises(ValueError, match=r"ReconTrainSpec: acceleration \(--acceleration\) must be 2, 4 or 8, got 3"):
        ReconTrainSpec(data=data, model="diag", acceleration=3)
    with pytest.raises(ValueError, match="already holds a finished run"):
        train_recon_model(spec, tmp_path / "api")


def test_deprecated_spellings_still_work(data, tmp_path, capsys):
    assert train(data, tmp_path / "d", "--accel", "2", "--policy", "fixed", "--quiet") == 0
    err = capsys.readouterr().err
    for old, new in (("--accel", "--acceleration"), ("--policy", "--mask-policy")):
        assert f"{old} is deprecated; use {new}" in err
    record = json.loads((tmp_path / "d" / "record.json").read_text())
    assert record["task"] == {"accel": 2, "mask_policy": "fixed", "mask_type": "random", "mask_calib": None,
                              "maps": "acs", "target": "rss", "loss": "mse"}  # fmt: skip
    argv = ["--model", "msense", "--learn-axes", "phase", "--epochs", "1"]
    assert main(["mri", "train", "--data", str(data), "--out", str(tmp_path / "m"), "--batch-size", "2",
                 "--no-progress", "--device", "cpu", *argv]) == 0  # fmt: skip
    assert "--learn-axes is deprecated; use --learn" in capsys.readouterr().err
    hparams = json.loads((tmp_path / "m" / "record.json").read_text())["model"]["hparams"]
    assert list(hparams.values()) == ["phase"]


def test_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["mri", "train", "--help"])
    out = capsys.readouterr().out
    assert "(default: 20)" in out and "--learn" in out and "--acceleration" in out and "--overwrite" in out
    for cmd in ("recon", "compare", "simulate", "undersample", "import"):
        with pytest.raises(SystemExit):
            main(["mri", cmd, "--help"])
        assert "default" in capsys.readouterr().out, cmd


def test_moved_names_still_import_with_a_warning():
    from monarch_sci.cli import mri_learned
    from monarch_sci.operators.mri import runs

    for old, new in (("evaluate_run", "evaluate_run"), ("reconstruct_with_run", "reconstruct_with_run"),
                     ("run_loader", "run_method")):  # fmt: skip
        with pytest.warns(DeprecationWarning, match=f"mri_learned.{old} is deprecated"):
            assert getattr(mri_learned, old) is getattr(runs, new)
    with pytest.raises(AttributeError):
        mri_learned.nothing  # noqa: B018


def test_run_training_is_deprecated_but_trains(data, tmp_path):
    from monarch_sci.cli import build_parser, mri_learned

    args = build_parser().parse_args(["mri", "train", "--data", str(data), "--out", str(tmp_path / "r"), "--model",
                                      "diag", "--epochs", "1", "--batch-size", "2", "--no-progress"])  # fmt: skip
    with pytest.warns(DeprecationWarning, match="use train_recon_model"):
        assert mri_learned.run_training(args)["status"] == "finished"


def test_the_old_module_path_forwards_to_the_mri_package_with_a_warning():
    from monarch_sci.cli import mri_learned
    from monarch_sci.cli.mri import train

    with pytest.warns(DeprecationWarning, match=r"use monarch_sci\.cli\.mri\.train\.spec_from_args"):
        assert mri_learned.spec_from_args is train.spec_from_args
    with pytest.warns(DeprecationWarning, match="mri_learned is deprecated"):
        from monarch_sci.cli.mri_learned import MODEL_NAMES
    assert MODEL_NAMES is train.MODEL_NAMES
