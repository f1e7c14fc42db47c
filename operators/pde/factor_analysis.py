"""What the learned Fourier maps of a Monarch FNO became: their distance from the DFT, and pictures of them.

Every Fourier layer of a Monarch FNO holds a :class:`~monarch_sci.operators.pde.fourier_modes.MonarchModes`:
per grid axis ``j`` a forward map ``F_j`` (``k_j × n_j``: field samples to kept modes) and an inverse map
``G_j`` (``n_j × k_j``), each a Monarch matrix that starts as the exact truncated DFT ``D`` (``norm="ortho"``;
the inverse of the half axis carries the weights ``1, 2, 2, …``, see
:func:`~monarch_sci.operators.pde.mode_resampling.truncated_dft`).

* :func:`fourier_drift` measures, per layer, axis and direction, ``‖M − D‖_F / ‖D‖_F`` with ``M`` the learned
  map materialised from its factors (``MonarchDFT.to_dense``): 0 at initialisation (to round-off), growing as
  the factors learn.
* :func:`plot_learned_transforms` draws, for one layer, a few learned basis vectors (the forward map's rows,
  the inverse map's columns: one per kept mode) against the DFT's (real part), and their magnitude spectra
  ``|FFT|`` (a DFT basis vector is a single spike at its frequency; spread around the spike is what was
  learned).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from monarch_sci.dft import MonarchDFT
from monarch_sci.operators.pde.fourier_modes import MonarchModes
from monarch_sci.operators.pde.mode_resampling import truncated_dft
from monarch_sci.training.checkpoint import save_figure

__all__ = ["exact_transform", "fourier_drift", "monarch_transforms", "plot_learned_transforms"]

DIRECTIONS = ("forward", "inverse")


def monarch_transforms(model: nn.Module) -> list[tuple[str, MonarchModes]]:
    """The distinct Monarch kept-modes transforms of ``model`` as ``(module name, transform)``, in layer order
    (a transform shared by all layers appears once, under its first layer's name).

    Examples
    --------
    >>> from monarch_sci.operators.pde.fno import FNO2d
    >>> [name for name, _ in monarch_transforms(FNO2d(4, 4, 8, size=(16, 16), fourier="monarch", n_layers=2))]
    ['convs.0.fourier', 'convs.1.fourier']
    >>> monarch_transforms(FNO2d(4, 4, 8))  # FFT model: none
    []
    """
    return [(name, m) for name, m in model.named_modules() if isinstance(m, MonarchModes)]


def exact_transform(op: MonarchDFT) -> torch.Tensor:
    """The exact truncated DFT that the one-axis map ``op`` of a :class:`MonarchModes` starts as, ``(n_out, n_in)``
    complex128 (forward ``(k, n)``, inverse ``(n, k)``), built without the Monarch factors.

    Examples
    --------
    >>> M = MonarchModes((16, 12), (4, 3), dtype=torch.complex128)
    >>> torch.allclose(M.inv[1].to_dense(), exact_transform(M.inv[1]))
    True
    """
    if op.norm != "ortho" or op.centered:
        raise ValueError(
            f"exact_transform: expected the norm='ortho', uncentred map of a MonarchModes, got norm={op.norm!r}, "
            f"centered={op.centered}"
        )
    freqs = tuple(range(op.n)) if op.modes is None else op.modes
    return truncated_dft(op.n, freqs, inverse=op.inverse, weights=op.weights)


def fourier_drift(model: nn.Module) -> list[dict[str, Any]]:
    """Relative Frobenius distance of every learned Fourier map of ``model`` from the exact DFT.

    Parameters
    ----------
    model
        Any module holding :class:`MonarchModes` (an FNO, a :class:`~monarch_sci.operators.pde.tasks.ForecastModel`,
        a :class:`~monarch_sci.operators.pde.steady.SteadyModel`, a spectral convolution); an FFT model has none
        and gives ``[]``.

    Returns
    -------
    list of dict
        One entry per transform, axis and direction (layer order, then axis, forward before inverse):
        ``layer`` (index among the distinct transforms), ``module`` (its name), ``axis``, ``direction``
        (``"forward"``/``"inverse"``), ``n`` (grid points), ``modes`` (kept modes), ``learnable`` and
        ``drift = ‖M − D‖_F / ‖D‖_F``.

    Examples
    --------
    >>> from monarch_sci.operators.pde.fno import FNO2d
    >>> rows = fourier_drift(FNO2d(4, 4, 8, size=(16, 16), fourier="monarch", n_layers=2))
    >>> len(rows), sorted(rows[0]), max(r["drift"] for r in rows) < 1e-6
    (8, ['axis', 'direction', 'drift', 'layer', 'learnable', 'modes', 'module', 'n'], True)
    """
    rows = []
    with torch.no_grad():
        for layer, (name, t) in enumerate(monarch_transforms(model)):
            for direction, ops in zip(DIRECTIONS, (t.fwd, t.inv)):
                for axis, op in enumerate(ops):
                    exact = exact_transform(op)
                    learned = op.to_dense().to(device="cpu", dtype=torch.complex128)
                    drift = torch.linalg.matrix_norm(learned - exact) / torch.linalg.matrix_norm(exact)
                    rows.append(
                        {
                            "layer": layer,
                            "module": name,
                            "axis": axis,
                            "direction": direction,
                            "n": op.n,
                            "modes": len(op.modes) if op.modes is not None else op.n,
                            "learnable": bool(op.learnable),
                            "drift": float(drift),
                        }
                    )
    return rows


def _basis(m: torch.Tensor, inverse: bool) -> np.ndarray:
    """The map's basis vectors, one per kept mode, ``(k, n)``: the forward map's rows conjugated (so both
    directions read ``e^{+2πi f t/n}``), the inverse map's columns."""
    v = m.T if inverse else m.conj()
    return v.detach().to(device="cpu", dtype=torch.complex128).resolve_conj().numpy()


def plot_learned_transforms(
    model: nn.Module, path: str | os.PathLike, *, layer: int = 0, vectors: int = 3, title: str = ""
) -> Path:
    """Plot the learned Fourier maps of one layer against the DFT; written atomically to ``path`` (PNG).

    One column per axis and direction. Top: the real part of ``vectors`` learned basis vectors (solid; the
    forward map's rows, conjugated, and the inverse map's columns, each belonging to one kept mode) and of the
    DFT's (dashed) against the grid index. Bottom: their magnitude spectra ``|FFT|`` (``norm="ortho"``) against
    the signed frequency; a DFT basis vector is one spike at its own frequency (dashed markers), a learned one
    may spread to others.

    Parameters
    ----------
    model
        A model with Monarch Fourier maps (see :func:`fourier_drift`).
    path
        Output file (``.png``).
    layer
        Index among the model's distinct Monarch transforms (:func:`monarch_transforms`).
    vectors
        Basis vectors drawn per map (spread over the kept modes).

    Examples
    --------
    >>> import tempfile
    >>> from monarch_sci.operators.pde.fno import FNO2d
    >>> model = FNO2d(4, 4, 8, size=(16, 16), fourier="monarch", n_layers=1)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     out = plot_learned_transforms(model, Path(tmp) / "maps.png")
    ...     out.stat().st_size > 0
    True
    """
    found = monarch_transforms(model)
    if not found:
        raise ValueError(f"plot_learned_transforms: {type(model).__name__} has no Monarch Fourier maps (an FFT model?)")
    if not isinstance(layer, int) or not 0 <= layer < len(found):
        raise ValueError(f"plot_learned_transforms: expected layer in [0, {len(found)}), got {layer!r}")
    if not isinstance(vectors, int) or vectors < 1:
        raise ValueError(f"plot_learned_transforms: expected vectors >= 1, got {vectors!r}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    name, t = found[layer]
    maps = [(d, j, op) for d, ops in zip(DIRECTIONS, (t.fwd, t.inv)) for j, op in enumerate(ops)]
    fig, axes = plt.subplots(2, len(maps), figsize=(3.6 * len(maps), 6), squeeze=False)
    drift = {(r["direction"], r["axis"]): r["drift"] for r in fourier_drift(t)}
    with torch.no_grad():
        for col, (direction, j, op) in enumerate(maps):
            inverse = direction == "inverse"
            learned, exact = _basis(op.to_dense(), inverse), _basis(exact_transform(op), inverse)
            freqs = np.asarray(range(op.n) if op.modes is None else op.modes)
            picks = sorted({int(i) for i in np.linspace(0, len(freqs) - 1, min(vectors, len(freqs)))})
            signed = np.fft.fftshift(np.fft.fftfreq(op.n, d=1.0 / op.n))
            top, bottom = axes[0, col], axes[1, col]
            for c, i in enumerate(picks):
                colour = f"C{c}"
                f = int(freqs[i]) if freqs[i] <= op.n // 2 else int(freqs[i]) - op.n
                top.plot(learned[i].real, color=colour, lw=1.2, label=f"f={f}")
                top.plot(exact[i].real, color=colour, lw=0.9, ls="--")
                spec = np.fft.fftshift(np.abs(np.fft.fft(learned[i], norm="ortho")))
                ref = np.fft.fftshift(np.abs(np.fft.fft(exact[i], norm="ortho")))
                bottom.plot(signed, spec, color=colour, marker="o", ms=2.5, lw=1)
                spike = ref > 1e-9  # the DFT vector's own frequency
                bottom.plot(signed[spike], ref[spike], color=colour, ls="none", marker="x", ms=7)
            top.set_title(f"{direction}, axis {j} (n={op.n}); drift {drift[(direction, j)]:.3g}", fontsize=9)
            top.set_xlabel("grid index")
            bottom.set_xlabel("frequency")
            bottom.set_yscale("log")
            bottom.set_ylim(bottom=1e-3)  # leakage below 0.1 % of a unit spike is not drawn
            top.legend(fontsize=7)
            if col == 0:
                top.set_ylabel("Re(basis vector): learned —, DFT --")
                bottom.set_ylabel("|FFT|: learned o, DFT x")
    fig.suptitle(title or f"learned Fourier maps of layer {layer} ({name})", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)
