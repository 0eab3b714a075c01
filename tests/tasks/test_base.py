"""The Task protocol: validation, seeded builders, loaders, metrics and check_task."""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from lrkit.errors import ConfigError, TaskError, UnknownNameError
from lrkit.tasks import MetricTally, Task, check_task, split_indices


def _data(n: int = 24, classes: int = 3) -> TensorDataset:
    generator = torch.Generator().manual_seed(0)
    return TensorDataset(torch.randn(n, 4, generator=generator), torch.arange(n) % classes)


def _task(**overrides: Any) -> Task:
    fields: dict[str, Any] = {
        "name": "toy",
        "model": lambda: nn.Linear(4, 3),
        "train_data": _data(),
        "val_data": _data(),
        "batch_size": 8,
        "lr": 0.1,
    }
    fields.update(overrides)
    return Task(**fields)


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        pytest.param({"name": ""}, "Task.name", id="empty-name"),
        # an undecodable file name's byte, as os.fsdecode gives it: unprintable, undrawable
        pytest.param(
            {"name": "bad\udcff"}, "Task.name must be text that can be written", id="surrogate"
        ),
        pytest.param({"model": "linear"}, "Task.model", id="model"),
        pytest.param({"train_data": 3}, "Task.train_data", id="train-data"),
        pytest.param(  # scikit-learn's (X, y): items X then y, which no batch can stack
            {"train_data": (np.zeros((8, 4)), np.zeros(8))},
            r"Task.train_data must be a dataset of \(inputs, targets\) items, got a pair of "
            r"arrays \(X, y\); wrap them: TensorDataset",
            id="x-y-pair",
        ),
        pytest.param(
            {"model": nn.Linear(4, 3)},
            r"Task.model must build a fresh model each time it is called .* got a Linear "
            r"instance",
            id="model-instance",
        ),
        pytest.param(
            {"val_data": torch.utils.data.DataLoader(_data(), batch_size=4)},
            r"Task.val_data must be a dataset, got a DataLoader; pass its dataset",
            id="dataloader",
        ),
        pytest.param(
            {"metric": lambda out, y: 0.0},
            r"valid metrics: accuracy, r2, neg_loss \(a function of your own is not one",
            id="metric-function",
        ),
        pytest.param(
            {"criterion": nn.CrossEntropyLoss},
            r"Task.criterion must be a loss, such as CrossEntropyLoss\(\), got the class",
            id="criterion-class",
        ),
        pytest.param(
            {"optimizer": torch.optim.Adam([torch.zeros(1, requires_grad=True)])},
            r"Task.optimizer must make an optimizer from \(params, lr\), .* got an optimizer "
            r"object \(Adam\)",
            id="optimizer-object",
        ),
        pytest.param({"epochs": 0}, "Task.epochs", id="epochs"),
        pytest.param({"epochs": 2.5}, "Task.epochs", id="epochs-float"),
        # a typo's 10**9 trained for ever, where train(epochs=10**9) was refused
        pytest.param({"epochs": 10**9}, "Task.epochs must be .* up to 100,000", id="epochs-huge"),
        # text has __getitem__ and __len__: training failed later, unpacking characters
        pytest.param({"test_data": "x"}, "Task.test_data must be a map-style dataset", id="text"),
        pytest.param({"batch_size": -1}, "Task.batch_size", id="batch-size"),
        pytest.param({"lr": -0.1}, "Task.lr", id="lr"),
        pytest.param({"lr": math.nan}, "Task.lr", id="lr-nan"),
    ],
)
def test_invalid_fields_raise_config_error_naming_the_field(
    overrides: dict[str, Any], needle: str
) -> None:
    with pytest.raises(ConfigError, match=needle):
        _task(**overrides)


def test_unknown_metric_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownNameError, match="accuracy, r2, neg_loss"):
        _task(metric="f1")


def test_make_model_depends_only_on_seed_and_leaves_the_global_rng_alone() -> None:
    task = _task()
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a, b, c = task.make_model(seed=1), task.make_model(seed=1), task.make_model(seed=2)
    assert torch.equal(torch.random.get_rng_state(), before)
    weights = [next(model.parameters()) for model in (a, b, c)]
    assert torch.equal(weights[0], weights[1])
    assert not torch.equal(weights[0], weights[2])


def test_make_model_rejects_a_builder_that_returns_no_module() -> None:
    with pytest.raises(TaskError, match=r"model\(\) must return a torch.nn.Module, got int"):
        _task(model=lambda: 3).make_model()


