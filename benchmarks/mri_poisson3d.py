"""The paper's mSENSE setting: simulated 3-D Cartesian scans, 2-D Poisson-disc masks in the phase-encode plane.

Issue 15, item 5. Resumable (finished runs are skipped, interrupted ones resume from ``last.pt``; test metrics
are cached per run) and shardable (``--shard K/N``; tabulate afterwards with ``--only-report``)::

    OMP_NUM_THREADS=1 python benchmarks/mri_poisson3d.py --data data/mri3d --runs runs/mri_poisson3d

simulates the data if ``--data`` lacks it (``SimulationConfig(acquisition="3d")``: phase-encode planes
``(ky, kz) = 64×48``, 8 coils, 8 readout positions per volume; train 16 volumes, val 4, test 6, seeds 21/22/23),
then trains and reports. Protocol (fixed before any test number was seen):

* masks: sigpy's variable-density Poisson-disc generator, 2× and 4×, fixed 12×12 calibration square
  (:func:`~monarch_sci.datasets.mri.masks.poisson_calib`), a fresh mask per training sample, one mask per
  validation/test volume (seeded by the file name; shared by the volume's readout positions, as in a 3-D scan);
* coil maps: ESPIRiT on that 12×12 calibration square only (what the acquisition holds), for every method;
* target: fastMRI's RSS of the fully sampled k-space (independent of any method's maps); metrics per volume on
  magnitudes (fastMRI PSNR/SSIM/NMSE), mean over test volumes, then mean ± std over 3 training seeds;
* runs are extended in place when ``--epochs`` grows (resumed from ``last.pt``; a resumed run equals an
  uninterrupted one, the learning rate being constant), and their test metrics recomputed;
* models: mSENSE, its diagonal ablation, unrolled-FFT and unrolled-Monarch (4 cascades, 16 channels);
  hyperparameters chosen on the validation volumes only: the learning rate (for Monarch factors, the factor
  rate) from a small grid with seed 0, the epoch by the best validation loss (``best.pt``); seeds 1 and 2 then
  train with the chosen value (seed 0 is the selection run itself). Adam, batch 4, ``--epochs`` (8) epochs of
  the 128 training slices for the unrolled networks, 3× as many for mSENSE and diag-SENSE (cheap);
  training masks: a fresh draw per sample from 256 seeded Poisson-disc patterns per acceleration;
* classical rows on the same test slices, masks, maps and targets: zero-filled SENSE and CG-SENSE (λ chosen on
  the validation volumes).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from _timing import shard

from monarch_sci.cli.scripts import add_flags, run_script, script_parser

ROOT = Path(__file__).resolve().parents[1]
SHAPE = (64, 48)
SPLITS = {"train": (16, 21), "val": (4, 22), "test": (6, 23)}  # volumes, simulation seed
ACCELS = (2, 4)
#: Per model: fixed spec fields and the validation grid (one field, several values).
MODELS = {
    "msense": ({"model": "msense"}, ("lr", (1e-3, 3e-3, 1e-2))),
    "diag": ({"model": "diag"}, ("lr", (3e-3, 1e-2, 3e-2))),
    "unrolled-fft": ({"model": "unrolled", "hparams": {"fourier": "fft", "cascades": 4, "channels": 16}},
                     ("lr", (1e-3,))),
    "unrolled-monarch": ({"model": "unrolled", "lr": 1e-3,
                          "hparams": {"fourier": "monarch", "cascades": 4, "channels": 16}},
                         ("factor_lr", (1e-4, 1e-3))),
}  # fmt: skip
#: mSENSE and its ablation train 3× the epochs (a training epoch costs ~1 s against ~20 s for unrolled-Monarch).
EPOCH_FACTOR = {"msense": 3, "diag": 3}
ORDER = (("msense", 2), ("diag", 2), ("unrolled-fft", 4), ("unrolled-monarch", 4), ("msense", 4), ("diag", 4),
         ("unrolled-fft", 2), ("unrolled-monarch", 2))  # fmt: skip


def simulate(data: Path, slices: int = 8, coils: int = 8) -> None:
    """Write the 3-D data set (skipped for splits that already hold their files)."""
    from monarch_sci.datasets.mri.simulate import SimulationConfig, simulate_dataset

    for split, (n, seed) in SPLITS.items():
        folder = data / split
        if folder.is_dir() and len(list(folder.glob("*.h5"))) == n:
            continue
        cfg = SimulationConfig(recon_size=SHAPE, num_coils=coils, num_slices=slices, oversampling=1,
                               fine_factor=2, seed=seed, acquisition="3d")  # fmt: skip
        simulate_dataset(folder, cfg, n, prefix="file_sim3d")


def plan(epochs: int, seeds: list[int]) -> list[dict]:
    """Selection runs (seed 0, every grid value) of every (model, accel) block first, then the other seeds."""
    runs = []
    for model, accel in ORDER:
        key, grid = MODELS[model][1]
        n_ep = epochs * EPOCH_FACTOR.get(model, 1)
        runs += [{"model": model, "accel": accel, "seed": seeds[0], "key": key, "value": v, "epochs": n_ep,
                  "phase": "select"} for v in grid]  # fmt: skip
    for model, accel in ORDER:
        key, _ = MODELS[model][1]
        n_ep = epochs * EPOCH_FACTOR.get(model, 1)
        runs += [{"model": model, "accel": accel, "seed": s, "key": key, "value": None, "epochs": n_ep,
                  "phase": "seed"} for s in seeds[1:]]  # fmt: skip
    return runs


def run_dir(runs: Path, r: dict, value=None) -> Path:
    v = r["value"] if value is None else value
    return runs / f"{r['model']}_{r['accel']}x_{r['key']}{v:g}_s{r['seed']}"


def _finished(folder: Path) -> dict | None:
    rec = folder / "record.json"
    if rec.is_file():
        record = json.loads(rec.read_text())
        if record.get("status") == "finished":
            return record
    return None


def chosen_value(runs: Path, model: str, accel: int, seed0: int) -> tuple[float | None, dict]:
    """The grid value with the lowest best validation loss among the finished seed-0 runs (None if any is
    missing), and each value's validation loss and PSNR at its best epoch."""
    key, grid = MODELS[model][1]
    scores = {}
    for v in grid:
        rec = _finished(run_dir(runs, {"model": model, "accel": accel, "seed": seed0, "key": key, "value": v}))
        if rec is None:
            return None, scores
        best = min(rec["epochs"], key=lambda h: h["val_loss"])
        scores[v] = {"val_loss": best["val_loss"], "val_psnr": best["val_psnr"], "epoch": best["epoch"]}
    return min(scores, key=lambda v: scores[v]["val_loss"]), scores


