"""Numeric estimation core: feature hashing, Bayesian linear regression on log effort,
analogies, and the stateful :class:`Estimator` that ties them together.

Pure numeric code: arrays in, arrays out; no I/O and no async.
"""

from kernels.cold_start import PublicPrior
from kernels.config import EstimatorConfig
from kernels.estimator import Estimator, ModelStateError
from kernels.forecast import ForecastPart, ForecastPlan, simulate_part
from kernels.forecast_merge import ForecastSummary, merge_parts
from kernels.prediction import Analogy, Prediction, Predictions

__all__ = [
    "Analogy",
    "Estimator",
    "EstimatorConfig",
    "ForecastPart",
    "ForecastPlan",
    "ForecastSummary",
    "ModelStateError",
    "Prediction",
    "Predictions",
    "PublicPrior",
    "merge_parts",
    "simulate_part",
]