def test_a_model_builder_that_raises_is_named_with_where_it_failed() -> None:
    def builder() -> nn.Module:
        return nn.Linear(4, -3)  # torch raises, from inside torch

    with pytest.raises(TaskError) as info:
        _task(model=builder).make_model()
    line = builder.__code__.co_firstlineno + 1
    assert str(info.value).startswith("Task 'toy': model() raised RuntimeError: ")
    assert str(info.value).endswith(f"(at test_base.py:{line})")
    assert isinstance(info.value.__cause__, RuntimeError)


def test_make_optimizer_accepts_a_model_or_param_groups() -> None:
    task = _task(optimizer=torch.optim.Adam)
    model = task.make_model()
    assert isinstance(task.make_optimizer(model, 0.01), torch.optim.Adam)
    groups = [{"params": [model.weight]}, {"params": [model.bias], "lr": 0.5}]
    optimizer = task.make_optimizer(groups, 0.01)
    assert [g["lr"] for g in optimizer.param_groups] == [0.01, 0.5]


def test_default_optimizer_is_sgd_with_momentum() -> None:
    task = _task()
    optimizer = task.make_optimizer(task.make_model(), 0.05)
    assert isinstance(optimizer, torch.optim.SGD)
    assert optimizer.param_groups[0]["momentum"] == 0.9


def test_make_optimizer_rejects_a_builder_that_returns_no_optimizer() -> None:
    task = _task(optimizer=lambda params, lr: "sgd")
    with pytest.raises(TaskError, match=r"must return a torch.optim.Optimizer, got str"):
        task.make_optimizer(task.make_model(), 0.1)


def test_train_loader_order_is_fixed_by_seed_and_changes_between_epochs() -> None:
    task = _task()

    def orders(seed: int) -> list[list[int]]:
        loader = task.train_loader(seed)
        return [torch.cat([y for _, y in loader]).tolist() for _ in range(2)]

    first, again, other = orders(0), orders(0), orders(1)
    assert first == again
    assert first != other
    assert first[0] != first[1]


def test_a_last_training_batch_of_one_sample_is_left_out() -> None:
    from lrkit.training import train

    def data(n: int) -> TensorDataset:
        return TensorDataset(torch.randn(n, 4), torch.arange(n) % 3)

    sizes = {n: [len(y) for _, y in _task(train_data=data(n)).train_loader()] for n in (17, 18, 1)}
    assert sizes == {17: [8, 8], 18: [8, 8, 2], 1: [1]}
    # what it is for: BatchNorm cannot train on one sample ("Expected more than 1 value")
    with_norm = _task(
        train_data=data(17),
        model=lambda: nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Linear(6, 3)),
    )
    history = train(with_norm, epochs=1, progress=False, verbose=False)
    assert not history.diverged and math.isfinite(history.records[0].train_loss)


def test_val_and_test_loaders_keep_order() -> None:
    task = _task(test_data=_data(10))
    assert torch.cat([y for _, y in task.val_loader()]).tolist() == (torch.arange(24) % 3).tolist()
    test_loader = task.test_loader()
    assert test_loader is not None and len(test_loader) == 2
    assert _task().test_loader() is None


def test_accuracy_from_class_scores_and_from_binary_logits() -> None:
    tally = MetricTally("accuracy")
    tally.update(torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]]), torch.tensor([0, 0, 0]))
    assert tally.compute(mean_loss=0.0) == pytest.approx(2 / 3)
    binary = MetricTally("accuracy")
    binary.update(torch.tensor([1.5, -0.5, 0.2, -2.0]), torch.tensor([1.0, 1.0, 0.0, 0.0]))
    assert binary.compute(mean_loss=0.0) == 0.5


def test_accuracy_with_class_probability_targets_is_read_by_argmax() -> None:
    # CrossEntropyLoss takes one-hot or soft targets shaped like the output: accuracy is the
    # argmax of each, not a 0/1 match per element (all-negative logits scored 90% of 10 classes)
    scores = torch.tensor([[2.0, 0.0, -1.0], [-3.0, -1.0, -2.0], [-1.0, -2.0, -3.0]])
    one_hot = torch.eye(3)[[0, 0, 2]]
    tally = MetricTally("accuracy", torch.nn.CrossEntropyLoss())
    tally.update(scores, one_hot)
    assert tally.compute(mean_loss=0.0) == pytest.approx(1 / 3)
    soft_targets = torch.tensor([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.6, 0.2, 0.2]])
    smoothed = functools.partial(torch.nn.functional.cross_entropy, label_smoothing=0.1)
    for criterion in (torch.nn.CrossEntropyLoss(), torch.nn.functional.cross_entropy, smoothed):
        soft = MetricTally("accuracy", criterion)
        soft.update(scores, soft_targets)
        assert soft.compute(mean_loss=0.0) == 1.0
    multi_label = MetricTally("accuracy", torch.nn.BCEWithLogitsLoss())  # each logit its own
    multi_label.update(scores, one_hot)
    assert multi_label.compute(mean_loss=0.0) == pytest.approx(7 / 9)


