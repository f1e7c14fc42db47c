"""Coil-map settings (CoilMapSpec): with sigpy's settings our maps and CG-SENSE are sigpy's; the flags of
``mri recon`` / ``mri compare`` / ``mri train`` reach the maps and every record."""

import json
import re

import h5py
import numpy as np
import pytest

from monarch_sci.cli import main
from monarch_sci.datasets.mri.fastmri import center_crop
from monarch_sci.datasets.mri.importers import import_kspace
from monarch_sci.datasets.mri.simulate import SimulationConfig, simulate_volume
from monarch_sci.operators.mri.coil_maps import SIGPY_ESPIRIT, CoilMapSpec

sigpy_app = pytest.importorskip("sigpy.mri.app")

H, W, ACS = 96, 48, 26  # k-space (2× readout oversampling of a 48 × 48 image), fully sampled centre columns


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    """A simulated 8-coil slice, every 3rd column and a 26-column centre acquired (written as a test file)."""
    cfg = SimulationConfig(recon_size=(48, 48), num_coils=8, num_slices=1, oversampling=2, fine_factor=2, seed=11)
    k = simulate_volume(cfg, 0).kspace  # (1, 8, 96, 48), receiver noise included
    mask = np.arange(W) % 3 == 0
    mask[W // 2 - ACS // 2 : W // 2 - ACS // 2 + ACS] = True
    path = tmp_path_factory.mktemp("maps") / "scan.h5"
    import_kspace(k * mask, path, mask=mask, recon_size=(48, 48))
    return path, (k * mask)[0], mask


def sigpy_maps(k):
    return sigpy_app.EspiritCalib(k, show_pbar=False).run()  # sigpy's own defaults, nothing passed


def test_sigpy_settings_give_sigpy_maps_and_sense(scan, tmp_path):
    path, k, mask = scan
    ours = tmp_path / "ours.h5"
    flags = ["--calib", "24", "--maps-kernel", "6", "--maps-crop", "0.95", "--maps-thresh", "0.02",
             "--maps-min-coverage", "0"]  # fmt: skip
    argv = ["mri", "recon", "--model", "cg_sense", "--in", str(path), "--out", str(ours), "--no-progress"]
    assert main([*argv, "--lam", "1e-3", "--max-iter", "2000", "--tol", "1e-9", *flags]) == 0
    record = json.loads(ours.with_suffix(".json").read_text())
    assert record["coil_maps"] == SIGPY_ESPIRIT.settings(24)
    # the maps: our ReconProblem with SIGPY_ESPIRIT, against sigpy called with its defaults
    from monarch_sci.operators.mri.classical import ReconProblem

    mps = sigpy_maps(k)
    problem = ReconProblem(k[None], mask, coil_map_spec=SIGPY_ESPIRIT)  # the acquired grid: no readout crop
    err = np.linalg.norm(problem.coil_maps()[0] - mps) / np.linalg.norm(mps)
    assert err < 1e-4, err
    # CG-SENSE: sigpy's SenseRecon (½‖Ax−y‖² + λ/2‖x‖², the same normal equations) with sigpy's maps
    weights = np.broadcast_to(mask.astype(np.float32), (H, W))
    x = sigpy_app.SenseRecon(k, mps, lamda=1e-3, weights=weights, max_iter=2000, show_pbar=False).run()
    theirs = center_crop(np.abs(x)[None], (48, 48))[0]
    with h5py.File(ours) as hf:
        img = hf["reconstruction"][0]
        assert json.loads(hf.attrs["coil_maps"]) == record["coil_maps"]
    nrmse = np.linalg.norm(img - theirs) / np.linalg.norm(theirs)
    assert nrmse < 1e-4, nrmse
    # and our defaults are not sigpy's: the flags matter (crop 0.8 keeps more of the maps)
    default = ReconProblem(k[None], mask).coil_maps()[0]
    assert np.linalg.norm(default - mps) / np.linalg.norm(mps) > 1e-3


def test_flags_reach_the_maps_and_are_checked(scan, tmp_path, capsys):
    path, _, _ = scan
    argv = ["mri", "recon", "--model", "zero_filled_sense", "--in", str(path), "--no-progress"]
    assert main([*argv, "--out", str(tmp_path / "a.h5"), "--maps-crop", "0.5", "--maps-kernel", "4"]) == 0
    rec = json.loads((tmp_path / "a.json").read_text())
    assert rec["coil_maps"] == CoilMapSpec(crop=0.5, kernel_width=4).settings(24)  # ACS 26, capped at 24
    assert rec["args"]["maps_crop"] == 0.5
    assert main([*argv, "--out", str(tmp_path / "z.h5"), "--model", "zero_filled_rss"]) == 0
    assert json.loads((tmp_path / "z.json").read_text())["coil_maps"] is None  # no maps were needed
    capsys.readouterr()
    bad = (
        (["--calib", "30"], "--calib 30: the acquisition's fully sampled centre is only 26"),
        (["--maps-crop", "1.5"], "crop (--maps-crop) must be in [0, 1)"),
        (["--calib", "8", "--maps-kernel", "8"], "kernel_width (--maps-kernel) must be smaller"),
    )
    for flags, message in bad:
        assert main([*argv, "--out", str(tmp_path / "bad.h5"), *flags]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
        assert not (tmp_path / "bad.h5").exists()


def test_compare_and_train_use_and_record_the_settings(fully_sampled_mri, tmp_path):
    out = tmp_path / "cmp"
    argv = ["mri", "compare", "--data", str(fully_sampled_mri), "--out", str(out), "--methods", "zero_filled_sense",
            "--accelerations", "2", "--no-progress", "--maps-crop", "0.6", "--maps-thresh", "0.05"]  # fmt: skip
    assert main(argv) == 0
    record = json.loads((out / "results.json").read_text())
    assert record["coil_maps"]["crop"] == 0.6 and record["coil_maps"]["thresh"] == 0.05
    maps_rows = [r for r in record["per_volume"] if r["method"] == "espirit_maps"]
    assert maps_rows and all(r["settings"]["crop"] == 0.6 for r in maps_rows)

    from monarch_sci.cli import build_parser
    from monarch_sci.cli.mri.train import spec_from_args
    from monarch_sci.operators.mri.training import defining_settings, load_banks

    train = ["mri", "train", "--data", str(fully_sampled_mri), "--model", "diag", "--out", str(tmp_path / "run")]
    args = build_parser().parse_args([*train, "--maps-crop", "0.6", "--acceleration", "2"])
    spec = spec_from_args(args)
    assert spec.coil_maps == CoilMapSpec(crop=0.6) and defining_settings(spec)["coil_maps"]["crop"] == 0.6
    bank, _ = load_banks(spec, tmp_path / "cache")
    assert bank.maps_settings["crop"] == 0.6  # what the run record stores as its coil_maps
    plain = spec_from_args(build_parser().parse_args(["mri", "train", "--data", "d", "--model", "diag", "--out", "r"]))
    assert "coil_maps" not in defining_settings(plain)  # the defaults: as runs recorded before the flags


def test_spec_refusals_name_field_and_flag():
    assert CoilMapSpec(calib=np.int64(24)).settings(24)["calib"] == 24  # NumPy integers are integers
    bad = (
        ({"calib": 4}, "calib (--calib) must be an integer >= 5"),
        ({"calib": 8.5}, "calib (--calib) must be an integer"),
        ({"kernel_width": True}, "kernel_width (--maps-kernel) must be a positive integer"),
        ({"thresh": 1.0}, "thresh (--maps-thresh) must be in [0, 1)"),
        ({"min_coverage": -0.1}, "min_coverage (--maps-min-coverage) must be in [0, 1]"),
    )
    for kwargs, message in bad:
        with pytest.raises(ValueError, match=re.escape(message)):
            CoilMapSpec(**kwargs)


def test_cli_defaults_are_the_spec_defaults():
    from monarch_sci.cli import build_parser

    for argv in (["mri", "recon", "--model", "m", "--in", "i", "--out", "o"], ["mri", "compare", "--data", "d",
                 "--out", "o"], ["mri", "train", "--data", "d", "--model", "diag", "--out", "o"]):  # fmt: skip
        a = build_parser().parse_args(argv)
        d = CoilMapSpec()
        assert (a.calib, a.maps_kernel, a.maps_crop, a.maps_thresh, a.maps_min_coverage) == (
            d.calib,
            d.kernel_width,
            d.crop,
            d.thresh,
            d.min_coverage,
        ), argv


def test_a_run_is_not_given_maps_it_did_not_train_on(tmp_path, capsys):
    from monarch_sci.datasets.mri.simulate import simulate_dataset

    cfg = SimulationConfig(recon_size=(32, 32), num_coils=4, num_slices=1, oversampling=1, fine_factor=1, seed=6)
    simulate_dataset(tmp_path / "d", cfg, 2)
    run = tmp_path / "run"
    train = ["mri", "train", "--data", str(tmp_path / "d"), "--out", str(run), "--model", "diag", "--epochs", "1",
             "--batch-size", "2", "--acceleration", "2", "--no-progress", "--threads", "1"]  # fmt: skip
    assert main([*train, "--maps-crop", "0.6"]) == 0
    assert json.loads((run / "record.json").read_text())["coil_maps"]["crop"] == 0.6
    src = sorted((tmp_path / "d").glob("*.h5"))[0]
    argv = ["mri", "recon", "--model", str(run), "--in", str(src), "--no-progress"]
    capsys.readouterr()
    assert main([*argv, "--out", str(tmp_path / "a.h5")]) == 2  # the default crop 0.8: other maps than trained on
    err = capsys.readouterr().err
    assert "coil maps made with crop 0.8 (trained with 0.6); pass --maps-crop 0.6" in err and err.count("\n") == 1
    assert main([*argv, "--out", str(tmp_path / "b.h5"), "--maps-crop", "0.6"]) == 0
