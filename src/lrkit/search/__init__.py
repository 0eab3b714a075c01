"""Log-uniform learning-rate search on Optuna: samplers, pruners, storages, workers, results.

``lrkit.search`` is this package and also a function: ``lrkit.search(objective, 1e-5, 1.0)`` is
:func:`lrkit.search.search`.

Example:
    >>> import math
    >>> import lrkit
    >>> result = lrkit.search(lambda lr: (math.log10(lr) + 3) ** 2, 1e-5, 1.0, n_trials=6,
    ...                       storage=":memory:", progress=False)
    >>> len(result.trials), result.best_lr < 1e-2
    (6, True)
"""

from __future__ import annotations

from optuna import TrialPruned

from lrkit.callable_package import make_callable
from lrkit.search.engine import bracket, search
from lrkit.search.objective import TaskObjective
from lrkit.search.pruners import PRUNERS, make_pruner
from lrkit.search.result import FinishedStudyWarning, SearchResult, SearchWarning, TrialRecord
from lrkit.search.samplers import (
    SAMPLERS,
    LogUniformSampler,
    StratifiedSampler,
    largest_gap,
    make_sampler,
)
from lrkit.search.space import LogRange
from lrkit.search.storage import StorageSpec
from lrkit.search.timeouts import TrialTimeout
from lrkit.search.workers import WorkersWarning

__all__ = [
    "PRUNERS",
    "SAMPLERS",
    "FinishedStudyWarning",
    "LogRange",
    "LogUniformSampler",
    "SearchResult",
    "SearchWarning",
    "StorageSpec",
    "StratifiedSampler",
    "TaskObjective",
    "TrialPruned",
    "TrialRecord",
    "TrialTimeout",
    "WorkersWarning",
    "bracket",
    "largest_gap",
    "make_pruner",
    "make_sampler",
    "search",
]


class SearchPackage:
    """What a type checker sees as ``lrkit.search`` after ``import lrkit``: callable as
    :func:`search`, with each name of ``__all__`` as an attribute of its real type.

    The package's module object cannot say both to a type checker (a module is not callable,
    and ``types.ModuleType`` makes any attribute, typos included, type-check as ``Any``), so
    ``lrkit/__init__.py`` declares ``search: SearchPackage``. ``lrkit.search(...)``,
    ``lrkit.search.bracket(...)`` and ``lrkit.search.TrialPruned`` type-check; a misspelt name
    is an error. Two things stay out of reach: ``lrkit.search.SearchResult`` is not valid in an
    annotation (a type checker does not look a type up through a variable), so annotations name
    its types by import (``from lrkit.search import SearchResult``, or ``lrkit.SearchResult``);
    and ``import lrkit.search as s; s(...)`` is "Module not callable" (``s`` is the module).

    At run time ``lrkit.search`` is the module, made callable by
    :func:`~lrkit.callable_package.make_callable`; this class is never instantiated, and a test
    keeps its attributes equal to ``__all__``. ``ComparePackage`` and ``TunePackage`` do the same
    for ``lrkit.compare`` and ``lrkit.tune``.
    """

    __call__ = staticmethod(search)
    PRUNERS = PRUNERS
    SAMPLERS = SAMPLERS
    FinishedStudyWarning = FinishedStudyWarning
    LogRange = LogRange
    LogUniformSampler = LogUniformSampler
    SearchResult = SearchResult
    SearchWarning = SearchWarning
    StorageSpec = StorageSpec
    StratifiedSampler = StratifiedSampler
    TaskObjective = TaskObjective
    TrialPruned = TrialPruned
    TrialRecord = TrialRecord
    TrialTimeout = TrialTimeout
    WorkersWarning = WorkersWarning
    bracket = staticmethod(bracket)
    largest_gap = staticmethod(largest_gap)
    make_pruner = staticmethod(make_pruner)
    make_sampler = staticmethod(make_sampler)
    search = staticmethod(search)


make_callable(__name__, search)
