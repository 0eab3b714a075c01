"""``lrkit.compare``: same seeds across schedules, the statistics, choosing by validation, plots."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from lrkit.compare import (
    RANGE_ONE_CYCLE,
    Candidate,
    CompareResult,
    ScheduleRun,
    Stat,
    compare,
    default_schedules,
    plot_data,
    range_one_cycle,
    sklearn_runs,
)
from lrkit.compare.sklearn_rows import sklearn_data
from lrkit.errors import ConfigError, SpecError, TaskError, UnknownNameError
from lrkit.finder.result import RangeTestResult
from lrkit.history import EpochRecord, History
from lrkit.schedules import parse
from lrkit.tasks import Task, load_task
from tests.outputs_doc import assert_keys_documented

QUIET: dict[str, Any] = {"progress": False}


def _tiny(**overrides: Any) -> Task:
    """Linearly separable 2-class data and a small MLP: trains in milliseconds."""
    x = torch.randn(96, 4, generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] + x[:, 1] > 0).long()
    fields: dict[str, Any] = {
        "name": "tiny",
        "model": lambda: nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)),
        "train_data": TensorDataset(x[:64], y[:64]),
        "val_data": TensorDataset(x[64:80], y[64:80]),
        "test_data": TensorDataset(x[80:], y[80:]),
        "epochs": 3,
        "batch_size": 16,
        "lr": 0.1,
    }
    fields.update(overrides)
    return Task(**fields)


def _history(label: str, val: float, val_loss: float, test: float, seed: int = 0) -> History:
    record = EpochRecord(1, 0.1, (0.1,), 0.5, val_loss, val, test_loss=0.3, test_metric=test)
    return History(
        "toy", "accuracy", 0.1, label, seed, "epoch", 1, (record,), (0.1,), 0.3, test, False, False
    )


def _run(label: str, *histories: History, source: str = "lrkit") -> ScheduleRun:
    return ScheduleRun(label, label, 0.1, "epoch", source, histories)  # type: ignore[arg-type]


def _result(*runs: ScheduleRun) -> CompareResult:
    return CompareResult("toy", "accuracy", 0.1, 1, (0,), runs)


def test_each_seed_gives_every_schedule_the_same_weights_and_batches() -> None:
    # all three keep the base LR through epoch 1, so epoch 1 must be identical across them
    result = compare(_tiny(), 0.1, ["constant", "cosine:3", "step:1,gamma=0.5"], seeds=2, **QUIET)
    assert result.seeds == (0, 1)
    for i in range(2):
        firsts = {run.histories[i].records[0] for run in result.runs}
        assert len(firsts) == 1, "same seed, same first epoch"
        assert all(run.histories[i].seed == i for run in result.runs)
    seed0, seed1 = result.runs[0].histories
    assert seed0.records[0] != seed1.records[0], "another seed, another start"
    # and the schedules do differ afterwards
    assert len({run.histories[0].lrs for run in result.runs}) == 3


def test_progress_says_which_schedule_and_seed_of_the_whole_comparison(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lrkit.progress import ProgressBar

    said: list[str] = []
    monkeypatch.setattr(ProgressBar, "describe", lambda bar, text: said.append(text))
    compare(_tiny(), 0.1, ["cosine:2", "constant"], epochs=2, seeds=2, **QUIET)
    assert [text for text in said if not text.startswith("epoch ")] == [  # not train's own
        "",
        "schedule 1/2 cosine:2, seed 0",
        "schedule 1/2 cosine:2, seed 1",
        "schedule 2/2 constant, seed 0",
        "schedule 2/2 constant, seed 1",
    ]


def test_stat_mean_and_sample_spread() -> None:
    s = Stat.of([0.90, 0.94, 0.98])
    assert s.mean == pytest.approx(0.94) and s.std == pytest.approx(0.04)
    assert Stat.of([0.5]).std == 0.0 and Stat.of([0.5]).format(".2f") == "0.50"
    assert math.isnan(Stat.of([0.5, math.nan]).mean)  # a diverged seed is not averaged away
    assert Stat.of([0.5, math.nan]).format() == "-"
    assert s.format(".2f", scale=100) == "94.00±4.00"


def test_run_statistics_are_over_the_seeds_histories() -> None:
    result = compare(_tiny(), 0.1, ["cosine:3"], seeds=3, **QUIET)
    run = result.runs[0]
    finals = [h.test_metric for h in run.histories]
    bests = [max(h.epoch_test_metric) for h in run.histories]
    assert run.final_test_metric.values == tuple(finals)
    assert run.final_test_metric.mean == pytest.approx(np.mean(finals))
    assert run.final_test_metric.std == pytest.approx(np.std(finals, ddof=1))
    assert run.best_test_metric.mean == pytest.approx(np.mean(bests))
    assert run.best_test_loss.mean == pytest.approx(
        np.mean([min(h.epoch_test_loss) for h in run.histories])
    )
    assert run.wall_time.mean > 0 and result.wall_time >= sum(h.wall_time for h in run.histories)
    row = result.rows()[0]
    assert row["final_test_metric"] == run.final_test_metric.mean
    assert row["final_test_metric_std"] == run.final_test_metric.std
    assert row["n_seeds"] == 3 and row["spec"] == "cosine:steps=3"


def test_the_winner_is_chosen_by_validation_never_by_test() -> None:
    good_test = _run("cosine", _history("cosine", val=0.90, val_loss=0.4, test=0.99))
    good_val = _run("step", _history("step", val=0.95, val_loss=0.5, test=0.80))
    assert _result(good_test, good_val).best is good_val
    # a tie on the validation metric goes to the lower validation loss
    tie = _run("tie", _history("tie", val=0.95, val_loss=0.3, test=0.5))
    assert _result(good_val, tie).best is tie
    # scikit-learn rows train another model: reported, never the winner
    mlp = _run("sklearn:constant", _history("x", 0.99, 0.1, 0.99), source="sklearn")
    assert _result(good_val, mlp).best is good_val
    assert "sklearn:* rows train scikit-learn's own MLP" in _result(good_val, mlp).table()
    assert "sklearn:* rows" not in _result(good_val, tie).table()
    # a run with a diverged seed ranks last; with only such runs there is no winner
    bad = _history("bad", math.nan, math.nan, math.nan)
    assert _result(_run("bad", bad), good_test).ranked()[-1].label == "bad"
    assert _result(_run("bad", bad)).best is None


def test_table_json_and_rows() -> None:
    result = compare(_tiny(), None, ["cosine:2", "constant"], epochs=2, seeds=2, **QUIET)
    table = result.table()
    lines = table.splitlines()
    assert lines[0] == "compare: tiny, 2 epochs, lr 0.1, seeds 0, 1 (mean±std over 2 seeds)"
    assert "final test acc %" in lines[1] and "best test acc %" in lines[1]
    marked = [line for line in lines if line.startswith("* ") and ":" not in line[2:12]]
    assert any(result.best.label in line for line in marked)  # type: ignore[union-attr]
    assert "±" in lines[2]
    data = json.loads(result.to_json())
    assert data["best"] == result.best.label  # type: ignore[union-attr]
    assert data["selected_by"].startswith("mean final validation accuracy")
    assert [r["label"] for r in data["runs"]] == ["cosine:2", "constant"]
    first = data["runs"][0]["histories"][0]
    assert first["seed"] == 0 and len(first["epochs"]) == 2
    assert first["epochs"][-1]["test_metric"] == result.runs[0].histories[0].test_metric


def test_plot_data_and_figure() -> None:
    result = compare(_tiny(), 0.1, ["cosine:3", "constant"], seeds=2, **QUIET)
    data = plot_data(result)
    assert data.seeds == 2 and data.metric == "accuracy" and len(data.curves) == 2
    cosine = data.curves[0]
    assert cosine.epochs.tolist() == [1.0, 2.0, 3.0]
    vals = np.array([h.val_metric for h in result.runs[0].histories])
    assert cosine.val_metric.mean == pytest.approx(vals.mean(axis=0))
    assert cosine.val_metric.high - cosine.val_metric.mean == pytest.approx(vals.std(0, ddof=1))
    # per-step LRs against fractional epochs, held to the end of the last epoch
    assert len(cosine.lr_x) == 3 * 4 + 1 and cosine.lr_x[-1] == 3.0
    assert cosine.lr.mean[0] == pytest.approx(0.1) and cosine.lr.mean[-1] < 0.1
    constant = data.curves[1]
    assert np.all(constant.lr.mean == 0.1) and np.all(constant.lr.low == constant.lr.high)
    assert sum(c.best for c in data.curves) == 1
    fig = result.plot()
    assert type(fig).__name__ == "NotebookFigure" and len(fig.axes) == 4
    assert {ax.get_ylabel() for ax in fig.axes} >= {"validation loss", "learning rate"}


def test_one_seed_has_no_band() -> None:
    data = plot_data(compare(_tiny(), 0.1, ["constant"], epochs=2, **QUIET))
    band = data.curves[0].val_loss
    assert np.array_equal(band.low, band.mean) and np.array_equal(band.high, band.mean)


def test_sklearn_rows_on_digits() -> None:
    result = compare("digits", 0.05, ["constant"], epochs=2, sklearn=True, **QUIET)
    labels = [run.label for run in result.runs]
    assert labels == ["constant", "sklearn:constant", "sklearn:invscaling", "sklearn:adaptive"]
    mlp = result.runs[1]
    assert mlp.source == "sklearn" and mlp.lr == 0.05 and mlp.unit == "epoch"
    assert "MLPClassifier(hidden_layer_sizes=(132,)" in mlp.note and "not converged" in mlp.note
    history = mlp.histories[0]
    assert history.epochs_run == 2 and history.test_metric is not None
    assert history.test_metric > 0.8 and history.test_metric == history.epoch_test_metric[-1]
    # invscaling divides by sqrt(samples seen + 1) after each epoch
    lrs = result.runs[2].histories[0].lrs
    assert lrs[0] == 0.05 and lrs[1] == pytest.approx(0.05 / math.sqrt(1078 + 1))
    assert result.best is result.runs[0]  # the task's own run, whatever the MLP scores
    assert "sklearn:adaptive: MLPClassifier" in result.table()


def test_sklearn_rows_are_reproducible_and_shuffle_each_epoch_anew() -> None:
    task = load_task("digits")
    first = sklearn_runs(task, 0.05, epochs=2, seeds=[3], options=["constant"])[0]
    again = sklearn_runs(task, 0.05, epochs=2, seeds=[3], options=["constant"])[0]
    assert first.histories == again.histories
    other = sklearn_runs(task, 0.05, epochs=2, seeds=[4], options=["constant"])[0]
    assert other.histories[0].train_loss != first.histories[0].train_loss


def test_a_bad_spec_raises_the_spec_error_with_the_valid_names() -> None:
    with pytest.raises(UnknownNameError, match=r"Valid names: (\w+, )*constant, cosine, ") as info:
        compare(_tiny(), 0.1, ["cosine:3", "cosinus:3"], **QUIET)
    assert isinstance(info.value, SpecError)
    with pytest.raises(SpecError, match="malformed"):
        compare(_tiny(), 0.1, ["cosine:3,"], **QUIET)


def test_the_same_schedule_twice_is_refused_before_training() -> None:
    with pytest.raises(ConfigError, match=r"schedules must differ, got 'cosine:3' and 'Cosine"):
        compare(_tiny(), 0.1, ["cosine:3", "CosineAnnealingLR:steps=3"], **QUIET)
    done = compare(_tiny(), 0.1, ["cosine:1", "cosine:1,min_lr=0.01"], epochs=1, **QUIET)
    assert len(done.runs) == 2  # close, but not the same


def test_sklearn_on_a_regression_task_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"classification task .* 'friedman' with metric 'r2'"):
        compare("friedman", schedules=["constant"], epochs=1, sklearn=True, **QUIET)


class _DictInputs(Dataset):  # type: ignore[type-arg]
    """Inputs as a dict of tensors (a model of several inputs): torch trains on them, NumPy
    has no array of them."""

    def __init__(self, data: TensorDataset) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        x, y = self.data[i]
        return {"x": x}, y


class _DictModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 2)

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.linear(inputs["x"])


def _unfit_for_sklearn(case: str) -> Task:
    """``_tiny`` with one thing torch trains on and scikit-learn's MLPClassifier cannot."""
    x = torch.randn(96, 4, generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] + x[:, 1] > 0).long()
    if case == "dict_inputs":
        task = _tiny()
        return dataclasses.replace(
            task,
            model=_DictModel,
            train_data=_DictInputs(task.train_data),  # type: ignore[arg-type]
            val_data=_DictInputs(task.val_data),  # type: ignore[arg-type]
            test_data=_DictInputs(task.test_data),  # type: ignore[arg-type]
        )
    if case == "one_hot_targets":  # CrossEntropyLoss takes class probabilities
        one_hot = nn.functional.one_hot(y, 2).float()
        return _tiny(train_data=TensorDataset(x[:64], one_hot[:64]))
    if case == "nan_input":  # the loss is NaN, and torch trains on; scikit-learn refuses
        x[70, 2] = math.nan
        return _tiny(val_data=TensorDataset(x[64:80], y[64:80]))
    if case == "one_class":
        zeros = torch.zeros(96, dtype=torch.long)
        return _tiny(
            train_data=TensorDataset(x[:64], zeros[:64]),
            val_data=TensorDataset(x[64:80], zeros[64:80]),
            test_data=TensorDataset(x[80:], zeros[80:]),
        )
    assert case == "momentum_above_1"  # torch's SGD takes it; MLPClassifier does not
    return _tiny(optimizer=functools.partial(torch.optim.SGD, momentum=1.5))


