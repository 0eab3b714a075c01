"""A range test's num_iter has an upper limit: a typo fails at once, not after days."""

from __future__ import annotations

import copy
import re
import time

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import lrkit
from lrkit.finder import LRFinder
from lrkit.finder.plan import MAX_ITER, make_plan
from lrkit.finder.task import range_test_task
from lrkit.tasks import load_task

MESSAGE = (
    "num_iter must be an integer from 10 to 100,000 (a range test takes 100 to a few hundred "
    "steps), got {}."
)


def _finder() -> tuple[LRFinder, torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = torch.nn.Linear(8, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)
    return LRFinder(model, optimizer, torch.nn.CrossEntropyLoss()), model, optimizer


def _loader() -> DataLoader[tuple[torch.Tensor, ...]]:
    x = torch.randn(64, 8)
    return DataLoader(TensorDataset(x, (x[:, 0] > 0).long()), batch_size=16)


@pytest.mark.parametrize("num_iter", [MAX_ITER + 1, 100_000_000, 10**18])
def test_range_test_refuses_a_sweep_past_the_limit_at_once(num_iter: int) -> None:
    finder, model, optimizer = _finder()
    before = copy.deepcopy(model.state_dict())
    started = time.perf_counter()
    with pytest.raises(lrkit.ConfigError, match=re.escape(MESSAGE.format(num_iter))):
        finder.range_test(_loader(), end_lr=1, num_iter=num_iter)
    assert time.perf_counter() - started < 5  # no step trained, no LR table built
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert optimizer.param_groups[0]["lr"] == 1e-4 and finder.result is None


def test_the_limit_itself_is_a_valid_plan() -> None:
    _, _, optimizer = _finder()
    plan = make_plan(optimizer, 1e-7, 10.0, MAX_ITER, "exp", 0.05, 5, 1, 10)
    assert len(plan.columns[0]) == MAX_ITER == 100_000
    assert plan.columns[0][0] == 1e-7 and plan.columns[0][-1] == pytest.approx(10.0)


def test_range_test_task_passes_the_limit_on() -> None:
    with pytest.raises(lrkit.ConfigError, match=re.escape(MESSAGE.format(10**8))):
        range_test_task(load_task("digits"), num_iter=10**8)
