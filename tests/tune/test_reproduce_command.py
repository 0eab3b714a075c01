"""The report's `lrkit train` command trains what tune's final run trained."""

from __future__ import annotations

import shlex
from pathlib import Path
from types import SimpleNamespace

import pytest

from lrkit.tasks import load_task
from lrkit.training import train
from lrkit.tune.report import reproduce_commands
from tests.cli import in_process


def test_a_final_run_stepped_per_batch_is_reproduced_with_unit_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the range test's one-cycle steps per batch: without --unit step, lrkit train read its
    # length in epochs ("lasts 34 epochs, but the run ends after 2") and trained another run
    final = train(
        load_task("digits"), 0.2, "onecycle:34", epochs=2, unit="step", seed=1000,
        progress=False, verbose=False,
    )  # fmt: skip
    result = SimpleNamespace(
        summary={"settings": {"task_ref": "digits", "seed": 0, "device": "cpu", "command": "x"}},
        out=tmp_path,
        best_lr=0.2,
        schedule="onecycle:34",
        plan=SimpleNamespace(epochs=2),
        final=final,
    )
    command = reproduce_commands(result)[1]  # type: ignore[arg-type]
    assert " --unit step" in command
    status, out, err = in_process([*shlex.split(command)[1:], "--quiet"], capsys)
    assert status == 0 and "warning" not in err, err
    assert f"test {final.test_metric:.4f} " in out  # the same run, the same test accuracy


def test_a_run_from_python_is_reproduced_with_its_epochs(tmp_path: Path) -> None:
    # tune(epochs=2) from Python has no command line: the one made up left out --epochs, and
    # ran the task's epochs, another run (review 153)
    result = SimpleNamespace(
        summary={
            "settings": {
                "task_ref": "digits",
                "seed": 3,
                "device": "cpu",
                "command": None,
                "budget": None,
                "plan": {"epochs": 2},
            }
        },
        out=tmp_path,
        best_lr=0.2,
        schedule="constant",
        plan=SimpleNamespace(epochs=2),
        final=SimpleNamespace(unit="epoch", seed=1003),
    )
    whole = reproduce_commands(result)[0]  # type: ignore[arg-type]
    assert shlex.split(whole) == [
        "lrkit", "tune", "digits", "--seed", "3", "--out", str(tmp_path), "--epochs", "2"
    ]  # fmt: skip
