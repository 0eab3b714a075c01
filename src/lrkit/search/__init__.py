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

import sys
import types

from optuna import TrialPruned

from lrkit.search.engine import bracket, collect, search
from lrkit.search.objective import TaskObjective
from lrkit.search.pruners import PRUNERS, make_pruner
from lrkit.search.result import FinishedStudyWarning, SearchResult, SearchWarning, TrialRecord
from lrkit.search.samplers import (
    SAMPLERS,
    LogUniformSampler,
    StratifiedSampler,
    largest_gap,
    make_sampler,
    stratified_positions,
)
from lrkit.search.space import LogRange
from lrkit.search.storage import StorageSpec
from lrkit.search.study import trial_seed
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
    "collect",
    "largest_gap",
    "make_pruner",
    "make_sampler",
    "search",
    "stratified_positions",
    "trial_seed",
]


class CallableModule(types.ModuleType):
    """Lets ``lrkit.search(...)`` call :func:`search` while ``lrkit.search`` stays a package.

    A type checker sees ``lrkit.search`` as one of these: a call takes :func:`search`'s
    arguments and gives a :class:`SearchResult`; its other attributes are the package's.
    """

    __call__ = staticmethod(search)


sys.modules[__name__].__class__ = CallableModule
