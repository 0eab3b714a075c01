"""``lrkit tune``: range test -> search -> schedule comparison -> final training -> report.

``lrkit.tune`` is this package and also a function: ``lrkit.tune("digits")`` is
:func:`lrkit.tune.tune`, the CLI's ``lrkit tune digits``.
"""

from __future__ import annotations

from lrkit.callable_package import make_callable
from lrkit.tune.pipeline import TuneResult, tune
from lrkit.tune.plan import TunePlan, compare_schedules, plan_budget

__all__ = ["TunePlan", "TuneResult", "compare_schedules", "plan_budget", "tune"]


class TunePackage:
    """What a type checker sees as ``lrkit.tune``: callable as :func:`tune`, with each name of
    ``__all__`` as an attribute (see :class:`lrkit.search.SearchPackage` for why)."""

    __call__ = staticmethod(tune)
    TunePlan = TunePlan
    TuneResult = TuneResult
    compare_schedules = staticmethod(compare_schedules)
    plan_budget = staticmethod(plan_budget)
    tune = staticmethod(tune)


make_callable(__name__, tune)
