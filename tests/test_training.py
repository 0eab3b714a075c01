"""The shared training loop: schedules, determinism, divergence and the typed history."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.optim.lr_scheduler import ReduceLROnPlateau, StepLR
from torch.utils.data import TensorDataset

from lrkit.errors import ConfigError, TaskError
from lrkit.tasks import Task, load_task
from lrkit.training import EpochRecord, History, evaluate, train

QUIET: dict[str, Any] = {"progress": False, "verbose": False}


def _tiny(**overrides: Any) -> Task:
    """Linearly separable 2-class data and a linear model: trains in milliseconds."""
    x = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
    data = TensorDataset(x, (x[:, 0] + x[:, 1] > 0).long())
    fields: dict[str, Any] = {
        "name": "tiny",
        "model": lambda: nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)),
        "train_data": data,
        "val_data": data,
        "test_data": data,
        "epochs": 6,
        "batch_size": 16,
        "lr": 0.1,
    }
    fields.update(overrides)
    return Task(**fields)


def test_digits_reaches_90_percent_in_its_default_budget() -> None:
    task = load_task("digits")
    history = train(task, **QUIET)
    assert history.epochs_run == task.epochs
    assert history.best_val_metric >= 0.90
    assert history.test_metric is not None and history.test_metric >= 0.90
    assert history.lrs == (task.lr,) * task.epochs


def test_history_records_every_epoch() -> None:
    history = train(_tiny(), **QUIET)
    assert isinstance(history, History) and history.epochs_run == 6
    assert all(isinstance(r, EpochRecord) for r in history.records)
    assert [r.epoch for r in history.records] == [1, 2, 3, 4, 5, 6]
    assert len(history.step_lrs) == 6 * 4
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.best_val_metric == max(history.val_metric)
    assert history.best_epoch is not None
    assert history.val_metric[history.best_epoch - 1] == history.best_val_metric
    assert history.final_val_metric == history.val_metric[-1]
    assert history.schedule == "constant" and history.unit == "epoch"
    assert not history.diverged and not history.stopped_early
    assert history.wall_time > 0


def test_steplr_callable_changes_the_lr_at_the_right_epochs() -> None:
    history = train(_tiny(), 0.1, lambda opt: StepLR(opt, step_size=2, gamma=0.1), **QUIET)
    assert [round(lr, 8) for lr in history.lrs] == [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    assert history.schedule == "StepLR"
    # Within an epoch the LR is constant when the scheduler steps per epoch.
    assert history.step_lrs[:4] == (0.1,) * 4


def test_steplr_per_step_moves_within_an_epoch() -> None:
    def schedule(opt: torch.optim.Optimizer) -> StepLR:
        return StepLR(opt, step_size=4, gamma=0.5)

    history = train(_tiny(), 0.1, schedule, unit="step", epochs=2, **QUIET)
    assert [round(lr, 8) for lr in history.step_lrs] == [0.1] * 4 + [0.05] * 4
    assert history.lrs == (0.1, 0.05)


def test_reduce_on_plateau_gets_the_validation_loss() -> None:
    seen: list[float] = []

    class Spy(ReduceLROnPlateau):
        def step(self, metrics: Any, epoch: Any = None) -> None:  # type: ignore[override]
            seen.append(float(metrics))
            super().step(metrics)

    history = train(_tiny(), 0.1, lambda opt: Spy(opt, patience=0, factor=0.5), **QUIET)
    assert seen == pytest.approx(list(history.val_loss))


def test_native_spec_string_per_epoch_and_per_step() -> None:
    by_epoch = train(_tiny(), 0.1, "step:2,gamma=0.1", **QUIET)
    assert [round(lr, 8) for lr in by_epoch.lrs] == [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    by_step = train(_tiny(), 0.1, "cosine:24", unit="step", **QUIET)
    assert by_step.step_lrs[0] == pytest.approx(0.1)
    assert by_step.step_lrs[12] == pytest.approx(0.05)
    assert list(by_step.step_lrs) == sorted(by_step.step_lrs, reverse=True)
    # the history names a spec in the caller's words; a Schedule object by its spec
    assert (by_epoch.schedule, by_step.schedule) == ("step:2,gamma=0.1", "cosine:24")
    assert train(_tiny(), 0.1, " warmup:1  >\tcosine:5 ", **QUIET).schedule == "warmup:1 > cosine:5"
    from lrkit.schedules import parse

    assert train(_tiny(), 0.1, parse("cosine:6"), **QUIET).schedule == "cosine:steps=6"


def test_same_seed_same_history_other_seed_other_history() -> None:
    task = _tiny()
    first = train(task, seed=3, **QUIET)
    again = train(task, seed=3, **QUIET)
    other = train(task, seed=4, **QUIET)
    assert first == again
    assert first.train_loss != other.train_loss


def test_training_leaves_the_callers_rng_alone() -> None:
    torch.manual_seed(7)
    before = torch.random.get_rng_state()
    train(_tiny(), epochs=1, **QUIET)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_a_plateau_s_cut_shows_in_the_epoch_lines_only(capsys: pytest.CaptureFixture[str]) -> None:
    """QA 123: bind's own torch-style line ("Epoch 00002: reducing learning rate of group 0")
    repeated each cut between the epoch lines, and once more after the last epoch."""
    history = train(_tiny(), 0.3, "plateau:patience=0,threshold=0.9", epochs=4, progress=False)
    out = capsys.readouterr().out
    assert "reducing learning rate" not in out
    lines = [line for line in out.splitlines() if line.startswith("Epoch ")]
    assert len(lines) == 4 and history.records[-1].lr < 0.3  # the cuts: in the epochs' lr
    assert all(f"lr={record.lr:.4g}" in line for record, line in zip(history.records, lines))


def test_divergence_is_recorded_not_raised(capsys: pytest.CaptureFixture[str]) -> None:
    history = train(load_task("digits"), 1e4, epochs=3, progress=False)
    assert history.diverged
    assert history.epochs_run == 1
    assert not math.isfinite(history.records[-1].train_loss)
    assert math.isnan(history.final_val_metric)
    assert history.best_val_metric == -math.inf and history.best_epoch is None
    assert history.test_loss is None and history.test_metric is None
    assert "diverged at step" in capsys.readouterr().out


def test_a_validation_loss_blown_up_by_the_last_step_is_divergence_too(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One batch an epoch: its training loss is finite, the step after it overflows the weights,
    and the validation loss is inf. The run went on as not diverged (QA 118): compare counted no
    divergence in a row of null means, a search's trial failed with diverged false."""
    x = torch.randn(32, 4, generator=torch.Generator().manual_seed(0)) * 1e4
    data = TensorDataset(x, x.sum(dim=1, keepdim=True))
    task = _tiny(
        model=lambda: nn.Linear(4, 1), train_data=data, val_data=data, test_data=data,
        batch_size=32, criterion=nn.MSELoss(), metric="r2", lr=1e6,
    )  # fmt: skip
    history = train(task, epochs=3, progress=False)
    [record] = history.records
    assert math.isfinite(record.train_loss) and not math.isfinite(record.val_loss)
    assert history.diverged and history.epochs_run == 1 and history.test_loss is None
    out = capsys.readouterr().out
    assert "val_loss=inf  diverged at step 1; stopping." in out


