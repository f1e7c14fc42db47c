"""CPU time of one FNO-2D training step and of inference, FFT vs Monarch transforms, measured interleaved.

FNO-2D as in the benchmark (32² grid, modes 8, width 20), batch 20, 10-step autoregressive rollout, one thread.
The two models alternate so that both see the same machine load; the first repetition is a warm-up.
Prints a table and writes ``benchmarks/results/fno_step_time.json``.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/fno_step_time.py
"""

import json
import statistics
import time
from pathlib import Path

import torch

from monarch_sci.operators.pde.fno import FNO2d


def main(reps: int = 6) -> dict:
    torch.set_num_threads(1)
    models = {}
    for kind in ("fft", "monarch"):
        torch.manual_seed(0)
        m = FNO2d(8, 8, 20, size=(32, 32), fourier=kind)
        models[kind] = (m, torch.optim.Adam(m.parameters(), 1e-3))
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(20, 32, 32, 10, generator=g), torch.randn(20, 32, 32, 10, generator=g)
    step = {k: [] for k in models}
    infer = {k: [] for k in models}
    for _ in range(reps):
        for k, (m, opt) in models.items():
            t = time.perf_counter()
            loss = (m.rollout(x, 10) - y).square().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            step[k].append(time.perf_counter() - t)
            with torch.no_grad():
                t = time.perf_counter()
                m.rollout(x[:10], 10)
                infer[k].append(1000 * (time.perf_counter() - t) / 10)
    out = {
        k: {"step_s": statistics.median(step[k][1:]), "inference_ms": statistics.median(infer[k][1:])} for k in models
    }
    out["ratio_step"] = out["monarch"]["step_s"] / out["fft"]["step_s"]
    out["ratio_inference"] = out["monarch"]["inference_ms"] / out["fft"]["inference_ms"]
    print("| transform | s / training step (median) | inference ms / sample (median) |")
    print("|---|---|---|")
    for k in models:
        print(f"| {k} | {out[k]['step_s']:.3f} | {out[k]['inference_ms']:.1f} |")
    print(f"Monarch / FFT: training step {out['ratio_step']:.2f}×, inference {out['ratio_inference']:.2f}×")
    path = Path(__file__).parent / "results" / "fno_step_time.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