SKLEARN_REFUSALS = {
    "dict_inputs": r"need inputs that are arrays of numbers .* the task's train_data has inputs "
    r"as a dict \(RuntimeError: Could not infer dtype of dict\)\. Leave the sklearn rows out",
    "one_hot_targets": r"need integer class indices as targets, one per example; the task's "
    r"train_data has targets of dtype torch.float32 and shape \(64, 2\)",
    "nan_input": r"need finite inputs .*; the task's val_data has 1 non-finite input values",
    "one_class": r"need at least 2 classes among the targets .* got only class 0",
    "momentum_above_1": r"need the task's SGD momentum between 0 and 1, .* got momentum=1\.5",
}


@pytest.mark.parametrize("case", list(SKLEARN_REFUSALS), ids=list(SKLEARN_REFUSALS))
def test_what_scikit_learn_cannot_fit_is_refused_before_anything_trains(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """They were found once every torch row had trained (600 epochs, then the error), or not
    at all: a dict of inputs was a RuntimeError traceback."""

    def no_training(*args: Any, **kwargs: Any) -> None:
        pytest.fail("a torch row trained before the sklearn rows' data was checked")

    monkeypatch.setattr("lrkit.training.train", no_training)
    task = _unfit_for_sklearn(case)
    with pytest.raises(ConfigError, match=r"^sklearn rows " + SKLEARN_REFUSALS[case]):
        compare(task, 0.1, ["constant"], epochs=1, sklearn=True, **QUIET)


def test_a_task_that_cannot_train_is_a_task_error_before_its_loader_is_built() -> None:
    """With schedules given and no --sklearn, the check came inside the first run, after the
    steps per epoch were counted: torch's DataLoader said "num_samples should be a positive
    integer value" (a traceback on the CLI) for an empty train_data (review 121)."""
    data = TensorDataset(torch.randn(8, 4), torch.randint(0, 3, (8,)))
    empty = TensorDataset(torch.randn(0, 4), torch.randint(0, 3, (0,)))
    task = Task(name="empty", model=lambda: nn.Linear(4, 3), train_data=empty, val_data=data)
    with pytest.raises(TaskError, match=r"^Task 'empty': train_data is empty\.$"):
        compare(task, 0.1, ["constant"], epochs=1, **QUIET)


def _estimator(note: str, seed: int) -> Any:
    """The MLPClassifier a sklearn row's note writes, built from the note's text alone."""
    from sklearn.neural_network import MLPClassifier

    text = re.match(r"MLPClassifier\(.*?\)\)", note)
    assert text is not None, note
    code = text.group(0).replace("RandomState(seed)", f"np.random.RandomState({seed})")
    return eval(code, {"MLPClassifier": MLPClassifier, "np": np})


def test_sklearn_rows_take_the_tasks_sgd_settings_and_their_note_rebuilds_them() -> None:
    """The note said only momentum=0.9; scikit-learn's defaults put in an L2 penalty and
    Nesterov momentum that the task's torch SGD did not have."""
    plain = sklearn_runs(_tiny(), 0.1, epochs=1, seeds=[0], options=["constant"])[0]
    assert "momentum=0.9, nesterovs_momentum=False, alpha=0.0, " in plain.note
    assert "learning_rate='constant', learning_rate_init=0.1, batch_size=16" in plain.note
    sgd = functools.partial(torch.optim.SGD, momentum=0.8, nesterov=True, weight_decay=1e-3)
    task = _tiny(optimizer=sgd)
    run = sklearn_runs(task, 0.1, epochs=1, seeds=[3], options=["invscaling"])[0]
    # torch adds weight_decay * w to the mean loss's gradient; scikit-learn alpha * w / batch
    assert "power_t=0.5, batch_size=16, momentum=0.8, nesterovs_momentum=True, alpha=0.016," in (
        run.note
    )
    assert "alpha = weight_decay 0.001 x batch_size 16" in run.note
    clf = _estimator(run.note, seed=3)
    x, y = task.train_data.tensors  # type: ignore[attr-defined]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.partial_fit(x.double().numpy(), y.numpy(), classes=[0, 1])
    assert clf.loss_ == run.histories[0].train_loss[0]  # the very same training
    adam = sklearn_runs(_tiny(optimizer=torch.optim.Adam), 0.1, epochs=1, seeds=[0])[0]
    assert "the task trains with Adam, and scikit-learn's learning_rate options" in adam.note


def test_sklearn_rows_train_as_fit_does_in_the_first_epoch_only() -> None:
    """The docstring said one partial_fit per epoch followed the same sequence as one
    fit(max_iter=epochs): fit reshuffles its last order, partial_fit the examples' own."""
    task = _tiny()
    data = sklearn_data(task)
    run = sklearn_runs(task, 0.1, epochs=2, seeds=[0], options=["constant"], data=data)[0]
    clf = _estimator(run.note, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = clf.fit(*data.train).loss_curve_
    rows = run.histories[0].train_loss
    assert rows[0] == fitted[0]  # the same initial weights and first shuffle
    assert rows[1] != pytest.approx(fitted[1], rel=1e-6)  # then other batches


def test_the_report_says_the_sklearn_rows_are_another_model_not_in_the_choice() -> None:
    """report.html said every row had the same weights and batches, and left out the table's
    line that sklearn rows are not in the choice."""
    import html

    from lrkit.compare import compare_section

    step = _run("step", _history("step", val=0.95, val_loss=0.5, test=0.80))
    mlp = _run("sklearn:constant", _history("x", 0.99, 0.1, 0.99), source="sklearn")
    text = html.unescape(compare_section(_result(step, mlp)).html)
    assert "each seed gives every lrkit schedule the same initial weights" in text
    said = text[text.index("The sklearn:* rows") :]  # what it says of them: the key facts
    for fact in ("not the task's model", "own initial weights", "own shuffling", "same split"):
        assert fact in said, fact
    assert "not in the choice of the best" in said
    alone = html.unescape(compare_section(_result(step)).html)
    assert "each seed gives every schedule the same initial weights" in alone
    assert "sklearn" not in alone
    # how to read the result comes after what was compared and which won (QA 145)
    read = compare_section(_result(step), caveat="One seed: luck.").html
    paragraphs = re.findall(r"<p>(.*?)</p>", read, re.S)
    assert paragraphs[-1] == "One seed: luck." and "Best by" in paragraphs[-2], paragraphs


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"lr": None, "task": "no_lr"}, "lr must be given: .* pass one \\(--lr LR\\)"),
        ({"lr": 0.0}, "lr must be a positive finite learning rate"),
        ({"seeds": 0}, "seeds must be a positive integer"),
        ({"seeds": 10**6}, "seeds must be a positive integer up to 1,000"),  # ran for ever
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"schedules": []}, "at least one schedule"),
        ({"schedules": "cosine:3"}, "schedules must be a list of specs"),
        ({"progress": "no"}, "progress must be True or False, got 'no'"),
        # the CLI's limits, in Python too
        ({"seed": -1}, "seed must be an integer from 0 to 4294967295, got -1"),
        ({"epochs": 10**9}, "epochs must be a positive integer up to 100,000"),
        ({"verbose": "no"}, "verbose must be True or False, got 'no'"),
        ({"sklearn": ""}, "sklearn must be True or False, got ''"),
        ({"task": 3}, "task must be a Task, a built-in task's name or a task file's path, got 3"),
        ({"schedules": ["range-onecycle", "Range-OneCycle"]}, "'range-onecycle' 2 times"),
    ],
)
def test_invalid_arguments_raise_config_error(kwargs: dict[str, Any], needle: str) -> None:
    given = kwargs.pop("task", None)
    task = _tiny(lr=None) if given == "no_lr" else _tiny() if given is None else given
    args: dict[str, Any] = {"lr": 0.1, "schedules": ["constant"], **QUIET, **kwargs}
    with pytest.raises(ConfigError, match=needle):
        compare(task, args.pop("lr"), args.pop("schedules"), **args)


