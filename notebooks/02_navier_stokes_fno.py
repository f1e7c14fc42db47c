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
# # 02 · Navier–Stokes with an FFT FNO and a Monarch FNO
#
# The Fourier neural operator (FNO) learns the map "last `t_in` vorticity snapshots → next snapshot" of 2-D
# Navier–Stokes on the torus. Each of its four Fourier layers truncated-FFTs the field, mixes the kept modes
# with learned weights and transforms back. The Monarch FNO replaces every one of those transforms by a
# learnable Monarch matrix (`MonarchDFT`) that *starts* as the exact truncated DFT — so both models are the
# same function at initialisation — and is then free to learn. This notebook
#
# 1. generates a small data set with the toolkit's pseudo-spectral solver and looks at the vorticity,
# 2. trains both models with the shared trainer on the same data, split, seed and budget,
# 3. compares the relative L2 error at every predicted time step and looks at predictions,
# 4. measures how far the learned Monarch transforms moved away from the DFT.
#
# `monarch-sci ns generate` and `monarch-sci pde compare` run the same steps at benchmark size from the
# command line. Set `MONARCH_NB_SIZE=tiny` for a seconds-long run (the tests do), `small` (default) for a few
# minutes on a laptop CPU; everything is written under `MONARCH_NB_WORKDIR` (default `./nb_work`).

# %%
import copy
import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from _size import pick

from monarch_sci.datasets.pde import NavierStokesDataset, NSGenerationConfig, generate_store, read_ns_frames
from monarch_sci.metrics import relative_l2_per_sample
from monarch_sci.operators.pde.fno import FNO2d, count_parameters
from monarch_sci.operators.pde.fourier_modes import MonarchModes
from monarch_sci.operators.pde.tasks import ForecastModel, ForecastTask, ForecastWindows
from monarch_sci.training.trainer import TrainConfig, Trainer, seed_everything

WORK = Path(os.environ.get("MONARCH_NB_WORKDIR", "nb_work")) / "02_navier_stokes_fno"
WORK.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## 1 · Data
# The FNO benchmark's setting at viscosity `ν = 1e-3`: the initial vorticity is a Gaussian random field, the
# forcing is `0.1·(sin 2π(x₁+x₂) + cos 2π(x₁+x₂))`, one snapshot per time unit. We solve on a grid twice as
# fine as the one we store (and subsample), as the original generator does. Sample `i` depends only on
# `(seed, i)`, and the store remembers every parameter: rerunning this cell reuses a finished file and refuses
# one made with other settings.

# %%
t_in, t_out = pick(4, 10), pick(4, 10)
n_train, n_val, n_test = pick(8, 100), pick(2, 10), pick(2, 10)
cfg = NSGenerationConfig(
    n=n_train + n_val + n_test,
    visc=1e-3,
    T=float(pick(4, t_in + t_out)),
    record=t_in + t_out,
    resolution=pick(16, 32),
    gen_resolution=pick(32, 64),
    dt=0.02,
    batch=pick(12, 60),
    seed=0,
)
t0 = time.perf_counter()
store = generate_store(cfg, WORK / f"ns_{cfg.resolution}.h5", progress=False)
seconds = time.perf_counter() - t0
print(f"{store.name}: {cfg.n} trajectories of {cfg.record} snapshots on {cfg.resolution}² ({seconds:.1f} s)")

