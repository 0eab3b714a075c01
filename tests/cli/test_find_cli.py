"""``lrkit find`` through a real subprocess."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lrkit.finder import RangeTestResult
from tests.cli import files_up_to, in_process
from tests.outputs_doc import assert_keys_documented

LRKIT = [sys.executable, "-m", "lrkit.cli.main"]

TASK_FILE = """
import torch
from torch.utils.data import TensorDataset
from lrkit.tasks import Task
g = torch.Generator().manual_seed(0)
x = torch.randn(400, 5, generator=g)
y = (x[:, 0] - x[:, 1] > 0).long()
{change}
task = Task(name='mine', model=lambda: {model}, train_data=TensorDataset(x[:n], y[:n]),
            val_data=TensorDataset(x[300:], y[300:]), batch_size=32, lr=0.1)
"""


# One torch thread, as tests/conftest.py sets in-process: on a busy 2-core machine two threads
# fighting over a tiny CNN make a 0.2 s sweep take 15 s.
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LRKIT, *args], capture_output=True, text=True, cwd=cwd, timeout=300, env=ENV
    )


def task_file(tmp_path: Path, change: str = "n = 300", model: str = "") -> str:
    path = tmp_path / "mytask.py"
    model = (
        model
        or "torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))"
    )
    path.write_text(TASK_FILE.format(change=change, model=model))
    return str(path)


def test_find_on_digits_prints_the_table_and_writes_the_plot_and_json(tmp_path: Path) -> None:
    result = run("find", "--num-iter", "60", "--end-lr", "10", "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("range test: digits (")
    labels = [line.split()[0] for line in lines[1:5]]
    assert labels == ["suggestion", "range", "diverged", "stopped"]
    data = json.loads((tmp_path / "out" / "range_test.json").read_text())
    assert data["task"] == "digits" and data["start_lr"] == 1e-7 and data["end_lr"] == 10
    assert len(data["lrs"]) == len(data["losses"]) <= 60
    assert_keys_documented(tmp_path / "out" / "range_test.json")  # docs/outputs.md, as tune's
    back = RangeTestResult.from_dict(data)  # as docs/outputs.md says: it used to refuse "task"
    assert back.suggestion == data["suggestion"] and list(back.lrs) == data["lrs"]
    png = tmp_path / "out" / "range_test.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"Wrote {png}" in lines[-2]
    # what to run next, with the suggestion as printed (four significant digits)
    assert lines[-1] == f"next: lrkit compare digits --lr {data['suggestion']!r}" + (
        "  # schedules at the suggestion"
    )
    assert lines[1].split() == ["suggestion", f"{data['suggestion']:.4g}"]
    assert lines[2].split() == ["range", f"{data['range'][0]:.4g}", "to", f"{data['range'][1]:.4g}"]

    # a disk that fills up while the files are written leaves the earlier ones whole
    # (less than the plot; then room for the plot and the JSON, not the report): all or none
    files = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    for limit in (20_000, 100_000):
        full = subprocess.run(
            [*LRKIT, "find", "--num-iter", "60", "--seed", "1", "--out", str(tmp_path / "out")],
            capture_output=True,
            text=True,
            timeout=300,
            env=ENV,
            preexec_fn=lambda limit=limit: files_up_to(limit),  # type: ignore[misc]
        )
        assert full.returncode == 1 and full.stderr.count("\n") == 1, full.stderr
        assert "File too large" in full.stderr
        assert full.stdout.startswith("range test: digits")  # the result is said all the same
        assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == files


def test_find_a_task_file_with_balancing_and_the_default_out_dir(tmp_path: Path) -> None:
    path = task_file(tmp_path, change="n = 300; y[:300] = (torch.arange(300) % 20 == 0).long()")
    result = run("find", path, "--balance", "sampler", "--num-iter", "20", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "lrkit-out" / "find" / "range_test.json").read_text())
    assert data["task"] == "mine" and data["seed"] == 0


BAD = {
    "end_not_above_start": (["--start-lr", "1", "--end-lr", "0.1"], "--end-lr must be greater"),
    "too_few_iterations": (
        ["--num-iter", "5"],
        "argument --num-iter: must be an integer from 10 to 100,000 (a range test takes 100 to a "
        "few hundred steps), got '5' (see 'lrkit find --help')",
    ),
    "step_mode_any_case_but_known": (
        ["--step-mode", "Geometric"],
        "argument --step-mode: must be exp or linear, got 'Geometric'",
    ),
    "too_many_iterations": (  # a typo that was a sweep of days
        ["--num-iter", "1e8"],
        "argument --num-iter: must be an integer from 10 to 100,000 (a range test takes 100 to a "
        "few hundred steps), got '1e8' (see 'lrkit find --help')",
    ),
    "empty_loader": (["@n = 0"], "Task 'mine': train_data is empty."),
    "first_loss_nan": (["@n = 300; x[:] = float('nan')"], "must give a finite loss at the start"),
    "no_parameters": (["@model=torch.nn.ReLU()"], "optimizer got an empty parameter list"),
    "unknown_balance": (["--balance", "oversample"], "invalid choice: 'oversample'"),
    "unknown_device": (["--device", "foo"], "--device: must be a torch device such as 'cpu'"),
    "missing_device": (["--device", "cuda:99"], "--device: must be a device this machine has"),
    "seed_too_big": (["--seed", str(2**64)], "--seed: must be an integer from 0 to 2**32 - 1"),
    "end_lr_huge": (
        ["--end-lr", "1e300", "--num-iter", "10"],  # was a torch overflow traceback mid-sweep
        "--end-lr must be a learning rate of at most 1e+06, got 1e+300.",
    ),
    "start_lr_tiny": (
        ["--start-lr", "1e-320", "--end-lr", "1"],
        "--start-lr must be at least 5.563e-309, so that --end-lr / --start-lr is a finite number",
    ),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_input_is_one_line_on_stderr_and_exit_2(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args, message = BAD[case]
    extra = [a for a in args if not a.startswith("@")]
    edits = [a[1:] for a in args if a.startswith("@")]
    if edits and edits[0].startswith("model="):
        path = task_file(tmp_path, model=edits[0].removeprefix("model="))
    else:
        path = task_file(tmp_path, *(edits or ["n = 300"]))
    status, out, err = in_process(["find", path, *extra, "--out", str(tmp_path / "out")], capsys)
    assert status == 2, out + err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("lrkit: error:") and message in err
    assert not (tmp_path / "out").exists()


def test_balancing_a_regression_task_is_one_line_naming_the_option(tmp_path: Path) -> None:
    result = run("find", "friedman", "--balance", "sampler", "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr == (
        "lrkit: error: --balance: class-balanced batches need one class label per sample (a "
        "classification dataset), got labels of shape (900, 1) for 900 samples.\n"
    )


def test_json_and_quiet_for_scripts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, said, err = in_process(["find", "--json", "--out", str(tmp_path / "j")], capsys)
    assert status == 0, err
    data = json.loads(said)
    assert data == json.loads((tmp_path / "j" / "range_test.json").read_text())
    assert data["range"][0] <= data["suggestion"] <= data["range"][1]
    args = ["find", "--quiet", "--num-iter", "30", "--out", str(tmp_path / "q")]
    status, said, err = in_process(args, capsys)
    assert status == 0 and said == "", err
    assert (tmp_path / "q" / "report.html").exists()
    # a script that closed stdout (>&-) still gets the files, and no traceback
    closed = subprocess.run(
        [*LRKIT, "find", "--json", "--num-iter", "20", "--out", str(tmp_path / "c")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=300,
        env=ENV,
        preexec_fn=lambda: os.close(1),
    )
    assert closed.returncode == 0 and "Traceback" not in closed.stderr, closed.stderr
    assert (tmp_path / "c" / "range_test.json").is_file()


@pytest.mark.parametrize("command", ["find", "search"])
def test_an_out_that_is_a_file_fails_before_any_work(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "results.txt"
    blocker.write_text("a file, not a folder")
    status, said, err = in_process([command, "--out", str(blocker)], capsys)
    assert status == 2, said + err
    assert err.strip() == (
        f"lrkit: error: --out must be a folder that can be made and written, got "
        f"'{blocker}': '{blocker}' is a file, not a folder."
    )
    assert said == ""  # no range test or trial ran
    assert blocker.read_text() == "a file, not a folder"


def test_the_table_says_where_the_curve_diverged_when_the_stop_rule_did_not_fire() -> None:
    import numpy as np

    from lrkit.cli.find import table
    from lrkit.finder import RangeTestResult

    lrs = np.logspace(-5, 1, 100)
    falls = 2.0 - 1.5 / (1 + (1e-2 / lrs) ** 2)
    rises = np.where(lrs > 0.5, 50 * np.sin(np.arange(100)) ** 2, 0.0)  # wild, not steady
    result = RangeTestResult(
        lrs=tuple(lrs),
        losses=tuple(falls + rises),
        smoothed=tuple(falls + rises),
        group_lrs=(tuple(lrs),),
        suggestion=0.01,
        range=(0.005, 0.1),
        seconds=1.0,
    )
    line = table("mine", result).splitlines()[3]
    cut = float(line.split()[2])
    assert line.endswith("(read from the curve; the sweep went on to 10)")
    assert 0.5 < cut <= 0.7, line  # the first wild step
    calm = RangeTestResult(
        lrs=tuple(lrs),
        losses=tuple(falls),
        smoothed=tuple(falls),
        group_lrs=(tuple(lrs),),
        suggestion=0.01,
        range=(0.005, 0.1),
        seconds=1.0,
    )
    assert (
        table("mine", calm).splitlines()[3].endswith("diverged at  not detected (swept up to 10)")
    )


def test_step_mode_is_read_in_any_case_as_the_library_reads_it() -> None:
    from lrkit.cli.main import build_parser

    for given in ("Linear", "LINEAR", "EXP"):
        args = build_parser().parse_args(["find", "--step-mode", given])
        assert args.step_mode == given.lower()


def test_num_iter_is_capped_where_the_library_caps_it() -> None:
    from lrkit.cli.find import MAX_ITER, num_iter_arg
    from lrkit.finder import plan

    assert MAX_ITER == plan.MAX_ITER == 100_000  # lrkit.finder_settings: --help needs no torch
    assert num_iter_arg("100k") == num_iter_arg("100000") == plan.MAX_ITER
    for text in ("100001", "1e8", "100M"):
        with pytest.raises(argparse.ArgumentTypeError, match=re.escape(f"got {text!r}")):
            num_iter_arg(text)


@pytest.mark.parametrize("flag", [None, "--quiet", "--json"])
def test_off_a_terminal_the_sweep_writes_plain_progress_lines_unless_quiet(
    flag: str | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import lrkit.progress
    from lrkit.cli.main import main
    from tests.test_progress import terminal

    terminal(monkeypatch, is_terminal=False)  # as under nohup, CI or `> log 2>&1`
    monkeypatch.setattr(lrkit.progress, "PLAIN_EVERY_S", 0.0)  # a line at every tenth
    extra = [] if flag is None else [flag]
    status = main(["find", "--num-iter", "40", "--end-lr", "1", "--out", str(tmp_path), *extra])
    assert status == 0
    said = [line for line in capsys.readouterr().err.splitlines() if "elapsed" in line]
    if flag is not None:
        assert said == []
        return
    # no time left: a sweep that diverges ends early, so the bar shows none on a terminal too
    assert [re.sub(r"\d+:\d\d:\d\d", "H:MM:SS", line) for line in said] == [
        f"range test: {4 * k}/40 ({10 * k}%), H:MM:SS elapsed" for k in range(1, 11)
    ], said


def test_ctrl_c_says_so_and_writes_nothing(tmp_path: Path) -> None:
    import signal
    import time

    out = tmp_path / "out"
    process = subprocess.Popen(
        [*LRKIT, "find", "--num-iter", "100000", "--out", str(out)],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    time.sleep(4)  # past the imports, into the sweep
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert err.strip().splitlines()[-1] == "lrkit: interrupted."
    assert not out.exists()


def test_ctrl_c_while_a_library_imports_is_not_swallowed(tmp_path: Path) -> None:
    # The task file imports an optional dependency that Ctrl-C hits while it initialises; it
    # fails as an extension module does ("initialization failed") and the task file, as
    # libraries do, reads that as "not installed". Before, the range test then ran to the end.
    (tmp_path / "optional_dep.py").write_text(
        "import os, signal, time\n"
        "try:\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    time.sleep(0.5)\n"
        "except KeyboardInterrupt:\n"
        "    raise ImportError('initialization failed')\n"
    )
    change = (
        "import sys, os; sys.path.insert(0, os.path.dirname(__file__))\n"
        "try:\n    import optional_dep\nexcept ImportError:\n    pass\nn = 300"
    )
    out = tmp_path / "out"
    result = run("find", task_file(tmp_path, change=change), "--out", str(out))
    assert result.returncode == 130, result.stderr
    assert result.stderr.strip().splitlines()[-1] == "lrkit: interrupted."
    assert not out.exists()
