"""A random Monarch start for the learnable Fourier transforms: the control that separates basis from capacity.

A Monarch FNO starts from the exact DFT (``monarch_init="dft"``): it is its FFT twin at initialisation. The
control ``monarch_init="random"`` keeps the architecture, the parameter count and the scale, and drops the
basis: every learnable factor block ``B`` (of ``r_blocks``/``l_blocks``, shape ``(blocks, rows, cols)``) is
replaced by a complex Gaussian block ``G`` on the DFT block's support (the padding rows or columns of a
kept-modes transform stay zero), rescaled to the same Frobenius norm, ``B ← G · ‖B‖_F / ‖G‖_F``. The product
of random factors is a random Monarch matrix of the same structure.
"""

from __future__ import annotations

import torch
from torch import nn

from monarch_sci.training.factors import is_factor

__all__ = ["randomize_factors"]


def randomize_factors(model: nn.Module, *, seed: int) -> int:
    """Replace every learnable Monarch factor of ``model`` by a random one with the same support and per-block
    Frobenius norm (see the module docstring); returns the number of factor tensors changed.

    Fixed factors (buffers, e.g. the inverse maps with ``learn="forward"``) keep the DFT. The draw uses its own
    generator seeded with ``seed``, so the global random state (and with it every other weight of a model built
    after seeding) is untouched.

    Parameters
    ----------
    model
        Any module; its parameters named ``r_blocks``/``l_blocks`` that require a gradient are changed in place.
    seed
        Seed of the draw.

    Examples
    --------
    >>> from monarch_sci.operators.pde.fourier_modes import MonarchModes
    >>> M = MonarchModes((16, 16), (4, 4))
    >>> before = [p.detach().clone() for p in M.parameters()]
    >>> randomize_factors(M, seed=0)  # r_blocks and l_blocks of 2 axes × 2 directions
    8
    >>> all(torch.allclose(torch.linalg.vector_norm(a, dim=(-2, -1)), torch.linalg.vector_norm(b, dim=(-2, -1)))
    ...     for a, b in zip(before, M.parameters()))
    True
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"randomize_factors: expected an integer seed, got {seed!r}")
    gen = torch.Generator().manual_seed(seed)
    changed = 0
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not (p.requires_grad and is_factor(name)):
                continue
            if p.dim() != 3:
                raise ValueError(
                    f"randomize_factors: expected {name} of shape (blocks, rows, cols), got {tuple(p.shape)}"
                )
            support = p != 0
            g = torch.randn(p.shape, generator=gen, dtype=p.dtype).to(p.device) * support
            scale = torch.linalg.vector_norm(p, dim=(-2, -1), keepdim=True)  # the DFT blocks' norms
            g_norm = torch.linalg.vector_norm(g, dim=(-2, -1), keepdim=True)
            p.copy_(g * (scale / g_norm.clamp_min(torch.finfo(scale.dtype).tiny)))
            changed += 1
    return changed
