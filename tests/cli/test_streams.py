"""The CLI under hostile streams and places (QA 152): a stdout that fails, one that cannot show
"±", a current folder that was deleted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lrkit.compare.table import format_table
from tests.compare.test_compare import _history, _result, _run

LRKIT = [sys.executable, "-m", "lrkit.cli.main"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def test_a_stdout_that_fails_keeps_the_files_and_says_so(tmp_path: Path) -> None:
    # the table was printed before the files were written: a full disk under stdout, or a
    # reader that quit (`| head -1`), ended the command with none of them
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [*LRKIT, "find", "--num-iter", "10", "--out", str(tmp_path / "out")],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
            timeout=300,
        )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "lrkit: error: could not print to stdout: No space left on device; the command ran to "
        "its end and wrote its files"
    )
    assert {"range_test.json", "range_test.png", "report.html"} <= {
        p.name for p in (tmp_path / "out").iterdir()
    }


ASCII_TASK = """
import torch
from torch.utils.data import TensorDataset
from lrkit.tasks import Task
print("spread ± 1 · done…")
x = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
y = (x[:, 0] > 0).long()
task = Task(name="ascii", model=lambda: torch.nn.Linear(3, 2), train_data=TensorDataset(x, y),
            val_data=TensorDataset(x, y), batch_size=32, epochs=1, lr=0.1)
"""


@pytest.mark.parametrize(
    "env",
    [{"LANG": "C", "LC_ALL": "C", "PYTHONUTF8": "0"}, {"PYTHONIOENCODING": "ascii"}],
    ids=["c-locale", "ascii"],
)
def test_an_ascii_only_stdout_spells_the_symbols_it_cannot_show(
    tmp_path: Path, env: dict[str, str]
) -> None:
    # under a C locale without UTF-8 mode stdout's errors are "surrogateescape", and "±" ended
    # the command with a UnicodeEncodeError, its files unwritten
    (tmp_path / "task.py").write_text(ASCII_TASK, encoding="utf-8")
    done = subprocess.run(
        [*LRKIT, "train", str(tmp_path / "task.py")],
        capture_output=True,
        env={**ENV, **env},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert b"spread +/- 1 - done..." in done.stdout


def test_a_search_s_worker_processes_spell_them_too(tmp_path: Path) -> None:
    # the parent's stdout was mended, its workers' not: both trials failed (review 153)
    (tmp_path / "task.py").write_text(ASCII_TASK, encoding="utf-8")
    args = ["search", str(tmp_path / "task.py"), "--trials", "2", "--workers", "2", "--json"]
    done = subprocess.run(
        [*LRKIT, *args, "--out", str(tmp_path / "out")],
        capture_output=True,
        env={**ENV, "LANG": "C", "LC_ALL": "C", "PYTHONUTF8": "0"},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["counts"]["complete"] == 2


def test_the_comparison_table_is_laid_out_as_an_ascii_stdout_shows_it() -> None:
    runs = [
        _run(label, _history(label, 0.9, 0.3, 0.8, seed=0), _history(label, 0.7, 0.4, 0.6, seed=1))
        for label in ("constant", "cosine:3")
    ]
    result = _result(*runs)
    result = type(result)("toy", "accuracy", 0.1, 1, (0, 1), result.runs)
    assert "±" in result.table() and "±" in format_table(result, "utf-8")
    lines = result.table(encoding="ascii").splitlines()
    assert "(mean+/-std over 2 seeds)" in lines[0]
    header, *rows = lines[1:4]
    assert all("+/-" in row and len(row) == len(header) for row in rows)  # columns aligned


def test_a_deleted_current_folder_is_one_line_and_exit_2(tmp_path: Path) -> None:
    # torch's import there ends the process with "Intel oneMKL FATAL ERROR: Cannot load ..."
    gone = tmp_path / "gone"
    gone.mkdir()
    code = (
        "import os, sys, subprocess\n"
        f"os.chdir({str(gone)!r}); os.rmdir({str(gone)!r})\n"
        f"sys.exit(subprocess.run({[*LRKIT, 'find', '--out', str(tmp_path / 'o')]!r}).returncode)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=300
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "lrkit: error: the current folder no longer exists (it was deleted or moved away); cd "
        "to one that does and run the command again."
    )
