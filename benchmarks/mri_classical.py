"""Classical MRI at realistic sizes: ESPIRiT, CG-SENSE and ℓ1-wavelet, ours beside sigpy and BART (issue 15.4).

Two simulated single-slice cases (:func:`monarch_sci.datasets.mri.simulate.simulate_volume`):

* ``knee``: fastMRI knee size, 15 coils, raw k-space 640×368 (recon 320×368 with 2× readout oversampling),
  random 4× line mask with a 30-line centre, reconstructed on the raw 640×368 grid;
* ``real230``: the 230×180 8-coil case of the issue, a 2-D variable-density Poisson-disc mask
  (:func:`~monarch_sci.datasets.mri.masks.poisson_mask`, 8×, 24×24 centre).

Every tool gets the same masked k-space, the same calibration settings, the same coil maps (ours) for the
reconstructions, the same λ and the same number of iterations. Timing: one thread, one call of each tool per
round, median over rounds (:func:`_timing.interleaved_median`), CPU seconds of this process plus its children
(BART runs as a child process, so its figure includes its start-up and ``.cfl`` file I/O). Per-iteration time is
time per slice / iterations (setup included for every tool alike). BART rows are skipped with a note when
``bart`` is not on the PATH.

Run: ``OMP_NUM_THREADS=1 nice python benchmarks/mri_classical.py`` (``--quick``: a tiny case, seconds).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy/torch load their thread pools

import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import _timing  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from monarch_sci.cli.scripts import add_flags, run_script, script_parser  # noqa: E402
from monarch_sci.datasets.mri.importers import read_cfl, write_cfl  # noqa: E402
from monarch_sci.datasets.mri.masks import poisson_mask  # noqa: E402
from monarch_sci.datasets.mri.simulate import SimulationConfig, simulate_volume  # noqa: E402
from monarch_sci.operators.mri.classical import cg_sense, l1_wavelet  # noqa: E402
from monarch_sci.operators.mri.coil_maps import calibration_width, espirit_maps  # noqa: E402
from monarch_sci.operators.mri.sense import SenseOperator  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def _cpu_with_children() -> float:
    """CPU seconds of this process and of its finished children (BART)."""
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + ch.ru_utime + ch.ru_stime


_timing.CLOCKS["cpu+children"] = _cpu_with_children


def make_case(name: str) -> dict:
    """Masked k-space ``(C, H, W)`` complex64, its mask ``(H, W)`` and a description."""
    if name == "knee":
        cfg = SimulationConfig(recon_size=(320, 368), num_coils=15, num_slices=1, oversampling=2, seed=0)
        k = simulate_volume(cfg, 0).kspace[0]
        H, W = k.shape[-2:]
        rng = np.random.default_rng(0)
        cols = np.zeros(W, bool)
        cols[W // 2 - 15 : W // 2 + 15] = True
        cols[rng.choice(np.flatnonzero(~cols), W // 4 - 30, replace=False)] = True
        mask = np.broadcast_to(cols, (H, W)).copy()
        what = "fastMRI knee size: 15 coils, 640×368 raw (recon 320×368), random 4× line mask, 30-line centre"
    elif name == "real230":
        cfg = SimulationConfig(recon_size=(230, 180), num_coils=8, num_slices=1, oversampling=1, seed=0)
        k = simulate_volume(cfg, 0).kspace[0]
        mask = poisson_mask(k.shape[-2:], 8.0, calib=24, seed=0)
        what = "230×180, 8 coils, 2-D Poisson-disc mask 8× with a 24×24 centre"
    elif name == "quick":
        cfg = SimulationConfig(recon_size=(48, 40), num_coils=4, num_slices=1, oversampling=1, fine_factor=1, seed=0)
        k = simulate_volume(cfg, 0).kspace[0]
        mask = poisson_mask(k.shape[-2:], 3.0, calib=16, seed=0)
        what = "tiny test case: 48×40, 4 coils, 2-D Poisson-disc 3×"
    else:
        raise ValueError(f"make_case: unknown case {name!r}; expected 'knee', 'real230' or 'quick'")
    k = (k * mask).astype(np.complex64)
    return {"name": name, "what": what, "kspace": k, "mask": mask, "sampled": float(mask.mean())}


def _bart(*args: str, cwd: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run(["bart", *args], cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _to_bart(a: np.ndarray) -> np.ndarray:
    """``(C, H, W)`` → BART's ``(READ, PHS1, PHS2, COIL)`` = ``(H, W, 1, C)``."""
    return np.transpose(a, (1, 2, 0))[:, :, None, :]


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def rel_up_to_phase(a: np.ndarray, b: np.ndarray) -> float:
    """``rel`` after the best global phase on ``a`` (BART's centred FFT differs by a sign when H/2 or W/2 is odd)."""
    z = np.vdot(a, b)
    return rel(a * (z / abs(z)), b)


