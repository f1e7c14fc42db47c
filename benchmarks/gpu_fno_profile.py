"""Where an FNO-2D training step spends its time on a GPU: wall time, GPU kernel time, launches, host syncs.

For FFT and Monarch transforms at 32² (modes 8) and FFT at 64² (modes 12), batch 20, a 10-step rollout, Adam: the
mean wall time of 10 steps after 3 warm-ups, the no-grad rollout, then one step under ``torch.profiler`` (the
kernel time summed over CUDA events, the number of kernel launches, the host synchronisations) and the top
operators by CPU and by GPU time. Prints everything (``benchmarks/results/gpu_fno_step_profile.txt`` is one such
output, discussed in ``gpu_check.md``). Without a GPU it exits with status 2 and one line.

Usage::

    python benchmarks/gpu_fno_profile.py > benchmarks/results/gpu_fno_step_profile.txt
"""

from __future__ import annotations

import sys
import time

import torch

from monarch_sci.cli.scripts import run_script, script_parser

LAUNCHES = ("cudaLaunchKernel", "cuLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernelEx")


def profile_step(s: int, kind: str, device: str = "cuda") -> None:
    from torch.profiler import ProfilerActivity, profile

    from monarch_sci.operators.pde.fno import FNO2d

    modes = 8 if s == 32 else 12
    g = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(20, s, s, 10, generator=g, device=device)
    y = torch.randn(20, s, s, 10, generator=g, device=device)
    torch.manual_seed(0)
    model = FNO2d(modes, modes, 20, t_in=10, size=(s, s), fourier=kind, device=device)
    opt = torch.optim.Adam(model.parameters(), 1e-3)

    def step() -> None:
        loss = (model.rollout(x, 10) - y).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(10):
        step()
    torch.cuda.synchronize()
    wall = (time.perf_counter() - t) / 10 * 1e3
    with torch.no_grad():
        torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(10):
            model.rollout(x, 10)
        torch.cuda.synchronize()
        fwd = (time.perf_counter() - t) / 10 * 1e3
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        step()
        torch.cuda.synchronize()
    ka = prof.key_averages()
    kernel_ms = sum(e.self_device_time_total for e in ka) / 1e3
    launches = sum(e.count for e in ka if e.key in LAUNCHES)
    syncs = {
        e.key: e.count for e in ka if any(k in e.key for k in ("ynchronize", "Memcpy", "aten::item", "_local_scalar"))
    }
    print(
        f"== s={s} {kind}: step wall {wall:.1f} ms, no-grad rollout {fwd:.1f} ms, summed device time "
        f"{kernel_ms:.1f} ms (annotations counted again; the table footer has the total), launches {launches}, "
        f"syncs {syncs}"
    )
    print(ka.table(sort_by="self_cpu_time_total", row_limit=22, max_name_column_width=60))
    print(ka.table(sort_by="self_cuda_time_total", row_limit=12, max_name_column_width=60))


def main(argv: list[str] | None = None) -> int:
    script_parser(__doc__).parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu_fno_profile: no CUDA device is available; nothing run", file=sys.stderr)
        return 2
    for s, kind in ((32, "fft"), (32, "monarch"), (64, "fft")):
        profile_step(s, kind)
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
