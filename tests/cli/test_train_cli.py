"""``lrkit train`` through a real subprocess."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

LRKIT = [sys.executable, "-m", "lrkit.cli.main"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LRKIT, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_train_prints_the_lr_each_epoch_as_the_schedule_says() -> None:
    result = run(
        "train", "digits", "--lr", "0.05", "--schedule", "step:2,gamma=0.5", "--epochs", "5"
    )
    assert result.returncode == 0, result.stderr
    lrs = [float(m) for m in re.findall(r"^Epoch \d+/5\s+lr=([0-9.e-]+)", result.stdout, re.M)]
    assert lrs == [0.05, 0.05, 0.025, 0.025, 0.0125]
    assert "best val accuracy" in result.stdout.splitlines()[-1]


def test_train_a_user_task_file(tmp_path: Path) -> None:
    (tmp_path / "mytask.py").write_text(
        "import torch\n"
        "from torch.utils.data import TensorDataset\n"
        "from lrkit.tasks import Task\n"
        "g = torch.Generator().manual_seed(0)\n"
        "x = torch.randn(200, 5, generator=g)\n"
        "y = (x[:, 0] - x[:, 1] > 0).long()\n"
        "task = Task(name='mine', model=lambda: torch.nn.Linear(5, 2),\n"
        "            train_data=TensorDataset(x[:150], y[:150]),\n"
        "            val_data=TensorDataset(x[150:], y[150:]),\n"
        "            epochs=3)\n"
    )
    result = run("train", str(tmp_path / "mytask.py"), "--lr", "0.1", "--quiet")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("mine lr=0.1")


def test_usage_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    for args in (
        ["train", str(tmp_path / "missing.py"), "--lr", "0.1"],
        ["train", "nosuchtask", "--lr", "0.1"],
        ["train", "--lr", "0"],
        ["train", "--lr", "0.1", "--schedule", "cosine:steps="],
    ):
        result = run(*args)
        assert result.returncode == 2, args
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert result.stderr.startswith("lrkit: error:") and "Traceback" not in result.stderr