# %%
u = read_ns_frames(store, indices=range(2), include_initial=True)  # (N, s, s, frames), frame 0 = initial field
frames = [0, cfg.record // 4, cfg.record // 2, cfg.record]
fig, ax = plt.subplots(2, len(frames), figsize=(2.6 * len(frames), 5.2))
for i in range(2):
    vmax = u[i].abs().max().item()
    for j, f in enumerate(frames):
        ax[i, j].imshow(u[i, :, :, f], cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        ax[i, j].set_title(f"sample {i}, t = {f * cfg.T / cfg.record:g}")
        ax[i, j].set_axis_off()
plt.tight_layout()
plt.show()

# %% [markdown]
# The forcing drives the flow toward its diagonal pattern while the small vortices of the random initial
# field merge and decay. The learning problem: given `t_in` consecutive snapshots, predict the next `t_out`
# by rolling the one-step model out (each prediction is fed back into the input window). The split is by
# trajectory: the first `n_train` train, the next `n_val` validate (logged every epoch), the last `n_test` test.


# %%
def windows(indices):
    ds = NavierStokesDataset(store, t_in=t_in, t_out=t_out, indices=indices)
    x, y = ds.tensors()
    ds.close()
    return ForecastWindows(x, y, kind="fno2d")


train_set = windows(range(n_train))
val_set = windows(range(n_train, n_train + n_val))
test_set = windows(range(n_train + n_val, cfg.n))
print("train input", tuple(train_set.x.shape), "target", tuple(train_set.y.shape), "| test", len(test_set))

# %% [markdown]
# ## 2 · Two FNOs, one budget
# Same architecture (modes, width, four layers), same seed, same optimiser; the only difference is
# `fourier="fft"` or `fourier="monarch"`. At initialisation the two compute the same function (up to
# float32 rounding) — checked below before training. The Monarch factors add parameters (two complex
# block-diagonal matrices per axis, direction and layer).

# %%
modes, width = pick(4, 8), pick(12, 20)
s = cfg.resolution
task = ForecastTask("fno2d")
train_cfg = TrainConfig(
    epochs=pick(5, 10), batch_size=pick(2, 10), lr=3e-3, step_size=pick(5, 4), gamma=0.5, progress=False
)


def build(transform):
    seed_everything(0)
    fno = FNO2d(modes, modes, width, t_in=t_in, size=(s, s), fourier=transform)
    return ForecastModel(fno, t_out)


models = {t: build(t) for t in ("fft", "monarch")}
with torch.no_grad():
    x0 = test_set.x[:2]
    gap = (models["fft"](x0) - models["monarch"](x0)).abs().max().item()
print(f"at initialisation: max |FFT FNO - Monarch FNO| over a {t_out}-step rollout = {gap:.1e}")
for t, m in models.items():
    print(f"{t:8s} parameters: {count_parameters(m):,}")

# %%
histories = {}
for t, m in models.items():
    t0 = time.perf_counter()
    trainer = Trainer(m, task, train_set, val_set, train_cfg, out=WORK / f"run_{t}", record={"notebook": "02"})
    histories[t] = trainer.fit()["history"]
    print(
        f"{t:8s} {train_cfg.epochs} epochs in {time.perf_counter() - t0:.1f} s, last val rel. L2 "
        f"{histories[t][-1]['val_rel_l2']:.4f}"
    )

fig, ax = plt.subplots(figsize=(5, 3.5))
for t, h in histories.items():
    ax.semilogy([e["epoch"] for e in h], [e["train_loss"] / t_out for e in h], "--", label=f"{t} train")
    ax.semilogy([e["epoch"] for e in h], [e["val_rel_l2"] for e in h], "o-", label=f"{t} val")
ax.set_xlabel("epoch")
ax.set_ylabel("relative L2 (per step)")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 3 · Errors over time and predictions
# The benchmark's metric: the relative L2 error `‖û − u‖₂ / ‖u‖₂` per sample (`monarch_sci.metrics`), over the
# whole rolled-out trajectory, and per predicted step. Errors grow with the rollout since every step feeds on
# the model's own previous predictions. (The last epoch's weights are used; `monarch-sci pde compare` reloads
# the best validation checkpoint and averages over several seeds — with these few samples and epochs, one
# seed is only an illustration, not a verdict.)

# %%
preds = {}
with torch.no_grad():
    for t, m in models.items():
        m.eval()
        preds[t], true = task.predict(m, test_set)
for t, p in preds.items():
    whole = relative_l2_per_sample(p, true).mean().item()
    print(f"{t:8s} test relative L2 over the trajectory: {whole:.4f}")

fig, ax = plt.subplots(figsize=(5, 3.5))
steps = range(1, t_out + 1)
for t, p in preds.items():
    ax.plot(steps, relative_l2_per_sample(p, true, dims=(1, 2)).mean(0), "o-", label=t)
ax.set_xlabel("predicted step")
ax.set_ylabel("test relative L2")
ax.legend()
plt.tight_layout()
plt.show()

# %%
shown = [0, t_out // 2, t_out - 1]
rows = {"truth": true[0], **{f"{t} FNO": p[0] for t, p in preds.items()}}
rows.update({f"|{t} - truth|": (p[0] - true[0]).abs() for t, p in preds.items()})
vmax = true[0].abs().max().item()
fig, ax = plt.subplots(len(rows), len(shown), figsize=(2.6 * len(shown), 2.5 * len(rows)))
for i, (name, field) in enumerate(rows.items()):
    for j, k in enumerate(shown):
        err = name.startswith("|")
        ax[i, j].imshow(field[..., k], cmap="magma" if err else "RdBu_r", vmin=0 if err else -vmax, vmax=vmax)
        ax[i, j].set_title(f"{name}, step {k + 1}", fontsize=9)
        ax[i, j].set_axis_off()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 4 · What did the Monarch transforms learn?
# Each Fourier layer of the Monarch FNO holds a `MonarchModes`: per axis a forward `MonarchDFT` (field → kept
# modes) and an inverse one (kept modes → field), whose factors were initialised to the exact truncated DFT.
# We copy each learned `MonarchDFT` and reset the copy to the exact transform it started from (its
# `reset_parameters`), then measure the relative
# Frobenius distance `‖M_learned − M_DFT‖_F / ‖M_DFT‖_F` of the dense matrices. Zero means "still the DFT";
# anything else is what training made of the freedom it was given. How far they may move is set by the
# factors' own learning rate and weight decay (`TrainConfig.factor_lr` / `factor_weight_decay`, `--factor-lr`
# on the command line; by default the same as the other weights).


# %%
def dense_pair(op):
    """``(learned, exact)`` dense matrices of ``op`` and of the exact (truncated, weighted) DFT it started from."""
    exact = copy.deepcopy(op)
    exact.reset_parameters()
    with torch.no_grad():
        return op.to_dense().to(torch.complex128), exact.to_dense().to(torch.complex128)


def distance(op):
    learned, exact = dense_pair(op)
    return ((learned - exact).norm() / exact.norm()).item()


layers = [conv.fourier for conv in models["monarch"].fno.convs]
assert all(isinstance(tr, MonarchModes) for tr in layers)
labels = [f"{d} axis {a}" for d in ("forward", "inverse") for a in ("x", "y (half)")]
dist = torch.tensor([[distance(op) for op in (*tr.fwd, *tr.inv)] for tr in layers])  # (layer, 4)
print(f"{'layer':>5} " + " ".join(f"{lab:>16}" for lab in labels))
for i, row in enumerate(dist):
    print(f"{i + 1:5d} " + " ".join(f"{v:16.4f}" for v in row))
fresh = build("monarch").fno.convs[0].fourier
print("sanity check, an untrained layer:", max(distance(op) for op in (*fresh.fwd, *fresh.inv)))

fig, ax = plt.subplots(figsize=(6, 3.5))
w = 0.2
for j, lab in enumerate(labels):
    ax.bar(torch.arange(len(layers)) + (j - 1.5) * w, dist[:, j], width=w, label=lab)
ax.set_xticks(range(len(layers)), [f"layer {i + 1}" for i in range(len(layers))])
ax.set_ylabel("‖M − DFT‖_F / ‖DFT‖_F")
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# And the matrices themselves: the real part of the learned forward transform along `x` of the first layer
# (rows: the `2·modes` kept frequencies; columns: grid points) next to the exact truncated DFT and their
# difference.

# %%
op = layers[0].fwd[0]
learned, exact = dense_pair(op)
fig, ax = plt.subplots(1, 3, figsize=(10, 3))
for a, mat, title in zip(ax, [exact, learned, learned - exact], ["exact DFT rows", "learned", "learned − exact"]):
    im = a.imshow(mat.real, cmap="RdBu", aspect="auto")
    a.set_title(f"Re {title}")
    plt.colorbar(im, ax=a)
plt.tight_layout()
plt.show()
