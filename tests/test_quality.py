"""The repository stays lint-clean, type-clean, and ``import lrkit`` stays light."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
HEAVY = ("matplotlib", "optuna", "sklearn")


@pytest.mark.parametrize("module", ["lrkit", "lrkit.schedules", "lrkit.errors"])
def test_import_does_not_pull_heavy_libraries(module: str) -> None:
    code = f"import sys, {module}; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("tool", ["ruff", "mypy"])
def test_linters_are_clean(tool: str) -> None:
    exe = shutil.which(tool) or str(Path(sys.executable).with_name(tool))
    args = [exe, "check", "."] if tool == "ruff" else [exe]
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
