"""lrkit: what learning rate, and what schedule? Answered for a real model, with evidence.

``import lrkit`` stays light: matplotlib, optuna and scikit-learn are imported only by the
functions that draw, search or load data.
"""

from __future__ import annotations

from lrkit.errors import ConfigError, LrkitError, SpecError, TaskError, UnknownNameError

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "LrkitError",
    "SpecError",
    "TaskError",
    "UnknownNameError",
    "__version__",
]