def test_verbose_prints_the_lr_each_epoch(capsys: pytest.CaptureFixture[str]) -> None:
    train(_tiny(), 0.05, epochs=2, progress=False)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("Epoch 1/2  lr=0.05  train_loss=")
    assert "val_loss=" in lines[1] and "val_acc=" in lines[1]


def test_quiet_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    train(_tiny(), epochs=1, **QUIET)
    assert capsys.readouterr().out == ""


def test_on_epoch_end_can_stop_the_run() -> None:
    history = train(_tiny(), on_epoch_end=lambda record: record.epoch == 2, **QUIET)
    assert history.epochs_run == 2 and history.stopped_early
    assert history.test_metric is not None


def test_default_lr_and_epochs_come_from_the_task() -> None:
    history = train(_tiny(lr=0.02, epochs=2), **QUIET)
    assert history.lr == 0.02 and history.epochs == 2 and history.epochs_run == 2


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        pytest.param({"lr": 0.0}, "lr must be", id="lr-zero"),
        pytest.param({"lr": math.inf}, "lr must be", id="lr-inf"),
        pytest.param({"epochs": 0}, "epochs must be", id="epochs"),
        pytest.param({"epochs": 10**9}, "epochs must be .* up to 100,000", id="epochs-huge"),
        pytest.param({"seed": -1}, "seed must be an integer from 0", id="seed"),
        pytest.param({"unit": "batch"}, "unit must be", id="unit"),
        pytest.param({"schedule": 3}, "schedule must be", id="schedule"),
        pytest.param({"schedule": lambda opt: 3}, "schedule", id="schedule-result"),
        pytest.param({"progress": "no"}, "progress must be True or False", id="progress"),
        pytest.param({"verbose": "no", "progress": False}, "verbose must be", id="verbose"),
        pytest.param({"check": "no"}, "check must be True or False", id="check"),
        pytest.param({"test_each_epoch": "yes"}, "test_each_epoch must be", id="test-each"),
        pytest.param({"on_epoch_end": 3}, "on_epoch_end must be None or a function", id="hook"),
    ],
)
def test_invalid_arguments_raise_config_error(kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        train(_tiny(), **{**QUIET, **kwargs})


def test_numpy_and_tensor_numbers_train_as_the_numbers_they_hold() -> None:
    # np.int64(1) as a seed crashed in torch's generator ("an integer is required")
    plain = train(_tiny(epochs=2), lr=0.05, seed=1, **QUIET)
    wrapped = train(
        _tiny(epochs=np.int64(2), batch_size=torch.tensor(16)),
        lr=torch.tensor(0.05, dtype=torch.float64),
        seed=np.int64(1),
        **QUIET,
    )
    assert [r.val_loss for r in wrapped.records] == [r.val_loss for r in plain.records]
    assert wrapped.seed == 1 and type(wrapped.seed) is int
    assert type(_tiny(epochs=np.int64(2)).epochs) is int


def test_missing_lr_without_task_default_says_so() -> None:
    with pytest.raises(ConfigError, match="task 'tiny' has no default learning rate"):
        train(_tiny(lr=None), **QUIET)


def test_broken_task_fails_before_training_with_a_task_error() -> None:
    with pytest.raises(TaskError, match="does not fit the loss"):
        train(_tiny(model=lambda: nn.Linear(4, 1), criterion=nn.NLLLoss()), **QUIET)


class _OneShot(torch.utils.data.IterableDataset[tuple[torch.Tensor, torch.Tensor]]):
    """Validation data streamed once, as from a generator, though its length says 64 items."""

    def __init__(self, data: TensorDataset, empty: bool = False) -> None:
        self.items = iter([] if empty else [data[i] for i in range(len(data))])

    def __len__(self) -> int:
        return 64

    def __iter__(self) -> Any:
        return self.items


def test_validation_data_used_up_by_its_first_pass_is_a_task_error_not_divergence() -> None:
    """QA 127: the second epoch's validation pass saw nothing, scored NaN and the run was
    recorded as diverged (a search failed every trial with "training diverged")."""
    task = _tiny()
    with pytest.raises(TaskError, match=r"^Task 'tiny': val_data \(after epoch \d\) yielded no "):
        train(_tiny(val_data=_OneShot(task.train_data)), **QUIET)  # type: ignore[arg-type]
    empty = _OneShot(task.train_data, empty=True)
    with pytest.raises(TaskError, match="val_data yielded no validation batch, though its len"):
        train(_tiny(val_data=empty), **QUIET)  # the check before training: not StopIteration
    with pytest.raises(TaskError, match=r"^loader yielded no batch to evaluate on"):
        evaluate(nn.Linear(4, 2), [], nn.CrossEntropyLoss())


def test_regression_reports_r2() -> None:
    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
    y = (x @ torch.tensor([[1.0], [-2.0], [0.5]])) + 0.1
    data = TensorDataset(x, y)
    task = _tiny(
        model=lambda: nn.Linear(3, 1),
        train_data=data,
        val_data=data,
        test_data=None,
        criterion=nn.MSELoss(),
        metric="r2",
        lr=0.05,
        epochs=10,
    )
    history = train(task, **QUIET)
    assert history.best_val_metric > 0.9
    assert history.test_metric is None


def test_evaluate_weights_the_loss_by_batch_size() -> None:
    data = TensorDataset(torch.zeros(5, 1), torch.arange(5, dtype=torch.float32).unsqueeze(1))
    loader = torch.utils.data.DataLoader(data, batch_size=4)
    model = nn.Linear(1, 1)
    nn.init.zeros_(model.weight)
    nn.init.zeros_(model.bias)
    result = evaluate(model, loader, nn.MSELoss(), "r2")
    # Predicting 0 for targets 0..4: MSE = (0+1+4+9+16)/5 = 6; SST = 10, so R^2 = 1 - 30/10.
    assert result.loss == pytest.approx(6.0)
    assert result.metric == pytest.approx(-2.0)


def test_unit_defaults_to_what_the_schedule_declares() -> None:
    from torch.optim.lr_scheduler import OneCycleLR

    from lrkit.schedules import bind

    # torch's OneCycleLR is per iteration by definition: 4 steps/epoch x 2 epochs = 8 steps.
    one_cycle = train(_tiny(), 0.1, lambda o: OneCycleLR(o, 0.1, total_steps=8), epochs=2, **QUIET)
    assert one_cycle.unit == "step" and len(set(one_cycle.step_lrs[:4])) == 4
    # a bound lrkit schedule declares its own unit
    bound = train(_tiny(), 0.1, lambda o: bind(o, "linear:8", unit="step"), epochs=2, **QUIET)
    assert bound.unit == "step"
    assert bound.step_lrs == pytest.approx([0.1 * (1 - k / 8) for k in range(8)])
    # everything else steps per epoch, like the seeds' loops
    assert train(_tiny(), 0.1, "step:1", epochs=2, **QUIET).unit == "epoch"


def test_test_each_epoch_records_the_test_split_without_changing_training() -> None:
    task = _tiny(
        # dropout draws from torch's RNG, as a test loader's start does: not from one stream
        model=lambda: nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 2)),
        test_data=TensorDataset(torch.randn(20, 4), torch.randint(0, 2, (20,))),
    )
    plain = train(task, **QUIET)
    tested = train(task, test_each_epoch=True, **QUIET)
    # same trajectory: the test evaluation takes no randomness from training, touches no weights
    assert tested.val_loss == plain.val_loss and tested.step_lrs == plain.step_lrs
    assert all(r.test_loss is None and r.test_metric is None for r in plain.records)
    assert plain.best_test_metric is None and math.isnan(plain.epoch_test_loss[0])
    assert all(r.test_loss is not None and math.isfinite(r.test_loss) for r in tested.records)
    # the final test numbers are the last epoch's
    assert tested.test_loss == tested.records[-1].test_loss == plain.test_loss
    assert tested.test_metric == tested.epoch_test_metric[-1] == plain.test_metric
    assert tested.best_test_metric == max(tested.epoch_test_metric)
    assert tested.best_test_loss == min(tested.epoch_test_loss)


