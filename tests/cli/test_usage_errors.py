"""Usage errors a QA pass found ending in a traceback, a silent exit, an error only after the
work, or words of Python rather than of the command line: each is one line and exit 2 now."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lrkit.errors import ConfigError, TaskError
from tests.cli import in_process

LRKIT = [sys.executable, "-m", "lrkit.cli.main"]


def _one_line(status: int, err: str, *fragments: str) -> None:
    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lrkit: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], err


@pytest.mark.parametrize(
    ("command", "blocked"),
    [
        (["find", "--num-iter", "10"], "range_test.json"),
        (["search", "--trials", "1", "--epochs", "1"], "search.csv"),
        (["compare", "--epochs", "1", "--schedules", "cosine:1"], "compare.png"),
        (["tune", "--budget", "100"], "summary.json"),
    ],
)
def test_a_folder_where_an_output_file_goes_is_refused_before_any_work(
    command: list[str], blocked: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    (out / blocked).mkdir(parents=True)
    status, _, err = in_process([*command, "--out", str(out)], capsys)
    _one_line(status, err, "--out", f"{out / blocked}' is a folder, where lrkit writes a file")
    assert sorted(p.name for p in out.iterdir()) == [blocked]  # nothing ran, nothing written


def test_tune_out_that_is_a_file_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "afile").write_text("keep")
    status, _, err = in_process(["tune", "--out", str(tmp_path / "afile")], capsys)
    _one_line(status, err, "--out must be a folder", "which is a file")
    assert (tmp_path / "afile").read_text() == "keep"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--bogus"], "expected a command (schedule, train, find, search, compare, tune), got "),
        (
            ["compare", "--schedules", "range-onecycle", "cos:abc", "--epochs", "1"],
            "--schedules 'cos:abc': cosine: steps must be",  # not range-onecycle, which is valid
        ),
        (
            ["compare", "nosuchtask", "--schedules", "range-onecycle", "--epochs", "1"],
            "TASK: Unknown task 'nosuchtask'",
        ),
        (["find", "./nosuch.py"], "TASK: Task file './nosuch.py' does not exist"),
        (
            ["train", "--schedule", "cosin:1"],
            "--schedule 'cosin:1': Unknown schedule name 'cosin'. Did you mean 'cosine'? Valid "
            "names: adaptive, constant, cosine,",  # the aliases left to `lrkit schedule list`
        ),
        (
            ["compare", "--seed", str(2**32 - 1), "--seeds", "2", "--epochs", "1"],
            "--seed must be at most 2**32 - 2 with --seeds=2",
        ),
        (["schedule", "show", "cos ine:10"], "unexpected 'i' at position 4"),
        (
            ["schedule", "plot", "cosine:10", "-o", "t.png", "--title", "$\\foo$"],
            "argument --title must be text or matplotlib math",
        ),
    ],
)
def test_usage_errors_name_the_option_in_one_line(
    args: list[str],
    fragment: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    status, _, err = in_process(args, capsys)
    _one_line(status, err, fragment)
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


def test_metrics_that_are_not_a_text_file_say_what_they_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00")
    show = ["schedule", "show", "plateau:patience=1", "--metrics"]
    status, _, err = in_process([*show, str(tmp_path / "bin.txt")], capsys)
    _one_line(status, err, "argument --metrics: expected a text file of numbers", "not text")
    assert "read_metrics" not in err
    status, _, err = in_process([*show, str(tmp_path)], capsys)
    _one_line(status, err, "(a folder)")


def test_pgf_is_refused_without_latex(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)  # a machine without LaTeX
    out = tmp_path / "t.pgf"
    status, _, err = in_process(["schedule", "plot", "cosine:10", "-o", str(out)], capsys)
    _one_line(status, err, "argument -o/--output must end in an image suffix")
    assert not out.exists()


def test_a_task_file_that_calls_sys_exit_is_an_error_not_a_silent_exit(tmp_path: Path) -> None:
    task = tmp_path / "exits.py"
    task.write_text("import sys\nsys.exit(3)\n")
    done = subprocess.run(
        [*LRKIT, "train", str(task), "--epochs", "1"], capture_output=True, text=True, timeout=120
    )
    _one_line(done.returncode, done.stderr, "raised SystemExit while loading: 3")
    from lrkit.tasks import load_task

    with pytest.raises(TaskError, match="SystemExit"):
        load_task(str(task))


def test_a_task_named_with_dollars_is_drawn_as_typed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """matplotlib reads text between two $ as math: a task's name is shown as it is, and the
    range test's files are written (they were lost to a traceback at savefig)."""
    task = tmp_path / "dollar.py"
    task.write_text(
        "import dataclasses\nfrom lrkit.tasks.digits import digits_task\n\n\ndef task():\n"
        '    return dataclasses.replace(digits_task(), epochs=1, name=r"$\\foo$")\n'
    )
    out = tmp_path / "out"
    status, _, err = in_process(["find", str(task), "--num-iter", "10", "--out", str(out)], capsys)
    assert status == 0, err
    assert (out / "range_test.png").stat().st_size > 10_000
    assert (out / "range_test.json").is_file()