def train_spec(r: dict, data: Path, cache_dir: Path, value: float):
    from monarch_sci.operators.mri.training import ReconTrainSpec

    fixed, (key, _) = MODELS[r["model"]]
    fields = {**fixed, "hparams": dict(fixed.get("hparams", {})), key: value}
    return ReconTrainSpec(data=data / "train", val=data / "val", acceleration=r["accel"], seed=r["seed"],
                          mask_type="poisson", mask_policy="volume", maps="acs", target="rss", epochs=r["epochs"],
                          batch_size=4, progress=False, cache_dir=cache_dir, **fields)  # fmt: skip


def train_one(r: dict, data: Path, runs: Path) -> Path | None:
    from monarch_sci.operators.mri.training import train_recon_model

    value = r["value"]
    if value is None:
        value, _ = chosen_value(runs, r["model"], r["accel"], 0)
        if value is None:
            print(f"skip {r['model']} {r['accel']}x seed {r['seed']}: its selection runs are not finished yet")
            return None
    out = run_dir(runs, r, value)
    rec = _finished(out)
    if rec is None or len(rec["epochs"]) < r["epochs"]:  # new, interrupted, or extended (--epochs grew)
        t0 = time.perf_counter()
        train_recon_model(train_spec(r, data, runs / "cache", value), out, resume=(out / "last.pt").is_file())
        print(f"[{time.strftime('%H:%M:%S')}] trained {out.name} in {time.perf_counter() - t0:.0f}s", flush=True)
    return out


