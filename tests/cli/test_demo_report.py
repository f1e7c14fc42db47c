"""The demo report's headline: this run beside the converged study (read from the committed results) and the
published effect; one seed prints no spread; a row that misses its direction says so in one sentence."""

import json
import re

from monarch_sci.cli.demo.report import RESULTS, converged_mri, converged_pde, directions, headline

RUN = {"pde": {"fft": [0.050], "monarch": [0.040]}, "msense": [0.30], "unrolled-fft": [-0.40],
       "unrolled-monarch": [0.10]}  # fmt: skip


def test_the_converged_column_is_the_committed_studies():
    pde, mri = converged_pde(), converged_mri()
    assert pde is not None and mri is not None
    # the same numbers as the studies' own pages (written by their scripts from the same JSON)
    assert f"{pde['change']:+.1%}".replace("+", "") in (RESULTS / "pde_science" / "report.md").read_text()
    goals = (RESULTS / "mri_learned.md").read_text()
    assert f"mSENSE − zero-filled SENSE {mri['msense'][0]:+.2f} ± {mri['msense'][1]:.2f} dB" in goals
    assert f"unrolled-fft − CG-SENSE {mri['unrolled-fft'][0]:+.2f} ± {mri['unrolled-fft'][1]:.2f} dB" in goals
    assert pde["command"] == "monarch-sci study run benchmarks/studies/pde_science.toml --stage final"
    assert (RESULTS.parents[1] / "benchmarks" / "studies" / "pde_science.toml").is_file()
    assert mri["command"].startswith("python benchmarks/mri_learned.py") and "--only-report" not in mri["command"]


def test_headline_has_three_labelled_columns_and_no_spread_for_one_seed():
    lines = headline(RUN)
    assert lines[0] == "| comparison | this run | this project's converged study (command below) | published |"
    pde = next(line for line in lines if line.startswith("| NS"))
    cells = [c.strip() for c in pde.strip("|").split("|")]
    assert cells[1] == "-20.0% (0.0400 vs 0.0500, 1 seed)"  # one seed: no ± (it would read as a zero spread)
    assert "3 seeds" in cells[2] and "±" in cells[2] and "500 trajectories" in cells[2]
    assert cells[3].startswith("-41%")
    msense = next(line for line in lines if "mSENSE" in line)
    assert "+0.30 dB, 1 seed" in msense and "+1.5 dB" in msense
    assert "benchmarks/studies/pde_science.toml" in lines[-1] and "benchmarks/mri_learned.py" in lines[-1]
    two = headline({"pde": {"fft": [0.05, 0.06], "monarch": [0.04, 0.05]}})
    assert re.search(r"\| -18\.2% \(0\.0450 ± 0\.0071 vs 0\.0550 ± 0\.0071, 2 seeds\) \|", two[2]), two[2]


def test_a_missed_direction_is_one_plain_sentence_with_the_budget_that_reaches_it():
    lines = directions(RUN)
    assert lines[0].startswith("As in the converged study, this run shows Monarch-FNO clearly below FFT-FNO (-20.0%)")
    (miss,) = lines[1:]
    assert miss.startswith("At this demo's budget the unrolled network (FFT) stays below CG-SENSE (-0.40 dB); ")
    assert "the converged study's budget shows it (+0.09 dB; `python benchmarks/mri_learned.py" in miss
    close = directions({"pde": {"fft": [0.050], "monarch": [0.049]}})  # -2%: not clearly below
    assert close[0].startswith("At this demo's budget Monarch-FNO is not clearly below FFT-FNO (-2.0%)")


def test_without_the_results_files_the_report_says_so(tmp_path):
    missing = tmp_path / "results"
    lines = headline(RUN, missing)
    assert all("not found" in line for line in lines if line.startswith(("| NS", "| MRI")))
    assert "which this installation lacks" in lines[-1]
    assert "are not in this installation" in directions({"unrolled-fft": [-1.0]}, missing)[0]
    (tmp_path / "results").mkdir()
    (missing / "mri_learned.json").write_text(json.dumps({"rows": []}))
    assert converged_mri(missing) is None