def test_test_each_epoch_without_test_data_or_after_divergence() -> None:
    no_test = train(_tiny(test_data=None), epochs=2, test_each_epoch=True, **QUIET)
    assert no_test.test_loss is None and no_test.best_test_metric is None
    assert all(r.test_metric is None for r in no_test.records)
    # one good epoch, then an infinite LR: the diverged epoch's test values are NaN
    diverged = train(
        _tiny(),
        0.1,
        lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0 if e == 0 else math.inf),
        epochs=3,
        test_each_epoch=True,
        **QUIET,
    )
    assert diverged.diverged and diverged.epochs_run == 2 and diverged.test_metric is None
    last = diverged.records[-1]
    assert last.test_loss is not None and math.isnan(last.test_loss)
    assert diverged.best_test_metric == diverged.records[0].test_metric


def test_records_built_without_test_values_compare_as_before() -> None:
    record = EpochRecord(1, 0.1, (0.1,), 1.0, 0.9, 0.5, 2.0)
    assert record == EpochRecord(1, 0.1, (0.1,), 1.0, 0.9, 0.5)
    assert record.test_loss is None and record.test_metric is None


def test_a_schedule_whose_length_misses_the_run_warns() -> None:
    import warnings

    with pytest.warns(UserWarning, match=r"ends after 12 steps, but the run lasts 24 steps: the"):
        train(_tiny(), 0.1, "cosine:12", unit="step", **QUIET)  # 6 epochs x 4 batches
    with pytest.warns(UserWarning, match=r"lasts 10 epochs, but the run ends after 6 epochs"):
        train(_tiny(), 0.1, "cosine:10", **QUIET)
    # a floor is an LR: 0.001 is 0.01 x a base LR of 0.1 (it was said as 0.001 x)
    ends = r"the last 2 run at its final LR \(0.001, 0.01 x the base LR\)"
    with pytest.warns(UserWarning, match=ends):
        history = train(_tiny(), 0.1, "cosine:4,min_lr=1e-3", **QUIET)
    assert history.records[-1].lr == pytest.approx(0.001)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train(_tiny(), 0.1, "warmup:1 > cosine:5", **QUIET)  # 6 epochs: no warning
        train(_tiny(), 0.1, "step:2", **QUIET)  # no length of its own
        train(_tiny(), 0.1, "warmup:5 > plateau", **QUIET)  # 6 epochs: it gets to the plateau


