"""Neural PDE solvers: spectral convolutions with a swappable Fourier (FFT or Monarch), FNO-2D/3D, tasks."""

from monarch_sci.operators.pde.fno import FNO2d, FNO3d, count_parameters
from monarch_sci.operators.pde.forecast_compare import compare_forecasters
from monarch_sci.operators.pde.forecasting import ForecastSpec, train_forecaster
from monarch_sci.operators.pde.fourier_modes import FourierModes, MonarchModes, kept_modes
from monarch_sci.operators.pde.spectral_conv import SpectralConv2d, SpectralConv3d
from monarch_sci.operators.pde.tasks import ForecastModel, ForecastTask, ForecastWindows

__all__ = [
    "FNO2d",
    "FNO3d",
    "ForecastModel",
    "ForecastSpec",
    "ForecastTask",
    "ForecastWindows",
    "FourierModes",
    "MonarchModes",
    "SpectralConv2d",
    "SpectralConv3d",
    "compare_forecasters",
    "count_parameters",
    "kept_modes",
    "train_forecaster",
]
