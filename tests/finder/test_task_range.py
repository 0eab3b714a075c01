"""The whole-task range test: a curve too noisy to read in 100 steps is swept again in 200."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from lrkit.finder import FinderWarning, RangeTestResult
from lrkit.finder.task import DEFAULT_NUM_ITER, RETRY_NUM_ITER, range_test_task
from lrkit.report import range_test_section
from lrkit.tasks import load_task
from lrkit.tune.pipeline import found_epochs
from tests.task_files import FLAT_TASK, SLOW_TASK

# friedman's MSE at batch 32: seed 4's 100-step curve is too noisy to show its descent
NOISY_SEED, CLEAR_SEED = 4, 0


def _run(task_ref: str, seed: int, **kwargs: int) -> tuple[RangeTestResult, list[int], list[str]]:
    counted: list[int] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FinderWarning)
        result = range_test_task(load_task(task_ref), seed=seed, on_step=counted.append, **kwargs)
    return result, counted, [str(w.message) for w in caught if w.category is FinderWarning]


def test_a_noisy_curve_is_swept_again_with_twice_the_steps() -> None:
    once, _, said = _run("friedman", NOISY_SEED, num_iter=DEFAULT_NUM_ITER)
    assert once.suggestion is None and once.note is None  # a given num_iter: swept once
    assert said and "never decreased clearly" in said[0]
    result, counted, said = _run("friedman", NOISY_SEED)
    assert result.num_iter == RETRY_NUM_ITER == 2 * DEFAULT_NUM_ITER
    assert result.suggestion is not None and result.range is not None
    assert result.range[0] < result.suggestion < result.range[1]
    assert said == []  # the first sweep's "no suggestion" is not warned: it was redone
    assert result.note is not None and result.note.startswith(
        "swept twice: the first sweep, of 100 steps, gave no suggestion: the loss never "
        "decreased clearly (drop "
    )
    # one count over both sweeps, for a progress bar; both are training spent
    assert counted == list(range(1, DEFAULT_NUM_ITER + RETRY_NUM_ITER + 1))
    assert result.redone_steps == DEFAULT_NUM_ITER and result.steps == RETRY_NUM_ITER
    task = load_task("friedman")
    spent = (DEFAULT_NUM_ITER + RETRY_NUM_ITER) / len(task.train_loader())
    assert found_epochs(result, task) == round(spent, 2)


def test_a_clear_curve_is_swept_once_and_keeps_its_warnings(tmp_path: Path) -> None:
    result, counted, said = _run("friedman", CLEAR_SEED)
    assert result.suggestion is not None and result.note is None and result.redone_steps == 0
    assert result.num_iter == DEFAULT_NUM_ITER and counted == list(range(1, len(counted) + 1))
    assert result.steps <= len(counted) <= DEFAULT_NUM_ITER
    assert said == ([f"Range test: {result.warning}"] if result.warning else [])
    (tmp_path / "slow.py").write_text(SLOW_TASK)  # a range, and a doubt about it
    slow, _, said = _run(str(tmp_path / "slow.py"), 0)
    assert slow.suggestion is not None and slow.note is None
    assert said == [f"Range test: {slow.warning}"] and "still falling" in said[0]
    (tmp_path / "flat.py").write_text(FLAT_TASK)
    flat, counted, said = _run(str(tmp_path / "flat.py"), 0)
    assert flat.suggestion is None and flat.num_iter == RETRY_NUM_ITER
    assert counted == list(range(1, DEFAULT_NUM_ITER + RETRY_NUM_ITER + 1))
    assert len(said) == 1 and "never decreased clearly" in said[0]  # the second sweep's only
    assert flat.note is not None and flat.note.startswith("swept twice")


def test_the_note_is_kept_in_json_and_shown_in_the_report() -> None:
    result, _, _ = _run("friedman", NOISY_SEED)
    back = RangeTestResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert back.note == result.note and back.redone_steps == DEFAULT_NUM_ITER
    older = {k: v for k, v in result.to_dict().items() if k not in ("note", "redone_steps")}
    assert RangeTestResult.from_dict(older).note is None  # a file written before the field
    assert "swept twice: the first sweep" in range_test_section(back, task="friedman").html


@pytest.mark.parametrize("num_iter", [[], ["--num-iter", "100"]])
def test_find_cli_says_the_second_sweep(num_iter: list[str], tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lrkit.cli.main", "find", "friedman", "--seed", str(NOISY_SEED),
         "--out", str(tmp_path), *num_iter],
        capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads((tmp_path / "range_test.json").read_text())
    if num_iter:
        assert data["note"] is None and data["suggestion"] is None
        assert "note:" not in done.stderr and "warning: the loss never" in done.stderr
    else:
        assert data["note"].startswith("swept twice") and data["suggestion"] is not None
        assert done.stderr.startswith("note: swept twice") and "warning" not in done.stderr
        assert done.stdout.startswith(f"range test: friedman ({RETRY_NUM_ITER} steps,")


def test_a_sweep_too_short_to_read_gives_a_point_not_an_inverted_range() -> None:
    # 20 steps on digits: the curve's minimum falls before the middle of its stable descent
    result, _, said = _run("digits", 0, num_iter=20)
    assert result.range is not None and result.range[0] == result.range[1] == result.suggestion
    assert said == [f"Range test: {result.warning}"] and "too few steps" in said[0]
    other, _, _ = _run("digits", 2, num_iter=20)
    assert other.range is not None and other.range[0] < other.suggestion < other.range[1]


def test_a_sweep_that_diverges_at_once_is_not_swept_again() -> None:
    # from far too high an LR: more points cannot show a descent; a lower start can
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FinderWarning)
        result = range_test_task(load_task("digits"), start_lr=1e4, end_lr=1e6, seed=0)
    assert result.stop_reason == "diverged" and len(result.lrs) < DEFAULT_NUM_ITER // 2
    assert result.note is None and result.redone_steps == 0
    assert result.warning is not None and "lower start_lr" in result.warning
