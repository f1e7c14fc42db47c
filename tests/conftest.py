"""Shared test settings: deterministic seeds, exact float64 matmuls (no TF32)."""

import os

import numpy as np
import pytest
import torch

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
# Without a GPU the Triton kernels run in Triton's interpreter. It is read when a kernel is first defined, so it
# is set here, before any test module (or doctest) imports monarch_sci.multiply_triton.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


@pytest.fixture(autouse=True)
def _seed_everything(request):
    # A test must pass on any seed; MONARCH_TEST_SEED lets CI or a developer try others.
    seed = int(os.environ.get("MONARCH_TEST_SEED", "0"))
    torch.manual_seed(seed)
    np.random.seed(seed)
    yield


@pytest.fixture(scope="session")
def fully_sampled_mri(tmp_path_factory):
    """A folder of two small simulated fully sampled fastMRI files (2 slices, 4 coils, k-space 64 × 32)."""
    from monarch_sci.datasets import SimulationConfig, simulate_dataset

    out = tmp_path_factory.mktemp("fully_sampled_mri")
    cfg = SimulationConfig(recon_size=(32, 32), num_coils=4, num_slices=2, oversampling=2, fine_factor=1, seed=3)
    simulate_dataset(out, cfg, 2)
    return out


#: Files whose tests start fresh processes or train for many seconds, longest first. They run first, so that the
#: pytest-xdist workers (``make test``: one per core) share them out and end together on the many short tests,
#: rather than one worker drawing a long test when the other has nothing left. Whole files move, in their own
#: order, so that a module's fixtures are built once per worker.
RUN_FIRST = (
    "tests/test_notebooks.py",
    "tests/operators/pde/test_study_hooks.py",
    "tests/cli/test_output_rules.py",
    "tests/benchmarks/test_cli_battery.py",
    "tests/cli/test_mri_train_cli.py",
    "tests/cli/test_demo.py",
    "tests/cli/test_mri_reliability.py",
    "tests/cli/test_pde_steady_cli.py",
    "tests/datasets/pde/test_ns_store.py",
    "tests/training/test_trainer.py",
    "tests/cli/test_generate_by_rank.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {path: i for i, path in enumerate(RUN_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(RUN_FIRST)))  # stable: the rest in order
