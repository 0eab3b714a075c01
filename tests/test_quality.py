"""The repository stays lint-clean, type-clean, and ``import lrkit`` stays light."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
HEAVY = ("matplotlib", "optuna", "sklearn")


@pytest.mark.parametrize("module", ["lrkit", "lrkit.schedules", "lrkit.errors", "lrkit.checks"])
def test_import_does_not_pull_heavy_libraries(module: str) -> None:
    code = f"import sys, {module}; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_subpackages_are_attributes_of_a_plain_import_lrkit() -> None:
    """``lrkit tune`` ends with ``lrkit.schedules.bind(...)`` advice: it must run after a plain
    ``import lrkit``, which loads each subpackage on first use (and not torch before that)."""
    code = (
        "import sys, lrkit\n"
        "assert 'torch' not in sys.modules\n"
        "import torch\n"
        "opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.2)\n"
        "scheduler = lrkit.schedules.bind(opt, 'warmup:1 > cosine:3', unit='epoch')\n"
        "lrs = [opt.param_groups[0]['lr']]\n"
        "for _ in range(3):\n"
        "    opt.step(); scheduler.step(); lrs.append(opt.param_groups[0]['lr'])\n"
        "print([round(lr, 6) for lr in lrs], lrkit.finder.LRFinder.__name__,\n"
        "      lrkit.tasks.__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[0.1,", "0.2,", "0.15,", "0.05]", "LRFinder", "lrkit.tasks"]


def test_the_commands_help_imports_no_numerical_library() -> None:
    """``lrkit --help`` imported numpy (tune's plan, for a limit the help names)."""
    code = (
        "import contextlib, io, sys\n"
        "from lrkit.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        f"print(sorted(m for m in {('numpy', 'torch', *HEAVY)!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("tool", ["ruff", "mypy"])
def test_linters_are_clean(tool: str) -> None:
    exe = shutil.which(tool) or str(Path(sys.executable).with_name(tool))
    args = [exe, "check", "."] if tool == "ruff" else [exe]
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_version_is_the_package_metadata_s() -> None:
    """``lrkit.__version__`` is written by hand in ``__init__.py`` (reading the metadata would
    cost ``import lrkit`` importlib.metadata): a release that bumps pyproject.toml alone fails
    here."""
    import importlib.metadata
    import re

    import lrkit

    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    [version] = re.findall(r'(?m)^version = "(.+)"$', pyproject)
    assert lrkit.__version__ == version
    assert lrkit.__version__ == importlib.metadata.version("lrkit")
