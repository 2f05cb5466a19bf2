"""Offline evaluation of reckon's estimator against the field's baselines (``reckon eval``)."""

from bench.evaluation.errors import EvaluationError
from bench.evaluation.metrics import Scores
from bench.evaluation.runner import Evaluation, evaluate

__all__ = ["Evaluation", "EvaluationError", "Scores", "evaluate"]
