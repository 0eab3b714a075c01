"""Imbalanced data (seed 001, example 3): the sweep can see class-balanced batches."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from lrkit import ConfigError, LRFinder
from lrkit.finder.balance import balanced_loader, class_labels
from lrkit.tasks import Task
from tests.finder.helpers import mlp

pytestmark = pytest.mark.filterwarnings("ignore::lrkit.finder.FinderWarning")


def skewed(n_major: int = 800, n_minor: int = 20) -> TensorDataset:
    """40:1: class 0 around -1, class 1 around +1 on the first feature; minority rows last."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n_major + n_minor, 8, generator=g)
    y = torch.cat([torch.zeros(n_major, dtype=torch.long), torch.ones(n_minor, dtype=torch.long)])
    x[:, 0] += 2.0 * y - 1.0
    return TensorDataset(x, y)


def _seen_labels(balance: str | None, seed: int = 0, num_iter: int = 40) -> list[int]:
    seen: list[int] = []

    def step_fn(model: nn.Module, batch: Any) -> torch.Tensor:
        seen.extend(batch[1].tolist())
        return nn.functional.cross_entropy(model(batch[0]), batch[1])

    model = mlp()
    finder = LRFinder(model, torch.optim.SGD(model.parameters(), lr=1e-4))
    data = DataLoader(skewed(), batch_size=32, shuffle=True)
    finder.range_test(
        data, end_lr=1, num_iter=num_iter, step_fn=step_fn, balance=balance, seed=seed
    )
    return seen


@pytest.mark.parametrize("mode", ["undersample", "sampler"])
def test_the_sweep_sees_roughly_balanced_batches_of_a_40_to_1_set(mode: str) -> None:
    plain = _seen_labels(None)
    assert sum(plain) / len(plain) < 0.05  # without balancing: 1 minority sample in 41
    seen = _seen_labels(mode)
    assert 0.4 < sum(seen) / len(seen) < 0.6
    assert _seen_labels(mode) == seen  # the same seed draws the same batches


def test_undersampling_keeps_every_minority_sample_and_as_many_of_the_majority() -> None:
    data = DataLoader(skewed(), batch_size=8)
    labels = [int(y) for _, ys in balanced_loader(data, "undersample", seed=3) for y in ys]
    assert labels.count(1) == 20 and labels.count(0) == 20


def test_undersampling_leaves_out_a_last_batch_of_one_by_the_subset_s_size() -> None:
    # 17 samples: the task's loader drops a last batch of one; the subset has another size
    for n_minor, sizes in [(8, [8, 8]), (5, [8, 2])]:  # 16 kept; 10 kept: the 2 were dropped
        data = skewed(n_major=17 - n_minor, n_minor=n_minor)
        task = Task(name="t", model=mlp, train_data=data, val_data=data, batch_size=8)
        assert task.train_loader().drop_last
        kept = balanced_loader(task.train_loader(), "undersample", seed=0)
        assert [len(y) for _, y in kept] == sizes


def test_labels_are_found_in_subsets_attributes_and_samples() -> None:
    base = skewed(6, 2)
    subset = torch.utils.data.Subset(base, [0, 7, 6])
    assert class_labels(subset).tolist() == [0, 1, 1]

    class Dicts(Dataset[dict[str, Any]]):
        def __len__(self) -> int:
            return 3

        def __getitem__(self, i: int) -> dict[str, Any]:
            return {"input": torch.zeros(2), "label": torch.tensor(i % 2)}

    assert class_labels(Dicts()).tolist() == [0, 1, 0]


def test_balancing_regression_targets_or_a_plain_iterable_is_a_config_error() -> None:
    regression = DataLoader(TensorDataset(torch.zeros(4, 2), torch.tensor([0.5, 1.2, 3.0, 0.1])))
    with pytest.raises(
        ConfigError, match="balance: class-balanced batches need integer class labels"
    ):
        balanced_loader(regression, "sampler")
    with pytest.raises(
        ConfigError, match="balance: class-balanced batches need a torch DataLoader"
    ):
        balanced_loader([(torch.zeros(2), torch.tensor(0))], "sampler")  # type: ignore[arg-type]


def test_the_label_is_a_sample_s_second_item_as_the_sweep_reads_it() -> None:
    """QA 127: an (input, label, index) sample was balanced by its index (the last item), and
    nothing was balanced; the sweep reads a batch's labels from its second item."""
    base = skewed()
    index = torch.arange(len(base))
    triples = DataLoader(TensorDataset(*base.tensors, index), batch_size=32)
    labels = [int(y) for _, ys, _ in balanced_loader(triples, "sampler", seed=0) for y in ys]
    assert 0.4 < sum(labels) / len(labels) < 0.6

    class Triples(Dataset[tuple[torch.Tensor, torch.Tensor, float]]):
        def __len__(self) -> int:
            return len(base)

        def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, float]:
            return base[i][0], base[i][1], 0.5  # a weight last

    assert class_labels(Triples()).tolist() == base.tensors[1].tolist()
    with pytest.raises(ConfigError, match="got a TensorDataset of one tensor"):
        class_labels(TensorDataset(base.tensors[1]))


def test_balancing_a_loader_over_an_iterable_dataset_is_a_config_error() -> None:
    class Stream(torch.utils.data.IterableDataset[tuple[torch.Tensor, torch.Tensor]]):
        def __iter__(self) -> Any:
            return iter(skewed())

        def __len__(self) -> int:  # a length does not make it indexable
            return 820

    with pytest.raises(
        ConfigError, match="got a DataLoader over Stream, an iterable dataset"
    ):  # torch's NotImplementedError from the sampler's first index, before
        balanced_loader(DataLoader(Stream(), batch_size=32), "sampler")