def test_r2_over_batches_equals_r2_over_the_whole_split() -> None:
    target = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    output = torch.tensor([[1.5], [2.0], [2.5], [4.0]])
    tally = MetricTally("r2")
    tally.update(output[:1], target[:1])
    tally.update(output[1:], target[1:])
    # SSE = 0.5, SST = 5.0
    assert tally.compute(mean_loss=0.0) == pytest.approx(0.9)


def test_neg_loss_is_minus_the_mean_loss() -> None:
    assert MetricTally("neg_loss").compute(mean_loss=0.25) == -0.25


def test_metric_shape_misfit_is_a_task_error() -> None:
    with pytest.raises(TaskError, match=r"'r2' needs outputs shaped like the targets"):
        MetricTally("r2").update(torch.zeros(4, 1), torch.zeros(4))
    with pytest.raises(TaskError, match=r"'accuracy' needs class scores"):
        MetricTally("accuracy").update(torch.zeros(4, 3, 2, 2), torch.zeros(4))
    # one output per real-valued target is a regression: accuracy would compare signs
    with pytest.raises(TaskError, match=r"needs targets in \[0, 1\] .* target of 2.5\. For reg"):
        MetricTally("accuracy").update(torch.zeros(3), torch.tensor([0.0, 2.5, 1.0]))
    with pytest.raises(TaskError, match=r"got a target of -0.5"):
        MetricTally("accuracy").update(torch.zeros(2), torch.tensor([-0.5, 1.0]))
    soft = MetricTally("accuracy")  # label smoothing: soft 0/1 targets read as 0 or 1
    soft.update(torch.tensor([2.0, -1.0, 1.0]), torch.tensor([0.95, 0.05, 0.05]))
    assert soft.compute(mean_loss=0.0) == pytest.approx(2 / 3)


def test_check_task_catches_accuracy_on_a_regression() -> None:
    data = TensorDataset(torch.randn(16, 4), torch.randn(16, 1))
    task = _task(
        model=lambda: nn.Linear(4, 1), train_data=data, val_data=data, criterion=nn.MSELoss()
    )
    with pytest.raises(TaskError, match="use metric='r2'"):
        check_task(task)


def test_check_task_passes_a_good_task() -> None:
    check_task(_task())


def test_check_task_catches_output_that_does_not_fit_the_loss() -> None:
    # One output unit but three classes: CrossEntropyLoss sees targets out of range.
    task = _task(model=lambda: nn.Linear(4, 1))
    with pytest.raises(TaskError, match=r"output does not fit the loss CrossEntropyLoss") as info:
        check_task(task)
    assert "(8, 1)" in str(info.value) and "(8,)" in str(info.value)


def test_check_task_catches_cross_entropy_over_one_output() -> None:
    """A regression task without its criterion: CrossEntropyLoss over 1 output is 0 whatever
    the model does, so it "trained" with loss 0 and exited 0."""
    data = TensorDataset(torch.randn(16, 4), torch.randn(16, 1))
    task = _task(model=lambda: nn.Linear(4, 1), train_data=data, val_data=data, metric="r2")
    with pytest.raises(TaskError, match=r"cross-entropy over 1 output is always 0.*MSELoss\(\)"):
        check_task(task)


@pytest.mark.parametrize("split", ["train_data", "val_data", "test_data"])
def test_check_task_finds_a_class_index_beyond_the_outputs_in_any_split(split: str) -> None:
    """Label 5 of a 5-output model, past the first batch or in another split, failed deep in
    training with torch's 'Target 5 is out of bounds' traceback."""
    labels = torch.arange(40) % 5
    labels[-1] = 5
    bad = TensorDataset(torch.randn(40, 4), labels)
    good = TensorDataset(torch.randn(40, 4), torch.arange(40) % 5)
    data = {"train_data": good, "val_data": good, "test_data": good, split: bad}
    task = _task(model=lambda: nn.Linear(4, 5), **data)
    message = f"Task 'toy': {split} has class index 5, but the model has 5 outputs (classes 0 to "
    with pytest.raises(TaskError, match=message.replace("(", r"\(")):
        check_task(task)


