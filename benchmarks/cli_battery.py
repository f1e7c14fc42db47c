"""Reliability battery through the real command line: exit status, traceback, data kept, result after a kill.

Family ``bad-input``: every case runs ``python -m monarch_sci.cli ...`` in a fresh process with a user mistake
(a missing or corrupt file, a value out of range, a device that is not there, ...) and records whether the
command exits non-zero, prints a Python traceback, leaves its output file or folder behind. A good command exits
non-zero with one message and no traceback, and creates nothing.

The families of :mod:`cli_battery_families` (issue 28): ``aliasing`` (an output that is an input), ``existing``
(an existing output without ``--overwrite``), ``kill`` (killed as by ``kill -9`` at several points, with and
without ``--overwrite``; the data that existed must be intact and the rerun must end with the uninterrupted
result), ``changed`` (data changed in place before a resume or a reuse), ``concurrent`` (two writers into one
``--out``), ``corrupt`` (truncated or random checkpoints, edited records, truncated caches and HDF5 files) and
``huge`` (sizes far beyond the memory; the peak memory of the refusing process is measured).

The script runs against any installed checkout (``--python`` of another environment), so the same battery
measures a change before and after. Writes ``--out`` (JSON) and, with ``--md``, the markdown table.

    nice python benchmarks/cli_battery.py --out benchmarks/results/cli_battery.json \\
        --md benchmarks/results/cli_battery.md

``--families F ... --update`` reruns only those families, keeping the other rows of ``--out``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cli_battery_families import FAMILIES, HUGE_BOUND_MIB, Runner

from monarch_sci.cli.scripts import run_script, script_parser
from monarch_sci.training.checkpoint import write_json_atomic, write_text_atomic


def _fixtures(root: Path, python: str) -> dict[str, Path]:
    """Tiny valid inputs, made with the current checkout's own jobs, and broken copies of them."""
    import h5py
    import numpy as np

    # cwd=root: `python -m` puts the working directory first on sys.path, which must not be a checkout
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ns = root / "ns.h5"
    run = [python, "-m", "monarch_sci.cli"]
    subprocess.run([*run, "ns", "generate", "--n", "12", "--T", "0.6", "--record", "6", "--dt", "0.01",
                    "--resolution", "16", "--gen-resolution", "32", "--no-progress", "--out", str(ns)],
                   check=True, capture_output=True, env=env, cwd=root)  # fmt: skip
    mri = root / "mri"
    subprocess.run([*run, "mri", "simulate", "--volumes", "2", "--slices", "1", "--coils", "4", "--size", "48",
                    "--out", str(mri)], check=True, capture_output=True, env=env, cwd=root)  # fmt: skip
    files = sorted(mri.glob("*.h5"))
    corrupt = root / "corrupt.h5"
    corrupt.write_text("this is not HDF5\n")
    no_u = root / "no_u.h5"
    with h5py.File(ns, "r") as a, h5py.File(no_u, "w") as b:
        for key in a:
            if key != "u":
                a.copy(key, b)
        b.attrs.update(dict(a.attrs))
    nan_dir, big_dir = root / "mri_nan", root / "mri_bigrecon"
    for folder in (nan_dir, big_dir):
        folder.mkdir()
        for f in files:
            with h5py.File(f, "r") as a, h5py.File(folder / f.name, "w") as b:
                for key in a:
                    a.copy(key, b)
                b.attrs.update(dict(a.attrs))
    with h5py.File(nan_dir / files[0].name, "r+") as h:
        rss = h["reconstruction_rss"][...]
        rss[0, 0, 0] = np.nan
        h["reconstruction_rss"][...] = rss
    with h5py.File(big_dir / files[0].name, "r+") as h:
        xml = h["ismrmrd_header"][()].decode()
        start = xml.index("<reconSpace>")
        seg = xml[start:].replace("<x>48</x>", "<x>100000</x>", 1)
        del h["ismrmrd_header"]
        h["ismrmrd_header"] = (xml[:start] + seg).encode()
    empty = root / "empty"
    empty.mkdir()
    return {"ns": ns, "mri": mri, "file": files[0], "corrupt": corrupt, "no_u": no_u, "nan": nan_dir,
            "big": big_dir, "empty": empty}  # fmt: skip


