"""Issue 15 items 5 and 6: simulated 3-D acquisitions, 2-D Poisson-disc masks through the training pipeline, and
the realistic protocol (maps from the acquisition's own calibration region, RSS targets)."""

import json

import h5py
import numpy as np
import pytest
import torch

from monarch_sci.cli import main
from monarch_sci.datasets.mri.fastmri import fastmri_rss, inspect_volume, volume_mask
from monarch_sci.datasets.mri.masks import poisson_calib, poisson_mask, poisson_masks_for_volume
from monarch_sci.datasets.mri.simulate import SimulationConfig, simulate_dataset, simulate_volume
from monarch_sci.operators.mri.slice_bank import ReconSlices, acquisition_calib, load_slice_bank
from monarch_sci.operators.mri.training import ReconTrainSpec, train_recon_model

CFG3 = SimulationConfig(
    recon_size=(32, 24), num_coils=4, num_slices=3, oversampling=1, fine_factor=1, seed=7, acquisition="3d"
)


@pytest.fixture(scope="module")
def data3d(tmp_path_factory):
    root = tmp_path_factory.mktemp("sim3d")
    train = simulate_dataset(root / "train", CFG3, 2)
    val = simulate_dataset(root / "val", SimulationConfig(**{**CFG3.__dict__, "seed": 8}), 1)
    return root, train, val


def test_3d_volume_round_trips_through_the_reader(data3d):
    root, train, _ = data3d
    vol = simulate_volume(CFG3, 0)
    info = inspect_volume(train[0], check_data=True)
    assert info.kspace_shape == (3, 4, 32, 24) and info.geometry.recon_size[:2] == (32, 24)
    with h5py.File(train[0], "r") as hf:
        k = np.asarray(hf["kspace"])
        rss = np.asarray(hf["reconstruction_rss"])
        assert hf.attrs["sim_acquisition"] == "3d"
    np.testing.assert_array_equal(k, vol.kspace)
    np.testing.assert_allclose(rss, fastmri_rss(k, (32, 24)), rtol=1e-4)  # (float32 rounding of the gain)
    # the coil sensitivities vary along the readout (the slice axis), smoothly: with 8 readout positions a step
    # between neighbours is at most half the largest change across the slab
    assert vol.maps.shape == (3, 4, 32, 24) and np.abs(vol.maps[1] - vol.maps[0]).max() > 1e-3
    fine = simulate_volume(SimulationConfig(**{**CFG3.__dict__, "num_slices": 8}), 0).maps
    steps = [np.abs(fine[s + 1] - fine[s]).max() for s in range(7)]
    assert max(steps) < 0.5 * max(np.abs(fine[s] - fine[0]).max() for s in range(8))


def test_2d_volumes_are_unchanged_by_the_3d_option():
    cfg = SimulationConfig(recon_size=(16, 16), num_coils=2, num_slices=2, oversampling=1, fine_factor=1, seed=1)
    a, b = simulate_volume(cfg, 0), simulate_volume(SimulationConfig(**{**cfg.__dict__, "acquisition": "2d"}), 0)
    np.testing.assert_array_equal(a.kspace, b.kspace)
    assert a.maps.shape == (2, 16, 16)


def test_3d_config_refuses_readout_oversampling_and_unknown_kinds():
    with pytest.raises(ValueError, match="oversampling must be 1"):
        SimulationConfig(recon_size=(16, 16), acquisition="3d", oversampling=2)
    with pytest.raises(ValueError, match="acquisition must be '2d' or '3d'"):
        SimulationConfig(recon_size=(16, 16), acquisition="radial")


def test_cli_simulate_3d_then_undersample_with_a_2d_poisson_mask(tmp_path):
    out = tmp_path / "sim"
    args = ["mri", "simulate", "--acquisition", "3d", "--volumes", "1", "--slices", "2", "--coils", "2", "--size",
            "32", "--width", "24", "--fine-factor", "1", "--out", str(out), "--no-progress"]  # fmt: skip
    assert main(args) == 0
    f = next(out.glob("*.h5"))
    assert inspect_volume(f).kspace_shape == (2, 2, 32, 24)
    args = ["mri", "undersample", "--in", str(out), "--out", str(tmp_path / "u"), "--mask-type", "poisson",
            "--acceleration", "2", "--mask-policy", "volume", "--no-progress"]  # fmt: skip
    assert main(args) == 0
    g = tmp_path / "u" / f.name
    with h5py.File(g, "r") as hf:
        mask, k = np.asarray(hf["mask"]), np.asarray(hf["kspace"])
        assert int(hf.attrs["num_low_frequency"]) == poisson_calib((32, 24)) == 6
    assert mask.shape == (32, 24)  # one 2-D mask per file, our documented extension
    assert inspect_volume(g, check_data=True).has_mask
    assert volume_mask(mask, k.shape).shape == (2, 32, 24)
    assert mask[13:19, 9:15].all() and abs(mask.size / mask.sum() - 2) < 0.1
    assert (k[:, :, ~mask] == 0).all() and (k[:, :, mask] != 0).all()