def test_metrics(out: Path, test, accel: int) -> dict:
    from monarch_sci.operators.mri.runs import evaluate_run
    from monarch_sci.training.checkpoint import write_text_atomic

    cache = out / "test_metrics.json"
    epochs = len(json.loads((out / "record.json").read_text())["epochs"])
    if cache.is_file():
        m = json.loads(cache.read_text())
        if m.get("epochs_trained") == epochs:  # else the run was extended since: evaluate its new best.pt
            return m
    m = evaluate_run(out, test, accel=accel, mask_policy="volume", mask_type="poisson")
    m.pop("pred")
    m["epochs_trained"] = epochs
    write_text_atomic(cache, json.dumps(m))
    return m


def banks(data: Path, runs: Path) -> dict:
    """Validation and test banks: maps from the 12×12 calibration square (the same for 2× and 4×), RSS targets."""
    from monarch_sci.operators.mri.slice_bank import acquisition_calib, load_slice_bank

    calib = acquisition_calib(SHAPE, 2, "poisson")
    return {s: load_slice_bank(data / s, calib=calib, target="rss", cache_dir=runs / "cache") for s in ("val", "test")}


def classical(b: dict, accel: int) -> dict[str, dict]:
    """Zero-filled SENSE and CG-SENSE (λ chosen on the validation volumes) on the learned models' test data."""
    from monarch_sci.operators.mri.classical import cg_sense
    from monarch_sci.operators.mri.recon_task import volume_metrics
    from monarch_sci.operators.mri.sense import SenseOperator
    from monarch_sci.operators.mri.slice_bank import ReconSlices

    def batch(bank):
        ds = ReconSlices(bank, accel=accel, mask_policy="volume", mask_type="poisson")
        items = [ds[i] for i in range(len(ds))]
        return tuple(torch.stack([it[k] for it in items]) for k in ("kspace", "mask", "maps"))

    def score(bank, x):
        return volume_metrics(x, bank.target, bank.volume, bank.recon_size)

    val, test = b["val"], b["test"]
    kv, mv, sv = batch(val)
    lams = (1e-4, 1e-3, 1e-2, 3e-2)
    val_psnr = {lam: float(np.mean(score(val, cg_sense(kv, sv, mv, lam=lam, max_iter=30, tol=1e-5)[0])["psnr"]))
                for lam in lams}  # fmt: skip
    lam = max(val_psnr, key=val_psnr.get)
    k, m, s = batch(test)
    t0 = time.perf_counter()
    zf = SenseOperator(s, m).adjoint(k)
    rows = {"zero-filled SENSE": {**score(test, zf), "seconds_per_slice": (time.perf_counter() - t0) / len(k)}}
    t0 = time.perf_counter()
    x, _ = cg_sense(k, s, m, lam=lam, max_iter=30, tol=1e-5)
    rows[f"CG-SENSE (λ={lam:g})"] = {**score(test, x), "seconds_per_slice": (time.perf_counter() - t0) / len(k),
                                     "val_psnr_per_lambda": val_psnr}  # fmt: skip
    return rows


def _pm(values) -> str:
    v = np.asarray(values, dtype=float)
    return f"{v.mean():.2f} ± {v.std():.2f}"


