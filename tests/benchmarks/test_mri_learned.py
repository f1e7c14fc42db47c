"""benchmarks/mri_learned.py: the run plan, the warm-start selection group and its settings."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import mri_learned


def test_plan_names_are_unique_and_the_selection_runs_first():
    runs = mri_learned.plan(8, [0, 1, 2])
    names = [mri_learned.run_name(r) for r in runs]
    assert len(set(names)) == len(names)
    select = [r for r in runs if r["group"] == mri_learned.SELECT_INIT_LAM]
    assert runs[: len(select)] == select  # scored before anything that uses its outcome
    assert sorted(r["extra"]["hparams"]["init_lam"] for r in select) == sorted(mri_learned.INIT_LAMS)
    assert {(r["model"], r["accel"], r["seed"]) for r in select} == {("unrolled-fft", 4, 0)}


def test_every_unrolled_row_uses_the_chosen_warm_start():
    assert mri_learned.INIT_LAM in mri_learned.INIT_LAMS
    for r in mri_learned.plan(8, [0]):
        if r["model"].startswith("unrolled") and r["group"] != mri_learned.SELECT_INIT_LAM:
            spec = mri_learned.train_spec(r, Path("data"))
            assert spec.hparams["init_lam"] == mri_learned.INIT_LAM, mri_learned.run_name(r)


def test_the_warm_start_weight_reaches_the_model():
    from monarch_sci.operators.mri.models import build_model

    model = build_model("unrolled", (16, 16), cascades=1, channels=4, init_lam=0.1, init_iters=3)
    assert (model.init_lam, model.init_iters) == (0.1, 3)


def test_a_selection_that_disagrees_with_the_constant_stops_the_plan(tmp_path):
    import json

    import pytest

    from monarch_sci.cli.common import UserError

    runs = mri_learned.plan(8, [0])
    select = [r for r in runs if r["group"] == mri_learned.SELECT_INIT_LAM]

    def finish(scores):
        for r in select:
            out = tmp_path / mri_learned.run_name(r)
            out.mkdir(exist_ok=True)
            loss = scores[r["extra"]["hparams"]["init_lam"]]
            (out / "record.json").write_text(json.dumps({"status": "finished", "best": {"val_loss": loss}}))

    mri_learned.check_init_lam(runs, tmp_path)  # nothing finished: silent
    agree = {lam: 1.0 + abs(lam - mri_learned.INIT_LAM) for lam in mri_learned.INIT_LAMS}
    finish(agree)
    mri_learned.check_init_lam(runs, tmp_path)
    other = next(lam for lam in mri_learned.INIT_LAMS if lam != mri_learned.INIT_LAM)
    finish({**agree, other: 0.5})
    with pytest.raises(UserError, match=f"chose warm-start λ = {other:g} on validation"):
        mri_learned.check_init_lam(runs, tmp_path)
