"""Serving: export folders answered by a runtime, over the CLI, HTTP or MMS."""
from .predictors import RUNTIMES, Predictor, load_predictor, register_runtime

__all__ = ["RUNTIMES", "Predictor", "load_predictor", "register_runtime"]
