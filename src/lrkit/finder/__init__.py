"""The learning-rate range test ("LR finder") and the rules that read its curve.

Example:
    >>> import torch
    >>> from torch.utils.data import DataLoader, TensorDataset
    >>> from lrkit.finder import LRFinder
    >>> x = torch.randn(512, 10); y = (x[:, :2].sum(1) > 0).long()
    >>> model = torch.nn.Sequential(torch.nn.Linear(10, 32), torch.nn.ReLU(),
    ...                             torch.nn.Linear(32, 2))
    >>> opt = torch.optim.SGD(model.parameters(), lr=1e-5, momentum=0.9)
    >>> finder = LRFinder(model, opt, torch.nn.CrossEntropyLoss())
    >>> result = finder.range_test(DataLoader(TensorDataset(x, y), batch_size=32), end_lr=10)
    >>> low, high = result.range
    >>> low < high and result.start_lr == 1e-5
    True
"""

from __future__ import annotations

from lrkit.finder.curve import LossCurve
from lrkit.finder.finder import LRFinder
from lrkit.finder.loader_iters import DataLoaderIter, TrainDataLoaderIter, ValDataLoaderIter
from lrkit.finder.result import STOP_REASONS, FinderWarning, RangeTestResult, StopReason
from lrkit.finder.to_schedule import SCHEDULE_KINDS, RangeSchedule, schedule_from_range

__all__ = [
    "SCHEDULE_KINDS",
    "STOP_REASONS",
    "DataLoaderIter",
    "FinderWarning",
    "LRFinder",
    "LossCurve",
    "RangeSchedule",
    "RangeTestResult",
    "StopReason",
    "TrainDataLoaderIter",
    "ValDataLoaderIter",
    "schedule_from_range",
]
