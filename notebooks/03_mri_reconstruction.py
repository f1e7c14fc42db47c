# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · Multi-coil MRI: SENSE, mSENSE and an unrolled network
#
# An MRI scanner measures the Fourier transform of the image, one k-space line (phase-encode column) at a
# time, through several receiver coils that each see the object weighted by their sensitivity `S_c`.
# Skipping lines makes the scan faster and the inverse problem harder:
# `y_c = M F (S_c x) + noise`, with the line mask `M` and the centred orthonormal 2-D DFT `F`. This notebook
#
# 1. simulates fastMRI-format files (there is no public raw data to download here) and reads them back with
#    the fastMRI reader,
# 2. undersamples them with fastMRI line masks and estimates coil maps with ESPIRiT,
# 3. reconstructs with the classical methods (zero-filled, CG-SENSE, ℓ1-wavelet),
# 4. trains mSENSE (SENSE with a learnable Monarch inverse Fourier transform) and an unrolled network with
#    an FFT or a Monarch Fourier transform — briefly: this is a tour, not a benchmark,
# 5. compares images, error maps and the fastMRI metrics (NMSE, PSNR, SSIM).
#
# The same steps at scale: `monarch-sci mri simulate | train | recon | compare`. Set `MONARCH_NB_SIZE=tiny`
# for a seconds-long run (the tests do), `small` (default) for a few minutes on a laptop CPU; files go under
# `MONARCH_NB_WORKDIR` (default `./nb_work`).

# %%
import os
import time
from dataclasses import replace
from pathlib import Path

import h5py
import matplotlib.pyplot as plt
import numpy as np
import torch
from _size import pick

from monarch_sci.datasets.mri.fastmri import FastMRISliceDataset, center_crop, fastmri_rss, inspect_volume
from monarch_sci.datasets.mri.masks import LineMaskFunc, apply_line_mask, line_masks_for_volume, poisson_mask
from monarch_sci.datasets.mri.simulate import SimulationConfig, simulate_dataset
from monarch_sci.fourier import ifft2c
from monarch_sci.metrics import nmse, psnr, ssim
from monarch_sci.operators.mri.classical import CLASSICAL_METHODS, ReconProblem, cg_sense
from monarch_sci.operators.mri.models import build_model, model_label
from monarch_sci.operators.mri.recon_task import ReconTask
from monarch_sci.operators.mri.slice_bank import ReconSlices, load_slice_bank
from monarch_sci.training.trainer import TrainConfig, Trainer, seed_everything

WORK = Path(os.environ.get("MONARCH_NB_WORKDIR", "nb_work")) / "03_mri_reconstruction"
WORK.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## 1 · A fastMRI file
# The simulator makes knee-like volumes (augmented anatomy, smooth phase, birdcage coil sensitivities,
# correlated noise), computed on a finer grid than the stored k-space so that no reconstruction can invert
# the simulation exactly. It writes the fastMRI HDF5 layout: `kspace` `(slices, coils, H, W)`, the
# `reconstruction_rss` target, the ISMRMRD XML header and the attributes. Real fastMRI data oversamples the
# readout twice (`H = 2h`); we use `oversampling=1` to keep the files small (the reader and `ReconProblem`
# handle both). Training volumes and the test volume come from different seeds.

# %%
n = pick(32, 64)
cfg = SimulationConfig(recon_size=(n, n), num_coils=pick(4, 8), num_slices=pick(2, 4), oversampling=1, seed=0)
t0 = time.perf_counter()
train_files = simulate_dataset(WORK / "train", cfg, pick(3, 5))
test_file = simulate_dataset(WORK / "test", replace(cfg, seed=1), 1)[0]
print(f"simulated {len(train_files)} training volumes and {test_file.name} in {time.perf_counter() - t0:.1f} s")

