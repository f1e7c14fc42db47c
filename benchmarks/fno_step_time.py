"""Training-step time and peak memory: FFT vs Monarch FNO (and neuraloperator's FNO, and unrolled MRI nets).

Configurations (random data: the timing does not depend on the values):

* ``ns32``     FNO-2D (modes 8, width 20) on the 32² Navier–Stokes setting, batch 20, 10-step autoregressive
  rollout from a 10-snapshot window (the PDE benchmark's training step);
* ``darcy16``  FNO-2D (modes 8, width 32) on a steady 16² problem (Darcy-like: one input field → one output
  field), batch 32 (the configuration of the issue's neuraloperator comparison);
* ``mri64``    (``--mri``) the unrolled SENSE network (5 cascades, CNN regulariser, 8 coils, 64², batch 4).

Models per configuration: ``fft`` and ``monarch`` (our FNO with the two spectral transforms) and, when
``neuralop`` is importable, ``neuralop`` (neuraloperator's ``FNO`` with the same modes, width and 4 layers; the
row is skipped otherwise). Adam, MSE loss, one thread by default.

Time: the CPU-time clock (``time.process_time``; not inflated by other processes on a shared machine), the
models of a configuration interleaved round-robin, median of ``--repeats`` steps after one warm-up step.

Peak memory: one fresh subprocess per (configuration, model) builds the model and data, returns freed heap
to the system (glibc ``malloc_trim``), resets the kernel's peak-RSS mark (``echo 5 > /proc/self/clear_refs``),
runs ``--memory-steps`` training steps and reads the peak resident set size (``VmHWM``); the figure is that peak
minus the resident size just before the steps: the memory a training step adds on top of the model, data and
interpreter, including the optimiser state created by the first step. Where the mark cannot be reset (not
Linux) it falls back to the ``ru_maxrss`` difference, which misses peaks lower than the set-up's (then
``memory_method`` says so). ``tracemalloc`` is not used: it does not see torch's allocations. RSS counts whole
pages, so differences below ~1 MiB are noise.

``--profile`` prints the top operators of one training step of each model (``torch.profiler``, self CPU time).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/fno_step_time.py                 # time + memory, ns32 and darcy16
    OMP_NUM_THREADS=1 python benchmarks/fno_step_time.py --mri --profile
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from _timing import benchmark_record, interleaved_median, write_result

from monarch_sci.cli.scripts import SUPPRESS, add_flags, run_script, script_parser
from monarch_sci.training.step import optimizer_options

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "fno_step_time.json"

CONFIGS: dict[str, dict] = {
    "ns32": {"kind": "fno", "size": 32, "batch": 20, "t_in": 10, "steps": 10, "modes": 8, "width": 20},
    "darcy16": {"kind": "fno", "size": 16, "batch": 32, "t_in": 1, "steps": 1, "modes": 8, "width": 32},
    "mri64": {"kind": "mri", "size": 64, "batch": 4, "coils": 8, "cascades": 5, "channels": 32},
}


def has_neuralop() -> bool:
    try:
        import neuralop  # noqa: F401
    except Exception:  # ImportError, or a broken optional install: the row is skipped either way
        return False
    return True


def models_for(config: str) -> list[str]:
    if CONFIGS[config]["kind"] == "mri":
        return ["fft", "monarch"]
    return ["fft", "monarch", *(["neuralop"] if has_neuralop() else [])]


class NeuralopFNO2d(torch.nn.Module):
    """neuraloperator's ``FNO`` behind our FNO2d interface: ``(B, s, s, t_in)`` → ``(B, s, s, 1)``, grid channels
    appended by neuralop's own positional embedding; ``rollout`` as in :class:`FNO2d`."""

    def __init__(self, modes: int, width: int, t_in: int) -> None:
        super().__init__()
        from neuralop.models import FNO

        # neuralop counts modes over the full axis (both signs): 2·modes matches our ``modes`` per sign.
        self.net = FNO(n_modes=(2 * modes, 2 * modes), hidden_channels=width, in_channels=t_in, out_channels=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)

    def rollout(self, x: torch.Tensor, steps: int) -> torch.Tensor:
        preds = []
        for _ in range(steps):
            y = self(x)
            preds.append(y)
            x = torch.cat((x[..., 1:], y), dim=-1)
        return torch.cat(preds, dim=-1)


def build(config: str, model: str, seed: int = 0, *, adam: str = "trainer") -> Callable[[], float]:
    """A closure running one training step (forward, loss, backward, Adam step) of ``model`` on ``config``.

    ``adam="trainer"``: the trainer's Adam (:func:`~monarch_sci.training.step.optimizer_options`: ``foreach``);
    ``"loop"``: PyTorch's CPU default (one update per parameter), the optimiser of measurements before it."""
    c = CONFIGS[config]
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    s, b = c["size"], c["batch"]
    if c["kind"] == "mri":
        from monarch_sci.operators.mri.unrolled import UnrolledSENSE

        net = UnrolledSENSE((s, s), fourier=model, cascades=c["cascades"], channels=c["channels"])
        maps = torch.randn(b, c["coils"], s, s, generator=g, dtype=torch.complex64)
        maps = maps / maps.abs().square().sum(1, keepdim=True).sqrt()
        mask = (torch.rand(b, 1, 1, s, generator=g) < 0.3).float()
        kspace = torch.randn(b, c["coils"], s, s, generator=g, dtype=torch.complex64) * mask
        target = torch.randn(b, s, s, generator=g, dtype=torch.complex64)

        def loss_fn() -> torch.Tensor:
            return (net(kspace, mask, maps) - target).abs().square().mean()

    else:
        from monarch_sci.operators.pde.fno import FNO2d

        if model == "neuralop":
            net = NeuralopFNO2d(c["modes"], c["width"], c["t_in"])
        else:
            net = FNO2d(c["modes"], c["modes"], c["width"], t_in=c["t_in"], size=(s, s), fourier=model)
        x = torch.randn(b, s, s, c["t_in"], generator=g)
        y = torch.randn(b, s, s, c["steps"], generator=g)

        def loss_fn() -> torch.Tensor:
            pred = net.rollout(x, c["steps"]) if c["steps"] > 1 else net(x)
            return (pred - y).square().mean()

    options = optimizer_options("cpu") if adam == "trainer" else {"foreach": False}
    opt = torch.optim.Adam(net.parameters(), 1e-3, **options)

    def step() -> float:
        loss = loss_fn()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step


