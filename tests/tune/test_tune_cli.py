"""``lrkit tune`` through a real subprocess: the pipeline, its files, reruns and bad input."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from html import unescape
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.storages.journal import JournalFileBackend

from lrkit.tasks import load_task
from lrkit.tune.pipeline import REUSED
from tests.cli import files_up_to, in_process
from tests.outputs_doc import assert_keys_documented
from tests.task_files import FLAT_TASK, SLOW_TASK

LRKIT = [sys.executable, "-m", "lrkit.cli.main", "tune"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
BUDGET = ["--budget", "80"]  # a small pipeline: 6 trials, 2 schedules, 1 seed


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LRKIT, *args], capture_output=True, text=True, timeout=600, env=ENV)


def trials_of(out: Path) -> list[dict[str, Any]]:
    """The search's trials, as its JSON has them."""
    trials: list[dict[str, Any]] = json.loads((out / "search.json").read_text())["trials"]
    return trials


def test_tune_writes_summary_and_report_and_reuses_finished_stages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    done = run("digits", *BUDGET, "--out", str(out))
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    for name in ("range_test.json", "search.json", "search.csv", "compare.json", "compare.csv",
                 "summary.json"):  # fmt: skip
        assert_keys_documented(out / name)  # every key, and nothing docs/outputs.md lacks
    assert summary["metric"] == "accuracy"
    low, high = summary["searched_range"]
    assert low <= summary["best_lr"] <= high
    assert summary["test_metric"] > 0.9
    assert summary["settings"]["plan"]["n_trials"] == 6
    assert len(summary["settings"]["plan"]["schedules"]) == 2
    assert REUSED not in done.stdout
    assert summary["reused"] == [] and f"({summary['seconds']:.0f} s, " in done.stdout
    assert summary["epochs_used"] <= 80  # the budget, the range test's steps included
    assert summary["versions"]["torch"].startswith("2.")
    assert int(summary["versions"]["threads"]) >= 1  # the process trained, so it has torch
    assert f"test accuracy {summary['test_metric']:.2%}" in done.stdout
    unit = summary["unit"]  # the answer, as the last line puts it in a training script
    assert done.stdout.splitlines()[-1] == (
        f"next: build your optimizer with lr={summary['best_lr']!r}, then scheduler = "
        f"lrkit.schedules.bind(optimizer, {summary['schedule']!r}, unit={unit!r}) and call "
        f"scheduler.step() once per {unit}, in a run of {summary['settings']['plan']['epochs']} "
        "epochs"  # what the LR was tuned for (QA 154)
    )
    grid = (out / "report.html").read_text()  # its summary says the numbers as the CLI does
    assert f"<dt>learning rate</dt><dd>{summary['best_lr']:.4g}</dd>" in grid
    assert f"<dt>epochs used</dt><dd>{summary['epochs_used']:.0f}</dd>" in grid
    assert f", {summary['epochs_used']:.0f} training epochs)" in done.stdout
    assert f"<dt>test loss</dt><dd>{summary['test_loss']:.4g}</dd>" in grid
    described = summary["settings"]["task_description"]  # what the task is, as it says
    assert described == load_task("digits").description and described
    assert f"<dt>task</dt><dd>digits: {described}</dd>" in grid
    html = (out / "report.html").read_text()
    for key in ("summary", "range_test", "search", "compare", "training", "reproduce"):
        assert f'data-lrkit-section="{key}"' in html
    # the final run's command, with the LR in full: rounded, it would train to another score
    assert f"lrkit train digits --lr {summary['best_lr']!r} --schedule" in unescape(html)
    said = unescape(html)  # how to use the answer, and how the search ran
    assert (
        f"Train with lr {summary['best_lr']:.4g} under the schedule {summary['schedule']}. It "
        f"reached test accuracy {summary['test_metric']:.2%} in a fresh run"
    ) in said
    compared = json.loads((out / "compare.json").read_text())
    with (out / "compare.csv").open() as table:  # as `lrkit compare` writes it
        assert [row["schedule"] for row in csv.DictReader(table)] == [
            r["label"] for r in compared["runs"]
        ]
    unit = next(r["unit"] for r in compared["runs"] if r["label"] == compared["best"])
    assert unit == summary["unit"]  # the winner's, as the comparison ran it
    # the report's advice is the last line's, word for word
    assert f"In PyTorch, {done.stdout.splitlines()[-1].removeprefix('next: ')}: " in said
    assert f"in {low:.4g} to {high:.4g}: from half a decade under the range test's low end" in said
    complete = summary["search"]["counts"]["complete"]
    assert f"{complete} of 6 trials ran the whole budget" in said
    # the search's table names the metric and shows an accuracy in percent, as the rest does
    best_trial = next(t for t in trials_of(out) if t["lr"] == summary["best_lr"])
    assert re.search(r"<th( class=\"num\")?>val accuracy</th>", html)
    assert ">last value</th>" not in html  # a stopped trial's is in the value column
    assert f"{best_trial['val_metric']:.2%}" in said

    stage = out / ".lrkit-stages" / "range_test.pkl"
    stamp = stage.stat().st_mtime_ns
    trials = json.loads((out / "search.json").read_text())["trials"]
    status, said, err = in_process(["tune", "digits", *BUDGET, "--out", str(out)], capsys)
    assert status == 0, err
    assert "held a run" not in said  # the same settings: nothing replaced
    assert said.count(REUSED) == 4  # every stage, the final training's too
    rerun = json.loads((out / "summary.json").read_text())
    assert rerun["reused"] == ["range test", "search", "comparison", "final training"]
    assert rerun["epochs_used"] == summary["epochs_used"]  # the pipeline's, not this run's
    assert rerun["test_metric"] == summary["test_metric"]
    kept = "the range test, search, comparison and final training kept from an earlier run"
    assert f"({rerun['seconds']:.0f} s, {kept}, " in said
    assert f"{rerun['seconds']:.0f} s, {kept}" in unescape((out / "report.html").read_text())
    assert stage.stat().st_mtime_ns == stamp  # the range test was read back, not redone
    assert json.loads((out / "search.json").read_text())["trials"] == trials
    journal = optuna.storages.JournalStorage(JournalFileBackend(str(out / "study.journal")))
    assert len(optuna.get_all_study_names(journal)) == 1  # the search resumed, not redone
    status, as_json, err = in_process(
        ["tune", "digits", *BUDGET, "--out", str(out), "--json"], capsys
    )
    assert status == 0, err
    assert json.loads(as_json)["best_lr"] == summary["best_lr"]

    # another command would replace a stage and leave the report contradicting its summary
    report = (out / "report.html").read_bytes()
    for command in ("find", "search", "compare"):
        status, _, err = in_process([command, "--out", str(out)], capsys)
        assert status == 2
        assert err.strip().splitlines() == [
            f"lrkit: error: --out {str(out)!r} holds an `lrkit tune` run; `lrkit {command}` "
            "would replace one of its stages and its report would no longer agree with its "
            "summary: use another folder."
        ]
    assert (out / "report.html").read_bytes() == report


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no/such/task.py"], "no/such/task.py"),
        (["--budget", "20"], "budget must be at least 66 epochs"),
        (["--budget", "0"], "must be a positive integer, got '0'"),
        (["--epochs", "0"], "--epochs: must be a positive integer"),
        (["--value", "Val_Acc"], "--value: invalid choice: 'Val_Acc'"),  # as typed
        (["--workers", "0"], "--workers: must be a positive integer, got '0'"),
        # the final run trains from seed + 1000, which must be a seed too: said before any work
        (["--seed", "4294967000"], "--seed must be an integer from 0 to 4294966295"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "kept").mkdir()
    status, _, err = in_process(["tune", *args, "--out", str(tmp_path / "o" / "deep")], capsys)
    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lrkit: error: ") and message in lines[0]
    assert not (tmp_path / "o").exists()  # the folders it would have made: not left behind
    status, _, err = in_process(["tune", *args, "--out", str(tmp_path / "kept")], capsys)
    assert status == 2 and (tmp_path / "kept").is_dir()  # one there before: kept


