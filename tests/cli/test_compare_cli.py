"""``lrkit compare`` through a real subprocess."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lrkit.report import read_sections, section_commands
from tests.cli import files_up_to, in_process

LRKIT = [sys.executable, "-m", "lrkit.cli.main"]

# One torch thread, as tests/conftest.py sets in-process (see tests/cli/test_find_cli.py).
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}

NO_LR_TASK = """
import torch
from torch.utils.data import TensorDataset
from lrkit.tasks import Task
x = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
y = (x[:, 0] > 0).long()
task = Task(name='nolr', model=lambda: torch.nn.Linear(4, 2),
            train_data=TensorDataset(x[:48], y[:48]), val_data=TensorDataset(x[48:], y[48:]))
"""


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LRKIT, *args], capture_output=True, text=True, cwd=cwd, timeout=300, env=ENV
    )


def test_a_disk_full_for_the_files_still_shows_the_table_and_writes_none(
    tmp_path: Path,
) -> None:
    """The table comes before the files; a file that cannot be written (here past a file size
    limit, as on a full disk) is one line, exit 1, and leaves no file of the set."""
    out = tmp_path / "out"
    full = subprocess.run(
        [*LRKIT, "compare", "--epochs", "1", "--schedules", "constant", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env=ENV,
        preexec_fn=lambda: files_up_to(120_000),  # the PNG, JSON and CSV fit, not the report
    )
    assert full.returncode == 1, full.stderr
    assert full.stdout.startswith("compare: digits, 1 epoch, lr 0.05")
    assert full.stderr == f"lrkit: error: {out / 'report.html'}: File too large\n"
    assert not out.exists() or not list(out.iterdir())


def test_compare_prints_the_table_and_writes_the_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run(
        "compare", "--epochs", "2", "--seeds", "2", "--schedules", "cosine:2", "constant",
        "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "compare: digits, 2 epochs, lr 0.05, seeds 0, 1 (mean±std over 2 seeds)"
    header = lines[1].split()
    assert header[:3] == ["schedule", "unit", "lr"] and "time" in header
    rows = [line[2:].split()[:3] for line in lines[2:4]]
    assert rows == [["cosine:2", "epoch", "0.05"], ["constant", "epoch", "0.05"]]
    assert sum(line.startswith("* ") for line in lines[2:4]) == 1  # the winner, by validation
    assert "never used to choose" in result.stdout
    assert lines[-2].startswith(f"Wrote {out / 'compare.png'}")
    best = next(line[2:].split()[0] for line in lines[2:4] if line.startswith("* "))
    spec = {"cosine:2": "cosine:steps=2", "constant": "constant"}[best]
    assert lines[-1] == (  # the winner, ready to train on its own
        f"next: lrkit train digits --lr 0.05 --schedule {spec} --unit epoch --epochs 2  "
        "# the best schedule, to keep (its seed 0 run)"  # train runs one seed of the two
    )
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((out / "compare.json").read_text())
    assert data["task"] == "digits" and data["seeds"] == [0, 1] and data["epochs"] == 2
    assert [r["label"] for r in data["runs"]] == ["cosine:2", "constant"]
    with (out / "compare.csv").open() as handle:
        table = list(csv.DictReader(handle))
    assert [r["schedule"] for r in table] == ["cosine:2", "constant"]
    assert float(table[0]["final_test_metric"]) > 0.5
    sections = {s.key: s for s in read_sections(out / "report.html")}
    assert "<td>cosine:2</td>" in sections["compare"].html
    assert section_commands(sections["reproduce"]) == [
        "lrkit compare --epochs 2 --seeds 2 --schedules cosine:2 constant --out " + str(out)
    ]


def test_json_with_sklearn_rows_into_the_default_out_dir(tmp_path: Path) -> None:
    result = run(
        "compare", "--epochs", "1", "--schedules", "constant", "--sklearn", "--json",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)  # stdout is only the JSON
    assert [r["label"] for r in data["runs"]] == [
        "constant", "sklearn:constant", "sklearn:invscaling", "sklearn:adaptive",
    ]  # fmt: skip
    assert data["best"] == "constant"
    assert result.stderr == ""  # stdout is pure JSON, and nothing else is said (as find's)
    assert (tmp_path / "lrkit-out" / "compare" / "compare.json").is_file()
    quiet = run("compare", "--epochs", "1", "--schedules", "constant", "--quiet", cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout == "" and "Wrote" not in quiet.stderr  # errors and warnings only


BAD = {
    "bad_spec": (
        ["--schedules", "cosinus:3"],
        "Unknown schedule name 'cosinus'. Did you mean 'cosine'? Valid names",
    ),
    "malformed_spec": (["--schedules", "cosine:3,"], "spec is malformed"),
    "zero_lr": (["--lr", "0"], "argument --lr: must be a positive finite number"),
    "zero_seeds": (["--seeds", "0"], "argument --seeds: must be a positive integer"),
    "out_inside_a_file": (["--out", "@file/sub"], "--out must be a folder that can be made"),
    "regression_sklearn": (["friedman", "--sklearn"], "sklearn rows need a classification task"),
    "no_lr": (["@nolr"], "pass one (--lr LR)"),
    # checked before the range test of the default schedules' range-onecycle, which would fail
    # on it with a traceback
    "model_misfit": (["@misfit"], "Task 'misfit': the model failed on a training batch"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_input_is_one_line_on_stderr_and_exit_2(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args, message = BAD[case]
    (tmp_path / "file").write_text("not a folder")
    (tmp_path / "nolr.py").write_text(NO_LR_TASK)
    misfit = NO_LR_TASK.replace("'nolr'", "'misfit'").replace("Linear(4, 2)", "Linear(5, 2)")
    (tmp_path / "misfit.py").write_text(misfit.replace("val_data=", "lr=0.1, val_data="))
    args = [
        str(tmp_path / f"{a[1:]}.py")
        if a in ("@nolr", "@misfit")
        else a.replace("@", f"{tmp_path}/")
        for a in args
    ]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "out")]
    status, out, err = in_process(["compare", *args, "--epochs", "1"], capsys)
    assert status == 2, out + err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("lrkit: error:") and message in err
    assert out == ""
    assert not (tmp_path / "out").exists()


ODD_TASKS = {  # torch trains on each; what they hold is what the error must name
    "dict_inputs": (
        """