def test_warnings_name_the_options_of_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = ["--out", str(tmp_path / "out")]
    status, stdout, err = in_process(
        ["find", "--num-iter", "10", "--start-lr", "1e-30", *out], capsys
    )
    assert status == 0, err
    warning = next(line for line in err.splitlines() if line.startswith("warning: "))
    assert "(--start-lr)" in warning and "(--num-iter)" in warning and "_" not in warning
    assert "diverged at  not detected (swept up to " in stdout


def test_the_library_refuses_seeds_past_numpys_last_too() -> None:
    from lrkit.compare import compare

    with pytest.raises(ConfigError, match=r"seed must be at most 2\*\*32 - 3 with seeds=3"):
        compare("digits", 0.1, ["cosine:1"], seeds=3, seed=2**32 - 2, epochs=1)


UNREADABLE_TASK = """
import torch
from torch.utils.data import Dataset, TensorDataset
from lrkit.tasks import Task


class Disk(Dataset):
    def __len__(self):
        return 64

    def __getitem__(self, i):
        if i == 40:
            raise OSError("disk read failed for item 40")
        return torch.randn(4), torch.tensor(i % 2)


data = TensorDataset(torch.randn(16, 4), torch.randint(0, 2, (16,)))
task = Task(name="disk", model=lambda: torch.nn.Linear(4, 2), train_data=Disk(), val_data=data,
            batch_size=8, epochs=1)
"""


def test_an_os_error_of_the_task_s_own_data_shows_where_it_was_raised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """QA 127: the CLI said it as one bare line (``lrkit: error: disk read failed for item
    40``), as it says an output folder it cannot write, with nothing naming the task's data;
    any other error of a dataset shows its traceback."""
    task = tmp_path / "disk.py"
    task.write_text(UNREADABLE_TASK)
    status, _, err = in_process(["train", str(task), "--lr", "0.1", "--quiet"], capsys)
    lines = err.splitlines()
    assert status == 1 and lines[0] == "Traceback (most recent call last):", err
    assert f'File "{task}", line 13, in __getitem__' in lines[1]  # from the task's code on
    assert "lrkit" not in "\n".join(lines[1:-1])  # none of lrkit's frames before it
    assert lines[-2] == "OSError: disk read failed for item 40"
    assert lines[-1] == (
        "lrkit: error: the task's code raised OSError: disk read failed for item 40 (at "
        "disk.py:13); its traceback above starts in the task's code (LRKIT_TRACEBACK=1 adds "
        "lrkit's)."
    )


def test_an_error_of_the_task_s_model_mid_training_is_its_traceback_and_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """QA 139: train, find, compare and tune printed 30 to 56 lines through lrkit's training
    loop for an error the task's model raised after its checks passed (search one line)."""
    task = tmp_path / "boom.py"
    task.write_text(
        UNREADABLE_TASK.replace("if i == 40:", "if i == 1000:")
        .replace("model=lambda: torch.nn.Linear(4, 2)", "model=Boom")
        .replace("\n\ndata = TensorDataset", BOOM + "\n\ndata = TensorDataset")
    )
    for command in (["train", "--lr", "0.1"], ["find", "--num-iter", "20"]):
        status, _, err = in_process([command[0], str(task), *command[1:], "--quiet"], capsys)
        lines = err.splitlines()
        assert status == 1 and f'File "{task}", line' in lines[1], err
        assert lines[-2] == "RuntimeError: kaboom at forward pass 6", err
        assert lines[-1].startswith("lrkit: error: the task's code raised RuntimeError: kaboom ")
        assert "site-packages" not in err and "/lrkit/" not in err
    monkeypatch.setenv("LRKIT_TRACEBACK", "1")
    status, _, err = in_process(["train", str(task), "--lr", "0.1", "--quiet"], capsys)
    assert status == 1 and "lrkit/training.py" in err and "(LRKIT_TRACEBACK" not in err


