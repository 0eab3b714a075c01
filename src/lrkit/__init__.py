"""lrkit: what learning rate, and what schedule? Answered for a real model, with evidence.

``import lrkit`` stays light: matplotlib, optuna and scikit-learn are imported only by the
functions that draw, search or load data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lrkit.errors import (
    ConfigError,
    LrkitError,
    RunError,
    SpecError,
    TaskError,
    UnknownNameError,
)

if TYPE_CHECKING:
    from lrkit.finder import LRFinder, RangeTestResult, TrainDataLoaderIter, ValDataLoaderIter
    from lrkit.search import CallableModule, SearchResult

    search: CallableModule  # lrkit.search(...) type-checks as a call of lrkit.search.search

__version__ = "0.1.0"

# Loaded on first use, so that `import lrkit` does not import torch.
_LAZY = {
    "LRFinder": "lrkit.finder",
    "RangeTestResult": "lrkit.finder",
    "TrainDataLoaderIter": "lrkit.finder",
    "ValDataLoaderIter": "lrkit.finder",
    "SearchResult": "lrkit.search",
}

_SUBPACKAGES = ("compare", "finder", "report", "schedules", "search", "tasks", "tune")


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:  # loaded on first use: lrkit.schedules.bind(...) after import lrkit
        import importlib

        # lrkit.search is also callable: lrkit.search(...) is lrkit.search.search(...)
        return importlib.import_module(f"lrkit.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lrkit' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "ConfigError",
    "LRFinder",
    "LrkitError",
    "RangeTestResult",
    "RunError",
    "SearchResult",
    "SpecError",
    "TaskError",
    "TrainDataLoaderIter",
    "UnknownNameError",
    "ValDataLoaderIter",
    "__version__",
]
