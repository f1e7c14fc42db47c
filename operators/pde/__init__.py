"""Neural PDE solvers: spectral convolutions with a swappable Fourier (FFT or Monarch), FNO-2D/3D, tasks."""

from monarch_sci.operators.pde.fno import FNO2d, FNO3d, count_parameters
from monarch_sci.operators.pde.fourier_modes import FourierModes, MonarchModes, kept_modes
from monarch_sci.operators.pde.spectral_conv import SpectralConv2d, SpectralConv3d
from monarch_sci.operators.pde.tasks import ForecastModel, ForecastTask, ForecastWindows

__all__ = [
    "FNO2d",
    "FNO3d",
    "ForecastModel",
    "ForecastTask",
    "ForecastWindows",
    "FourierModes",
    "MonarchModes",
    "SpectralConv2d",
    "SpectralConv3d",
    "count_parameters",
    "kept_modes",
]
