"""Compare schedules on one task: same seeds, same data order, test reported, chosen by validation.

``lrkit.compare`` is this package and also a function: ``lrkit.compare("digits", 0.05)`` is
:func:`lrkit.compare.compare`.

Example:
    >>> import lrkit
    >>> result = lrkit.compare("digits", 0.05, ["cosine:2", "constant"], epochs=2, progress=False)
    >>> print(result.table())  # doctest: +SKIP
    compare: digits, 2 epochs, lr 0.05, seed 0
      schedule   unit    lr  val acc %  final test acc %  best test acc %  final test loss  ...
    * cosine:2  epoch  0.05      82.73             84.44            84.44           1.1272  ...
      constant  epoch  0.05      81.62             82.50            82.50           0.6098  ...
    * best by mean final validation accuracy; the test columns are reported, never used to choose.
"""

from __future__ import annotations

from lrkit.callable_package import make_callable
from lrkit.compare.candidate import RANGE_ONE_CYCLE, Candidate
from lrkit.compare.compare import compare
from lrkit.compare.defaults import default_schedules, range_one_cycle
from lrkit.compare.plot import CompareCurve, ComparePlotData, plot_compare, plot_data
from lrkit.compare.result import CompareResult, ScheduleRun, Stat
from lrkit.compare.section import compare_section
from lrkit.compare.sklearn_rows import SKLEARN_OPTIONS, sklearn_runs

__all__ = [
    "RANGE_ONE_CYCLE",
    "SKLEARN_OPTIONS",
    "Candidate",
    "CompareCurve",
    "ComparePlotData",
    "CompareResult",
    "ScheduleRun",
    "Stat",
    "compare",
    "compare_section",
    "default_schedules",
    "plot_compare",
    "plot_data",
    "range_one_cycle",
    "sklearn_runs",
]


class ComparePackage:
    """What a type checker sees as ``lrkit.compare``: callable as :func:`compare`, with each
    name of ``__all__`` as an attribute (see :class:`lrkit.search.SearchPackage` for why)."""

    __call__ = staticmethod(compare)
    RANGE_ONE_CYCLE = RANGE_ONE_CYCLE
    SKLEARN_OPTIONS = SKLEARN_OPTIONS
    Candidate = Candidate
    CompareCurve = CompareCurve
    ComparePlotData = ComparePlotData
    CompareResult = CompareResult
    ScheduleRun = ScheduleRun
    Stat = Stat
    compare = staticmethod(compare)
    compare_section = staticmethod(compare_section)
    default_schedules = staticmethod(default_schedules)
    plot_compare = staticmethod(plot_compare)
    plot_data = staticmethod(plot_data)
    range_one_cycle = staticmethod(range_one_cycle)
    sklearn_runs = staticmethod(sklearn_runs)


make_callable(__name__, compare)
