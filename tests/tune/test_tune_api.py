"""``lrkit.tune.tune`` from Python: what it refuses before any work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lrkit.errors import ConfigError
from lrkit.tune import tune


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"out": 5}, "out must be a folder's path, got 5."),
        ({"budget": 10**9}, "budget must be a whole number of training epochs up to 100,000"),
        ({"epochs": 0}, "epochs must be a positive integer up to 100,000, or None (the task's)"),
        ({"n_workers": 0}, "n_workers must be a positive integer, got 0."),
        ({"n_workers": True}, "n_workers must be a positive integer, got True."),
    ],
)
def test_bad_arguments_name_the_parameter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, Any], message: str
) -> None:
    monkeypatch.chdir(tmp_path)  # the default --out would be made here
    with pytest.raises(ConfigError) as info:
        tune("digits", progress=False, say=lambda _: None, **kwargs)
    assert str(info.value).startswith(message)
    assert list(tmp_path.iterdir()) == []  # nothing made


def test_a_kept_comparison_of_an_older_spec_meaning_is_run_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """onecycle:N's steps changed (MEANING 2): a folder's comparison from before must not be
    reused for a final run trained under the new meaning."""
    import torch
    from torch import nn
    from torch.utils.data import TensorDataset

    from lrkit.schedules import spec
    from lrkit.tasks import Task
    from lrkit.tune import pipeline
    from lrkit.tune.plan import TunePlan

    x = torch.randn(48, 4, generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] > 0).long()
    task = Task(
        name="tiny",
        model=lambda: nn.Linear(4, 2),
        train_data=TensorDataset(x[:32], y[:32]),
        val_data=TensorDataset(x[32:40], y[32:40]),
        test_data=TensorDataset(x[40:], y[40:]),
        epochs=2,
    )
    plan = TunePlan(epochs=2, trials=3, schedules=("onecycle:2",), seeds=1, budget=0, estimated=0)

    def reused() -> list[str]:
        kept: list[str] = []
        pipeline._compare(task, plan, tmp_path, {"seed": 0}, 0.1, "cpu", False, {}, print, kept)
        return kept

    assert reused() == [] and reused() == ["comparison"]
    monkeypatch.setattr(spec, "MEANING", spec.MEANING + 1)
    assert reused() == []


def test_the_over_budget_note_names_its_cause() -> None:
    """A range test swept twice left less than the smallest pipeline: the note blamed
    successive halving."""
    from lrkit.cli.tune import budget_notes

    def summary(used: int, estimated: int) -> dict[str, Any]:
        plan = {
            "n_trials": 6,
            "schedules": ["constant"],
            "n_seeds": 1,
            "estimated_epochs": estimated,
        }
        return {"epochs_used": used, "settings": {"plan": plan}}

    [note] = budget_notes(summary(86, 86), 36)
    assert "the range test took more than planned" in note and "needs about 86" in note
    [note] = budget_notes(summary(110, 95), 100)
    assert note.endswith("successive halving stopped fewer trials early than planned.")
    assert budget_notes(summary(90, 95), 100) == [] and budget_notes(summary(90, 95), None) == []
    # far under it without a note (QA 118: 59 of 80): halving stopped more trials than planned
    [note] = budget_notes(summary(59, 76), 80)
    assert note == (
        "59 of the budget's 80 training epochs used: successive halving stopped more trials "
        "early than planned."
    )
    [note] = budget_notes(summary(59, 60), 80)  # the plan itself left a fifth of it unspent
    assert note == (
        "59 of the budget's 80 training epochs used: the next step up from 6 search trials and "
        "1 schedule compared on 1 seed (about 60 epochs) does not fit in it."
    )


def test_the_over_budget_note_names_interrupted_trials_run_again() -> None:
    # after a kill -9 mid-trial, the rerun blamed successive halving for the redone trial
    from lrkit.cli.tune import budget_notes

    plan = {"n_trials": 6, "schedules": ["constant"], "n_seeds": 1, "estimated_epochs": 60}
    summary = {
        "epochs_used": 68,
        "settings": {"plan": plan},
        "search": {"counts": {"interrupted": 1}},
    }
    (note,) = budget_notes(summary, 66)
    assert note.endswith(": 1 search trial interrupted in an earlier run trained again, with the "
                         "epochs spent on the interrupted attempts counted too.")  # fmt: skip
    summary["search"] = {"counts": {"interrupted": 0}}
    assert budget_notes(summary, 66)[0].endswith("stopped fewer trials early than planned.")


def test_a_stage_that_cannot_be_kept_is_a_warning_not_the_end_of_the_run(
    tmp_path: Path,
) -> None:
    # a folder where the stage's file goes failed the whole run after its training, naming
    # the temporary file
    from lrkit.tune import stages

    (tmp_path / stages.CACHE_DIR / "final.pkl").mkdir(parents=True)
    with pytest.warns(UserWarning, match=r"the final training could not be kept for a rerun \("):
        stages.save(tmp_path, "final", {"a": 1}, [1, 2])
    assert stages.load(tmp_path, "final", {"a": 1}) is None
    assert not (tmp_path / stages.CACHE_DIR / ".final.pkl.tmp").exists()
    stages.save(tmp_path, "other", {"a": 1}, [1, 2])  # the others are kept as before
    assert stages.load(tmp_path, "other", {"a": 1}) == [1, 2]


class _Touches:
    """What a crafted stage file could hold: unpickling it calls ``Path.touch``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.path,))