def cases(f: dict[str, Path], out: Path) -> list[tuple[str, list[str], Path]]:
    """``(name, argv, output that must not appear)``; only spellings every version of the CLI accepts."""
    o = lambda name: out / name  # noqa: E731
    return [
        ("ns generate --T 0", ["ns", "generate", "--T", "0", "--out", str(o("a.h5"))], o("a.h5")),
        ("ns generate --n 0", ["ns", "generate", "--n", "0", "--out", str(o("b.h5"))], o("b.h5")),
        ("ns generate --dt 0.007 (T/record not a multiple)",
         ["ns", "generate", "--T", "1", "--record", "3", "--dt", "0.007", "--out", str(o("c.h5"))], o("c.h5")),
        ("ns info missing file", ["ns", "info", str(o("missing.h5"))], o("missing.h5")),
        ("ns info corrupt file", ["ns", "info", str(f["corrupt"])], o("none")),
        ("ns info store without u", ["ns", "info", str(f["no_u"])], o("none")),
        ("pde train missing data", ["pde", "train", "--data", str(o("nope.h5")), "--out", str(o("r1"))], o("r1")),
        ("pde train corrupt data", ["pde", "train", "--data", str(f["corrupt"]), "--out", str(o("r2"))], o("r2")),
        ("pde train store without u", ["pde", "train", "--data", str(f["no_u"]), "--out", str(o("r3"))], o("r3")),
        ("pde train --ntrain 0", ["pde", "train", "--data", str(f["ns"]), "--ntrain", "0", "--out", str(o("r4"))],
         o("r4")),
        ("pde train too many samples", ["pde", "train", "--data", str(f["ns"]), "--ntrain", "500",
                                        "--out", str(o("r5"))], o("r5")),
        ("pde train modes do not fit", ["pde", "train", "--data", str(f["ns"]), "--modes", "40", "--t-in", "2",
                                        "--t-out", "2", "--ntrain", "4", "--nval", "2", "--ntest", "2",
                                        "--out", str(o("r6"))], o("r6")),
        ("pde train --device cuda (no GPU)", ["pde", "train", "--data", str(f["ns"]), "--device", "cuda",
                                              "--out", str(o("r7"))], o("r7")),
        ("pde compare missing data", ["pde", "compare", "--data", str(o("nope.h5")), "--out", str(o("c1"))], o("c1")),
        ("mri simulate --volumes 0", ["mri", "simulate", "--volumes", "0", "--out", str(o("s1"))], o("s1")),
        ("mri simulate --coils 0", ["mri", "simulate", "--coils", "0", "--out", str(o("s2"))], o("s2")),
        ("mri recon missing file", ["mri", "recon", "--model", "cg_sense", "--in", str(o("nope.h5")),
                                    "--out", str(o("x1.h5"))], o("x1.h5")),
        ("mri recon corrupt file", ["mri", "recon", "--model", "cg_sense", "--in", str(f["corrupt"]),
                                    "--out", str(o("x2.h5"))], o("x2.h5")),
        ("mri recon unknown method", ["mri", "recon", "--model", "magic", "--in", str(f["file"]),
                                      "--out", str(o("x3.h5"))], o("x3.h5")),
        ("mri recon header recon size 100000", ["mri", "recon", "--model", "zero_filled_rss", "--in",
                                                str(sorted(f["big"].glob("*.h5"))[0]), "--out", str(o("x4.h5"))],
         o("x4.h5")),
        ("mri undersample missing input", ["mri", "undersample", "--in", str(o("nope")), "--out", str(o("u1"))],
         o("u1")),
        ("mri compare empty folder", ["mri", "compare", "--data", str(f["empty"]), "--out", str(o("m1"))], o("m1")),
        ("mri compare --max-volumes -1", ["mri", "compare", "--data", str(f["mri"]), "--max-volumes", "-1",
                                          "--methods", "zero_filled_rss", "--out", str(o("m2"))], o("m2")),
        ("mri compare NaN target", ["mri", "compare", "--data", str(f["nan"]), "--methods", "zero_filled_rss",
                                    "--accelerations", "2", "--out", str(o("m3"))], o("m3")),
        ("mri compare --accelerations 3", ["mri", "compare", "--data", str(f["mri"]), "--accelerations", "3",
                                           "--out", str(o("m4"))], o("m4")),
        ("mri train missing data", ["mri", "train", "--data", str(o("nope")), "--model", "diag",
                                    "--out", str(o("t1"))], o("t1")),
        ("mri train one volume, no --val", ["mri", "train", "--data", str(f["file"]), "--model", "diag",
                                            "--out", str(o("t2"))], o("t2")),
        ("mri train --epochs 0", ["mri", "train", "--data", str(f["mri"]), "--model", "diag", "--epochs", "0",
                                  "--out", str(o("t3"))], o("t3")),
        ("demo --threads 0", ["demo", "--threads", "0", "--out", str(o("d1"))], o("d1")),
    ]  # fmt: skip