def test_a_run_that_ends_before_an_open_ended_phase_warns() -> None:
    # warmup:10 > plateau over 6 epochs never reached the base LR, without a word
    with pytest.warns(UserWarning, match=r"runs 10 epochs before its open-ended phase, but the "):
        train(_tiny(), 0.1, "warmup:10 > plateau", **QUIET)
    with pytest.warns(UserWarning, match=r"runs 6 epochs before its open-ended phase"):
        train(_tiny(), 0.1, "warmup:6 > plateau", **QUIET)  # its last epoch still warming up
    with pytest.warns(UserWarning, match=r"runs 30 steps before its open-ended phase"):
        train(_tiny(), 0.1, "warmup:30 > plateau", unit="step", **QUIET)  # 6 x 4 batches


def test_the_length_warning_counts_a_schedule_in_epochs_stepped_per_batch() -> None:
    import warnings

    from lrkit.schedules import bind

    def per_batch(spec: str) -> Any:
        return lambda opt: bind(opt, spec, unit="epoch", steps_per_epoch=4)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train(_tiny(), 0.1, per_batch("cosine:6"), unit="step", **QUIET)  # 6 epochs x 4 steps
    with pytest.warns(UserWarning, match=r"ends after 12 steps, but the run lasts 24 steps: the "):
        train(_tiny(), 0.1, per_batch("cosine:3"), unit="step", **QUIET)


