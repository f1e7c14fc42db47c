"""Sharing work by rank: the split covers every item once, in contiguous shares; the environment is checked."""

from __future__ import annotations

import pytest

from monarch_sci.training.ranks import rank_env, rank_group, rank_share


@pytest.mark.parametrize("n", [0, 1, 5, 12])
@pytest.mark.parametrize("world", [1, 2, 3, 7])
def test_shares_are_contiguous_and_cover_every_item_once(n, world):
    shares = [rank_share(n, r, world) for r in range(world)]
    assert [i for s in shares for i in s] == list(range(n))
    assert max(map(len, shares)) - min(map(len, shares)) <= 1


def test_rank_env(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert rank_env("f") == (0, 1)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert rank_env("f") == (1, 2)
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(ValueError, match="f: inconsistent RANK=2 / WORLD_SIZE=2 environment"):
        rank_env("f")


def test_a_world_of_one_needs_no_process_group():
    import torch.distributed as dist

    with rank_group(1) as barrier:
        barrier()
        assert not dist.is_initialized()
