"""benchmarks/pde_science_gpu.py: the time-boxed budget and its one-line refusals (the runs themselves are the
study engine's, tested in tests/training/test_study.py and tests/operators/pde/test_study_hooks.py)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import pde_science_gpu


def test_gpu_driver_budget():
    assert pde_science_gpu.choose_epochs(400.0, 0.8, 500) == 434
    assert pde_science_gpu.choose_epochs(1e6, 0.8, 500) == 500
    assert pde_science_gpu.choose_epochs(1.0, 8.0, 500) == 0


def test_the_driver_trains_the_spec_s_time_boxed_stage():
    from monarch_sci.training.study import load_study

    spec = load_study(pde_science_gpu.SPEC)
    paper = spec.stages["paper"]
    assert paper.time_box and paper.split == "test" and paper.epochs == {"ns1e-3-paper": 500}
    assert Path(spec.problems["ns1e-3-paper"]["data"]).name == "ns_v1e-3_g256_s64_T20_n1200.h5"


@pytest.mark.parametrize("flag", ["--procs", "--budget", "--calibrate-epochs", "--max-epochs"])
def test_gpu_driver_refuses_bad_input_before_writing(tmp_path, flag):
    from monarch_sci.cli.common import UserError

    out = tmp_path / "gpu"
    with pytest.raises(UserError, match=rf"^{flag}: expected a positive number, got 0(\.0)?$"):
        pde_science_gpu.main([flag, "0", "--device", "cpu", "--out", str(out)])
    assert not out.exists()


def test_gpu_driver_without_a_gpu_says_so_in_one_line(tmp_path, capsys):
    import torch

    from monarch_sci.cli.scripts import run_script

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    out = tmp_path / "gpu"
    status = run_script(lambda: pde_science_gpu.main(["--out", str(out)]), prog="pde_science_gpu.py")
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and "--device cuda" in err[0] and "Traceback" not in err[0]
    assert not out.exists()