def test_a_schedule_bound_with_steps_per_epoch_is_stepped_per_batch() -> None:
    """Its own unit is the epoch, but it moves 1/4 epoch per step() call: once per epoch left
    a cosine over the run at 99.9% of the base LR in its last epoch."""
    from lrkit.schedules import bind, parse

    def per_batch(opt: torch.optim.Optimizer) -> Any:
        return bind(opt, "cosine:4", unit="epoch", steps_per_epoch=4)

    history = train(_tiny(), 0.1, per_batch, epochs=4, **QUIET)
    assert history.unit == "step"
    expected = [parse("cosine:4")(epoch, base_lr=0.1) for epoch in range(4)]
    assert [r.lr for r in history.records] == pytest.approx(expected)
    with pytest.raises(ConfigError, match=r"unit must be 'step' or None .* steps_per_epoch=4"):
        train(_tiny(), 0.1, per_batch, epochs=4, unit="epoch", **QUIET)


class _NanWhenEvaluated(nn.Module):
    """Trains as a linear model; in eval mode it outputs NaN (a broken eval path)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.linear(x)
        return out if self.training else out * math.nan


def test_outputs_whose_loss_is_nan_score_nothing() -> None:
    history = train(_tiny(model=_NanWhenEvaluated), 0.1, epochs=2, **QUIET)
    assert all(math.isnan(v) for v in history.val_loss)
    # the argmax of NaN outputs is class 0, which half of the data is: no accuracy for it
    assert all(math.isnan(m) for m in history.val_metric)
    assert history.best_val_metric == -math.inf and history.best_epoch is None


def test_train_takes_a_task_by_name_as_search_does() -> None:
    history = train("digits", 0.05, epochs=1, progress=False, verbose=False)
    assert history.task == "digits" and history.epochs_run == 1
    with pytest.raises(ConfigError, match=r"task must be a lrkit\.tasks\.Task, a built-in task's"):
        train(3, 0.05, epochs=1)  # type: ignore[arg-type]
