"""lrkit's public API as ``mypy --strict`` sees it in a user's script: real types, not ``Any``.

A module ``__getattr__`` a type checker can see, or ``types.ModuleType``'s, makes every name
type-check as ``Any``: ``from lrkit import LRFindr`` passed ``mypy --strict`` and failed at run
time. One mypy run (about 20 s: it reads torch) checks a correct script and one of typos.
"""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import lrkit.compare
import lrkit.search
import lrkit.tune
from lrkit.compare import ComparePackage
from lrkit.search import SearchPackage
from lrkit.tune import TunePackage

# `assert_type` fails on Any, and --strict's warn_return_any on a function returning it
CORRECT = """
import math

from typing_extensions import assert_type  # typing's from Python 3.11; lrkit supports 3.10

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

import lrkit
from lrkit import LRFinder, RangeTestResult
from lrkit.finder.figure import FinderFigure
from lrkit.schedules import MultiStep, Schedule, ScheduledLR, parse
from lrkit.compare import CompareResult
from lrkit.search import SearchResult, TrialPruned, TrialRecord
from lrkit.training import train
from lrkit.tune import TuneResult


def objective(lr: float) -> float:
    return (math.log10(lr) + 2) ** 2


result = lrkit.search(objective, 1e-5, 1.0, n_trials=4, storage=":memory:", progress=False)
assert_type(result, SearchResult)
assert_type(lrkit.search.search(objective, 1e-5, 1.0), SearchResult)
assert_type(result.best_lr, float | None)
assert_type(result.trials, tuple[TrialRecord, ...])
assert_type(lrkit.search.SearchResult.count(result, "pruned"), int)
assert_type(result.plot(), Figure)
pruned: type[Exception] = lrkit.search.TrialPruned
assert_type(TrialPruned, type[TrialPruned])
schedule: Schedule = parse("warmup:5 > cosine:50")
assert_type(schedule(0, base_lr=0.1), float)
finder_class: type[LRFinder] = LRFinder
assert_type(lrkit.compare("digits", 0.1, ["cosine:2"], epochs=2), CompareResult)
assert_type(lrkit.compare.compare("digits"), CompareResult)
assert_type(lrkit.tune("digits", budget=70), TuneResult)


def bracketed(found: RangeTestResult) -> tuple[float, float]:
    return lrkit.search.bracket(found)


model = torch.nn.Linear(4, 2)
optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)
assert_type(lrkit.schedules.bind(optimizer, "warmup:5 > cosine:50"), ScheduledLR)
assert_type(lrkit.schedules.MultiStep([30, 60]), MultiStep)
finder = lrkit.LRFinder(model, optimizer, torch.nn.CrossEntropyLoss())
assert_type(finder.plot(), FinderFigure)
ax, lr = finder.plot(10, 5, suggest_lr=True)
assert_type(ax, Axes)
assert_type(lr, float | None)
assert_type(finder.plot(suggest_lr=False), Axes)
assert_type(finder.plot(ax), tuple[Axes, float | None])  # torch-lr-finder's default return
assert_type(finder.plot(ax=ax, title="range test"), tuple[Axes, float | None])
assert_type(finder.plot(10, 5, True, None, ax), tuple[Axes, float | None])  # all by position
assert_type(finder.plot(ax, skip_start=2, suggest_lr=True), tuple[Axes, float | None])


# a NumPy number or a 0-d tensor is taken wherever a number is (the README): QA 112 found each
# of these an error under --strict, though each ran
def numbers(x: np.float32, n: np.int64, t: torch.Tensor) -> None:
    train("digits", x, epochs=n, seed=n)
    train("digits", t)
    lrkit.search(objective, np.float64(1e-5), t, n, seed=n, rounds=n, n_workers=n)
    lrkit.compare.compare("digits", t, seeds=n, seed=n, epochs=n)
    lrkit.tune.tune("digits", budget=n, seed=n, n_workers=n)
    finder.range_test([], start_lr=x, end_lr=t, num_iter=n, seed=n, check_every=n)
    lrkit.schedules.bind(optimizer, "cosine:10", unit="epoch", steps_per_epoch=n)


def on_a_device(place: torch.device) -> None:  # a torch.device is taken where "cpu" is
    lrkit.compare.compare("digits", 0.1, ["cosine:2"], device=place)
    lrkit.search("digits", n_trials=2, device=place)
    lrkit.tune.tune("digits", device=place)
"""

