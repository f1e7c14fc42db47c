"""Sharing work by rank under ``torchrun``: who am I, which part is mine, and a barrier.

Data generation scales out the way training does: ``torchrun --nproc_per_node=K`` starts ``K`` processes with
``RANK`` and ``WORLD_SIZE`` set; each takes a contiguous share of the items (:func:`rank_share`), and they meet at
barriers (:func:`rank_group`: a gloo process group, created for the job when none exists) before one of them
joins the results. Without ``torchrun`` the world is one process, the share is everything and the barrier is a
no-op.

>>> rank, world = rank_env("example")  # RANK / WORLD_SIZE unset: a world of one
>>> (rank, world), list(rank_share(5, rank, world))
((0, 1), [0, 1, 2, 3, 4])
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from datetime import timedelta

__all__ = ["rank_env", "rank_group", "rank_share", "shard_name"]


def rank_env(where: str) -> tuple[int, int]:
    """``(rank, world_size)`` from ``RANK`` / ``WORLD_SIZE`` (``(0, 1)`` when unset); ``where`` names the caller
    in the error for an inconsistent pair."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"{where}: inconsistent RANK={rank} / WORLD_SIZE={world} environment")
    return rank, world


def rank_share(n: int, rank: int, world: int) -> range:
    """The contiguous part of ``range(n)`` that rank ``rank`` of ``world`` takes (sizes differ by at most one).

    Examples
    --------
    >>> [list(rank_share(5, r, 2)) for r in range(2)]
    [[0, 1], [2, 3, 4]]
    """
    return range(n * rank // world, n * (rank + 1) // world)


def shard_name(name: str, rank: int, world: int) -> str:
    """The file name of rank ``rank``'s shard of the file ``name``.

    Examples
    --------
    >>> shard_name("darcy.h5", 1, 2)
    'darcy.h5.shard-1-of-2.h5'
    """
    return f"{name}.shard-{rank}-of-{world}.h5"


@contextlib.contextmanager
def rank_group(world: int, timeout: timedelta = timedelta(days=7)) -> Iterator[Callable[[], None]]:
    """Yield ``barrier()``, which returns once every rank has called it (a no-op in a world of one).

    A gloo process group is created when ``world > 1`` and none exists yet, and destroyed on leaving; a group
    the caller created (a training job) is used as it is and left alone. ``timeout`` bounds each wait.
    """
    if world == 1:
        yield lambda: None
        return
    import torch.distributed as dist

    own = not dist.is_initialized()
    if own:
        dist.init_process_group("gloo", timeout=timeout)
    try:
        yield dist.barrier
    finally:
        if own:
            dist.destroy_process_group()