def test_candidate_checks_its_values() -> None:
    assert Candidate("StepLR:step_size=4,gamma=0.1").canonical == "step:step_size=4"
    with pytest.raises(ConfigError, match="lr must be a positive finite number or None"):
        Candidate("constant", lr=-1.0)
    with pytest.raises(ConfigError, match="unit must be 'epoch' or 'step'"):
        Candidate("constant", unit="batch")  # type: ignore[arg-type]


@pytest.mark.parametrize("epochs", [1, 2, 3, 5, 12, 90])
def test_default_schedules_parse_and_scale_to_the_budget(epochs: int) -> None:
    specs = default_schedules(epochs)
    names = [type(parse(s)).__name__ for s in specs]
    assert names == ["Step", "MultiStep", "Exponential", "Cosine", "Plateau"]
    exponential = parse(specs[2])
    assert exponential(epochs, base_lr=1.0) == pytest.approx(0.01, rel=0.01)  # 100x over E
    assert parse(specs[3]).to_dict()["steps"] == epochs
    milestones = parse(specs[1]).to_dict()["milestones"]
    assert all(1 <= m <= max(1, epochs) for m in milestones)
    # StepLR drops at most twice within the budget (step_size=E//3 dropped 4 times in 5 epochs)
    step = parse(specs[0])
    drops = sum(step(e, base_lr=1.0) < step(e - 1, base_lr=1.0) for e in range(1, epochs))
    assert drops == min(2, epochs - 1)
    assert default_schedules(np.int64(epochs)) == specs  # np.int64 was refused