def test_check_task_says_how_to_fix_float_class_targets() -> None:
    data = TensorDataset(torch.randn(16, 4), (torch.arange(16) % 3).float())
    with pytest.raises(TaskError, match=r"Fix: class-index targets must be integers: y.long\(\)"):
        check_task(_task(train_data=data, val_data=data))


def test_check_task_catches_silent_broadcasting_in_mse() -> None:
    # (N, 1) predictions against (N,) targets: MSELoss only warns, and trains on garbage.
    data = TensorDataset(torch.randn(16, 4), torch.randn(16))
    task = _task(
        model=lambda: nn.Linear(4, 1),
        train_data=data,
        val_data=data,
        criterion=nn.MSELoss(),
        metric="r2",
    )
    with pytest.raises(TaskError, match="does not fit the loss MSELoss"):
        check_task(task)


def test_check_task_reports_a_model_that_fails_on_the_inputs() -> None:
    with pytest.raises(TaskError, match=r"model failed on a training batch .* \(8, 4\)"):
        check_task(_task(model=lambda: nn.Linear(5, 3)))


def test_check_task_requires_input_target_pairs() -> None:
    class Triples(Dataset[Any]):
        def __len__(self) -> int:
            return 8

        def __getitem__(self, i: int) -> tuple[torch.Tensor, ...]:
            return torch.zeros(4), torch.tensor(0), torch.tensor(1)

    with pytest.raises(TaskError, match=r"\(inputs, targets\) pair, got a list of 3 items"):
        check_task(_task(train_data=Triples()))

    class Ragged(Dataset[Any]):
        def __len__(self) -> int:
            return 8

        def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
            return torch.zeros(4 + i % 2), torch.tensor(0)

    with pytest.raises(TaskError, match=r"the first training batch could not be made from its"):
        check_task(_task(train_data=Ragged()))

    class Missing(Dataset[Any]):  # the dataset's own error is its own, not about stacking
        def __len__(self) -> int:
            return 8

        def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
            raise FileNotFoundError("images/0001.png")

    with pytest.raises(FileNotFoundError, match=r"images/0001\.png"):
        check_task(_task(train_data=Missing()))


def test_check_task_refuses_an_optimizer_that_needs_a_closure() -> None:
    with pytest.raises(TaskError, match=r"Task 'toy': LBFGS re-evaluates the loss within each"):
        check_task(_task(optimizer=torch.optim.LBFGS))


