"""One prepared GPU check (under 5 minutes on one GPU): correctness tests, then timings, written to one JSON.

1. ``pytest -m gpu tests/test_gpu.py``: multiply, MonarchDFT, projection, FNO and SENSE on CUDA agree with CPU
   float64 references (the outcome and the pytest summary line go into the JSON; timings run regardless);
2. the Monarch multiply against a dense matmul, fly's ``BlockdiagButterflyMultiply`` and the two-``bmm``
   reference (float32, batch 2048, n = 1024 and 4096, forward and forward+backward; CUDA events, median);
3. FNO-2D training steps, FFT vs Monarch transforms (NS 32² with a 10-step rollout, batch 20; a steady
   16² problem, batch 32, width 32), plus the peak CUDA memory of one step (``torch.cuda.max_memory_allocated``);
4. Navier–Stokes generation at 256² (``NavierStokes2d``, float32, batch 8, 100 steps of ``dt = 1e-3``);
5. CG-SENSE at 320² (8 coils, 4 slices, 30 iterations, complex64), FFT and Monarch Fourier transforms.

Without a GPU it prints one line saying so to stderr and exits with status 2.

Usage::

    python benchmarks/gpu_check.py                      # writes benchmarks/results/gpu_check.json
    python benchmarks/gpu_check.py --skip-tests --out /tmp/gpu.json
"""

from __future__ import annotations

import datetime
import json
import math
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from _timing import write_result

from monarch_sci.cli.scripts import run_script, script_parser

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_OUT = HERE / "results" / "gpu_check.json"
NO_GPU_EXIT = 2


def cuda_time(fn: Callable[[], object], repeats: int = 10, warmup: int = 3) -> float:
    """Median milliseconds of ``fn`` on the current CUDA device (events around each call)."""
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


def run_tests() -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", "tests/test_gpu.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.strip()]
    return {"returncode": proc.returncode, "summary": lines[-1] if lines else "", "seconds": time.perf_counter() - t0}


def time_multiply(device: str, sizes: tuple[int, ...] = (1024, 4096), batch: int = 2048) -> list[dict]:
    sys.path.insert(0, str(HERE))
    from monarch_multiply import fly_multiply, reference_multiply

    from monarch_sci.multiply import monarch_multiply

    rows = []
    for n in sizes:
        m = math.isqrt(n)
        g = torch.Generator(device=device).manual_seed(n)
        x = torch.randn(batch, n, generator=g, device=device)
        r_blocks = torch.randn(m, m, m, generator=g, device=device) / math.sqrt(m)
        l_blocks = torch.randn(m, m, m, generator=g, device=device) / math.sqrt(m)
        weight = torch.randn(n, n, generator=g, device=device) / math.sqrt(n)
        grad_y = torch.randn(batch, n, generator=g, device=device)
        methods = {
            "dense": (lambda a, w, _l: a @ w.T, (x, weight, None)),
            "reference": (reference_multiply, (x, r_blocks, l_blocks)),
            "fly": (fly_multiply, (x, r_blocks, l_blocks)),
            "ours": (monarch_multiply, (x, r_blocks, l_blocks)),
        }
        ms: dict[str, dict[str, float]] = {}
        for name, (fn, args) in methods.items():
            leaves = [a.clone().requires_grad_(True) if a is not None else None for a in args]

            def fwd_bwd(fn=fn, leaves=leaves, grad_y=grad_y) -> None:
                for a in leaves:
                    if a is not None:
                        a.grad = None
                fn(*leaves).backward(grad_y)

            with torch.no_grad():
                forward = cuda_time(lambda fn=fn, args=args: fn(*args))
            ms[name] = {"forward": forward, "forward+backward": cuda_time(fwd_bwd)}
        for name, modes in ms.items():
            for mode, t in modes.items():
                rows.append(
                    {
                        "n": n,
                        "batch": batch,
                        "mode": mode,
                        "method": name,
                        "ms": t,
                        "speedup_vs_dense": ms["dense"][mode] / t,
                        "speedup_vs_fly": ms["fly"][mode] / t,
                        "speedup_vs_reference": ms["reference"][mode] / t,
                    }
                )
    return rows


