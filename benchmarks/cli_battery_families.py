"""The reliability families of ``cli_battery.py`` (issue 28): aliasing, existing outputs, kills mid-write (with
and without ``--overwrite``, at several points), data changed in place before a resume or a reuse, two writers at
once, corrupt checkpoints, caches and files, huge sizes.

Every case runs the command under test in a fresh process of ``--python`` through :data:`WRAP`, which can kill
it as ``kill -9`` does at its N-th HDF5 flush or N-th rename, and which records the process's peak memory. A row
holds the exit status, whether a traceback was printed, whether the data that existed before is intact
(``data_kept``), and for kills whether the rerun ended with the result of an uninterrupted run (``equal``).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

WRAP = """
import os, resource, sys
on, at, seen = os.environ.get("BATTERY_KILL_ON", ""), int(os.environ.get("BATTERY_KILL_AT", "0")), [0]
def tick():
    seen[0] += 1
    if seen[0] == at:
        os._exit(137)
if on == "flush":
    import h5py
    real_flush = h5py.File.flush
    def flush(self):
        real_flush(self)
        tick()
    h5py.File.flush = flush
elif on == "replace":
    real_replace = os.replace
    def replace(src, dst, *a, **k):
        tick()
        return real_replace(src, dst, *a, **k)
    os.replace = replace
from monarch_sci.cli import main
try:
    code = main(sys.argv[1:])
finally:
    with open(os.environ["BATTERY_RSS"], "w") as f:
        f.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