@pytest.mark.parametrize(
    "named",
    [
        None,  # a call of Path.touch
        b"clrkit.tune.stages\npickle\n",  # a module lrkit imports, not lrkit's data
        b"clrkit.tune.stages\nload\n",  # a function of lrkit's
        b"clrkit.__main__\nmain\n",  # importing it would run the CLI
        # a data class of lrkit's, filled in as if it were an instance: its __post_init__ (the
        # range's checks) replaced for the rest of the process (review 136)
        b"clrkit.search.space\nLogRange\nN}X\r\x00\x00\x00__post_init__"
        b"clrkit.schedules.plateau\nPlateauTracker\ns\x86b",
    ],
)
def test_a_stage_file_from_elsewhere_runs_no_code(tmp_path: Path, named: bytes | None) -> None:
    """A rerun unpickled whatever the folder held: a shared or downloaded folder could run code
    on the machine that ran lrkit tune in it again."""
    import pickle
    import sys

    from lrkit.search.space import LogRange
    from lrkit.tune import stages

    settings = {"a": 1}
    marker = tmp_path / "ran"
    main_before = "lrkit.__main__" in sys.modules
    checks = LogRange.__post_init__
    stages.save(tmp_path, "final", settings, None)  # the folder, as a run leaves it
    path = tmp_path / stages.CACHE_DIR / "final.pkl"
    held = _Touches(marker) if named is None else None
    data = pickle.dumps((stages._canonical(settings), held), protocol=2)  # no frames to mend
    if named is not None:  # the None, named by hand (pickle refuses modules)
        assert data.count(b"N\x86") == 1
        data = data.replace(b"N\x86", named + b"\x86")
    path.write_bytes(data)
    try:
        assert stages.load(tmp_path, "final", settings) is None
        assert LogRange.__post_init__ is checks
    finally:
        LogRange.__post_init__ = checks  # type: ignore[method-assign]
    assert not marker.exists()
    assert ("lrkit.__main__" in sys.modules) == main_before
    with pytest.raises(ConfigError, match="low must be below high"):
        LogRange(5.0, 1.0)


def test_a_stage_file_is_read_back_only_as_its_stage_s_result(tmp_path: Path) -> None:
    from lrkit.history import EpochRecord, History
    from lrkit.tune import stages

    settings = {"a": 1}
    record = EpochRecord(1, 0.19, (0.19,), 0.5, 0.03, 0.98)
    final = History(
        "digits", "accuracy", 0.19, "cosine:1", 1000, "epoch", 1, (record,), (0.19,),
        0.03, 0.9861, False, False,
    )  # fmt: skip
    stages.save(tmp_path, "final", settings, final)
    assert stages.load(tmp_path, "final", settings) == final
    stages.save(tmp_path, "range_test", settings, final)  # not a range test's result
    assert stages.load(tmp_path, "range_test", settings) is None
    stages.save(tmp_path, "compare", settings, "other")  # plain data, of the wrong kind
    assert stages.load(tmp_path, "compare", settings) is None


def test_a_tune_result_prints_on_one_line(tmp_path: Path) -> None:
    """A cell's last line printed 91,000 characters: every stage's every number."""
    from lrkit.history import EpochRecord, History
    from lrkit.tune import TuneResult

    record = EpochRecord(1, 0.19, (0.19,), 0.5, 0.03, 0.98)
    final = History(
        "digits", "accuracy", 0.19, "cosine:1", 1000, "epoch", 1, (record,), (0.19,) * 9000,
        0.03, 0.9861, False, False,
    )  # fmt: skip
    stage: Any = None  # what the repr leaves out
    result = TuneResult(
        "digits", stage, stage, stage, 0.1913, stage, "cosine:1", final, {}, tmp_path
    )
    assert repr(result) == (
        f"TuneResult(task='digits', best_lr=0.1913, schedule='cosine:1', "
        f"test_accuracy=0.9861, out={str(tmp_path)!r})"
    )