ds = FastMRISliceDataset(WORK / "test")
sample = ds[len(ds) // 2]
attrs = sample["attrs"]
print("kspace", sample["kspace"].shape, sample["kspace"].dtype, "| target", sample["target"].shape)
print({k: attrs[k] for k in ("acquisition", "encoding_size", "recon_size", "padding_left", "padding_right")})

# %% [markdown]
# The target is fastMRI's: the root-sum-of-squares of the coil images of the fully sampled k-space, cropped to
# the recon size. Each coil sees a different part of the object; that spatial encoding is what lets SENSE
# fill in skipped k-space lines.

# %%
k = sample["kspace"]
coil_images = ifft2c(k)
rss = fastmri_rss(k, attrs["recon_size"][:2])
print("our RSS equals the stored target:", np.allclose(rss, sample["target"], rtol=1e-5, atol=1e-7))

ncoil = min(4, k.shape[0])
fig, ax = plt.subplots(1, ncoil + 2, figsize=(2.4 * (ncoil + 2), 2.6))
ax[0].imshow(np.log1p(np.abs(k[0]) / np.abs(k[0]).mean()), cmap="gray")
ax[0].set_title("log |k|, coil 1")
for c in range(ncoil):
    ax[c + 1].imshow(np.abs(coil_images[c]), cmap="gray")
    ax[c + 1].set_title(f"coil {c + 1}")
ax[-1].imshow(sample["target"], cmap="gray")
ax[-1].set_title("target (RSS)")
for a in ax:
    a.set_axis_off()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 2 · Undersampling masks
# fastMRI line masks keep a fully sampled centre (the auto-calibration signal, ACS, `8%` of the columns at 4×,
# `16%` at 2×) and either random or equispaced other columns, with the same random draws as fastMRI's own
# mask functions. A 2-D Poisson-disc mask (for 3-D acquisitions with two phase-encode axes) is shown for
# comparison; the reconstructions below use random line masks, one per slice, seeded by the file name and
# slice (fastMRI's evaluation seeding).

# %%
W = k.shape[-1]
examples = {
    "random 4×": LineMaskFunc("random", [4])(W, seed=0),
    "equispaced 4×": LineMaskFunc("equispaced_fraction", [4])(W, seed=0),
}
fig, ax = plt.subplots(1, 3, figsize=(9, 3))
for a, (name, m) in zip(ax, examples.items()):
    a.imshow(np.broadcast_to(m.mask, (k.shape[-2], W)), cmap="gray")
    a.set_title(f"{name}: {m.effective_acceleration:.1f}× eff.")
pm = poisson_mask((k.shape[-2], W), 4, calib=max(4, W // 8), seed=0)
ax[2].imshow(pm, cmap="gray")
ax[2].set_title(f"Poisson disc: {pm.size / pm.sum():.1f}×")
for a in ax:
    a.set_axis_off()
plt.tight_layout()
plt.show()

# %%
accel = pick(2, 4)  # the tiny 32-column images have too few ACS lines at 4× for ESPIRiT
info = inspect_volume(test_file)
with h5py.File(test_file, "r") as hf:
    kspace_full = np.asarray(hf["kspace"])
    truth = np.asarray(hf["reconstruction_rss"])
g = info.geometry
masks = line_masks_for_volume(LineMaskFunc("random", [accel]), W, info.num_slices, policy="slice", fname=info.name)
kspace, masks = apply_line_mask(kspace_full, masks, padding=(g.padding_left, g.padding_right))
print(f"{accel}× random line masks: sampled fraction per slice {masks.mean(axis=1).round(3)}")

# %% [markdown]
# ## 3 · Coil maps and classical reconstructions
# `ReconProblem` holds one undersampled volume; on first use it estimates ESPIRiT coil maps from each slice's
# own ACS (sigpy), normalised so that `Σ_c |S_c|² = 1` on the object and zero outside it. The classical
# methods then are
#
# * **zero-filled RSS**: `sqrt(Σ_c |F⁻¹ M y_c|²)` — fastMRI's baseline, aliased along the skipped axis;
# * **zero-filled SENSE**: the coil-combined adjoint `Aᴴ y = Σ_c S̄_c F⁻¹ M y_c`;
# * **CG-SENSE**: `(AᴴA + λI) x = Aᴴ y` by batched conjugate gradient on the SENSE operator `A = M F S`;
# * **ℓ1-wavelet**: sparsity-regularised SENSE (sigpy).

# %%
problem = ReconProblem(kspace.astype(np.complex64), masks, recon_height=g.recon_size[0])
maps = problem.coil_maps()
print(f"ESPIRiT maps {maps.shape} in {problem.maps_seconds:.1f} s")
mid = info.num_slices // 2
fig, ax = plt.subplots(1, ncoil + 1, figsize=(2.4 * (ncoil + 1), 2.6))
for c in range(ncoil):
    ax[c].imshow(np.abs(maps[mid, c]), cmap="viridis", vmin=0, vmax=1)
    ax[c].set_title(f"|S_{c + 1}|")
ax[-1].imshow((np.abs(maps[mid]) ** 2).sum(0), cmap="viridis", vmin=0, vmax=1.05)
ax[-1].set_title("Σ|S_c|²")
for a in ax:
    a.set_axis_off()
plt.tight_layout()
plt.show()

k_t, maps_t, mask_t = problem.tensors()
_, cg = cg_sense(k_t, maps_t, mask_t, max_iter=30)
print(f"CG-SENSE: {cg.iterations} iterations, relative residual per slice {cg.residual.numpy().round(6)}")


# %%
def magnitude(images):
    """Magnitudes cropped to the recon size: what the fastMRI metrics compare."""
    return center_crop(np.abs(np.asarray(images)), g.recon_size[:2]).astype(np.float32)


recons, seconds = {}, {}
for name in ("zero_filled_rss", "zero_filled_sense", "cg_sense", "l1_wavelet"):
    t0 = time.perf_counter()
    recons[name] = magnitude(CLASSICAL_METHODS[name](problem))
    seconds[name] = (time.perf_counter() - t0) / info.num_slices

# %% [markdown]
# ## 4 · Learned reconstructions
# Training data: every slice of the training volumes, with ESPIRiT maps from the fully sampled centre and
# the fully sampled SENSE image `Sᴴ F⁻¹ y` as the target (`load_slice_bank`); a fresh random mask at the same
# acceleration for every training sample, the file/slice-seeded masks for validation (`ReconSlices`). The last
# training volume validates (it picks nothing here but is logged). All models train with the shared trainer
# (Adam, the same loop as the FNOs) on the relative squared error.
#
# * **mSENSE** — zero-filled SENSE whose inverse Fourier transform is a learnable Monarch matrix per axis,
#   initialised to the exact inverse FFT: before training it *is* zero-filled SENSE;
# * **unrolled-FFT / unrolled-Monarch** — a CG-SENSE warm start, then a few cascades of
#   `x ← x − η_k Aᴴ(A x − y) + R_θ(x)` with a small shared CNN `R_θ`; in the Monarch variant `F` inside `A`
#   is a learnable Monarch DFT (exact at initialisation).

# %%
bank = load_slice_bank(WORK / "train")
train_bank, val_bank = bank.subset(range(len(bank.names) - 1)), bank.subset([len(bank.names) - 1])
train_set = ReconSlices(train_bank, accel=accel, mask_policy="slice", train=True)
val_set = ReconSlices(val_bank, accel=accel, mask_policy="slice")
print(f"{len(train_set)} training slices, {len(val_set)} validation slices, k-space {bank.shape}")

unrolled = {"cascades": pick(2, 4), "channels": pick(8, 16), "layers": 3}
specs = {
    "msense": ("msense", {}),
    "unrolled_fft": ("unrolled", {"fourier": "fft", **unrolled}),
    "unrolled_monarch": ("unrolled", {"fourier": "monarch", **unrolled}),
}
# The Monarch factors (parameters named r_blocks / l_blocks) get their own, smaller learning rate: they start
# at the exact Fourier transform, and large steps away from it cost data consistency before they help.
train_cfg = TrainConfig(epochs=pick(2, 10), batch_size=2, lr=2e-3, factor_lr=3e-4, step_size=100, progress=False)
models, histories = {}, {}
for key, (name, hp) in specs.items():
    seed_everything(0)
    model = build_model(name, bank.shape, **hp)
    t0 = time.perf_counter()
    trainer = Trainer(model, ReconTask(), train_set, val_set, train_cfg, out=WORK / f"run_{key}")
    histories[key] = trainer.fit()["history"]
    models[key] = model.eval()
    h = histories[key]
    print(
        f"{model_label(name, hp):18s} {train_cfg.epochs} epochs in {time.perf_counter() - t0:5.1f} s; "
        f"val PSNR {h[0]['val_psnr']:.2f} → {h[-1]['val_psnr']:.2f} dB"
    )

fig, ax = plt.subplots(figsize=(5, 3.5))
for key, h in histories.items():
    ax.plot([e["epoch"] for e in h], [e["val_psnr"] for e in h], "o-", label=key)
ax.set_xlabel("epoch")
ax.set_ylabel("validation PSNR (dB)")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# The trained models reconstruct the test volume from the same undersampled k-space and the same ESPIRiT maps
# (estimated from the acquisition's own ACS) as the classical methods — as `monarch-sci mri compare` does.

# %%
with torch.no_grad():
    for key, model in models.items():
        t0 = time.perf_counter()
        recons[key] = magnitude(model(k_t, mask_t, maps_t))
        seconds[key] = (time.perf_counter() - t0) / info.num_slices

# %% [markdown]
# ## 5 · Images, error maps and metrics
# The fastMRI metrics per volume, against the `reconstruction_rss` target: NMSE `‖gt − x̂‖²/‖gt‖²`, PSNR with
# the target's maximum as peak, and SSIM (7×7 window, mean over slices), from `monarch_sci.metrics`.

# %%
vmax = float(truth[mid].max())
names = list(recons)
fig, ax = plt.subplots(2, len(names) + 1, figsize=(2.3 * (len(names) + 1), 4.8))
ax[0, 0].imshow(truth[mid], cmap="gray", vmin=0, vmax=vmax)
ax[0, 0].set_title("target", fontsize=9)
ax[1, 0].imshow(masks[mid][None].repeat(truth.shape[-2], 0), cmap="gray")
ax[1, 0].set_title(f"mask ({accel}×)", fontsize=9)
for j, name in enumerate(names, start=1):
    ax[0, j].imshow(recons[name][mid], cmap="gray", vmin=0, vmax=vmax)
    ax[0, j].set_title(name, fontsize=9)
    ax[1, j].imshow(np.abs(recons[name][mid] - truth[mid]), cmap="magma", vmin=0, vmax=vmax / 4)
    ax[1, j].set_title("|error|", fontsize=9)
for a in ax.flat:
    a.set_axis_off()
plt.tight_layout()
plt.show()

# %%
print(f"test volume {info.name}, {accel}× random line masks, {info.num_slices} slices")
print(f"| {'method':18s} | {'NMSE':>7} | {'PSNR dB':>7} | {'SSIM':>6} | {'s / slice':>9} |")
print(f"|{'-' * 20}|{'-' * 9}|{'-' * 9}|{'-' * 8}|{'-' * 11}|")
for name, img in recons.items():
    row = (nmse(truth, img), psnr(truth, img), ssim(truth, img), seconds[name])
    print(f"| {name:18s} | {row[0]:7.4f} | {row[1]:7.2f} | {row[2]:6.4f} | {row[3]:9.3f} |")

# %% [markdown]
# With a few training slices and epochs the learned models are only just past their initialisation (mSENSE
# starts as zero-filled SENSE, the unrolled networks as CG-SENSE plus data-consistency steps), so do not read a
# ranking into this table. `monarch-sci mri train` / `mri compare` run the real study: more volumes, more
# epochs, several seeds, both accelerations.

# %% [markdown]
# ## 6 · Your own scan: a NumPy array in, images out
# A scan from another pipeline arrives as an array. Here we fake one from the test volume: one slice of its
# k-space, `(coils, H, W)`, undersampled with a 2-D variable-density Poisson-disc pattern in the phase-encode
# plane (as a 3-D Cartesian acquisition would be), saved as `.npy` — the unsampled points are exact zeros and
# no mask is saved beside it. Three commands take it from there:
#
# ```bash
# monarch-sci mri import scan.npy --out scan.h5            # our fastMRI-layout file; the pattern is inferred
# monarch-sci mri recon --model cg_sense --in scan.h5 --out scan_cg.h5 --png
# monarch-sci mri recon --model l1_wavelet --in scan.h5 --out scan_l1.h5 --png
# ```
#
# `mri import` also reads `.npz`, BART `.cfl/.hdr` and ISMRMRD raw HDF5 files (`--layout` names the axes of a
# NumPy array, `--mask` gives an explicit mask; ISMRMRD acquisitions are placed by their encoding counters); a
# trained run folder works as `--model` too. Every command writes a JSON record beside its output: the inferred
# sampling pattern, the regularisation (`--lam`; for ℓ1 sigpy's λ, or `--lam-rel`) and the iterations run.

# %%
import json  # noqa: E402

from monarch_sci.cli import main as monarch_sci_main  # noqa: E402  (the `monarch-sci` entry point)

with h5py.File(test_file, "r") as hf:
    full = np.asarray(hf["kspace"][hf["kspace"].shape[0] // 2])  # (coils, H, W)
pattern = poisson_mask(full.shape[-2:], 3.0, seed=0, calib=(8, 8))
np.save(WORK / "scan.npy", (full * pattern).astype(np.complex64))
print(f"scan.npy: {full.shape}, {pattern.mean():.0%} of k-space sampled (2-D Poisson disc)")


def monarch_sci(*args: str) -> None:
    """Run one `monarch-sci` command in this kernel (the code typing it in a shell runs) and stop on an error."""
    status = monarch_sci_main(list(args))
    if status != 0:
        raise RuntimeError(f"monarch-sci {' '.join(args)} exited with status {status} (its message is above)")


monarch_sci("mri", "import", str(WORK / "scan.npy"), "--out", str(WORK / "scan.h5"))
for method in ("zero_filled_sense", "cg_sense", "l1_wavelet"):
    monarch_sci("mri", "recon", "--model", method, "--in", str(WORK / "scan.h5"),
                "--out", str(WORK / f"scan_{method}.h5"), "--png", "--no-progress")  # fmt: skip
record = json.loads((WORK / "scan_cg_sense.json").read_text())
print(
    {k: record[k] for k in ("sampling", "mask_pattern", "sampled_fraction", "settings", "convergence") if k in record}
)

fig, ax = plt.subplots(1, 3, figsize=(8, 2.9))
for a, method in zip(ax, ("zero_filled_sense", "cg_sense", "l1_wavelet")):
    png = sorted((WORK / f"scan_{method}_png").glob("*.png"))[0]
    a.imshow(plt.imread(png))
    a.set_title(method)
    a.set_axis_off()
plt.tight_layout()
plt.show()