def time_config(config: str, repeats: int) -> dict[str, float]:
    """Median CPU seconds of one training step per model, models interleaved, one warm-up step each."""
    steps = {m: build(config, m) for m in models_for(config)}
    return interleaved_median(steps, repeats, warmup=1, clock="cpu")


def _maxrss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # Linux reports KiB, macOS bytes


def _proc_status_bytes(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024  # "VmHWM:   12345 kB"
    raise KeyError(key)


def _reset_peak_rss() -> bool:
    """Trim the heap and reset the kernel's peak-RSS mark; ``False`` where that is not possible."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
        Path("/proc/self/clear_refs").write_text("5")
        _proc_status_bytes("VmHWM")
    except (OSError, KeyError, AttributeError):
        return False
    return True


def memory_probe(config: str, model: str, steps: int) -> dict:
    """In this (fresh) process: peak-RSS increase over ``steps`` training steps after building model and data."""
    fn = build(config, model)
    if _reset_peak_rss():
        method, before = "VmHWM after clear_refs", _proc_status_bytes("VmRSS")
        for _ in range(steps):
            fn()
        after = _proc_status_bytes("VmHWM")
    else:
        method, before = "ru_maxrss difference", _maxrss_bytes()
        for _ in range(steps):
            fn()
        after = _maxrss_bytes()
    return {
        "config": config,
        "model": model,
        "peak_rss_delta_mib": (after - before) / 2**20,
        "peak_rss_mib": after / 2**20,
        "memory_method": method,
    }


def memory_config(config: str, steps: int, threads: int) -> dict[str, float]:
    out = {}
    for model in models_for(config):
        cmd = [sys.executable, __file__, "--memory-probe", config, model]
        cmd += ["--memory-steps", str(steps), "--threads", str(threads)]
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            check=True,
        )
        out[model] = json.loads(proc.stdout.strip().splitlines()[-1])["peak_rss_delta_mib"]
    return out


def profile_config(config: str, top: int = 12) -> dict[str, str]:
    from torch.profiler import ProfilerActivity, profile

    tables = {}
    for model in models_for(config):
        fn = build(config, model)
        fn()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            fn()
        tables[model] = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top)
        print(f"--- {config} / {model}: one training step, top {top} ops by self CPU time")
        print(tables[model])
    return tables


def main(argv: list[str] | None = None) -> dict:
    parser = script_parser(__doc__)
    parser.add_argument("--configs", nargs="+", default=None, choices=sorted(CONFIGS), help="default ns32 darcy16")
    parser.add_argument("--mri", action="store_true", help="add the unrolled MRI configuration (mri64)")
    parser.add_argument("--repeats", type=int, default=7, help="timed steps per model (median)")
    add_flags(parser, "threads", threads=1)
    parser.add_argument("--memory-steps", type=int, default=2, help="training steps in each memory probe")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--profile", action="store_true", help="print torch.profiler tables of one step per model")
    add_flags(parser, "out", out=DEFAULT_OUT, out_type=Path, out_help=f"JSON output (default {DEFAULT_OUT})")
    parser.add_argument("--memory-probe", nargs=2, metavar=("CONFIG", "MODEL"), help=SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.memory_probe:
        print(json.dumps(memory_probe(*args.memory_probe, args.memory_steps)))
        return {}
    configs = args.configs or ["ns32", "darcy16", *(["mri64"] if args.mri else [])]
    record = benchmark_record(
        "fno_step_time",
        threads=torch.get_num_threads(),
        clock="cpu (time.process_time)",
        memory="peak RSS increase (VmHWM after clear_refs) over a fresh subprocess's first training steps",
        neuralop="timed" if has_neuralop() else "not importable: row skipped",
        configs={},
    )
    print("| config | model | ms / training step (median) | vs fft | peak step memory (MiB, RSS delta) | vs fft |")
    print("|---|---|---|---|---|---|")
    for config in configs:
        secs = time_config(config, args.repeats)
        mem = {} if args.no_memory else memory_config(config, args.memory_steps, args.threads)
        rows = {}
        for model, sec in secs.items():
            rows[model] = {
                "step_ms": 1e3 * sec,
                "step_vs_fft": sec / secs["fft"],
                "peak_step_mib": mem.get(model),
                "peak_vs_fft": (mem[model] / mem["fft"]) if mem.get("fft") else None,
            }
            r = rows[model]
            m_txt = "—" if r["peak_step_mib"] is None else f"{r['peak_step_mib']:.1f}"
            mr_txt = "—" if r["peak_vs_fft"] is None else f"{r['peak_vs_fft']:.2f}×"
            print(f"| {config} | {model} | {r['step_ms']:.1f} | {r['step_vs_fft']:.2f}× | {m_txt} | {mr_txt} |")
        record["configs"][config] = {"setup": CONFIGS[config], "models": rows}
        if args.profile:
            record["configs"][config]["profile"] = profile_config(config)
    return write_result(args.out, record)


if __name__ == "__main__":
    sys.exit(run_script(main))