def test_poisson_masks_have_the_calibration_square_and_a_seed_policy():
    m = poisson_masks_for_volume((32, 24), 4, 3, calib=8, policy="volume", fname="file_a.h5")
    assert m.shape == (3, 32, 24) and (m == m[0]).all()
    assert m[:, 12:20, 8:16].all() and abs(m[0].size / m[0].sum() - 4) < 0.1
    other = poisson_masks_for_volume((32, 24), 4, 3, calib=8, policy="volume", fname="file_b.h5")
    assert (other[0] != m[0]).any()
    per_slice = poisson_masks_for_volume((32, 24), 4, 3, calib=8, policy="slice", fname="file_a.h5")
    assert (per_slice[1] != per_slice[0]).any()
    with pytest.raises(ValueError, match="needs the volume's file name"):
        poisson_masks_for_volume((32, 24), 4, 3, policy="slice")
    # a tuple seed (fastMRI's per-file seed) is accepted; derived seeds are tried only when asked
    assert poisson_mask((32, 24), 2, calib=6, seed=(1, 2), attempts=20).shape == (32, 24)


def test_acquisition_calib_uses_only_acquired_data():
    assert acquisition_calib((64, 64), 4) == 5 and acquisition_calib((64, 64), 2) == 10
    assert acquisition_calib((64, 48), 2, "poisson") == acquisition_calib((64, 48), 4, "poisson") == 12
    assert acquisition_calib((64, 64), 4, maps="oracle") == 10
    with pytest.raises(ValueError, match="exceeds the 5 fully sampled centre columns"):
        acquisition_calib((64, 64), 4, calib=10)
    with pytest.raises(ValueError, match=r"calibration block must be 5\.\.32"):
        acquisition_calib((32, 32), 8)


def test_rss_target_and_poisson_samples(data3d):
    root, train, _ = data3d
    bank = load_slice_bank(root / "train", calib=6)
    assert bank.target_kind == "rss" and not bank.target.is_complex()
    with h5py.File(train[1], "r") as hf:
        rss = np.asarray(hf["reconstruction_rss"])
    np.testing.assert_allclose(bank.target[3:].numpy(), rss, rtol=1e-4, atol=1e-6 * rss.max())
    ds = ReconSlices(bank, accel=2, mask_policy="volume", mask_type="poisson")
    s0, s1, s3 = ds[0], ds[1], ds[3]
    assert s0["mask"].shape == (1, 32, 24)
    assert torch.equal(s0["mask"], s1["mask"]) and not torch.equal(s0["mask"], s3["mask"])  # one per volume
    assert s0["mask"][0, 13:19, 9:15].all()  # the calibration square the maps came from
    assert (s0["kspace"][:, s0["mask"][0] == 0] == 0).all()
    train_ds = ReconSlices(bank, accel=2, mask_policy="volume", mask_type="poisson", train=True)
    torch.manual_seed(0)
    draws = [train_ds[0]["mask"] for _ in range(4)]
    assert any(not torch.equal(draws[0], d) for d in draws[1:])  # fresh masks in training
    sense = load_slice_bank(root / "train", calib=6, target="sense")
    assert sense.target.is_complex() and sense.target_kind == "sense"


@pytest.mark.parametrize(
    "model,hparams",
    [
        ("msense", {}),
        ("diag", {}),
        ("unrolled", {"fourier": "fft", "cascades": 1, "channels": 4, "layers": 2}),
        ("unrolled", {"fourier": "monarch", "cascades": 1, "channels": 4, "layers": 2}),
    ],
)
def test_one_epoch_with_poisson_masks(data3d, tmp_path, model, hparams):
    root, _, _ = data3d
    spec = ReconTrainSpec(data=root / "train", val=root / "val", model=model, hparams=hparams, acceleration=4,
                          mask_type="poisson", mask_policy="volume", epochs=1, batch_size=2, progress=False,
                          threads=1, cache_dir=tmp_path / "cache")  # fmt: skip
    summary = train_recon_model(spec, tmp_path / "run")
    assert summary["status"] == "finished" and np.isfinite(summary["history"][0]["val_psnr"])
    record = json.loads((tmp_path / "run" / "record.json").read_text())
    assert record["task"]["mask_type"] == "poisson" and record["task"]["mask_calib"] == 6
    assert record["task"]["maps"] == "acs" and record["task"]["target"] == "rss"
    assert record["coil_maps"]["calib"] == 6  # maps from the masks' own calibration square
    from monarch_sci.operators.mri.runs import evaluate_run

    test_bank = load_slice_bank(root / "val", calib=6)
    m = evaluate_run(tmp_path / "run", test_bank, accel=4, mask_policy="volume")
    assert np.isfinite(m["psnr"]).all() and m["pred"].shape == (3, 32, 24)


def test_spec_checks_the_protocol_fields():
    with pytest.raises(ValueError, match=r"mask_type \(--mask-type\) must be one of"):
        ReconTrainSpec(data="d", model="msense", mask_type="radial")
    with pytest.raises(ValueError, match=r"maps \(--maps\) must be one of"):
        ReconTrainSpec(data="d", model="msense", maps="fully-sampled")
    with pytest.raises(ValueError, match=r"model .varnet.*needs a line mask_type"):
        ReconTrainSpec(data="d", model="varnet", mask_type="poisson")
    with pytest.raises(ValueError, match=r"precision \(--precision\) must be 'fp32' or 'bf16', got 'fp16'"):
        ReconTrainSpec(data="d", model="msense", precision="fp16")


def test_cli_train_with_poisson_masks(data3d, tmp_path):
    root, _, _ = data3d
    args = ["mri", "train", "--data", str(root / "train"), "--val", str(root / "val"), "--out", str(tmp_path / "r"),
            "--model", "diag", "--mask-type", "poisson", "--mask-policy", "volume", "--acceleration", "2",
            "--epochs", "1", "--batch-size", "2", "--no-progress", "--threads", "1"]  # fmt: skip
    assert main(args) == 0
    assert json.loads((tmp_path / "r" / "record.json").read_text())["task"]["mask_type"] == "poisson"