def _bad_input(python: str, root: Path, fixtures: dict[str, Path]) -> list[dict]:
    """The bad-input family: one fresh ``python -m monarch_sci.cli`` per case; good = non-zero exit, no traceback,
    nothing left behind."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = root / "out"
    out.mkdir()
    rows = []
    for name, cmd, output in cases(fixtures, out):
        t0 = time.perf_counter()
        proc = subprocess.run([python, "-m", "monarch_sci.cli", *cmd], capture_output=True, text=True, env=env,
                              timeout=600, cwd=root)  # fmt: skip
        err = proc.stderr.strip().splitlines()
        traceback = "Traceback (most recent call last)" in proc.stderr
        rows.append({"family": "bad input", "case": name, "exit": proc.returncode, "traceback": traceback,
                     "left_behind": output.exists(), "data_kept": None, "equal_after_kill": None, "peak_mib": None,
                     "good": proc.returncode != 0 and not traceback and not output.exists(),
                     "last_line": err[-1][:200] if err else "",
                     "seconds": round(time.perf_counter() - t0, 1)})  # fmt: skip
        print(f"[bad input] {name}: exit {proc.returncode}, traceback {traceback}", flush=True)
    return rows


def _mark(value) -> str:
    return "-" if value is None else ("yes" if value else "no")


def table(summary: dict) -> str:
    """The markdown table of a battery: counts per family, then one row per case."""
    lines = [f"# CLI reliability battery{' (' + summary['label'] + ')' if summary.get('label') else ''}", "",
             "Made by `benchmarks/cli_battery.py` (its docstring describes the families). Each case is a fresh "
             "process of the real command line. Good: the expected exit status, one error line where a refusal is "
             "expected, no traceback, the data that existed before intact (`data kept`), and after kills a rerun "
             "whose result equals an uninterrupted run's (`equal after kill`); a refused huge size must stay under "
             f"{HUGE_BOUND_MIB} MiB of peak memory (the interpreter and torch included). In the bad-input family "
             "good also means no output left behind.", "",
             "| family | cases | good | tracebacks | data lost | unequal after a kill | over the memory bound |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for fam, c in summary["families"].items():
        lines.append(f"| {fam} | {c['cases']} | {c['good']} | {c['traceback']} | {c['data_lost']} | "
                     f"{c['unequal']} | {c['over_bound']} |")  # fmt: skip
    t = summary["total"]
    lines.append(f"| **all** | {t['cases']} | {t['good']} | {t['traceback']} | {t['data_lost']} | {t['unequal']} | "
                 f"{t['over_bound']} |")  # fmt: skip
    lines += ["", "| family | case | exit | traceback | data kept | equal after kill | peak MiB | good | last line |",
              "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in summary["rows"]:
        last = r["last_line"].replace("|", "\\|")
        lines.append(f"| {r['family']} | {r['case']} | {r['exit']} | {_mark(r['traceback'])} | {_mark(r['data_kept'])} "
                     f"| {_mark(r['equal_after_kill'])} | {'-' if r['peak_mib'] is None else r['peak_mib']} | "
                     f"{_mark(r['good'])} | {last} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def _counts(rows: list[dict]) -> dict[str, int]:
    return {"cases": len(rows), "good": sum(r["good"] for r in rows), "traceback": sum(r["traceback"] for r in rows),
            "data_lost": sum(r["data_kept"] is False for r in rows),
            "unequal": sum(r["equal_after_kill"] is False for r in rows),
            "over_bound": sum("over the bound" in r["last_line"] for r in rows)}  # fmt: skip


def _merged(old: list[dict], new: list[dict]) -> list[dict]:
    """``old`` with the rows of every family that ``new`` holds replaced by ``new``'s, where the first stood."""
    fams, rows = {r["family"] for r in new}, []
    for r in old:
        if r["family"] not in fams:
            rows.append(r)
        elif new:
            rows, new = rows + new, []
    return rows + new


def main(argv: list[str] | None = None) -> int:
    p = script_parser(__doc__, "out", out_type=Path, out_help="JSON result")
    p.add_argument("--python", default=sys.executable, help="interpreter of the checkout under test")
    p.add_argument("--fixtures-python", default=sys.executable, help="interpreter that makes the valid inputs")
    p.add_argument("--label", default="", help="name of the checkout in the table")
    names = ["bad-input", *FAMILIES]
    p.add_argument("--families", nargs="+", choices=names, default=names, help="the families to run")
    p.add_argument("--md", type=Path, default=None, help="also write the markdown table here")
    p.add_argument("--update", action="store_true",
                   help="keep the other families' rows of an existing --out, replacing only those run now")  # fmt: skip
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        fixtures = _fixtures(root, args.fixtures_python)
        rows = _bad_input(args.python, root, fixtures) if "bad-input" in args.families else []
        runner = Runner(args.python, root)
        for name in args.families:
            if name in FAMILIES:
                FAMILIES[name](runner, fixtures)
        rows += runner.rows
    if args.update and args.out.is_file():
        rows = _merged(json.loads(args.out.read_text())["rows"], rows)
    families = {}
    for r in rows:
        families.setdefault(r["family"], []).append(r)
    summary = {"label": args.label, "total": _counts(rows), "families": {k: _counts(v) for k, v in families.items()},
               "rows": rows}  # fmt: skip
    write_json_atomic(args.out, summary)
    if args.md is not None:
        write_text_atomic(args.md, table(summary))
    t = summary["total"]
    print(f"\n{args.label}: {t['good']}/{t['cases']} cases handled well; tracebacks {t['traceback']}, data lost "
          f"{t['data_lost']}, unequal after a kill {t['unequal']}, over the bound {t['over_bound']}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