def test_range_one_cycle_peaks_at_the_suggestion_or_the_high_end() -> None:
    found = RangeTestResult(
        lrs=(1e-3, 1.0), losses=(2.0, 9.0), smoothed=(2.0, 9.0), group_lrs=((1e-3, 1.0),),
        suggestion=0.25, range=(0.2, 1.0),
    )  # fmt: skip
    c = range_one_cycle(found, 100)
    assert (c.spec, c.lr, c.unit) == ("onecycle:steps=100", 0.25, "step")
    schedule = parse(c.spec)
    assert schedule(29, base_lr=c.lr) == 0.25  # the peak on step 29, as torch's OneCycleLR
    assert schedule(0, base_lr=c.lr) == pytest.approx(0.01)  # torch's OneCycleLR start
    assert range_one_cycle(found, 100, peak="high").lr == 1.0
    nothing = RangeTestResult(
        lrs=(1e-3, 1.0), losses=(2.0, 2.0), smoothed=(2.0, 2.0), group_lrs=((1e-3, 1.0),),
        suggestion=None, range=None, warning="no descent",
    )  # fmt: skip
    with pytest.raises(ConfigError, match="no LR range \\(no descent\\)"):
        range_one_cycle(nothing, 100)
    with pytest.raises(ConfigError, match="peak must be"):
        range_one_cycle(found, 100, peak="low")


