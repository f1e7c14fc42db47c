"""``monarch-sci mri train`` end to end on tiny simulated data: run folder, resume, load, recon, DDP, errors."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from monarch_sci.cli import build_parser, main
from monarch_sci.datasets.mri.simulate import SimulationConfig, simulate_dataset


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """3 volumes of 2 slices, 4 coils, 32² (no oversampling): 2 train + 1 validation volume by default."""
    root = tmp_path_factory.mktemp("sim")
    cfg = SimulationConfig(recon_size=(32, 32), num_coils=4, num_slices=2, oversampling=1, fine_factor=1, seed=5)
    simulate_dataset(root / "train", cfg, 3)
    return root / "train"


def train_args(data, out, *extra):
    return ["mri", "train", "--data", str(data), "--out", str(out), "--epochs", "2", "--batch-size", "2",
            "--no-progress", "--threads", "1", *extra]  # fmt: skip


def weights(run):
    return torch.load(run / "last.pt", weights_only=True)["model"]


MSENSE_ARGS = ["--model", "msense", "--acceleration", "2", "--lr", "1e-3"]


@pytest.fixture(scope="module")
def msense_run(tiny_data, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "full"
    assert main(train_args(tiny_data, run, *MSENSE_ARGS)) == 0
    return run


def test_train_writes_a_run_folder(msense_run):
    record = json.loads((msense_run / "record.json").read_text())
    assert record["status"] == "finished" and len(record["epochs"]) == 2
    assert record["model"] == {
        "name": "msense",
        "shape": [32, 32],
        "hparams": {"learn": "both"},
        "label": "mSENSE",
    }
    assert record["data"]["train_slices"] == 4 and len(record["data"]["val_volumes"]) == 1
    assert record["task"] == {"accel": 2, "mask_policy": "slice", "mask_type": "random", "mask_calib": None,
                              "maps": "acs", "target": "rss", "loss": "mse"}  # fmt: skip
    from monarch_sci.operators.mri.coil_maps import espirit_settings

    # the maps' settings: the acquisition's own 5 fully sampled centre columns (round(0.16·32) at 2×)
    assert record["coil_maps"] == espirit_settings(5)
    for f in ("best.pt", "last.pt", "curves.png", "example.png"):
        assert (msense_run / f).is_file(), f
    assert np.isfinite(record["epochs"][-1]["val_psnr"])


def test_resume_ends_like_an_uninterrupted_run(tiny_data, msense_run, tmp_path):
    # Fresh random masks per training sample come from torch's generator, which the checkpoint restores.
    main(train_args(tiny_data, tmp_path / "cut", *MSENSE_ARGS, "--stop-after", "1"))
    assert json.loads((tmp_path / "cut" / "record.json").read_text())["status"] == "stopped"
    main(train_args(tiny_data, tmp_path / "cut", *MSENSE_ARGS, "--resume"))
    full, cut = weights(msense_run), weights(tmp_path / "cut")
    for k, v in full.items():
        assert torch.equal(v, cut[k]), k


def test_unrolled_monarch_trains_through_the_cli(tiny_data, tmp_path):
    model = ["--model", "unrolled", "--fourier", "monarch", "--cascades", "1", "--channels", "4", "--layers", "2"]
    # (2×: a 4× line mask of 32 columns holds 3 centre columns, too few for ESPIRiT maps from acquired data)
    main(train_args(tiny_data, tmp_path / "u", *model, "--epochs", "1", "--acceleration", "2"))
    record = json.loads((tmp_path / "u" / "record.json").read_text())
    assert record["model"]["label"] == "unrolled-Monarch" and record["status"] == "finished"
    assert record["model"]["hparams"]["fourier"] == "monarch" and record["model"]["hparams"]["channels"] == 4


@pytest.mark.parametrize("model", ["unrolled", "unet"])
def test_bf16_training_autocasts_the_cnn_and_keeps_the_physics_in_float32(tiny_data, tmp_path, capsys, model):
    args = ["--model", model, "--channels", "4", "--epochs", "1", "--acceleration", "2"]
    if model == "unrolled":
        args += ["--fourier", "monarch", "--cascades", "1", "--layers", "2"]
    assert main(train_args(tiny_data, tmp_path / "r", *args, "--precision", "bf16")) == 0
    record = json.loads((tmp_path / "r" / "record.json").read_text())
    assert record["config"]["precision"] == "bf16" and record["status"] == "finished"
    assert all(np.isfinite(h["train_loss"]) and np.isfinite(h["val_loss"]) for h in record["epochs"])
    # the weights stay float32 (autocast casts activations, never parameters)
    assert {v.dtype for v in weights(tmp_path / "r").values() if v.is_floating_point()} == {torch.float32}
    # a resume in the other precision is a different experiment: refused with the difference named
    assert main([*train_args(tiny_data, tmp_path / "r", *args), "--resume"]) == 2
    assert "precision" in capsys.readouterr().err


def test_load_run_reconstructs_and_checks_the_matrix_size(tiny_data, msense_run):
    from monarch_sci.operators.mri.models import load_run
    from monarch_sci.operators.mri.runs import evaluate_run, reconstruct_with_run
    from monarch_sci.operators.mri.runs import run_method as run_loader
    from monarch_sci.operators.mri.slice_bank import load_slice_bank

    model, record = load_run(msense_run)
    assert record["model"]["label"] == "mSENSE" and not model.training
    bank = load_slice_bank(tiny_data, cache=tiny_data / ".monarch_cache" / "slices.pt")
    res = evaluate_run(msense_run, bank, accel=2)
    assert len(res["psnr"]) == 3 and res["seconds_per_slice"] > 0
    out = reconstruct_with_run(msense_run, bank.kspace[:2].numpy(), np.ones((2, 32), bool), bank.maps[:2].numpy())
    assert out.shape == (2, 32, 32) and np.iscomplexobj(out)
    two_d = np.ones((2, 32, 32), bool)  # a 2-D pattern (S, H, W) that samples everything: the same images
    np.testing.assert_allclose(
        reconstruct_with_run(msense_run, bank.kspace[:2].numpy(), two_d, bank.maps[:2].numpy()), out, atol=1e-6
    )
    with pytest.raises(ValueError, match=r"reconstruct_with_run: 'mask' must be"):
        reconstruct_with_run(msense_run, bank.kspace[:2].numpy(), np.ones((2, 7), bool), bank.maps[:2].numpy())
    with pytest.raises(ValueError, match=r"trained on 32×32"):
        reconstruct_with_run(
            msense_run, np.zeros((1, 4, 16, 16), np.complex64), np.ones((1, 16)), np.zeros((1, 4, 16, 16))
        )
    name, _ = run_loader(msense_run)
    assert name == "mSENSE[full]" and run_loader(msense_run.parent / "nothing") is None


def test_bad_input_is_refused_with_the_file_named(tiny_data, tmp_path, capsys):
    import h5py

    bad = tmp_path / "bad"
    bad.mkdir()
    src = sorted(tiny_data.glob("*.h5"))[0]
    with h5py.File(src) as a, h5py.File(bad / "nan.h5", "w") as b:
        for key in a:
            a.copy(key, b)
        for k, v in a.attrs.items():
            b.attrs[k] = v
        b["kspace"][0, 0, 0, 0] = np.nan
    assert main(train_args(bad, tmp_path / "r", "--model", "diag", "--val", str(tiny_data))) == 2
    assert re.search(r"mri train: error: .*nan\.h5.*NaN", capsys.readouterr().err)
    assert main(train_args(tiny_data, tmp_path / "r2", "--model", "diag", "--train-volumes", "5")) == 2
    assert re.search(r"error: .*train_volumes \(--train-volumes\) must be in \[1, 2\]", capsys.readouterr().err)
    with pytest.raises(
        ValueError, match=r"train_volumes \(--train-volumes\) must be in \[1, 2\]"
    ):  # --debug: the traceback
        main(["--debug", *train_args(tiny_data, tmp_path / "r2", "--model", "diag", "--train-volumes", "5")])
    with pytest.raises(SystemExit):
        build_parser().parse_args(train_args(tiny_data, tmp_path / "r3", "--model", "resnet"))


def test_ddp_two_processes_match_one_process(tiny_data, tmp_path):
    """torchrun with 2 CPU processes (gloo) sees the same global batches as one process (fixed masks)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = ["--model", "msense", "--acceleration", "2", "--mask-policy", "fixed", "--epochs", "1"]
    base = [str(a) for a in train_args(tiny_data, tmp_path / "one", *args)]
    assert main(base) == 0  # one process: this one (the two ranks below need fresh processes)
    ddp = [a if a != str(tmp_path / "one") else str(tmp_path / "two") for a in base]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "--monitor-interval=0.1", "-m", "monarch_sci.cli", *ddp]  # fmt: skip
    subprocess.run(cmd, check=True, env=env, timeout=120)
    from monarch_sci.operators.mri.msense import MSENSE

    one, two = weights(tmp_path / "one"), weights(tmp_path / "two")
    init = MSENSE((32, 32)).state_dict()
    for k, v in one.items():
        assert torch.allclose(two[k], v, rtol=0, atol=1e-5), k
        assert (v - init[k]).abs().max() > 1e-4, k  # the factors moved: not two untouched initialisations
    record = json.loads((tmp_path / "two" / "record.json").read_text())
    assert record["world_size"] == 2


