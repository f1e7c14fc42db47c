"""Size presets shared by the notebooks: MONARCH_NB_SIZE=tiny (tests, seconds) | small (default, minutes)."""

import os

SIZE = os.environ.get("MONARCH_NB_SIZE", "small")
if SIZE not in ("tiny", "small", "full"):
    raise ValueError(f"MONARCH_NB_SIZE must be 'tiny', 'small' or 'full', got {SIZE!r}")


def pick(tiny, small, full=None):
    """The value for the current size preset (``full`` defaults to ``small``)."""
    return {"tiny": tiny, "small": small, "full": small if full is None else full}[SIZE]
