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

if TYPE_CHECKING:  # what the lazy names below are, for a type checker
    from lrkit import finder as finder
    from lrkit import report as report
    from lrkit import schedules as schedules
    from lrkit import tasks as tasks
    from lrkit.compare import ComparePackage
    from lrkit.finder import LRFinder, RangeTestResult, TrainDataLoaderIter, ValDataLoaderIter
    from lrkit.search import SearchPackage, SearchResult
    from lrkit.tune import TunePackage

    # lrkit.search(...) type-checks as a call of lrkit.search.search, and lrkit.search.<name>
    # as that name of lrkit.search.__all__; annotations import its types (see SearchPackage).
    # The same for lrkit.compare and lrkit.tune.
    compare: ComparePackage
    search: SearchPackage
    tune: TunePackage

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


if not TYPE_CHECKING:  # a type checker reads the imports above instead: a module __getattr__
    # it can see would make any name, typos included, type-check as Any

    def __getattr__(name: str) -> Any:
        if name in _SUBPACKAGES:  # loaded on first use: lrkit.schedules.bind(...) after import
            import importlib

            # lrkit.search, lrkit.compare and lrkit.tune are also callable: lrkit.search(...)
            # is lrkit.search.search(...)
            return importlib.import_module(f"lrkit.{name}")
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module 'lrkit' has no attribute {name!r}")
        import importlib

        return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    """The module's names with the lazily loaded ones, for ``dir()``, ``help()`` and completion
    (listing them imports nothing).

    Example:
        >>> import lrkit
        >>> "LRFinder" in dir(lrkit), "schedules" in dir(lrkit)
        (True, True)
    """
    return sorted({*globals(), *_LAZY, *_SUBPACKAGES})


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