def test_cli_model_names_match_the_registry():
    from monarch_sci.cli.mri.train import MODEL_NAMES
    from monarch_sci.operators.mri import models as mri_models

    assert MODEL_NAMES == mri_models.MODEL_NAMES


def test_cli_mask_types_match_the_mask_module():
    from monarch_sci.cli.mri.methods import MASK_TYPES
    from monarch_sci.datasets.mri import masks

    assert MASK_TYPES == masks.MASK_TYPES


def test_mri_recon_takes_a_run_folder(tiny_data, msense_run, tmp_path):
    import h5py

    src = sorted(tiny_data.glob("*.h5"))[0]
    assert main(["mri", "recon", "--model", str(msense_run), "--in", str(src), "--out", str(tmp_path / "r.h5")]) == 0
    with h5py.File(tmp_path / "r.h5") as hf:
        assert hf["reconstruction"].shape == (2, 32, 32)
        assert hf.attrs["method"] == "mSENSE[full]"
        assert np.isfinite(hf["reconstruction"][()]).all() and hf["reconstruction"][()].max() > 0


def test_compare_pools_runs_that_differ_only_in_their_seed(tiny_data, msense_run, tmp_path):
    runs = [msense_run]
    for seed in (1, 2):
        runs.append(tmp_path / f"s{seed}")
        assert main(train_args(tiny_data, runs[-1], *MSENSE_ARGS, "--seed", str(seed))) == 0
    other = tmp_path / "other_lr"  # a different learning rate: a different configuration, never pooled
    assert main(train_args(tiny_data, other, *MSENSE_ARGS, "--lr", "3e-3")) == 0
    out = tmp_path / "cmp"
    argv = ["mri", "compare", "--data", str(tiny_data), "--out", str(out), "--accelerations", "2", "--no-progress",
            "--threads", "1", "--methods", "zero_filled_sense", *map(str, runs), str(other)]  # fmt: skip
    assert main(argv) == 0
    result = json.loads((out / "results.json").read_text())
    members = [f"mSENSE[{r.name}]" for r in runs]
    assert result["seed_groups"] == {"mSENSE (3 seeds)": members}
    rows = {r["method"]: r for r in result["summary"]}
    pooled = rows["mSENSE (3 seeds)"]
    per_seed = np.array([rows[m]["psnr"] for m in members])
    assert pooled["seeds"] == 3 and pooled["volumes"] == 3
    np.testing.assert_allclose(pooled["psnr"], per_seed.mean(), rtol=1e-12)
    np.testing.assert_allclose(pooled["psnr_std_seeds"], per_seed.std(), rtol=1e-9)
    per_volume = [r for r in result["per_volume"] if r["method"] in members]
    by_volume = [
        np.mean([r["psnr"] for r in per_volume if r["volume"] == v]) for v in sorted({r["volume"] for r in per_volume})
    ]
    np.testing.assert_allclose(pooled["psnr_std"], np.std(by_volume), rtol=1e-9)
    assert "psnr_std_seeds" not in rows["mSENSE[other_lr]"]
    assert "mSENSE (3 seeds)" in (out / "results.md").read_text()

    assert main([*argv[:5], str(tmp_path / "hidden"), *argv[6:], "--hide-seeds"]) == 0
    hidden = {r["method"] for r in json.loads((tmp_path / "hidden" / "results.json").read_text())["summary"]}
    assert "mSENSE (3 seeds)" in hidden and "mSENSE[other_lr]" in hidden and not hidden & set(members)