sys.exit(code)
"""

TRACEBACK = "Traceback (most recent call last)"
#: Peak memory (MiB) a refused huge size may reach: the interpreter, torch and the command's imports.
HUGE_BOUND_MIB = 1024


class Runner:
    """Runs ``monarch-sci ARGV`` of the checkout under test in ``root``; remembers every row."""

    def __init__(self, python: str, root: Path) -> None:
        self.python, self.root, self.rows = python, root, []
        self.env = {**os.environ, "OMP_NUM_THREADS": "1", "BATTERY_RSS": str(root / ".rss")}

    def run(self, argv, *, kill_on: str = "", kill_at: int = 0, background: bool = False):
        env = {**self.env, "BATTERY_KILL_ON": kill_on, "BATTERY_KILL_AT": str(kill_at)}
        cmd = [self.python, "-c", WRAP, *map(str, argv)]
        if background:
            return subprocess.Popen(cmd, env=env, cwd=self.root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, cwd=self.root)
        try:
            peak = int((self.root / ".rss").read_text()) / 1024
        except (OSError, ValueError):
            peak = None  # killed: no record
        (self.root / ".rss").unlink(missing_ok=True)
        return proc.returncode, proc.stderr, peak

    def row(self, family, case, rc, err, *, kept=None, equal=None, peak=None, expect=None, extra=""):
        lines = err.strip().splitlines()
        good = TRACEBACK not in err and kept is not False and equal is not False
        if expect is not None:
            good = good and expect(rc, err)
        self.rows.append({"family": family, "case": case, "exit": rc, "traceback": TRACEBACK in err,
                          "data_kept": kept, "equal_after_kill": equal,
                          "peak_mib": None if peak is None else round(peak), "good": bool(good),
                          "last_line": (lines[-1][:200] if lines else "") + extra})  # fmt: skip
        print(f"[{family}] {case}: exit {rc}, good {good}", flush=True)


def digest(path: Path) -> str:
    """Content digest of a file, or of a folder's visible files with their names (changed by any edit)."""
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    if not path.is_dir():
        return "absent"
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        if not any(part.startswith(".") for part in f.relative_to(path).parts):
            h.update(str(f.relative_to(path)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def arrays(path: Path, *keys: str) -> str:
    """Digest of the arrays ``keys`` of an HDF5 file, or of every ``.h5`` of a folder (metadata ignored)."""
    import h5py

    h = hashlib.sha256()
    for f in [path] if path.is_file() else sorted(path.glob("*.h5")):
        with h5py.File(f, "r") as hf:
            for k in keys:
                h.update(hf[k][()].tobytes())
    return h.hexdigest()


def refused(*needles: str):
    return lambda rc, err: rc == 2 and len(err.strip().splitlines()) == 1 and all(n in err for n in needles)


NS = ["ns", "generate", "--n", "3", "--T", "0.2", "--record", "2", "--dt", "0.01", "--resolution", "16",
      "--gen-resolution", "16", "--solve-batch", "1", "--quiet"]  # fmt: skip
DARCY = ["pde", "darcy", "generate", "--n", "4", "--resolution", "17", "--quiet"]
SIM = ["mri", "simulate", "--volumes", "2", "--slices", "1", "--coils", "2", "--size", "16", "--oversampling", "1",
       "--fine-factor", "1", "--quiet"]  # fmt: skip
TRAIN = ["--t-in", "2", "--t-out", "2", "--modes", "2", "--width", "4", "--batch-size", "2", "--ntrain", "6",
         "--nval", "2", "--ntest", "2", "--quiet"]  # fmt: skip


def aliasing(r: Runner, f: dict[str, Path]) -> None:
    mri, file, ns = f["mri"], f["file"], f["ns"]
    np_file = r.root / "k.npy"
    import numpy as np

    np.save(np_file, np.ones((2, 8, 6), np.complex64))
    for case, argv, inp in [
        ("mri recon --in X --out X", ["mri", "recon", "--model", "zero_filled_rss", "--in", file, "--out", file], mri),
        ("mri undersample --in DIR --out DIR", ["mri", "undersample", "--in", mri, "--out", mri], mri),
        ("mri undersample --in DIR/f --out DIR", ["mri", "undersample", "--in", file, "--out", mri], mri),
        ("mri undersample --in DIR --out DIR/../DIR",
         ["mri", "undersample", "--in", mri, "--out", mri / ".." / mri.name], mri),
        ("mri compare --data DIR --out DIR", ["mri", "compare", "--data", mri, "--out", mri], mri),
        ("mri import X --out X", ["mri", "import", np_file, "--out", np_file], np_file),
        ("pde train --data X --out X", ["pde", "train", "--data", ns, "--out", ns], ns),
    ]:  # fmt: skip
        before = digest(inp)
        rc, err, peak = r.run(argv)
        r.row("aliasing", case, rc, err, kept=digest(inp) == before, peak=peak, expect=refused("destroy the input"))


def existing(r: Runner, f: dict[str, Path]) -> None:
    sim, out = r.root / "exist_sim", r.root / "exist_r.h5"
    r.run([*SIM, "--out", sim])
    r.run(["mri", "recon", "--model", "zero_filled_rss", "--in", f["file"], "--out", out])
    for case, argv, target in [
        ("mri simulate again, other arguments", [*SIM, "--seed", "4", "--out", sim], sim),
        ("mri recon again, other method", ["mri", "recon", "--model", "zero_filled_sense", "--in", f["file"],
                                           "--out", out], out),
        ("mri undersample into a full folder", ["mri", "undersample", "--in", f["mri"], "--out", sim], sim),
    ]:  # fmt: skip
        before = digest(target)
        rc, err, peak = r.run(argv)
        r.row("existing output", case, rc, err, kept=digest(target) == before, peak=peak, expect=refused("--overwrite"))


def _kill_series(r, family, case, argv, out, keys, points, kill_on, *, old=None, ref=None, records=()):
    """Kill ``argv`` at each point, check the old data (and records) after each kill, rerun, compare with ``ref``."""
    watched = [out, *records] if old is not None else []
    before = {p: digest(p) for p in watched}
    for k in points:
        rc, err, _ = r.run(argv, kill_on=kill_on, kill_at=k)
        kept = all(digest(p) == d or _aside(p, d) for p, d in before.items()) if old is not None else None
        r.row(family, f"{case}, killed at {kill_on} {k}", rc, err, kept=kept, expect=lambda rc, err: rc == 137)
    rc, err, peak = r.run(argv)
    equal = rc == 0 and arrays(out, *keys) == arrays(ref, *keys)
    r.row(family, f"{case}, rerun after the kills", rc, err, equal=equal, peak=peak, expect=lambda rc, e: rc == 0)


def _aside(path: Path, d: str) -> bool:
    """A folder swap killed between its renames leaves the old folder whole as ``.NAME.PID.old`` (the next run
    puts it back): the data is kept."""
    return any(digest(p) == d for p in path.parent.glob(f".{path.name}.*.old"))


def kills(r: Runner, f: dict[str, Path]) -> None:
    fam = "kill mid-write"
    ref_ns, ref_ns5 = r.root / "ref_ns.h5", r.root / "ref_ns5.h5"
    r.run([*NS, "--out", ref_ns])
    r.run([*NS, "--seed", "5", "--out", ref_ns5])
    _kill_series(r, fam, "ns generate", [*NS, "--out", r.root / "k_ns.h5"], r.root / "k_ns.h5", ["u"], (1, 3),
                 "flush", ref=ref_ns)  # fmt: skip
    o = r.root / "o_ns.h5"
    r.run([*NS, "--out", o])
    _kill_series(r, fam, "ns generate --overwrite", [*NS, "--seed", "5", "--overwrite", "--out", o], o, ["u"],
                 (1, 3, 4), "flush", old=True, ref=ref_ns5, records=[r.root / "o_ns.h5.json"])  # fmt: skip
    ref_d, ref_d5 = r.root / "ref_d.h5", r.root / "ref_d5.h5"
    r.run([*DARCY, "--out", ref_d])
    r.run([*DARCY, "--seed", "5", "--out", ref_d5])
    _kill_series(r, fam, "darcy generate", [*DARCY, "--out", r.root / "k_d.h5"], r.root / "k_d.h5", ["x", "y"],
                 (1, 3), "flush", ref=ref_d)  # fmt: skip
    o = r.root / "o_d.h5"
    r.run([*DARCY, "--out", o])
    _kill_series(r, fam, "darcy generate --overwrite", [*DARCY, "--seed", "5", "--overwrite", "--out", o], o,
                 ["x", "y"], (1, 2, 1), "flush", old=True, ref=ref_d5, records=[r.root / "o_d.json"])  # fmt: skip
    ref_s = r.root / "ref_sim"
    r.run([*SIM, "--seed", "5", "--out", ref_s])
    _kill_series(r, fam, "mri simulate", [*SIM, "--seed", "5", "--out", r.root / "k_sim"], r.root / "k_sim",
                 ["kspace"], (1, 2), "replace", ref=ref_s)  # fmt: skip
    o = r.root / "o_sim"
    r.run([*SIM, "--out", o])
    _kill_series(r, fam, "mri simulate --overwrite", [*SIM, "--seed", "5", "--overwrite", "--out", o], o,
                 ["kspace"], (1, 2, 3, 4), "replace", old=True, ref=ref_s)  # fmt: skip
    ref_u, o = r.root / "ref_u", r.root / "o_u"
    r.run(["mri", "undersample", "--in", f["mri"], "--out", ref_u, "--mask-policy", "slice", "--quiet"])
    r.run(["mri", "undersample", "--in", f["mri"], "--out", o, "--quiet"])
    _kill_series(r, fam, "mri undersample --overwrite", ["mri", "undersample", "--in", f["mri"], "--out", o,
                 "--mask-policy", "slice", "--overwrite", "--quiet"], o, ["kspace", "mask"], (1, 2), "replace",
                 old=True, ref=ref_u)  # fmt: skip
    ref_r, o = r.root / "ref_r.h5", r.root / "o_r.h5"
    recon = ["mri", "recon", "--in", f["file"], "--quiet"]
    r.run([*recon, "--model", "zero_filled_sense", "--out", ref_r])
    r.run([*recon, "--model", "zero_filled_rss", "--out", o])
    again = [*recon, "--model", "zero_filled_sense", "--overwrite", "--out", o]
    _kill_series(r, fam, "mri recon --overwrite", again, o, ["reconstruction"], (1,), "replace", old=True,
                 ref=ref_r, records=[o.with_suffix(".json")])  # fmt: skip
    # pde train: killed after its first epoch's files were renamed into place, continued with --resume
    train = ["pde", "train", "--data", f["ns"], *TRAIN, "--epochs", "3"]
    r.run([*train, "--out", r.root / "ref_run"])
    run = r.root / "k_run"
    rc, err, _ = r.run([*train, "--out", run], kill_on="replace", kill_at=4)
    r.row(fam, "pde train, killed at rename 4 (epoch 2)", rc, err, expect=lambda rc, e: rc == 137)
    rc, err, peak = r.run([*train, "--out", run, "--resume"])
    equal = rc == 0 and _test_error(run) == _test_error(r.root / "ref_run")
    r.row(fam, "pde train --resume after the kill", rc, err, equal=equal, peak=peak, expect=lambda rc, e: rc == 0)
    # pde train / mri train --overwrite: the new run replaces the old one only once complete
    old_run, ref = r.root / "o_run", r.root / "ref_run1"
    r.run([*train, "--epochs", "2", "--out", old_run])
    again = [*train, "--epochs", "2", "--seed", "1", "--fourier", "monarch"]
    r.run([*again, "--out", ref])
    _run_kills(r, fam, "pde train --overwrite", [*again, "--overwrite", "--out", old_run], old_run, (1, 3, 6, 7),
               _test_error, ref)  # fmt: skip
    mtrain = ["mri", "train", "--data", f["mri"], "--model", "diag", "--epochs", "2", "--acceleration", "2", "--quiet"]
    old_run, ref = r.root / "o_mrun", r.root / "ref_mrun"
    r.run([*mtrain, "--out", old_run])
    r.run([*mtrain, "--seed", "1", "--out", ref])
    _run_kills(r, fam, "mri train --overwrite", [*mtrain, "--seed", "1", "--overwrite", "--out", old_run], old_run,
               (1, 4, 8, 10), _val_losses, ref)  # fmt: skip
    # mri compare --overwrite: its three outputs replace the old ones together, once all are written
    mcompare = ["mri", "compare", "--data", f["mri"], "--accelerations", "2", "--threads", "1", "--quiet"]
    old_cmp, ref = r.root / "o_mcmp", r.root / "ref_mcmp"
    r.run([*mcompare, "--methods", "zero_filled_rss", "--out", old_cmp])
    again = [*mcompare, "--methods", "zero_filled_rss", "cg_sense"]
    r.run([*again, "--out", ref])
    _run_kills(r, fam, "mri compare --overwrite", [*again, "--overwrite", "--out", old_cmp], old_cmp, (1, 2, 3, 4),
               _metrics, ref)  # fmt: skip


def _run_kills(r, family, case, argv, run, points, result, ref) -> None:
    """Kill a training run replacing ``run`` at each rename point: the old run folder stays whole (cache included,
    or aside between the swap's two renames); the rerun ends with ``result`` of the uninterrupted run ``ref``."""
    before = digest(run)
    for k in points:
        rc, err, _ = r.run(argv, kill_on="replace", kill_at=k)
        kept = digest(run) == before or _aside(run, before)
        r.row(family, f"{case}, killed at replace {k}", rc, err, kept=kept, expect=lambda rc, err: rc == 137)
    rc, err, peak = r.run(argv)
    equal = rc == 0 and result(run) is not None and result(run) == result(ref)
    r.row(family, f"{case}, rerun after the kills", rc, err, equal=equal, peak=peak, expect=lambda rc, e: rc == 0)


def _metrics(out: Path) -> list | None:
    try:
        rows = json.loads((out / "results.json").read_text())["per_volume"]
    except (OSError, ValueError, KeyError):
        return None
    return [(r["method"], r["acceleration"], r.get("nmse"), r.get("psnr"), r.get("ssim")) for r in rows]


def _val_losses(run: Path) -> list[float] | None:
    try:
        return [e["val_loss"] for e in json.loads((run / "record.json").read_text())["epochs"]]
    except (OSError, ValueError, KeyError):
        return None


def _test_error(run: Path) -> float | None:
    try:
        return json.loads((run / "record.json").read_text())["test"]["test_rel_l2"]
    except (OSError, ValueError, KeyError):
        return None


def _change_in_place(path: Path, key: str = "u") -> None:
    """Change one value of the array ``key`` (its second item) in place, keeping the file's modification time."""
    import h5py

    st = path.stat()
    with h5py.File(path, "r+") as h5:
        u = h5[key][1 if h5[key].shape[0] > 1 else 0]
        u[(0,) * u.ndim] += 1.0
        h5[key][1 if h5[key].shape[0] > 1 else 0] = u
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def changed_data(r: Runner, f: dict[str, Path]) -> None:
    import shutil

    data = r.root / "changing.h5"
    shutil.copy(f["ns"], data)
    run, cmp_ = r.root / "ch_run", r.root / "ch_cmp"
    train = ["pde", "train", "--data", data, *TRAIN, "--epochs", "2"]
    r.run([*train, "--out", run, "--stop-after", "1"])
    compare = ["pde", "compare", "--data", data, *TRAIN, "--epochs", "1", "--seeds", "0", "--fouriers", "fft"]
    r.run([*compare, "--out", cmp_])
    mdata = r.root / "changing_mri"
    shutil.copytree(f["mri"], mdata)
    mtrain = ["mri", "train", "--data", mdata, "--model", "diag", "--epochs", "2", "--acceleration", "2", "--quiet",
              "--out", r.root / "ch_mrun"]  # fmt: skip
    r.run([*mtrain, "--stop-after", "1"])
    _change_in_place(data)
    mfile = sorted(mdata.glob("*.h5"))[-1]
    _change_in_place(mfile, "kspace")
    for case, argv, named in [
        ("pde train --resume after u changed in place", [*train, "--out", run, "--resume"], "changing.h5"),
        ("pde compare reuse after u changed in place", [*compare, "--out", cmp_], "changing.h5"),
        ("mri train --resume after a k-space changed in place", [*mtrain, "--resume"], mfile.name),
    ]:
        rc, err, peak = r.run(argv)
        r.row("data changed in place", case, rc, err, peak=peak, expect=refused("content changed", named))


def concurrent(r: Runner, f: dict[str, Path]) -> None:
    for case, argv, out in [
        ("two darcy generate into one --out", ["pde", "darcy", "generate", "--n", "300", "--resolution", "129",
                                               "--quiet"], r.root / "two_d.h5"),
        ("two pde train into one --out", ["pde", "train", "--data", f["ns"], *TRAIN, "--epochs", "40"],
         r.root / "two_run"),
    ]:  # fmt: skip
        first = r.run([*argv, "--out", out], background=True)
        lock = out.with_name(f".{out.name}.lock")
        t0 = time.time()
        while not lock.exists() and time.time() - t0 < 120 and first.poll() is None:
            time.sleep(0.2)
        rc, err, peak = r.run([*argv, "--out", out])
        r.row("concurrent writers", f"{case}: the second", rc, err, peak=peak, expect=refused(f"PID {first.pid}"))
        first_err = first.communicate(timeout=900)[1].decode()
        r.row("concurrent writers", f"{case}: the first", first.returncode, first_err,
              expect=lambda rc, e: rc == 0)  # fmt: skip


def corrupt(r: Runner, f: dict[str, Path]) -> None:
    import numpy as np

    fam = "corrupt state"
    run = r.root / "c_run"
    r.run(["pde", "train", "--data", f["ns"], *TRAIN, "--epochs", "2", "--out", run])
    evaluate = ["pde", "evaluate", "--run", run, "--data", f["ns"]]
    good = (run / "last.pt").read_bytes()
    (run / "last.pt").write_bytes(good[: len(good) // 3])
    rc, err, peak = r.run(["pde", "train", "--data", f["ns"], *TRAIN, "--epochs", "3", "--out", run, "--resume"])
    r.row(fam, "truncated last.pt, --resume", rc, err, peak=peak, expect=refused("last.pt: not a readable checkpoint"))
    (run / "best.pt").write_bytes(np.random.default_rng(0).bytes(len(good)))
    rc, err, peak = r.run(evaluate)
    r.row(fam, "random best.pt, pde evaluate", rc, err, peak=peak, expect=refused("best.pt: not a readable checkpoint"))
    (run / "best.pt").write_bytes(good)
    record = json.loads((run / "record.json").read_text())
    record["spec"]["width"] = 6
    (run / "record.json").write_text(json.dumps(record))
    rc, err, peak = r.run(evaluate)
    r.row(fam, "record.json edited (width), pde evaluate", rc, err, peak=peak, expect=refused("another model"))
    (run / "record.json").write_text('{"spec": ')
    rc, err, peak = r.run(evaluate)
    r.row(fam, "record.json cut short, pde evaluate", rc, err, peak=peak, expect=refused("record.json"))
    trunc = r.root / "trunc.h5"
    trunc.write_bytes(f["ns"].read_bytes()[:4000])
    for case, argv in [("truncated HDF5, pde train", ["pde", "train", "--data", trunc, "--out", r.root / "t_run"]),
                       ("truncated HDF5, ns info", ["ns", "info", trunc])]:  # fmt: skip
        rc, err, peak = r.run(argv)
        r.row(fam, case, rc, err, peak=peak, expect=lambda rc, e: refused("trunc.h5")(rc, e) and "busy" not in e)
    mrun = r.root / "m_run"
    mtrain = ["mri", "train", "--data", f["mri"], "--model", "diag", "--epochs", "1", "--acceleration", "2", "--quiet"]
    r.run([*mtrain, "--out", mrun])
    caches = sorted((mrun / "cache").glob("slices-*.pt"))
    for c in caches:
        c.write_bytes(c.read_bytes()[:200])
    rc, err, peak = r.run([*mtrain, "--out", mrun, "--overwrite"])
    r.row(fam, "truncated slices cache, mri train again", rc, err, peak=peak,
          expect=lambda rc, e: rc == 0 and bool(caches) and "rebuilding it" in e)  # fmt: skip


def huge(r: Runner, f: dict[str, Path]) -> None:
    for case, argv in [
        ("mri simulate --size 100000", ["mri", "simulate", "--size", "100000", "--out", r.root / "h_sim"]),
        ("ns generate --gen-resolution 65536", ["ns", "generate", "--gen-resolution", "65536", "--out",
                                                r.root / "h_ns.h5"]),
        ("darcy generate --resolution 30000", ["pde", "darcy", "generate", "--n", "1", "--resolution", "30000",
                                               "--out", r.root / "h_d.h5"]),
        ("mri recon, header recon size 100000", ["mri", "recon", "--model", "zero_filled_rss", "--in",
                                                 sorted(f["big"].glob("*.h5"))[0], "--out", r.root / "h_r.h5"]),
    ]:  # fmt: skip
        rc, err, peak = r.run(argv)
        bounded = peak is not None and peak < HUGE_BOUND_MIB
        r.row("huge sizes", case, rc, err, peak=peak, expect=lambda rc, e, b=bounded: rc == 2 and b,
              extra="" if bounded else f" [peak {peak} MiB over the bound]")  # fmt: skip


FAMILIES = {"aliasing": aliasing, "existing": existing, "kill": kills, "changed": changed_data,
            "concurrent": concurrent, "corrupt": corrupt, "huge": huge}  # fmt: skip


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run benchmarks/cli_battery.py (it imports these families)")
