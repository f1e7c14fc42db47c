"""Shared test settings: deterministic seeds, exact float64 matmuls (no TF32)."""

import os

import numpy as np
import pytest
import torch

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False


@pytest.fixture(autouse=True)
def _seed_everything(request):
    # A test must pass on any seed; MONARCH_TEST_SEED lets CI or a developer try others.
    seed = int(os.environ.get("MONARCH_TEST_SEED", "0"))
    torch.manual_seed(seed)
    np.random.seed(seed)
    yield