BOOM = """

class Boom(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear, self.calls = torch.nn.Linear(4, 2), 0

    def forward(self, x):
        self.calls += 1
        if self.calls > 5:  # past the task's checks: mid-training
            raise RuntimeError(f"kaboom at forward pass {self.calls}")
        return self.linear(x)
"""


def test_an_os_error_raised_while_torch_imports_is_one_line(tmp_path: Path) -> None:
    """Review 129: the handler read where the error was raised by importing torch, which raised
    it again (a torch whose CUDA library is missing fails to import with an OSError): two
    tracebacks, where there had been one line."""
    fake = tmp_path / "site" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise OSError('libcudnn.so.9: cannot open shared object')\n")
    code = (
        "import sys, site, sysconfig\n"
        f"site.getsitepackages = lambda: [{str(tmp_path / 'site')!r}]\n"  # an installed torch
        "from lrkit.cli.main import main\n"
        "sys.exit(main(['find', '--out', sys.argv[1]]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "o")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(tmp_path / "site")},
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr == "lrkit: error: libcudnn.so.9: cannot open shared object\n"


def test_a_frame_of_no_file_is_not_the_user_s() -> None:
    """Review 129: code of no file (``<string>``: a dataclass's generated methods, exec) was
    named as the user's."""
    from lrkit.errors import where_raised

    try:
        exec("raise OSError('no room')")
    except OSError as error:
        here = error.__traceback__
        assert here is not None
        assert where_raised(error) == f" (at {Path(__file__).name}:{here.tb_lineno})"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        # a second --schedules dropped the first list without a word: both are read
        (
            ["compare", "--schedules", "cosine:1", "--schedules", "cosine:1", "--epochs", "1"],
            "--schedules must differ, got 'cosine:1' and 'cosine:1', the same schedule",
        ),
        # --unit without --schedule was ignored: the LR is constant
        (["train", "--unit", "step"], "argument --unit: says what --schedule's lengths count"),
    ],
)
def test_options_given_in_vain_are_said(
    args: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """QA 139: each of these ran, leaving out what the user gave."""
    status, out, err = in_process(args, capsys)
    assert (status, out) == (2, "") and err.startswith(f"lrkit: error: {said}"), err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "name", "expected"),
    [
        (["train", "--seed", "2e0"], "seed", 2),  # as --epochs 1e1 is 10
        (["train", "--seed", "1k"], "seed", 1000),
        (["train", "--seed", str(2**32 - 1)], "seed", 2**32 - 1),  # exact, not through a float
        (["find", "--balance", "Sampler"], "balance", "sampler"),
        (["search", "--value", "VAL_METRIC"], "value", "val_metric"),
        (["train", "--unit", "Step"], "unit", "step"),
        (["tune", "--value", " Val_Loss"], "value", "val_loss"),
        (["train", "--device", "CPU"], "device", "cpu"),
    ],
)
def test_integers_and_choices_read_alike_in_every_option(
    args: list[str], name: str, expected: object
) -> None:
    from lrkit.cli.main import build_parser

    assert getattr(build_parser().parse_args(args), name) == expected


@pytest.mark.parametrize("seed", ["1.5", "-1", "5e9", "x"])
def test_a_seed_that_is_no_integer_in_range_is_one_line(
    seed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = in_process(["train", "--seed", seed], capsys)
    _one_line(status, err, "--seed: must be an integer from 0 to 2**32 - 1", repr(seed))


@pytest.mark.parametrize("command", [[], ["search"], ["schedule", "plot"]])
def test_help_command_is_the_help_option(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    shown = []
    for args in (["help", *command], [*command, "--help"]):
        with pytest.raises(SystemExit) as exit_:  # argparse's help exits, status 0
            in_process(args, capsys)
        assert exit_.value.code == 0
        shown.append(capsys.readouterr())
    assert shown[0] == shown[1]
    assert shown[0].out.startswith(f"usage: {' '.join(['lrkit', *command])} ")


def test_help_for_a_command_that_is_none_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = in_process(["help", "serach"], capsys)
    _one_line(status, err, "invalid choice: 'serach'")