import torch
from torch.utils.data import Dataset
from lrkit.tasks import Task
class Named(Dataset):  # a model of named inputs: a dict of tensors per example
    def __init__(self, n):
        self.x = torch.randn(n, 4, generator=torch.Generator().manual_seed(n))
    def __len__(self): return len(self.x)
    def __getitem__(self, i): return {"x": self.x[i]}, int(self.x[i, 0] > 0)
class Model(torch.nn.Module):
    def __init__(self): super().__init__(); self.linear = torch.nn.Linear(4, 2)
    def forward(self, inputs): return self.linear(inputs["x"])
task = Task(name="named", model=Model, train_data=Named(64), val_data=Named(32), lr=0.1,
            batch_size=16)
""",
        ["--sklearn"],
        "sklearn rows need inputs that are arrays of numbers (tensors or NumPy arrays), one per "
        "example: MLPClassifier fits NumPy arrays; the task's train_data has inputs as a dict",
    ),
    "string_targets": (
        """
import torch
from torch.utils.data import Dataset
from lrkit.tasks import Task
class Words(Dataset):  # labels as read from a file: strings
    def __len__(self): return 64
    def __getitem__(self, i): return torch.randn(4), "ab"[i % 2]
task = Task(name="words", model=lambda: torch.nn.Linear(4, 2), train_data=Words(),
            val_data=Words(), lr=0.1, batch_size=16, criterion=lambda out, y: out.sum() * 0)
