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
# # 01 · Monarch basics
#
# A Monarch matrix is `M = Pᵀ L P R`: two block-diagonal factors between fixed reshape–transpose
# permutations. Stored as `r_blocks` `(k, q, p)` and `l_blocks` `(l, s, r)`, it costs `O(n^1.5)` instead of
# `O(n²)` and runs as two batched matrix products. This notebook shows
#
# 1. what the factors look like as a dense matrix,
# 2. that the DFT of any composite size is *exactly* one Monarch matrix (after an input permutation),
# 3. the closed-form projection of a dense matrix onto Monarch matrices (`MonarchLinear.from_linear`),
# 4. speed against a dense matmul and `torch.fft`.
#
# Set `MONARCH_NB_SIZE=tiny` for a seconds-long run (the tests do), `small` (default) for the real thing.

# %%
import time

import matplotlib.pyplot as plt
import torch
from _size import pick

from monarch_sci import monarch_multiply, monarch_to_dense, plan_monarch
from monarch_sci.dft import MonarchDFT
from monarch_sci.monarch_linear import MonarchLinear
from monarch_sci.projection import project

torch.manual_seed(0)

# %% [markdown]
# ## 1 · The factors and the matrix
# For `n = 16` the plan is 4 blocks of 4×4 in both factors. Each 4×4 sub-block of `M` (after permuting rows)
# is the outer product of a column of one `L` block and a row of one `R` block — rank one.

# %%
plan = plan_monarch(16)
print(plan, "parameters:", plan.num_params, "vs dense:", 16 * 16)
r = torch.randn(plan.r_shape, dtype=torch.float64)
l = torch.randn(plan.l_shape, dtype=torch.float64)
M = monarch_to_dense(r, l)
x = torch.randn(16, dtype=torch.float64)
print("fast multiply == dense matmul:", torch.allclose(monarch_multiply(x, r, l), M @ x))

fig, ax = plt.subplots(1, 3, figsize=(10, 3.2))
ax[0].imshow(torch.block_diag(*r).abs(), cmap="magma")
ax[0].set_title("R (block-diagonal)")
ax[1].imshow(torch.block_diag(*l).abs(), cmap="magma")
ax[1].set_title("L (block-diagonal)")
ax[2].imshow(M.abs(), cmap="magma")
ax[2].set_title("M = Pᵀ L P R (dense)")
for a in ax:
    a.set_axis_off()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 2 · The DFT is one Monarch matrix
# Cooley–Tukey with the twiddle factors folded into `R`: `MonarchDFT` is initialised to the exact DFT (any
# `norm`, also the centred MRI transform), and can keep only some frequencies (a rectangular Monarch, fewer
# FLOPs) — what an FNO layer needs.

# %%
for n in pick([48, 64], [48, 64, 100, 320, 640]):
    F = MonarchDFT(n, norm="ortho", dtype=torch.complex128)
    z = torch.randn(4, n, dtype=torch.complex128)
    err = (F(z) - torch.fft.fft(z, norm="ortho")).abs().max().item()
    print(f"n={n:4d}  blocks R{tuple(F.r_blocks.shape)} L{tuple(F.l_blocks.shape)}  max |MonarchDFT - fft| = {err:.1e}")

n, m = 64, 8
modes = list(range(m)) + list(range(n - m, n))
low = MonarchDFT(n, modes=modes, norm="ortho")
full = MonarchDFT(n, norm="ortho")
print(f"keeping {len(modes)} of {n} modes: {low.flops() / full.flops():.0%} of the full transform's FLOPs")

fig, ax = plt.subplots(1, 2, figsize=(7, 3.2))
ax[0].imshow(full.to_dense().detach().real, cmap="RdBu")
ax[0].set_title("Re DFT(64)")
ax[1].imshow(low.to_dense().detach().real, cmap="RdBu", aspect="auto")
ax[1].set_title("Re of the kept 16 rows")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 3 · Projecting a dense matrix
# The best Monarch approximation (Frobenius norm) has a closed form: a rank-one SVD of every sub-block.
# A random matrix is far from Monarch; a smooth kernel matrix (as dense layers of trained networks often are)
# is much closer.

# %%
n = pick(64, 256)
t = torch.linspace(0, 1, n, dtype=torch.float64)
matrices = {
    "random": torch.randn(n, n, dtype=torch.float64) / n**0.5,
    "smooth kernel": torch.exp(-((t[:, None] - t[None, :]) ** 2) / 0.02),
}
for name, A in matrices.items():
    rb, lb = project(A)
    err = (monarch_to_dense(rb, lb) - A).norm() / A.norm()
    print(f"{name:14s} relative projection error {err:.3f}")

dense = torch.nn.Linear(n, n)
with torch.no_grad():
    dense.weight.copy_(matrices["smooth kernel"])
layer = MonarchLinear.from_linear(dense)
print(layer)
xb = torch.randn(8, n)
print("max |Monarch layer - dense layer| on a batch:", (layer(xb) - dense(xb)).abs().max().item())

# %% [markdown]
# ## 4 · Speed
# One forward pass over a batch: dense matmul `x @ Wᵀ` against the Monarch multiply, and the full
# `MonarchDFT` against `torch.fft.fft`. (Single measurements in a notebook are noisy; see
# `benchmarks/monarch_multiply.py` for the careful version.)


# %%
def bench(fn, *args, repeat=5):
    fn(*args)
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*args)
        ts.append(time.perf_counter() - t0)
    return sorted(ts)[len(ts) // 2] * 1e3


sizes = pick([64, 256], [256, 1024, 4096])
batch = pick(64, 1024)
rows = []
for n in sizes:
    p = plan_monarch(n)
    W = torch.randn(n, n)
    rb, lb = torch.randn(p.r_shape), torch.randn(p.l_shape)
    xb = torch.randn(batch, n)
    zb = torch.randn(batch, n, dtype=torch.complex64)
    F = MonarchDFT(n, learnable=False)
    rows.append(
        (
            n,
            bench(torch.matmul, xb, W.T),
            bench(monarch_multiply, xb, rb, lb),
            bench(torch.fft.fft, zb),
            bench(F, zb),
        )
    )
print(f"{'n':>6} {'dense ms':>9} {'monarch ms':>11} {'fft ms':>8} {'MonarchDFT ms':>14}")
for row in rows:
    print(f"{row[0]:6d} {row[1]:9.2f} {row[2]:11.2f} {row[3]:8.2f} {row[4]:14.2f}")

fig, ax = plt.subplots(figsize=(5, 3.5))
for i, label in enumerate(["dense matmul", "Monarch multiply", "torch.fft", "MonarchDFT"], start=1):
    ax.loglog(sizes, [row[i] for row in rows], "o-", label=label)
ax.set_xlabel("n")
ax.set_ylabel(f"ms per batch of {batch}")
ax.legend()
plt.tight_layout()
plt.show()
