"""One prepared GPU check (at most ~8 minutes on one GPU): correctness tests, then every GPU measurement of
issue 27, written to one JSON and one Markdown table beside it.

1. ``pytest -m gpu tests/test_gpu.py``: multiply, MonarchDFT, projection, FNO and SENSE on CUDA agree with CPU
   float64 references (the outcome and the pytest summary line go into the JSON; timings run regardless);
2. ``multiply_paths``: the Monarch multiply by path (``auto`` recorded; ``bmm``, ``chunked``, ``triton`` when
   installed) against a dense matmul, fly's ``BlockdiagButterflyMultiply`` and the two-``bmm`` reference,
   float32 and bf16, batch 2048, n = 1024 and 4096, forward and forward+backward (CUDA events, median), with
   achieved GB/s and the ratio to the memory-traffic bound (fewest bytes over the measured copy bandwidth);
3. ``fno_steps``: FNO-2D training steps (the trainer's Adam) of FFT, Monarch and neuraloperator's FNO (when
   importable: bring its wheel in the carried tree), NS 32² with a 10-step rollout (batch 20; eager, then
   ``torch.compile`` modes ``default`` and ``reduce-overhead``) and steady 16² (batch 32, width 32; eager): wall
   ms, kernel ms, kernel share, launches;
4. ``mri_steps``: unrolled SENSE network steps (64², 8 coils, batch 4, 5 cascades), FFT vs Monarch;
5. ``step_goals``: the issue's ratios from 3 and 4;
6. Navier–Stokes generation at 256² and CG-SENSE at 320² (FFT and Monarch), as before.

Sections run in that order; one that fails records its error and the others still run; once ``--budget``
seconds have passed the remaining sections (and compiled FNO rows) are skipped, and say so. Without a GPU it
prints one line saying so to stderr and exits with status 2.

Usage::

    python benchmarks/gpu_check.py       # writes benchmarks/results/gpu_check.json and gpu_check_table.md
    python benchmarks/gpu_check.py --skip-tests --out /tmp/gpu.json
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from _gpu_steps import cuda_ms, fno_steps, markdown, mri_steps, multiply_rows, step_goals
from _timing import benchmark_record, write_result

from monarch_sci.cli.scripts import run_script, script_parser
from monarch_sci.training.checkpoint import write_text_atomic

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_OUT = HERE / "results" / "gpu_check.json"
NO_GPU_EXIT = 2


def run_tests() -> dict:
    """``pytest -m gpu tests/test_gpu.py``, then the multiply paths' tests (on CUDA here: Triton compiled, not
    interpreted); the outcome and summary line of each."""
    out = {}
    for name, args in (("gpu", ["-m", "gpu", "tests/test_gpu.py"]), ("paths", ["tests/core/test_multiply_paths.py"])):
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=240,
        )
        lines = [ln for ln in proc.stdout.strip().splitlines() if ln.strip()]
        out[name] = {"returncode": proc.returncode, "summary": lines[-1] if lines else "",
                     "seconds": time.perf_counter() - t0}  # fmt: skip
    out["returncode"] = max(v["returncode"] for v in out.values())
    return out


def time_ns(device: str, s: int = 256, batch: int = 8, steps: int = 100) -> dict:
    from monarch_sci.datasets.pde.grf import GaussianRandomField
    from monarch_sci.datasets.pde.ns_solver import NavierStokes2d, fno_forcing

    dt = 1e-3
    solver = NavierStokes2d(s, visc=1e-3, dt=dt, forcing=fno_forcing(s), dtype=torch.float32, device=device)
    w0 = GaussianRandomField().sample(s, seed=0, indices=range(batch)).to(device=device, dtype=torch.float32)
    ms = cuda_ms(lambda: solver(w0, T=steps * dt, record=1), repeats=3, warmup=1)
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
        ms = cuda_ms(
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
    parser.add_argument("--budget", type=float, default=420.0, help="seconds after which sections are skipped")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print(
            "gpu_check: no CUDA device is available (torch.cuda.is_available() is False); nothing run", file=sys.stderr
        )
        return NO_GPU_EXIT
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    t_start = time.perf_counter()
    record = benchmark_record("gpu_check", device_name=torch.cuda.get_device_name(args.device), tf32=False)
    deadline = t_start + args.budget
    sections: dict[str, Callable[[], object]] = {
        "multiply_paths": lambda: multiply_rows(args.device),
        "fno_steps": lambda: fno_steps(args.device, deadline),
        "mri_steps": lambda: mri_steps(args.device),
        "ns_generation_256": lambda: time_ns(args.device),
        "cg_sense_320": lambda: time_cg_sense(args.device),
    }
    if not args.skip_tests:
        record["tests"] = run_tests()
        for name in ("gpu", "paths"):
            t = record["tests"][name]
            print(f"pytest {name}: {t['summary']} (exit {t['returncode']})", flush=True)
    failed = []
    for name, fn in sections.items():
        t0 = time.perf_counter()
        if t0 > deadline:
            record[name] = {"skipped": f"time budget of {args.budget:.0f} s spent"}
            continue
        try:
            record[name] = fn()
        except Exception as err:  # one failing section must not lose the others' timings
            record[name] = {"error": f"{type(err).__name__}: {err}"}
            failed.append(name)
        print(f"{name}: {time.perf_counter() - t0:.1f} s", flush=True)
    if isinstance(record.get("fno_steps"), list) and isinstance(record.get("mri_steps"), list):
        record["step_goals"] = step_goals(record["fno_steps"], record["mri_steps"])
    record["seconds"] = time.perf_counter() - t_start
    write_result(args.out, record)
    table = markdown(record)
    write_text_atomic(Path(args.out).with_name(Path(args.out).stem + "_table.md"), table)
    print(table)
    print(f"({record['seconds']:.0f} s)")
    tests_ok = args.skip_tests or record["tests"]["returncode"] == 0
    return 0 if tests_ok and not failed else 1


if __name__ == "__main__":
    sys.exit(run_script(main))
