"""Neural PDE solvers: spectral convolutions with a swappable Fourier (FFT or Monarch, any grid), FNO-2D/3D, tasks
(rollout forecasting, steady field maps, their training and evaluation at any grid), what the learned Fourier maps
became (:mod:`~monarch_sci.operators.pde.factor_analysis`); the neuraloperator drop-in is
:mod:`monarch_sci.operators.pde.neuralop_conv` (``monarch_conv``)."""

from monarch_sci.fourier import kept_modes
from monarch_sci.operators.pde.factor_analysis import fourier_drift, plot_learned_transforms
from monarch_sci.operators.pde.factor_init import randomize_factors
from monarch_sci.operators.pde.fno import FNO2d, FNO3d, count_parameters, modes_from_n_modes
from monarch_sci.operators.pde.forecast_compare import compare_forecasters
from monarch_sci.operators.pde.forecasting import ForecastSpec, train_forecaster
from monarch_sci.operators.pde.fourier_modes import FourierModes, MonarchModes
from monarch_sci.operators.pde.neuralop_conv import NeuralopSpectralConv, monarch_conv
from monarch_sci.operators.pde.run_eval import evaluate_run, load_run_model
from monarch_sci.operators.pde.spectral_conv import SpectralConv, SpectralConv2d, SpectralConv3d, make_mode_transform
from monarch_sci.operators.pde.steady import SteadyModel, SteadyTask, relative_h1_per_sample
from monarch_sci.operators.pde.steady_training import SteadySpec, train_steady
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
    "NeuralopSpectralConv",
    "SpectralConv",
    "SpectralConv2d",
    "SpectralConv3d",
    "SteadyModel",
    "SteadySpec",
    "SteadyTask",
    "compare_forecasters",
    "count_parameters",
    "evaluate_run",
    "fourier_drift",
    "kept_modes",
    "load_run_model",
    "make_mode_transform",
    "modes_from_n_modes",
    "monarch_conv",
    "plot_learned_transforms",
    "randomize_factors",
    "relative_h1_per_sample",
    "train_forecaster",
    "train_steady",
]
