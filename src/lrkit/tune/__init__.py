"""``lrkit tune``: range test -> search -> schedule comparison -> final training -> report."""

from lrkit.tune.pipeline import TuneResult, tune
from lrkit.tune.plan import TunePlan, compare_schedules, plan_budget

__all__ = ["TunePlan", "TuneResult", "compare_schedules", "plan_budget", "tune"]