""",
        [],
        "Task 'words': a training batch: Metric 'accuracy' needs the model output and the "
        "targets as tensors (class indices, class probabilities, or one 0/1 target per output); "
        "got the targets as a tuple of str. Map the labels to class indices",
    ),
}


@pytest.mark.parametrize("case", list(ODD_TASKS), ids=list(ODD_TASKS))
def test_a_task_torch_takes_and_compare_cannot_is_one_line_before_training(
    case: str, tmp_path: Path
) -> None:
    """Inputs of dicts with --sklearn were a RuntimeError traceback once the torch rows had
    trained; string targets an AttributeError traceback from lrkit's own check of the task."""
    source, args, message = ODD_TASKS[case]
    (tmp_path / "odd.py").write_text(source)
    out = tmp_path / "out"
    result = run(
        "compare", str(tmp_path / "odd.py"), "--epochs", "1", "--schedules", "constant",
        *args, "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"lrkit: error: {message}"), result.stderr
    assert "epoch" not in result.stderr.lower() and not out.exists()  # nothing trained


def test_a_task_file_after_schedules_is_named_as_such(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--schedules constant cosine:4 mytask.py` read the file as a schedule: 'Unknown schedule
    name' and fifty aliases."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mytask.py").write_text(NO_LR_TASK)
    status, out, err = in_process(["compare", "--schedules", "constant", "mytask.py"], capsys)
    assert status == 2 and out == ""
    assert err == (
        "lrkit: error: --schedules got 'mytask.py', a task file: give TASK before --schedules "
        "(lrkit compare mytask.py --schedules ...).\n"
    )


def test_a_range_one_cycle_the_range_test_cannot_build_is_one_line(tmp_path: Path) -> None:
    """It printed the range test's warning, then an error that said it again, and advice of
    options `lrkit compare` does not have."""
    from tests.task_files import FLAT_TASK

    (tmp_path / "flat.py").write_text(FLAT_TASK)
    args = ["--lr", "0.1", "--epochs", "1", "--schedules", "constant", "range-onecycle"]
    result = run("compare", str(tmp_path / "flat.py"), *args, "--out", str(tmp_path / "o"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(
        "lrkit: error: range-onecycle cannot be built for 'flat': the range test found no LR range"
    )
    assert "Its range test is `lrkit find` (range_test_task)" in result.stderr


def test_the_next_line_trains_the_winning_one_cycle_per_step(tmp_path: Path) -> None:
    """A one-cycle counts optimizer steps: the line compare ends with says so (--unit step), and
    pasted as it is, train runs that schedule, at the LR compare trained it at, to its end."""
    import shlex

    compared = run(
        "compare", "--epochs", "2", "--schedules", "range-onecycle", "--out", str(tmp_path / "c")
    )  # fmt: skip
    assert compared.returncode == 0, compared.stderr
    said = compared.stdout.splitlines()[-1]
    assert said.startswith("next: lrkit train digits --lr ") and "# the best schedule" in said
    words = shlex.split(said.removeprefix("next: "), comments=True)  # as a shell reads it
    options = dict(zip(words[3::2], words[4::2]))
    data = json.loads((tmp_path / "c" / "compare.json").read_text())
    (row,) = data["runs"]
    assert options == {
        "--lr": repr(row["lr"]),  # in full: the same run, to the last digit
        "--schedule": row["spec"],
        "--unit": "step",
        "--epochs": "2",
    }
    trained = run(*words[1:], "--quiet")
    assert trained.returncode == 0, trained.stderr
    assert "warning" not in trained.stderr.lower()  # the whole cycle fits the run
    final = row["histories"][0]["epochs"][-1]["val_metric"]  # the same run as compare's row
    assert f", final {final:.4f}, test {row['histories'][0]['test_metric']:.4f} (" in (
        trained.stdout
    )