def test_check_task_rejects_empty_splits_and_detached_outputs() -> None:
    with pytest.raises(TaskError, match="val_data is empty"):
        check_task(_task(val_data=TensorDataset(torch.zeros(0, 4), torch.zeros(0))))

    class Detached(nn.Linear):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return super().forward(x).detach()

    with pytest.raises(TaskError, match="does not depend on any trainable parameter"):
        check_task(_task(model=lambda: Detached(4, 3)))

    class Empty(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.zeros(len(x), 3)

    with pytest.raises(TaskError, match=r"building the optimizer failed: .* empty parameter list"):
        check_task(_task(model=Empty))


def test_split_indices_is_reproducible_disjoint_and_stratified() -> None:
    labels = torch.arange(100).numpy() % 4
    train, val, test = split_indices(labels, (0.6, 0.2, 0.2), seed=0, stratify=True)
    again = split_indices(labels, (0.6, 0.2, 0.2), seed=0, stratify=True)
    assert all((a == b).all() for a, b in zip((train, val, test), again))
    assert len(set(train) | set(val) | set(test)) == 100
    assert (len(train), len(val), len(test)) == (60, 20, 20)
    assert sorted((labels[val] == k).sum() for k in range(4)) == [5, 5, 5, 5]
    with pytest.raises(ConfigError, match="fractions"):
        split_indices(labels, (0.5, 0.2, 0.2), seed=0, stratify=False)


@pytest.mark.parametrize(
    ("criterion", "ignored"),
    [
        (nn.CrossEntropyLoss(), -100),
        (nn.CrossEntropyLoss(ignore_index=7), 7),
        (functools.partial(nn.functional.cross_entropy, ignore_index=7), 7),
    ],
)
def test_check_task_lets_ignored_targets_be(criterion: Any, ignored: int) -> None:
    """Targets at the loss's ignore_index (-100 by default) are not class indices."""
    labels = torch.arange(24) % 3
    labels[::5] = ignored
    data = TensorDataset(torch.randn(24, 4), labels)
    check_task(_task(train_data=data, val_data=data, criterion=criterion))


def test_a_model_s_own_index_error_gets_no_loss_hint() -> None:
    class Picky(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.linear(x)[:, 6]  # index 6 is out of bounds for 3 outputs

    with pytest.raises(TaskError, match="the model failed on a training batch") as info:
        check_task(_task(model=Picky))
    assert "Fix:" not in str(info.value)


def test_check_task_tries_a_batch_of_the_validation_and_test_splits() -> None:
    # float64 validation inputs, or a test split of other shapes, failed with a traceback
    # after a training epoch (the test one after the whole run); the train split was checked
    x, y = _data().tensors
    with pytest.raises(TaskError, match=r"a validation batch .* got Double and Float. Fix: "):
        check_task(_task(val_data=TensorDataset(x.double(), y)))
    with pytest.raises(TaskError, match=r"a validation batch .* Fix: class-index targets"):
        check_task(_task(val_data=TensorDataset(x, y.float())))
    with pytest.raises(TaskError, match=r"a test batch \(inputs of shape \(8, 2\)\)"):
        check_task(_task(test_data=TensorDataset(x[:, :2], y)))


def test_a_model_that_cannot_be_moved_to_the_device_is_a_task_error() -> None:
    with pytest.raises(TaskError, match=r"moved to 'cpu': NotImplemented.*build it on the CPU"):
        check_task(_task(model=lambda: nn.Linear(4, 3, device="meta")))


def test_a_metric_that_does_not_fit_an_evaluation_split_names_the_split() -> None:
    x, y = _data().tensors
    binary = TensorDataset(x, (y % 2).float().unsqueeze(1))
    task = _task(
        model=lambda: nn.Linear(4, 1),
        criterion=nn.BCEWithLogitsLoss(),
        train_data=binary,
        val_data=binary,
        test_data=TensorDataset(x, torch.full((24, 1), 2.0)),  # no label of a binary task
    )
    with pytest.raises(TaskError, match=r"^Task 'toy': a test batch: Metric 'accuracy'"):
        check_task(task)


class _StringLabels(Dataset):  # type: ignore[type-arg]
    """Labels as the strings they were read as: the loader collates them into a tuple."""

    def __len__(self) -> int:
        return 16

    def __getitem__(self, i: int) -> tuple[torch.Tensor, str]:
        return torch.full((4,), float(i)), "ab"[i % 2]


def test_string_targets_are_a_task_error_not_an_attribute_error() -> None:
    # a loss that ignores the targets passed them on to the metric, which read .detach()
    task = _task(
        model=lambda: nn.Linear(4, 2),
        train_data=_StringLabels(),
        val_data=_StringLabels(),
        criterion=lambda out, y: out.sum() * 0,
    )
    with pytest.raises(TaskError, match=r"^Task 'toy': a training batch: Metric 'accuracy' needs"):
        check_task(task)
    with pytest.raises(TaskError, match=r"got the targets as a tuple of str\. Map the labels"):
        check_task(task)
    # with cross-entropy the loss refuses them first, and says what to do
    with pytest.raises(TaskError, match=r"Fix: the targets must be tensors: map string labels"):
        check_task(dataclasses.replace(task, criterion=nn.CrossEntropyLoss()))


def test_a_metric_of_no_tensors_says_what_it_got() -> None:
    with pytest.raises(TaskError, match=r"'r2' needs .* as tensors \(numbers shaped like the ou"):
        MetricTally("r2").update(torch.zeros(2), [1.0, 2.0])  # type: ignore[arg-type]
    with pytest.raises(TaskError, match=r"got the model output as a dict\.$"):
        MetricTally("accuracy").update({"logits": torch.zeros(2, 2)}, torch.zeros(2))  # type: ignore[arg-type]
    tally = MetricTally("neg_loss")  # the loss alone ranks: targets of any kind are its business
    tally.update(torch.zeros(2), ("a", "b"))  # type: ignore[arg-type]
    assert tally.compute(mean_loss=0.5) == -0.5


def test_an_iterable_dataset_to_train_on_is_refused_as_such() -> None:
    class Stream(torch.utils.data.IterableDataset):  # type: ignore[type-arg]
        def __iter__(self) -> Any:
            return iter(_data())

        def __len__(self) -> int:  # with a length it passed the checks, then failed in torch
            return 24

    with pytest.raises(ConfigError, match=r"got an IterableDataset \(Stream\), which cannot be"):
        _task(train_data=Stream())
    _task(val_data=Stream())  # evaluation reads it in order: fine
