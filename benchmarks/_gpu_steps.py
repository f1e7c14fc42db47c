"""The issue-27 measurements of ``gpu_check.py``: the multiply by path and dtype, and training steps (wall time,
kernel time, launches; eager and compiled). CUDA only; imported by ``gpu_check.py`` after its GPU check.

The scripts run as ``python benchmarks/NAME.py``, so this module is imported as ``_gpu_steps``.
"""

from __future__ import annotations

import importlib.util
import math
import statistics
import time
from collections.abc import Callable

import torch

from monarch_sci.training.step import compiled, optimizer_options

LAUNCHES = ("cudaLaunchKernel", "cuLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernelEx")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def cuda_ms(fn: Callable[[], object], repeats: int = 10, warmup: int = 3) -> float:
    """Median milliseconds of ``fn`` (CUDA events around each call)."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def copy_bandwidth(device: str, gib: float = 1.0) -> float:
    """Achieved device-memory bandwidth of a large copy (bytes read + written per second): the practical bound."""
    n = int(gib * 2**30) // 4
    a, b = torch.empty(n, device=device), torch.empty(n, device=device)
    ms = cuda_ms(lambda: b.copy_(a), repeats=5, warmup=2)
    return 2 * n * 4 / (ms * 1e-3)


def multiply_rows(device: str, sizes=(1024, 4096), batch: int = 2048, dtypes=("float32", "bfloat16")) -> dict:
    """ours (every path) against dense, fly and the two-``bmm`` reference, forward and forward+backward.

    ``bound_ms``: the fewest bytes a pass must move (forward: read ``x``, write ``y``, read the factors;
    forward+backward: also read ``g`` and ``x`` again, write ``dx`` and the factor gradients) over the measured
    copy bandwidth; ``vs_bound`` = ms / bound_ms (goal ≤ 3 at n = 4096).
    """
    from monarch_multiply import fly_multiply, reference_multiply

    from monarch_sci.multiply import monarch_multiply, monarch_to_dense, multiply_path

    paths = ["bmm", "chunked", *(["triton"] if importlib.util.find_spec("triton") else [])]
    bandwidth = copy_bandwidth(device)
    rows, auto, failures = [], {}, {}
    for dname in dtypes:
        dtype = DTYPES[dname]
        for n in sizes:
            m = math.isqrt(n)
            g = torch.Generator(device=device).manual_seed(n)
            x = torch.randn(batch, n, generator=g, device=device).to(dtype)
            r_blocks = (torch.randn(m, m, m, generator=g, device=device) / math.sqrt(m)).to(dtype)
            l_blocks = (torch.randn(m, m, m, generator=g, device=device) / math.sqrt(m)).to(dtype)
            weight = (torch.randn(n, n, generator=g, device=device) / math.sqrt(n)).to(dtype)
            grad_y = torch.randn(batch, n, generator=g, device=device).to(dtype)
            auto[f"{dname} n={n}"] = multiply_path(x, r_blocks, l_blocks)
            dense64 = monarch_to_dense(r_blocks.double(), l_blocks.double())
            ref = x[:256].double() @ dense64.T
            methods: dict[str, tuple[Callable, tuple]] = {
                "dense": (lambda a, w, _l: a @ w.T, (x, weight, None)),
                "reference": (reference_multiply, (x, r_blocks, l_blocks)),
                "fly": (fly_multiply, (x, r_blocks, l_blocks)),
                **{
                    f"ours[{p}]": (lambda a, r, l, p=p: monarch_multiply(a, r, l, path=p), (x, r_blocks, l_blocks))
                    for p in paths
                },
            }
            ms: dict[str, dict[str, float]] = {}
            errors: dict[str, float] = {}
            for name, (fn, args) in methods.items():
                try:
                    ms[name] = _time_method(fn, args, grad_y, x, r_blocks, l_blocks, ref, name, errors)
                except Exception as err:  # e.g. a Triton compile failure: recorded, the other methods still run
                    failures[f"{dname} n={n} {name}"] = f"{type(err).__name__}: {err}"
            size = x.element_size()
            moved = {
                "forward": (2 * batch * n + 2 * m**3) * size,
                "forward+backward": (5 * batch * n + 4 * m**3) * size,
            }
            for name, modes in ms.items():
                for mode, t in modes.items():
                    bound = moved[mode] / bandwidth * 1e3
                    rows.append(
                        {
                            "dtype": dname,
                            "n": n,
                            "batch": batch,
                            "mode": mode,
                            "method": name,
                            "ms": t,
                            "vs_fly": ms["fly"][mode] / t if "fly" in ms else None,
                            "vs_dense": ms["dense"][mode] / t if "dense" in ms else None,
                            "gb_per_s": moved[mode] / (t * 1e-3) / 1e9,
                            "bound_ms": bound,
                            "vs_bound": t / bound,
                            "rel_err_vs_float64": errors.get(name),
                        }
                    )
    return {"copy_bandwidth_gb_per_s": bandwidth / 1e9, "auto_path": auto, "rows": rows, "failures": failures}


def _time_method(fn, args, grad_y, x, r_blocks, l_blocks, ref, name, errors) -> dict[str, float]:
    """Forward and forward+backward ms of one method (and, for ours, its error against the float64 dense twin)."""
    if name.startswith("ours"):
        with torch.no_grad():
            y = fn(x[:256], r_blocks, l_blocks).double()
        errors[name] = float((y - ref).norm() / ref.norm())
    leaves = [a.clone().requires_grad_(True) if a is not None else None for a in args]

    def fwd_bwd() -> None:
        for a in leaves:
            if a is not None:
                a.grad = None
        fn(*leaves).backward(grad_y)

    with torch.no_grad():
        forward = cuda_ms(lambda: fn(*args))
    return {"forward": forward, "forward+backward": cuda_ms(fwd_bwd)}


def profile_step(step: Callable[[], object], repeats: int = 10) -> dict:
    """Wall ms per step (mean of ``repeats`` after 3 warm-ups), kernel ms and launches of one profiled step."""
    from torch.profiler import ProfilerActivity, profile

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(repeats):
        step()
    torch.cuda.synchronize()
    wall = (time.perf_counter() - t0) / repeats * 1e3
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        step()
        torch.cuda.synchronize()
    kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    kernel_ms = sum(e.time_range.elapsed_us() for e in kernels) / 1e3  # each kernel's own duration, once
    launches = sum(e.count for e in prof.key_averages() if e.key in LAUNCHES)
    return {"wall_ms": wall, "kernel_ms": kernel_ms, "kernel_share": kernel_ms / wall, "launches": launches}


def fno_steps(device: str, deadline: float) -> list[dict]:
    """FFT-FNO, Monarch-FNO and neuraloperator's FNO training steps (the trainer's Adam): eager on both problems,
    then ``torch.compile`` on the NS rollout, mode ``"default"`` for every model, then ``"reduce-overhead"`` (CUDA
    graphs); compiled rows are left out once ``time.perf_counter()`` passes ``deadline`` (compilation takes tens
    of seconds per model)."""
    from fno_step_time import NeuralopFNO2d, has_neuralop

    from monarch_sci.operators.pde.fno import FNO2d

    configs = {
        "ns32_rollout10": {"size": 32, "batch": 20, "t_in": 10, "steps": 10, "modes": 8, "width": 20},
        "steady16": {"size": 16, "batch": 32, "t_in": 1, "steps": 1, "modes": 8, "width": 32},
    }
    plan = [(name, "none") for name in configs]  # eager rows first, compiled ones after
    plan += [("ns32_rollout10", "default"), ("ns32_rollout10", "reduce-overhead")]
    rows = []
    for name, mode in plan:
        c = configs[name]
        s = c["size"]
        g = torch.Generator(device=device).manual_seed(0)
        x = torch.randn(c["batch"], s, s, c["t_in"], generator=g, device=device)
        y = torch.randn(c["batch"], s, s, c["steps"], generator=g, device=device)
        for kind in ("fft", "monarch", *(["neuralop"] if has_neuralop() else [])):
            if mode != "none" and time.perf_counter() > deadline:
                continue
            torch.manual_seed(0)
            if kind == "neuralop":
                model = NeuralopFNO2d(c["modes"], c["width"], c["t_in"]).to(device)
            else:
                model = FNO2d(
                    c["modes"], c["modes"], c["width"], t_in=c["t_in"], size=(s, s), fourier=kind, device=device
                )
            opt = torch.optim.Adam(model.parameters(), 1e-3, **optimizer_options(device))

            def loss_of(model, batch, c=c):
                xb, yb = batch
                return ((model.rollout(xb, c["steps"]) if c["steps"] > 1 else model(xb)) - yb).square().mean()

            loss_fn = compiled(loss_of, mode)

            def step(model=model, opt=opt, loss_fn=loss_fn, batch=(x, y)) -> None:
                loss = loss_fn(model, batch)
                opt.zero_grad()
                loss.backward()
                opt.step()

            row = {"config": name, **c, "model": kind, "compile": mode}
            try:
                t0 = time.perf_counter()
                step()  # compilation happens here
                torch.cuda.synchronize()
                rows.append({**row, "first_step_s": time.perf_counter() - t0, **profile_step(step)})
            except Exception as err:  # a compile failure loses one row, not the section
                rows.append({**row, "error": f"{type(err).__name__}: {err}"})
    return rows


def mri_steps(device: str, s: int = 64, batch: int = 4, coils: int = 8) -> list[dict]:
    """Unrolled SENSE network (5 cascades, CNN) training steps, FFT vs Monarch (eager)."""
    from monarch_sci.operators.mri.unrolled import UnrolledSENSE

    g = torch.Generator(device=device).manual_seed(0)
    maps = torch.randn(batch, coils, s, s, generator=g, device=device, dtype=torch.complex64)
    maps = maps / maps.abs().square().sum(1, keepdim=True).sqrt()
    mask = (torch.rand(batch, 1, 1, s, generator=g, device=device) < 0.3).float()
    kspace = torch.randn(batch, coils, s, s, generator=g, device=device, dtype=torch.complex64) * mask
    target = torch.randn(batch, s, s, generator=g, device=device, dtype=torch.complex64)
    rows = []
    for fourier in ("fft", "monarch"):
        torch.manual_seed(0)
        net = UnrolledSENSE((s, s), fourier=fourier, cascades=5, channels=32).to(device)
        opt = torch.optim.Adam(net.parameters(), 1e-3, **optimizer_options(device))

        def step(net=net, opt=opt) -> None:
            loss = (net(kspace, mask, maps) - target).abs().square().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

        rows.append({"s": s, "batch": batch, "coils": coils, "fourier": fourier, **profile_step(step)})
    return rows


def step_goals(fno: list[dict], mri: list[dict]) -> dict:
    """The issue's step goals from this run's rows (eager; compiled rows reported beside them)."""
    goals: dict = {}
    for config in sorted({r["config"] for r in fno}):
        for mode in sorted({r["compile"] for r in fno}):
            by = {r["model"]: r for r in fno if r["config"] == config and r["compile"] == mode and "error" not in r}
            tag = f"{config} compile={mode}"
            if "fft" in by and "monarch" in by:
                goals[f"{tag}: monarch / fft step <= 1.1"] = by["monarch"]["wall_ms"] / by["fft"]["wall_ms"]
            if "fft" in by and "neuralop" in by:
                goals[f"{tag}: fft / neuralop step <= 0.5"] = by["fft"]["wall_ms"] / by["neuralop"]["wall_ms"]
            for model, r in by.items():
                goals[f"{tag}: {model} kernel share >= 0.5"] = r["kernel_share"]
    by = {r["fourier"]: r for r in mri}
    if len(by) == 2:
        goals["mri64: unrolled monarch / fft step <= 1.2"] = by["monarch"]["wall_ms"] / by["fft"]["wall_ms"]
    return goals


def markdown(record: dict) -> str:
    """Tables of a ``gpu_check`` record (the sections that ran)."""
    out = [
        f"# GPU check: {record.get('device_name')} (torch {record.get('torch')}, TF32 off, {record.get('date')})",
        "",
    ]
    mult = record.get("multiply_paths")
    if isinstance(mult, dict) and "rows" in mult:
        out += [
            f"Copy bandwidth {mult['copy_bandwidth_gb_per_s']:.0f} GB/s; auto path: {mult['auto_path']}",
            "",
            "| dtype | n | pass | method | ms | vs fly | vs dense | GB/s | vs bound | rel err |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in mult["rows"]:
            err = "" if r["rel_err_vs_float64"] is None else f"{r['rel_err_vs_float64']:.1e}"
            fly, dense = (("—" if v is None else f"{v:.2f}×") for v in (r["vs_fly"], r["vs_dense"]))
            out.append(
                f"| {r['dtype']} | {r['n']} | {r['mode']} | {r['method']} | {r['ms']:.3f} | {fly} | {dense} | "
                f"{r['gb_per_s']:.0f} | {r['vs_bound']:.1f}× | {err} |"
            )
        out += [f"- {k} failed: {v}" for k, v in mult.get("failures", {}).items()]
        out.append("")
    for key, title in (("fno_steps", "FNO training steps"), ("mri_steps", "Unrolled MRI training steps")):
        rows = record.get(key)
        if isinstance(rows, list) and rows:
            out += [
                f"## {title}",
                "",
                "| setting | wall ms | kernel ms | kernel share | launches |",
                "|---|---|---|---|---|",
            ]
            for r in rows:
                if "error" in r:
                    out.append(f"| {r['config']} {r['model']} compile={r['compile']} | failed: {r['error']} | | | |")
                    continue
                what = f"{r['config']} {r['model']} compile={r['compile']}" if "config" in r else f"{r['fourier']}"
                out.append(
                    f"| {what} | {r['wall_ms']:.1f} | {r['kernel_ms']:.1f} | {r['kernel_share']:.2f} | "
                    f"{r['launches']} |"
                )
            out.append("")
    ns = record.get("ns_generation_256")
    if isinstance(ns, dict) and "ms_per_step" in ns:
        out += [f"Navier–Stokes solver at {ns['s']}² (batch {ns['batch']}): {ns['ms_per_step']:.2f} ms per step", ""]
    cg = record.get("cg_sense_320")
    if isinstance(cg, list):
        out += ["CG-SENSE at 320²: " + ", ".join(f"{r['fourier']} {r['ms']:.1f} ms" for r in cg), ""]
    goals = record.get("step_goals")
    if isinstance(goals, dict) and goals:
        out += ["## Step goals (measured)", "", *(f"- {k}: {v:.2f}" for k, v in goals.items()), ""]
    for key, val in record.items():
        if isinstance(val, dict) and "error" in val:
            out.append(f"- section {key} failed: {val['error']}")
        if isinstance(val, dict) and "skipped" in val:
            out.append(f"- section {key} skipped: {val['skipped']}")
    return "\n".join(out) + "\n"