def bench_case(case: dict, *, lam: float, cg_iter: int, l1_lam_rel: float, l1_iter: int, repeats: int) -> list[dict]:
    import sigpy.mri

    k, mask = case["kspace"], case["mask"]
    C, H, W = k.shape
    calib = calibration_width(mask)
    kw = min(6, max(3, calib // 2))
    esp = {"thresh": 0.02, "kernel_width": kw, "crop": 0.8, "max_iter": 100}
    bart_ok = shutil.which("bart") is not None
    tmp = Path(tempfile.mkdtemp(prefix="mri_classical_"))
    rows: list[dict] = []

    def row(stage: str, tool: str, seconds: float | None, iters: int | None, note: str = "", **extra) -> None:
        rows.append({
            "case": case["name"], "stage": stage, "tool": tool, "seconds_per_slice": seconds,
            "iterations": iters, "seconds_per_iteration": None if seconds is None or not iters else seconds / iters,
            "note": note, **extra,
        })  # fmt: skip

    # --- ESPIRiT ------------------------------------------------------------------------------------------------
    out: dict[str, np.ndarray] = {}  # the last result of each (ESPIRiT is too slow at knee size to rerun)

    def keep(name: str, fn):
        def call():
            out[name] = np.asarray(fn(), np.complex64)

        return call

    fns = {
        "ours": keep("ours", lambda: espirit_maps(k, calib, kernel_width=kw, thresh=esp["thresh"], crop=esp["crop"])),
        "sigpy": keep("sigpy", lambda: sigpy.mri.app.EspiritCalib(k, calib_width=calib, show_pbar=False, **esp).run()),
    }
    # warm sigpy up (first-call costs) on a small block instead of a full untimed round
    small = np.ascontiguousarray(k[:, H // 2 - 16 : H // 2 + 16, W // 2 - 16 : W // 2 + 16])
    espirit_maps(small, min(calib, 16), kernel_width=min(kw, 6))
    if bart_ok:
        write_cfl(tmp / "ksp", _to_bart(k))
        ecalib = ("ecalib", "-r", str(calib), "-k", str(kw), "-t", str(esp["thresh"]), "-c", str(esp["crop"]))
        fns["bart"] = lambda: _bart(*ecalib, "-m", "1", "ksp", "maps_bart", cwd=tmp)
    t = _timing.interleaved_median(fns, repeats, warmup=0, clock="cpu+children")
    maps, sig_maps = out["ours"], out["sigpy"]
    note = f"calib {calib}, kernel {kw}, thresh {esp['thresh']}, crop {esp['crop']}, {esp['max_iter']} power its"
    row("espirit", "ours", t["ours"], None, note + "; ours = sigpy EspiritCalib + coverage check",
        rel_diff_vs_sigpy=rel(maps, sig_maps))  # fmt: skip
    row("espirit", "sigpy", t["sigpy"], None, note)
    if bart_ok:
        row("espirit", "bart", t["bart"], None, note + " (BART's -t/-c definitions differ from sigpy's)")
    else:
        row("espirit", "bart", None, None, "skipped: bart not on PATH")

    # --- CG-SENSE -----------------------------------------------------------------------------------------------
    kt, mt = torch.from_numpy(k)[None], torch.from_numpy(maps)[None]
    maskt = torch.from_numpy(mask.astype(np.float32))
    w32 = mask.astype(np.float32)
    fns = {
        "ours": lambda: cg_sense(kt, mt, maskt, lam=lam, max_iter=cg_iter, tol=0.0),
        "sigpy": lambda: sigpy.mri.app.SenseRecon(
            k, maps, lamda=lam, weights=w32, max_iter=cg_iter, show_pbar=False
        ).run(),
    }
    if bart_ok:
        write_cfl(tmp / "maps", _to_bart(maps))
        fns["bart"] = lambda: _bart("pics", "-l2", "-r", str(lam), "-i", str(cg_iter), "-w", "1", "-d", "0",
                                    "ksp", "maps", "x_bart", cwd=tmp)  # fmt: skip
    t = _timing.interleaved_median(fns, repeats, warmup=1, clock="cpu+children")
    ours, res = fns["ours"]()
    ours = ours[0].numpy()
    ref = np.asarray(fns["sigpy"](), np.complex64)
    assert res.iterations == cg_iter, res.iterations
    note = f"λ={lam:g}, {cg_iter} CG iterations, complex64, same maps (ours)"
    row("cg_sense", "ours", t["ours"], cg_iter, note, rel_diff_vs_sigpy=rel(ours, ref))
    row("cg_sense", "sigpy", t["sigpy"], cg_iter, note)
    if bart_ok:
        fns["bart"]()
        xb = read_cfl(tmp / "x_bart").reshape(H, W)
        bart_note = "; pics -l2 -w 1 (child process, file I/O incl.); diff up to a global phase"
        row("cg_sense", "bart", t["bart"], cg_iter, note + bart_note,
            rel_diff_vs_sigpy=rel_up_to_phase(xb, ref), rel_diff_vs_ours=rel_up_to_phase(xb, ours),
            rel_diff_vs_sigpy_raw=rel(xb, ref))  # fmt: skip
    else:
        row("cg_sense", "bart", None, cg_iter, "skipped: bart not on PATH")

    # --- ℓ1-wavelet ---------------------------------------------------------------------------------------------
    with torch.no_grad():
        peak = float(SenseOperator(mt, maskt[None, None]).H(kt).abs().max())
    lam1 = l1_lam_rel * peak
    fns = {
        "ours": lambda: l1_wavelet(k[None], maps[None], mask[None, None], lam_rel=l1_lam_rel, max_iter=l1_iter, tol=0),
        "sigpy": lambda: sigpy.mri.app.L1WaveletRecon(
            k, maps, lam1, weights=w32, wave_name="db4", max_iter=l1_iter, show_pbar=False
        ).run(),
    }
    if bart_ok:
        fns["bart"] = lambda: _bart("pics", "-l1", "-r", str(lam1), "-i", str(l1_iter), "-w", "1", "-d", "0",
                                    "ksp", "maps", "x_bart_l1", cwd=tmp)  # fmt: skip
    t = _timing.interleaved_median(fns, repeats, warmup=1, clock="cpu+children")
    ours1 = fns["ours"]()[0]
    ref1 = np.asarray(fns["sigpy"](), np.complex64)
    note = f"λ = {l1_lam_rel:g}·max|Aᴴy| = {lam1:.3g} (sigpy's lamda), db4, {l1_iter} iterations"
    row("l1_wavelet", "ours", t["ours"], l1_iter, note + "; ours calls sigpy L1WaveletRecon",
        rel_diff_vs_sigpy=rel(ours1, ref1))  # fmt: skip
    row("l1_wavelet", "sigpy", t["sigpy"], l1_iter, note)
    if bart_ok:
        row("l1_wavelet", "bart", t["bart"], l1_iter,
            "pics -l1 -r λ: BART's own wavelet and scaling, not the same objective — time only")  # fmt: skip
    else:
        row("l1_wavelet", "bart", None, l1_iter, "skipped: bart not on PATH")
    shutil.rmtree(tmp, ignore_errors=True)
    return rows


def _fmt(v: float | None, spec: str) -> str:
    return "—" if v is None else format(v, spec)


def table(rows: list[dict]) -> str:
    out = [
        "| case | stage | tool | s / slice | iterations | ms / iteration | rel. diff vs sigpy | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ms = None if r["seconds_per_iteration"] is None else 1e3 * r["seconds_per_iteration"]
        out.append(
            f"| {r['case']} | {r['stage']} | {r['tool']} | {_fmt(r['seconds_per_slice'], '.3f')} | "
            f"{r['iterations'] or '—'} | {_fmt(ms, '.1f')} | {_fmt(r.get('rel_diff_vs_sigpy'), '.1e')} | "
            f"{r['note']} |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = script_parser(__doc__)
    ap.add_argument("--cases", nargs="+", default=["knee", "real230"], choices=["knee", "real230", "quick"])
    ap.add_argument("--quick", action="store_true", help="only the tiny 'quick' case, 1 repeat, no result files")
    ap.add_argument("--lam", type=float, default=1e-3, help="Tikhonov λ of CG-SENSE (all tools)")
    ap.add_argument("--cg-iter", type=int, default=30)
    ap.add_argument("--l1-lam-rel", type=float, default=3e-4, help="ℓ1 weight relative to max|Aᴴy|")
    ap.add_argument("--l1-iter", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3)
    add_flags(ap, "out", out=RESULTS / "mri_classical_timing.json", out_type=Path, out_help="JSON result")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    cases, repeats = (["quick"], 1) if args.quick else (args.cases, args.repeats)
    rows: list[dict] = []
    described = []
    for name in cases:
        case = make_case(name)
        described.append({k: case[k] for k in ("name", "what", "sampled")} | {"shape": list(case["kspace"].shape)})
        print(f"[{name}] {case['what']}; sampled {case['sampled']:.3f}", flush=True)
        rows += bench_case(case, lam=args.lam, cg_iter=args.cg_iter, l1_lam_rel=args.l1_lam_rel,
                           l1_iter=args.l1_iter, repeats=repeats)  # fmt: skip
    md = table(rows)
    print(md)
    if args.quick:
        return 0
    command = "OMP_NUM_THREADS=1 nice python benchmarks/mri_classical.py " + " ".join(argv or sys.argv[1:])
    bart = subprocess.run(["bart", "version"], capture_output=True, text=True).stdout.strip() if shutil.which(
        "bart") else None  # fmt: skip
    import sigpy

    record = {
        "command": command.strip(), "clock": "CPU seconds of the process + children, one thread",
        "repeats": repeats, "cases": described, "versions": {"torch": torch.__version__, "sigpy": sigpy.__version__,
        "numpy": np.__version__, "bart": bart}, "rows": rows,
    }  # fmt: skip
    _timing.write_result(args.out, record)
    md_path = args.out.with_suffix(".md")
    md_path.write_text(
        f"# Classical MRI at realistic sizes (issue 15.4)\n\nCommand: `{record['command']}`\n\n"
        f"Clock: {record['clock']}, median of {repeats} interleaved rounds. Versions: {record['versions']}.\n\n"
        + "\n".join(
            f"- `{c['name']}`: {c['what']} (k-space {c['shape']}, sampled {c['sampled']:.3f})" for c in described
        )
        + "\n\n"
        + md
        + "\n"
    )
    print(f"wrote {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main))
