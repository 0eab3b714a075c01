"""One contract over every built-in task, plus what each one promises."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.data import TensorDataset

from lrkit.tasks import BUILTIN_TASKS, check_task, digits_task, friedman_task, load_task
from lrkit.training import train


def _tensors(data: object) -> tuple[torch.Tensor, ...]:
    assert isinstance(data, TensorDataset)
    return data.tensors


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in sorted(BUILTIN_TASKS)])
def test_builtin_task_contract(name: str) -> None:
    task = load_task(name)
    assert task.name == name
    assert task.lr is not None and task.description
    assert task.test_data is not None
    check_task(task)
    history = train(task, epochs=1, progress=False, verbose=False, check=False)
    assert not history.diverged and math.isfinite(history.records[0].val_metric)


@pytest.mark.parametrize("build", [digits_task, friedman_task], ids=["digits", "friedman"])
def test_builtin_data_is_identical_between_builds(build: object) -> None:
    assert callable(build)
    a, b = build(), build()
    for split in ("train_data", "val_data", "test_data"):
        xa, ya = _tensors(getattr(a, split))
        xb, yb = _tensors(getattr(b, split))
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_digits_shapes_and_split() -> None:
    task = digits_task()
    sizes = [len(_tensors(data)[0]) for data in (task.train_data, task.val_data, task.test_data)]
    assert sizes == [1078, 359, 360]
    images, labels = _tensors(task.train_data)
    assert images.shape[1:] == (1, 8, 8) and images.dtype == torch.float32
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
    assert sorted(set(labels.tolist())) == list(range(10))
    assert task.make_model()(images[:2]).shape == (2, 10)


def test_friedman_targets_are_standardised_on_train() -> None:
    task = friedman_task()
    _, targets = _tensors(task.train_data)
    assert targets.shape == (900, 1)
    assert abs(float(targets.mean())) < 1e-5 and float(targets.std()) == pytest.approx(1, abs=1e-2)