def test_defaults_on_digits_five_torch_schedulers_and_a_range_one_cycle() -> None:
    result = compare("digits", epochs=2, **QUIET)
    labels = [run.label for run in result.runs]
    assert labels[:5] == list(default_schedules(2))
    one_cycle = result.runs[5]
    assert result.range_test is not None and result.range_test.suggestion is not None
    assert one_cycle.unit == "step" and one_cycle.label == f"onecycle:steps={2 * 17}"
    assert one_cycle.lr == pytest.approx(result.range_test.suggestion, rel=1e-3)
    assert "range test's suggestion" in one_cycle.note
    assert len(one_cycle.histories[0].step_lrs) == 34
    assert max(one_cycle.histories[0].step_lrs) == pytest.approx(one_cycle.lr, rel=0.05)
    assert all(run.histories[0].test_metric is not None for run in result.runs)
    assert result.lr == 0.05 and all(run.lr == 0.05 for run in result.runs[:5])


def _fake_range_test(result: RangeTestResult) -> Any:
    def range_test_task(task: Task, **_kwargs: Any) -> RangeTestResult:
        return result

    return range_test_task


FOUND = RangeTestResult(
    lrs=(1e-3, 1.0), losses=(2.0, 9.0), smoothed=(2.0, 9.0), group_lrs=((1e-3, 1.0),),
    suggestion=0.2, range=(0.1, 1.0),
)  # fmt: skip


