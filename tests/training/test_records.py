"""Run records: seed pooling (versions and defining differences are checked by the jobs' tests)."""

import numpy as np
import pytest

from monarch_sci.training.records import pool_seeds


def test_pool_seeds_spreads_over_volumes_and_over_seeds():
    table = np.array([[30.0, 34.0, 26.0], [32.0, 35.0, 29.0]])  # (seeds, volumes)
    pooled = pool_seeds(table)
    assert pooled["mean"] == pytest.approx(31.0)
    assert pooled["std_volumes"] == pytest.approx(np.std([31.0, 34.5, 27.5]))
    assert pooled["std_seeds"] == pytest.approx(np.std([30.0, 32.0]))
    assert pool_seeds([[1.0, 3.0]])["std_seeds"] == 0.0
    with pytest.raises(ValueError, match=r"\(seeds, volumes\) table, got shape \(3,\)"):
        pool_seeds([1.0, 2.0, 3.0])