TYPOS = """
import lrkit
from lrkit import LRFindr

lrkit.schedules.StepLRR
lrkit.search.TrialPrunedd
lrkit.tune.tunee
lrkit.compare(lr=0.1)
wrong: int = lrkit.search(lambda lr: lr)
"""


# the README's examples, checked as mypy checks a script by default (QA 133: one read
# finder.result.suggestion, an error there: result is None before a range test)
AS_BY_DEFAULT = (
    "# mypy: allow-untyped-defs, allow-untyped-calls, allow-incomplete-defs, allow-any-generics, "
    "allow-subclassing-any, allow-untyped-decorators, no-warn-return-any, implicit-reexport, "
    'no-check-untyped-defs, no-strict-equality, disable-error-code="import-untyped"\n'
)


def test_a_user_script_type_checks_with_lrkit_types_and_its_typos_are_errors(
    tmp_path: Path,
) -> None:
    (tmp_path / "correct.py").write_text(CORRECT)
    (tmp_path / "typos.py").write_text(TYPOS)
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    examples = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert len(examples) >= 10
    names = [f"readme_{i}.py" for i in range(len(examples))]
    for name, example in zip(names, examples):
        (tmp_path / name).write_text(AS_BY_DEFAULT + example)
    # as a user on the oldest Python lrkit supports
    args = ["--strict", "--python-version", "3.10", "--no-incremental"]
    args += ["--cache-dir", str(tmp_path / "cache")]
    result = subprocess.run(
        [sys.executable, "-m", "mypy", *args, "correct.py", "typos.py", *names],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert not [e for e in errors if e.startswith("correct.py")], result.stdout + result.stderr
    assert not [e for e in errors if e.startswith("readme_")], result.stdout
    typos = [e for e in errors if e.startswith("typos.py")]
    assert [e.split(":")[1] for e in typos] == ["3", "5", "6", "7", "8", "9"], result.stdout
    for typo, error in zip(["LRFindr", "StepLRR", "TrialPrunedd", "tunee"], typos):
        assert f'has no attribute "{typo}"' in error
    assert "[call-arg]" in typos[4], typos[4]  # lrkit.compare checks as compare()
    # lrkit ships py.typed, so mypy reads its annotations (without it: "Skipping analyzing
    # 'lrkit': module is installed, but missing library stubs or py.typed marker"), and
    # lrkit.search(...) checks as a call returning its result, not "Module not callable"
    assert 'expression has type "SearchResult", variable has type "int"' in typos[5], typos[5]


@pytest.mark.parametrize(
    ("package", "typed"),
    [(lrkit.search, SearchPackage), (lrkit.compare, ComparePackage), (lrkit.tune, TunePackage)],
)
def test_the_typed_attributes_of_a_callable_package_are_its_all(
    package: ModuleType, typed: type
) -> None:
    """``SearchPackage`` is what a type checker sees as ``lrkit.search`` (``ComparePackage``,
    ``TunePackage`` the same for theirs): a name added to ``__all__`` without it would be an
    error in users' scripts, one left in it after leaving ``__all__`` would type-check and
    fail. At run time the package calls its function."""
    declared = {name for name in vars(typed) if not name.startswith("_")}
    assert declared == set(package.__all__)
    for name in declared:
        assert getattr(typed, name) is getattr(package, name), name
    function = getattr(package, package.__name__.rsplit(".", 1)[1])
    assert typed.__call__ is function
    assert type(package).__call__ is function  # type: ignore[operator]
    # QA 123: help() and inspect left out the first parameter, reading __call__ as a method
    assert inspect.signature(package) == inspect.signature(function)