def test_a_refusal_is_one_line_and_exit_2_from_a_process_of_its_own(tmp_path: Path) -> None:
    done = run("--budget", "20", "--out", str(tmp_path / "o"))
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    assert done.stderr.startswith("lrkit: error: --budget must be at least 66 epochs for a task")
    assert done.stderr.count("\n") == 1 and not (tmp_path / "o").exists()


def test_task_files_that_are_broken(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    status, _, err = in_process(["tune", str(empty), "--out", str(tmp_path / "o1")], capsys)
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert "task" in err.lower()
    mismatch = tmp_path / "mismatch.py"
    mismatch.write_text(
        "import torch\nfrom torch.utils.data import TensorDataset\nfrom lrkit.tasks import Task\n"
        "x = torch.randn(64, 4); y = torch.randint(0, 3, (64,))\n"
        "task = Task(name='bad', model=lambda: torch.nn.Linear(4, 2),\n"
        "            train_data=TensorDataset(x, y), val_data=TensorDataset(x, y))\n"
    )
    status, _, err = in_process(["tune", str(mismatch), "--out", str(tmp_path / "o2")], capsys)
    assert status == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    raising = tmp_path / "raising.py"
    raising.write_text(mismatch.read_text().replace("torch.nn.Linear(4, 2)", "1 / 0"))
    status, _, err = in_process(["tune", str(raising), "--out", str(tmp_path / "o3")], capsys)
    assert status == 2, err
    assert err.strip() == (
        "lrkit: error: Task 'bad': model() raised ZeroDivisionError: division by zero "
        "(at raising.py:5)"
    )


def test_an_unwritable_out_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    status, _, err = in_process(["tune", "--out", str(blocker / "run")], capsys)
    assert status == 2
    assert "out must be a writable folder" in err


@pytest.mark.parametrize(
    ("blocked", "make", "problem"),
    [
        ("study.journal", lambda path: path.mkdir(), "study.journal' is a folder"),
        (".lrkit-stages", lambda path: path.write_text(""), ".lrkit-stages' is a file"),
    ],
)
def test_a_blocked_journal_or_stage_folder_is_refused_before_any_work(
    tmp_path: Path, blocked: str, make: Any, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Refused at once (exit 2), not after the range test (exit 1)."""
    out = tmp_path / "run"
    out.mkdir()
    make(out / blocked)
    status, printed, err = in_process(["tune", "--out", str(out)], capsys)
    assert status == 2 and printed == ""
    assert err.count("\n") == 1 and problem in err
    assert [p.name for p in out.iterdir()] == [blocked]  # the blocker only: nothing was begun


def test_a_folder_another_command_holds_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two runs at once in one folder wrote a mix of both runs' files; the second now stops."""
    import os

    from lrkit.outputs import held

    out = tmp_path / "run"
    with held(out, "lrkit search"):  # flock: a second open of the file conflicts, in one process
        status, printed, err = in_process(["tune", "--out", str(out)], capsys)
        assert sorted(p.name for p in out.iterdir()) == [".lrkit-lock"]  # the holder's only
    assert status == 1 and printed == ""
    assert err == (
        f"lrkit: error: --out: '{out}' is in use by `lrkit search` (pid {os.getpid()}), still "
        "running; wait for it to end, or use another folder.\n"
    )
    assert not out.exists()  # the holder made it, and leaves nothing
    with held(out, "lrkit tune"):  # released when its holder's block ended
        pass


def test_ctrl_c_keeps_the_finished_stages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    process = subprocess.Popen(
        [*LRKIT, "digits", *BUDGET, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    stage = out / ".lrkit-stages" / "range_test.pkl"
    deadline = time.monotonic() + 300
    while not (stage.exists() and (out / "study.journal").exists()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    stamp = stage.stat().st_mtime_ns
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    # 130 from lrkit's handler; rarely (seen once in ~100 runs) the process ends by the signal
    # itself instead, which a shell reports as 130 too
    assert process.returncode in (130, -signal.SIGINT), err
    assert "Traceback" not in err
    assert "finished stages are kept" in err
    # an unfinished tune run is a tune run: no other command in it
    status, _, err = in_process(["compare", "--out", str(out)], capsys)
    assert status == 2 and "holds an `lrkit tune` run" in err
    done = run("digits", *BUDGET, "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert stage.stat().st_mtime_ns == stamp
    assert json.loads((out / "summary.json").read_text())["test_metric"] > 0.9

    # a run with other settings, stopped early, leaves none of the first run's files beside its
    # own: a summary there would describe the other run
    process = subprocess.Popen(
        [*LRKIT, "digits", *BUDGET, "--seed", "1", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    claimed = out / ".lrkit-stages" / "run.json"
    while json.loads(claimed.read_text())["seed"] != 1:
        assert time.monotonic() < deadline + 300
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode in (130, -signal.SIGINT), err
    assert "Traceback" not in err
    assert "finished stages are kept" in err
    for name in ("summary.json", "report.html", "search.json", "compare.json", "compare.png"):
        assert not (out / name).exists(), name


def test_no_range_from_the_range_test_searches_the_default_range(tmp_path: Path) -> None:
    (tmp_path / "flat.py").write_text(FLAT_TASK)
    out = tmp_path / "run"
    done = run(str(tmp_path / "flat.py"), "--budget", "28", "--out", str(out))  # the least
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr  # the range test's warning is said once, as a stage note
    # 28 epochs fit the first sweep (100 steps, 16.7 epochs), not the second (200 more)
    assert "note: the range test used 50 epochs, so the smallest pipeline, the range test " in (
        done.stdout
    )
    assert "over the budget of 28" in done.stdout
    assert "note: swept twice: the first sweep, of 100 steps, gave no suggestion" in done.stdout
    assert "no range: the loss never decreased clearly" in done.stdout
    assert "searching the default range 1e-05 to 1 instead" in done.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["range"] is None and summary["suggestion"] is None
    assert summary["searched_range"] == [1e-5, 1.0]
    assert 1e-5 <= summary["best_lr"] <= 1.0


def test_a_doubtful_range_is_said_as_a_note(tmp_path: Path) -> None:
    (tmp_path / "slow.py").write_text(SLOW_TASK)
    done = run(str(tmp_path / "slow.py"), "--out", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    assert "note: the loss was still falling at the end of the sweep" in done.stdout
    assert "Warning" not in done.stderr


NO_TEST_TASK = """
import torch
from torch.utils.data import TensorDataset
from lrkit.tasks import Task
g = torch.Generator().manual_seed(0)
x = torch.randn(300, 5, generator=g)
y = (x[:, 0] - x[:, 1] > 0).long()
task = Task(name='notest', model=lambda: torch.nn.Sequential(torch.nn.Linear(5, 16),
            torch.nn.ReLU(), torch.nn.Linear(16, 2)), train_data=TensorDataset(x[:200], y[:200]),
            val_data=TensorDataset(x[200:], y[200:]), batch_size=32, epochs=3)
"""


def test_a_task_without_test_data_ends_with_its_validation_loss(tmp_path: Path) -> None:
    (tmp_path / "notest.py").write_text(NO_TEST_TASK)
    done = run(str(tmp_path / "notest.py"), "--budget", "30", "--out", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["test_metric"] is None and summary["test_loss"] is None
    last = next(line for line in done.stdout.splitlines() if line.startswith("lr "))
    said = f"validation loss {summary['final_val_loss']:.4g} (no test data)"
    assert said in last
    report = (tmp_path / "run" / "report.html").read_text()
    assert f"{said}; lrkit tune" in report  # the heading says it as the CLI does
    assert "None" not in report and "test score is a fresh" not in report
    assert "judged on validation alone" in report


SLEEPY_TASK = """
import time
import torch
from torch.utils.data import TensorDataset
from lrkit.tasks import Task
g = torch.Generator().manual_seed(0)
x = torch.randn(300, 5, generator=g)
y = (x[:, 0] - x[:, 1] > 0).long()
class Sleepy(torch.nn.Module):  # 20 ms a training step: 0.14 s an epoch
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(5, 2)
    def forward(self, x):
        if self.training:
            time.sleep(0.02)
        return self.linear(x)
task = Task(name='sleepy', model=Sleepy, train_data=TensorDataset(x[:200], y[:200]),
            val_data=TensorDataset(x[200:], y[200:]), batch_size=32, epochs=3)
"""


def test_a_time_limit_every_search_trial_runs_past_is_said_so_and_a_rerun_searches_again(
    tmp_path: Path,
) -> None:
    """``--trial-timeout`` reaches the search's trials: with one no trial can meet, the run
    stops after the range test saying why, in one line, as work that could not go on (exit 1).
    The search that found nothing is not kept: a rerun with a longer limit searches again."""
    (tmp_path / "sleepy.py").write_text(SLEEPY_TASK)
    args = [str(tmp_path / "sleepy.py"), "--budget", "30", "--out", str(tmp_path / "run")]
    done = run(*args, "--trial-timeout", "0.1")
    assert done.returncode == 1, done.stderr
    assert done.stderr == (
        "lrkit: error: the search found no learning rate that trains 'sleepy': every trial ran "
        "past the time limit of 0.1 s a trial (--trial-timeout) "
        f"(see {tmp_path / 'run' / 'search.csv'}).\n"
    )
    again = run(*args, "--trial-timeout", "60")
    assert again.returncode == 0, again.stderr
    assert "found no learning rate: searching again" in again.stdout
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["reused"] == ["range test"]
    assert (
        summary["search"]["counts"]["failed"] == 0 and summary["search"]["counts"]["complete"] >= 1
    )


FIRST_TRIAL_FAILS_TASK = """
import os
import torch
from torch.utils.data import TensorDataset
from lrkit.tasks import Task
g = torch.Generator().manual_seed(0)
x = torch.randn(300, 5, generator=g)
y = (x[:, 0] - x[:, 1] > 0).long()
def model():  # the search's trials train from large seeds; its first one fails
    marker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "failed-once")
    if torch.initial_seed() > 100000 and not os.path.exists(marker):
        open(marker, "w").close()
        raise RuntimeError("out of memory, say")
    return torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
task = Task(name='once', model=model, train_data=TensorDataset(x[:200], y[:200]),
            val_data=TensorDataset(x[200:], y[200:]), batch_size=32, epochs=3)
"""


def test_failed_search_trials_are_said_where_the_answer_is(tmp_path: Path) -> None:
    """A search that lost trials to errors said so only in its section of the report: not on
    the console, nor in the report's summary."""
    (tmp_path / "once.py").write_text(FIRST_TRIAL_FAILS_TASK)
    done = run(str(tmp_path / "once.py"), "--budget", "30", "--out", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["search"]["counts"]["failed"] == 1
    note = next(line for line in done.stdout.splitlines() if "failed" in line)
    assert note.strip().startswith("note: ") and ", 1 failed (see " in note
    report = unescape((tmp_path / "run" / "report.html").read_text())
    search = summary["search"]
    assert f"{search['n_trials']} ({search['counts']['complete']} complete" in report


def test_a_disk_that_fills_up_at_the_end_leaves_no_half_written_run(tmp_path: Path) -> None:
    (tmp_path / "notest.py").write_text(NO_TEST_TASK)
    out = tmp_path / "run"
    args = [*LRKIT, str(tmp_path / "notest.py"), "--budget", "30", "--out", str(out)]

    def fill_up() -> subprocess.CompletedProcess[str]:  # every file fits but the report (600 kB)
        full = subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=600,
            env=ENV,
            preexec_fn=lambda: files_up_to(300_000),
        )
        assert full.returncode != 0 and "Traceback" not in full.stderr
        assert full.stderr.strip().count("\n") == 0 and "File too large" in full.stderr
        assert not (out / "summary.json").exists()  # written last: it says the run is whole
        assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]  # no half files
        return full

    fill_up()
    assert not (out / "report.html").exists()
    done = run(str(tmp_path / "notest.py"), "--budget", "30", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(REUSED) == 4  # the stages that had finished: all four
    assert json.loads((out / "summary.json").read_text())["reused"]
    report = (out / "report.html").read_bytes()
    assert len(report) > 300_000
    fill_up()  # once more, over the whole run: its summary goes, its report stays whole
    assert (out / "report.html").read_bytes() == report


def test_a_budget_past_the_largest_plan_says_how_much_it_used(tmp_path: Path) -> None:
    (tmp_path / "notest.py").write_text(NO_TEST_TASK)
    done = run(str(tmp_path / "notest.py"), "--budget", "2000", "--out", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["epochs_used"] < 2000 * 0.8
    assert (
        f"note: {summary['epochs_used']:.0f} of the budget's 2000 training epochs used: the plan "
        f"tops out at 64 search trials"
    ) in done.stdout


def test_a_rerun_with_an_edited_task_file_redoes_every_stage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task, out = tmp_path / "notest.py", tmp_path / "run"
    task.write_text(NO_TEST_TASK)
    first = run(str(task), "--budget", "30", "--out", str(out))
    assert first.returncode == 0, first.stderr
    stage = out / ".lrkit-stages" / "range_test.pkl"
    stamp = stage.stat().st_mtime_ns
    args = ["tune", f"{tmp_path}/./notest.py", "--budget", "30", "--out", str(out)]
    status, said, err = in_process(args, capsys)
    assert status == 0, err
    assert "held a run" not in said  # ./notest.py is notest.py: nothing redone
    assert stage.stat().st_mtime_ns == stamp
    task.write_text(NO_TEST_TASK.replace("manual_seed(0)", "manual_seed(1)"))  # other data
    edited = run(str(task), "--budget", "30", "--out", str(out))
    assert edited.returncode == 0, edited.stderr
    assert f"note: {out} held a run with another task file content;" in edited.stdout
    assert stage.stat().st_mtime_ns != stamp  # the range test ran again, on the new data
    trials = json.loads((out / "search.json").read_text())["trials"]
    assert len(trials) == json.loads((out / "summary.json").read_text())["search"]["n_trials"]
    # another budget in the same folder: a study of its own, not a refusal of the first one's
    status, said, err = in_process(["tune", str(task), "--budget", "40", "--out", str(out)], capsys)
    assert status == 0, err
    assert "held a run with another budget;" in said


def test_a_run_over_its_budget_says_so(tmp_path: Path) -> None:
    # seed 1 at the least budget: the search's first trials go on further than planned
    done = run("digits", "--seed", "1", "--budget", "66", "--out", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    used = json.loads((tmp_path / "run" / "summary.json").read_text())["epochs_used"]
    assert used > 66
    compared = json.loads((tmp_path / "run" / "compare.json").read_text())
    assert compared["seeds"] == [1]  # --seed seeds the comparison too
    assert f"note: {used:.0f} training epochs, {used / 66 - 1:.0%} over the budget of 66" in (
        done.stdout
    )


def test_the_search_can_be_judged_by_the_validation_metric(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task, out = tmp_path / "notest.py", tmp_path / "run"
    task.write_text(NO_TEST_TASK)
    done = run(str(task), "--budget", "30", "--value", "val_metric", "--out", str(out))
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["value"] == "val_metric"
    assert summary["search"]["direction"] == "maximize"
    trials = json.loads((out / "search.json").read_text())["trials"]
    complete = [t for t in trials if t["state"] == "complete"]
    assert all(t["value"] == t["val_metric"] for t in complete)
    best = max(complete, key=lambda t: t["value"])  # the highest accuracy, not the lowest loss
    assert summary["best_lr"] == best["lr"]
    assert f"best lr {best['lr']:.4g} (validation accuracy {best['value']:.4g})" in done.stdout
    said = unescape((out / "report.html").read_text())
    assert "The value is the final validation accuracy; the highest is the answer" in said

    # the default value in the same folder: another search, the range test kept
    status, said, err = in_process(["tune", str(task), "--budget", "30", "--out", str(out)], capsys)
    assert status == 0, err
    assert f"note: {out} held a run with another value judging the search;" in said
    rerun = json.loads((out / "summary.json").read_text())
    assert rerun["reused"][:1] == ["range test"]
    assert rerun["settings"]["value"] == "val_loss"
    assert rerun["search"]["direction"] == "minimize"
    searched = json.loads((out / "search.json").read_text())["trials"]
    assert all(t["value"] == t["val_loss"] for t in searched if t["state"] == "complete")
    assert "the lowest is the answer" in unescape((out / "report.html").read_text())


def test_epochs_sets_every_run_s_length_and_keeps_the_range_test(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task, out = tmp_path / "notest.py", tmp_path / "run"
    task.write_text(NO_TEST_TASK)  # 3 epochs a run
    first = run(str(task), "--budget", "30", "--out", str(out))
    assert first.returncode == 0, first.stderr
    args = ["tune", str(task), "--epochs", "2", "--budget", "30", "--out", str(out)]
    status, said, err = in_process(args, capsys)
    assert status == 0, err
    assert f"note: {out} held a run with another epoch count per run;" in said
    summary = json.loads((out / "summary.json").read_text())
    assert summary["reused"] == ["range test"]  # the sweep does not depend on a run's length
    assert summary["settings"]["plan"]["epochs"] == 2
    trials = trials_of(out)
    assert max(t["epochs_run"] for t in trials) == 2  # the trials' budget
    compared = json.loads((out / "compare.json").read_text())
    lengths = {len(h["epochs"]) for r in compared["runs"] for h in r["histories"]}
    assert lengths == {2}
    assert summary["epochs_by_stage"]["final"] == 2
    assert said.rstrip().endswith("once per epoch, in a run of 2 epochs")  # the next: line
    report = unescape((out / "report.html").read_text())
    assert "step() once per epoch, in a run of 2 epochs: the schedule sets" in report
    # one epoch a run: no halving to speak of, one schedule on one seed (QA 154)
    args = ["tune", str(task), "--epochs", "1", "--budget", "30", "--out", str(out)]
    status, said, err = in_process(args, capsys)
    assert status == 0, err
    assert ", successive halving" not in said
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["plan"]["n_seeds"] == 1
    report = unescape((out / "report.html").read_text())
    assert "each trained for up to 1 epoch under cosine:1" in report
    assert "With one epoch a run, successive halving had no earlier epoch" in report


PIDS_TASK = """
import os
import torch
from torch.utils.data import TensorDataset
from lrkit.tasks import Task
g = torch.Generator().manual_seed(0)
x = torch.randn(300, 5, generator=g)
y = (x[:, 0] - x[:, 1] > 0).long()
def model():  # which process trains: each model's pid, in the file $PIDS names
    with open(os.environ["PIDS"], "a") as pids:
        pids.write(f"{os.getpid()}\\n")
    return torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
task = Task(name='pids', model=model, train_data=TensorDataset(x[:200], y[:200]),
            val_data=TensorDataset(x[200:], y[200:]), batch_size=32, epochs=3)
"""


def test_workers_run_the_search_trials_in_processes_of_their_own(tmp_path: Path) -> None:
    """``--workers 2`` trains each search trial in a fresh process, the other stages in the
    command's own; a rerun with another worker count reuses the finished search."""
    task, out, pids = tmp_path / "pids.py", tmp_path / "run", tmp_path / "pids"
    task.write_text(PIDS_TASK)
    args = [*LRKIT, str(task), "--budget", "30", "--out", str(out), "--workers", "2"]
    with subprocess.Popen(args, env={**ENV, "PIDS": str(pids)}, stderr=subprocess.PIPE) as proc:
        _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    built = [int(pid) for pid in pids.read_text().split()]
    trials = trials_of(out)
    in_workers = [pid for pid in built if pid != proc.pid]
    assert len(in_workers) == len(set(in_workers)) == len(trials)  # one process per trial
    assert built.count(proc.pid) >= 4  # the range test, two schedules and the final run

    again = subprocess.run(
        [*args[:-1], "1"], capture_output=True, text=True, env={**ENV, "PIDS": str(pids)}
    )
    assert again.returncode == 0, again.stderr
    assert json.loads((out / "summary.json").read_text())["reused"] == [
        "range test",
        "search",
        "comparison",
        "final training",
    ]
    assert trials_of(out) == trials


def test_an_unguarded_script_s_workers_run_no_range_test(tmp_path: Path) -> None:
    """A worker imports the script that started the search: its top-level tune call is refused
    at once, not a second range test in every worker before the search refuses it."""
    (tmp_path / "pids.py").write_text(PIDS_TASK)
    script = tmp_path / "unguarded.py"
    script.write_text(
        "from lrkit.tune import tune\n"
        "tune('pids.py', budget=30, n_workers=2, out='run', progress=False)\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**ENV, "PIDS": str(tmp_path / "pids")},
    )
    assert done.returncode == 1
    assert (
        "ConfigError: lrkit.tune was called while a worker process imported the script that "
        "started the search; a script that runs lrkit.tune with n_workers > 1 must start it "
        'under `if __name__ == "__main__":`.'
    ) in done.stderr
    assert "RunError: the worker process died (exit code 1) before its trial began" in done.stderr
    assert len(set((tmp_path / "pids").read_text().split())) == 1  # the script's process alone


def test_a_bad_value_is_refused_before_any_work(tmp_path: Path) -> None:
    from lrkit.errors import ConfigError
    from lrkit.tune import tune

    with pytest.raises(ConfigError, match=r"value must be 'val_loss' or 'val_metric', got 'acc'"):
        tune("digits", value="acc", out=tmp_path / "o")  # type: ignore[arg-type]
    assert not (tmp_path / "o").exists()
    from lrkit.tasks import load_task

    with pytest.raises(ConfigError, match=r"task must be a built-in task's name or a task file's"):
        tune(load_task("digits"), out=tmp_path / "o")  # type: ignore[arg-type]
    assert not (tmp_path / "o").exists()
    with pytest.raises(ConfigError, match=r"progress must be True or False, got 'no'"):
        tune("digits", progress="no", out=tmp_path / "o")  # type: ignore[arg-type]
    assert not (tmp_path / "o").exists()  # was found by the search, after the range test