def test_range_one_cycle_by_name(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("lrkit.finder.task.range_test_task", _fake_range_test(FOUND))
    result = compare(_tiny(), 0.1, ["constant", RANGE_ONE_CYCLE], epochs=2, **QUIET)
    assert [run.label for run in result.runs] == ["constant", "onecycle:steps=8"]
    assert result.runs[1].unit == "step" and result.runs[1].lr == 0.2
    assert result.range_test is FOUND
    (tmp_path / "compare.json").write_text(result.to_json())  # its range test's keys too
    assert_keys_documented(tmp_path / "compare.json")


def test_a_range_test_swept_twice_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    note = "swept twice: the first sweep, of 100 steps, gave no suggestion. This is the second."
    found = dataclasses.replace(FOUND, note=note, redone_steps=100)
    monkeypatch.setattr("lrkit.finder.task.range_test_task", _fake_range_test(found))
    result = compare(_tiny(), 0.1, ["constant", RANGE_ONE_CYCLE], epochs=1, **QUIET)
    assert result.notes == (f"range test: {note}",)
    assert f"range test: {note}" in result.table()
    assert result.to_dict()["range_test"]["note"] == note


def test_a_range_test_without_a_range(monkeypatch: pytest.MonkeyPatch) -> None:
    nothing = RangeTestResult(
        lrs=(1e-3, 1.0), losses=(2.0, 2.0), smoothed=(2.0, 2.0), group_lrs=((1e-3, 1.0),),
        suggestion=None, range=None, warning="no descent",
    )  # fmt: skip
    monkeypatch.setattr("lrkit.finder.task.range_test_task", _fake_range_test(nothing))
    # asked for by name: an error saying why
    with pytest.raises(ConfigError, match="no LR range"):
        compare(_tiny(), 0.1, [RANGE_ONE_CYCLE], epochs=1, **QUIET)
    # among the defaults: left out, with a note under the table
    result = compare(_tiny(), 0.1, epochs=1, **QUIET)
    assert len(result.runs) == 5
    assert result.notes[0].startswith("range-onecycle left out: The range test found no LR")
    assert "range-onecycle left out" in result.table()


def test_compare_section_for_the_report() -> None:
    import html

    from lrkit.compare import compare_section

    result = compare(_tiny(), 0.1, ["constant", "constant:factor=1e30"], epochs=1, **QUIET)
    section = compare_section(result)
    assert section.key == "compare"
    assert "never used to choose" in section.html and "<table>" in section.html
    assert "data:image/png;base64," in section.html
    text = html.unescape(section.html)
    for line in result.table().splitlines()[2:4]:  # the printed rows' cells are the section's
        assert all(f">{cell}<" in text for cell in line.lstrip("* ").split())
    assert "constant:factor=1e30: diverged on 1 of 1 seeds" in result.table()
    assert "constant:factor=1e30: diverged on 1 of 1 seeds" in text
    alt = re.search(r'alt="([^"]*)"', section.html)
    assert alt is not None
    assert html.unescape(alt.group(1)) == (  # what the figure shows, for a screen reader
        f"{result.task}: schedules compared (1 epoch, 1 seed); panels: validation loss, learning "
        "rate, validation accuracy, test accuracy (reported, not used to choose), against epoch; "
        "curves: constant (best by validation)"  # the diverged run has no curve to show
    )


def test_a_tie_on_the_metric_is_said_with_the_loss_that_broke_it() -> None:
    import html

    from lrkit.compare import compare_section

    tied = _result(
        _run("cosine:3", _history("cosine:3", 0.9, 0.20, 0.8)),
        _run("constant", _history("constant", 0.9, 0.25, 0.9)),
        _run("step:1", _history("step:1", 0.8, 0.10, 0.9)),
    )
    text = html.unescape(compare_section(tied).html)
    assert [run.label for run in tied.tied_with_best()] == ["constant"]  # tune says it too
    assert (
        "Best by mean final validation accuracy: cosine:3 (tied with constant on it; the lower "
        "mean final validation loss broke the tie: 0.2 against 0.25)."
    ) in text
    clear = _result(
        _run("a", _history("a", 0.95, 0.3, 0.8)), _run("b", _history("b", 0.9, 0.1, 0.8))
    )
    assert "Best by mean final validation accuracy: a. " in html.unescape(
        compare_section(clear).html
    )
    assert clear.tied_with_best() == ()


def test_a_comparison_and_its_runs_print_on_one_line() -> None:
    """A cell's last line printed 78,000 characters for a comparison, every run's every epoch
    and step."""
    result = _result(
        _run("cosine:3", _history("cosine:3", 0.9, 0.20, 0.8)),
        _run("constant", _history("constant", 0.8, 0.25, 0.9)),
    )
    assert repr(result) == (
        "CompareResult(task='toy', lr=0.1, epochs=1, seeds=1, schedules=2, best='cosine:3')"
    )
    assert repr(result.runs[0].histories[0]) == (
        "History(task='toy', lr=0.1, schedule='cosine:3', seed=0, epochs=1/1, "
        "val_accuracy=0.9, test_accuracy=0.8)"
    )


def test_a_result_writes_its_files_to_a_folder_named_by_a_string(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """write("out") failed ('str' / 'str') and needed the figure passed (QA 137), where the
    search's own search(out=...) wrote only its journal."""
    import os

    from lrkit import outputs
    from lrkit.search import search

    monkeypatch.chdir(tmp_path)
    compared = _result(_run("cosine:3", _history("cosine:3", 0.9, 0.4, 0.88)))
    compared.write("compared")
    searched = search(lambda lr: abs(lr - 0.01), 1e-4, 1.0, 4, storage=":memory:", progress=False)
    document = searched.write("deeper/searched")
    assert sorted(os.listdir("compared")) == sorted(
        [outputs.COMPARE_JSON, outputs.COMPARE_CSV, outputs.COMPARE_PNG]
    )
    assert sorted(os.listdir("deeper/searched")) == sorted(
        [outputs.SEARCH_JSON, outputs.SEARCH_CSV, outputs.SEARCH_PNG]
    )
    assert (tmp_path / "deeper/searched" / outputs.SEARCH_JSON).read_text() == document + "\n"