def time_fno(device: str) -> list[dict]:
    from monarch_sci.operators.pde.fno import FNO2d

    configs = {
        "ns32_rollout10": {"size": 32, "batch": 20, "t_in": 10, "steps": 10, "modes": 8, "width": 20},
        "steady16": {"size": 16, "batch": 32, "t_in": 1, "steps": 1, "modes": 8, "width": 32},
    }
    rows = []
    for name, c in configs.items():
        s = c["size"]
        g = torch.Generator(device=device).manual_seed(0)
        x = torch.randn(c["batch"], s, s, c["t_in"], generator=g, device=device)
        y = torch.randn(c["batch"], s, s, c["steps"], generator=g, device=device)
        for kind in ("fft", "monarch"):
            torch.manual_seed(0)
            model = FNO2d(c["modes"], c["modes"], c["width"], t_in=c["t_in"], size=(s, s), fourier=kind, device=device)
            opt = torch.optim.Adam(model.parameters(), 1e-3)

            def step(model=model, opt=opt, c=c, x=x, y=y) -> None:
                pred = model.rollout(x, c["steps"]) if c["steps"] > 1 else model(x)
                loss = (pred - y).square().mean()
                opt.zero_grad()
                loss.backward()
                opt.step()

            ms = cuda_time(step)
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            step()
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated() - base
            rows.append({"config": name, **c, "transform": kind, "step_ms": ms, "peak_step_mib": peak / 2**20})
    return rows


def time_ns(device: str, s: int = 256, batch: int = 8, steps: int = 100) -> dict:
    from monarch_sci.datasets.pde.grf import GaussianRandomField
    from monarch_sci.datasets.pde.ns_solver import NavierStokes2d, fno_forcing

    dt = 1e-3
    solver = NavierStokes2d(s, visc=1e-3, dt=dt, forcing=fno_forcing(s), dtype=torch.float32, device=device)
    w0 = GaussianRandomField().sample(s, seed=0, indices=range(batch)).to(device=device, dtype=torch.float32)
    ms = cuda_time(lambda: solver(w0, T=steps * dt, record=1), repeats=3, warmup=1)
    return {"s": s, "batch": batch, "steps": steps, "ms": ms, "ms_per_step": ms / steps}


def time_cg_sense(device: str, s: int = 320, coils: int = 8, slices: int = 4, iters: int = 30) -> list[dict]:
    from monarch_sci.operators.mri.classical import cg_sense
    from monarch_sci.operators.mri.sense import SenseOperator

    g = torch.Generator(device=device).manual_seed(0)
    maps = torch.randn(slices, coils, s, s, generator=g, device=device, dtype=torch.complex64)
    maps = maps / maps.abs().square().sum(1, keepdim=True).sqrt()
    mask = (torch.rand(slices, 1, 1, s, generator=g, device=device) < 0.3).float()
    x = torch.randn(slices, s, s, generator=g, device=device, dtype=torch.complex64)
    with torch.no_grad():
        kspace = SenseOperator(maps, mask, learn="none")(x)
    rows = []
    for fourier in ("fft", "monarch"):
        ms = cuda_time(
            lambda fourier=fourier: cg_sense(kspace, maps, mask, max_iter=iters, tol=0.0, fourier=fourier),
            repeats=3,
            warmup=1,
        )
        rows.append({"s": s, "coils": coils, "slices": slices, "iterations": iters, "fourier": fourier, "ms": ms})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = script_parser(
        __doc__,
        "out",
        "device",
        out=DEFAULT_OUT,
        out_type=Path,
        out_help=f"JSON output (default {DEFAULT_OUT})",
        device="cuda",
    )
    parser.add_argument("--skip-tests", action="store_true", help="timings only (no pytest -m gpu run)")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print(
            "gpu_check: no CUDA device is available (torch.cuda.is_available() is False); nothing run", file=sys.stderr
        )
        return NO_GPU_EXIT
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    t_start = time.perf_counter()
    record: dict = {
        "benchmark": "gpu_check",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "device_name": torch.cuda.get_device_name(args.device),
        "tf32": False,
    }
    sections: dict[str, Callable[[], object]] = {
        "multiply": lambda: time_multiply(args.device),
        "fno_step": lambda: time_fno(args.device),
        "ns_generation_256": lambda: time_ns(args.device),
        "cg_sense_320": lambda: time_cg_sense(args.device),
    }
    if not args.skip_tests:
        record["tests"] = run_tests()
        print(f"pytest -m gpu: {record['tests']['summary']} (exit {record['tests']['returncode']})", flush=True)
    failed = []
    for name, fn in sections.items():
        t0 = time.perf_counter()
        try:
            record[name] = fn()
        except Exception as err:  # one failing section must not lose the others' timings
            record[name] = {"error": f"{type(err).__name__}: {err}"}
            failed.append(name)
        print(f"{name}: {time.perf_counter() - t0:.1f} s", flush=True)
        print(json.dumps(record[name], indent=1), flush=True)
    record["seconds"] = time.perf_counter() - t_start
    write_result(args.out, record)
    print(f"({record['seconds']:.0f} s)")
    tests_ok = args.skip_tests or record["tests"]["returncode"] == 0
    return 0 if tests_ok and not failed else 1


if __name__ == "__main__":
    sys.exit(run_script(main))