def report(runs: Path, b: dict, seeds: list[int], out: Path, argv: list[str], epochs: int) -> None:
    from monarch_sci.operators.mri.models import model_label

    cache = runs / "classical.json"
    cls = json.loads(cache.read_text()) if cache.is_file() else {}
    for accel in ACCELS:
        if str(accel) not in cls:
            cls[str(accel)] = classical(b, accel)
            cache.write_text(json.dumps(cls))
    rows, selection = [], {}
    for model, accel in sorted(set(ORDER), key=lambda t: (t[1], list(MODELS).index(t[0]))):
        value, scores = chosen_value(runs, model, accel, seeds[0])
        key = MODELS[model][1][0]
        selection[f"{model}_{accel}x"] = {"key": key, "chosen": value, "val": {f"{v:g}": s for v, s in scores.items()}}
        if value is None:
            continue
        per_seed = []
        for s in seeds:
            r = {"model": model, "accel": accel, "seed": s, "key": key, "value": value}
            folder = run_dir(runs, r)
            if _finished(folder) is not None:
                per_seed.append({"seed": s, **test_metrics(folder, b["test"], accel)})
        if per_seed:
            fixed = MODELS[model][0]
            rows.append({"method": model_label(fixed["model"], fixed.get("hparams", {})), "model": model,
                         "accel": accel, key: value, "seeds": [p["seed"] for p in per_seed],
                         "psnr_per_seed": [float(np.mean(p["psnr"])) for p in per_seed],
                         "ssim_per_seed": [float(np.mean(p["ssim"])) for p in per_seed],
                         "seconds_per_slice": float(np.mean([p["seconds_per_slice"] for p in per_seed]))})  # fmt: skip
    for accel in ACCELS:
        for label, m in cls[str(accel)].items():
            rows.append({"method": label, "model": "classical", "accel": accel, "seeds": [],
                         "psnr_per_seed": [float(np.mean(m["psnr"]))], "ssim_per_seed": [float(np.mean(m["ssim"]))],
                         "psnr_std_volumes": float(np.std(m["psnr"])),
                         "seconds_per_slice": m["seconds_per_slice"]})  # fmt: skip
    planned = len(plan(epochs, seeds))
    done = sum(len(r["seeds"]) for r in rows)
    trained = sum(_finished(f) is not None for f in runs.iterdir() if f.is_dir())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"rows": rows, "selection": selection, "argv": argv,
                                                    "test_volumes": b["test"].names, "val_volumes": b["val"].names,
                                                    "trained_runs": done}, indent=1))  # fmt: skip
    lines = [
        "# mSENSE in its paper's setting: 3-D Cartesian scans, 2-D Poisson-disc masks (simulated, CPU-sized)",
        "",
        f"Test: {len(b['test'].names)} volumes × 8 readout positions = {len(b['test'].volume)} phase-encode "
        f"slices, {tuple(b['test'].kspace.shape[1:])} (coils, ky, kz). **Protocol: maps from each acquisition's "
        "own 12×12 calibration square (ESPIRiT), target fastMRI's RSS, the same mask family (2-D Poisson-disc, "
        "sigpy) in training, validation and test.** PSNR/SSIM per volume (fastMRI definitions), mean over the "
        "test volumes; learned rows: mean ± std over training seeds; classical rows: ± std over test volumes.",
        "",
        "| accel | method | chosen on val | PSNR dB | SSIM | s/slice | seeds |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["accel"], r["model"] != "classical")):
        chosen = next((f"{k}={r[k]:g}" for k in ("lr", "factor_lr") if k in r), "")
        if r["model"] == "classical":
            psnr = f"{r['psnr_per_seed'][0]:.2f} ± {r['psnr_std_volumes']:.2f} (vol)"
            ssim = f"{r['ssim_per_seed'][0]:.4f}"
        else:
            psnr, ssim = _pm(r["psnr_per_seed"]), _pm(r["ssim_per_seed"]).replace(".2f", ".4f")
            ssim = f"{np.mean(r['ssim_per_seed']):.4f} ± {np.std(r['ssim_per_seed']):.4f}"
        lines.append(f"| {r['accel']}× | {r['method']} | {chosen} | {psnr} | {ssim} | {r['seconds_per_slice']:.4f} | "
                     f"{len(r['seeds']) or '-'} |")  # fmt: skip
    lines += ["", f"Test rows use {done} finished runs (3 seeds × 8 model/acceleration pairs when complete); "
              f"{trained} runs trained in all ({planned} planned, with the validation grids).", ""]  # fmt: skip
    lines += [*goals(rows), "", "## Validation selection (seed 0; best epoch's validation loss / PSNR)", ""]
    for name, sel in selection.items():
        vals = ", ".join(f"{k}={v}: {s['val_loss']:.4g} / {s['val_psnr']:.2f} dB (epoch {s['epoch']})"
                         for k, v, s in ((sel["key"], v, s) for v, s in sel["val"].items()))  # fmt: skip
        lines.append(f"- {name}: {vals or 'not finished'}; chosen {sel['chosen']}")
    lines += ["", "## Reproduce", "", "```bash",
              f"OMP_NUM_THREADS=1 python benchmarks/mri_poisson3d.py --data data/mri3d --runs {runs} --epochs {epochs}",
              "# or N processes: --shard K/N each, then the same command with --only-report", "```",
              "", "Data (written by the command if missing; the same through the CLI):", "", "```bash"]  # fmt: skip
    lines += [f"monarch-sci mri simulate --acquisition 3d --volumes {n} --slices 8 --coils 8 --size {SHAPE[0]} "
              f"--width {SHAPE[1]} --seed {seed} --prefix file_sim3d --out data/mri3d/{split}"
              for split, (n, seed) in SPLITS.items()]  # fmt: skip
    lines += ["```", "", "## Protocol", "", "* data: " + __doc__.split("simulates the data if ")[1].strip()]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


def goals(rows: list[dict]) -> list[str]:
    def psnr(method_prefix: str, accel: int) -> dict | None:
        for r in rows:
            if r["accel"] == accel and r["method"].startswith(method_prefix):
                return r
        return None

    def diff(a, b) -> str:
        if a is None or b is None:
            return "n/a (runs missing)"
        if b["model"] == "classical":
            d = np.array(a["psnr_per_seed"]) - b["psnr_per_seed"][0]
        else:
            common = sorted(set(a["seeds"]) & set(b["seeds"]))
            if not common:
                return "n/a (runs missing)"
            d = np.array([a["psnr_per_seed"][a["seeds"].index(s)] - b["psnr_per_seed"][b["seeds"].index(s)]
                          for s in common])  # fmt: skip
        return f"{d.mean():+.2f} ± {d.std():.2f} dB ({len(d)} seeds)"

    out = ["## Goals (test PSNR differences)", ""]
    for accel in ACCELS:
        zf = psnr("zero-filled", accel)
        out.append(f"- {accel}×: mSENSE − zero-filled SENSE {diff(psnr('mSENSE', accel), zf)}; diag-SENSE − "
                   f"zero-filled SENSE {diff(psnr('diag-SENSE', accel), zf)} (goal at 2×: ≥ +1 dB; published "
                   "+1.5 dB)")  # fmt: skip
        mon = psnr("unrolled-Monarch", accel)
        out.append(f"- {accel}×: unrolled-Monarch − unrolled-FFT, paired by seed "
                   f"{diff(mon, psnr('unrolled-FFT', accel))} (goal: ≥ 0); "
                   f"unrolled-Monarch − CG-SENSE {diff(mon, psnr('CG-SENSE', accel))}")  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    p = script_parser(__doc__)
    p.add_argument("--data", default="data/mri3d", help="folder with train/, val/, test/ (simulated if missing)")
    p.add_argument("--runs", default="runs/mri_poisson3d", help="where the run folders go")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--only-report", action="store_true", help="do not train; tabulate what is finished")
    p.add_argument(
        "--shard",
        type=shard,
        default=(0, 1),
        metavar="K/N",
        help="K/N: train only every N-th planned run from the K-th",
    )
    add_flags(p, "out", out=str(ROOT / "benchmarks" / "results" / "mri_poisson3d"), out_help="results folder")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    k, n = args.shard
    data, runs = Path(args.data), Path(args.runs)
    simulate(data)
    b = banks(data, runs)
    if not args.only_report:
        for i, r in enumerate(plan(args.epochs, args.seeds)):
            if i % n != k:
                continue
            try:
                train_one(r, data, runs)
            except Exception as err:  # one failed run must not lose the rest
                print(f"run {r} failed: {err!r}", file=sys.stderr, flush=True)
            if n == 1:
                report(runs, b, args.seeds, Path(args.out), sys.argv, args.epochs)
    if n == 1 or args.only_report:
        report(runs, b, args.seeds, Path(args.out), sys.argv, args.epochs)
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
