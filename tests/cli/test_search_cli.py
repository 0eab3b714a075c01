"""``lrkit search`` through a real subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lrkit.plaintext import lr_text
from tests.cli import files_up_to, in_process
from tests.task_files import BREAKS_IN_TRAINING_TASK, FLAT_TASK

LRKIT = [sys.executable, "-m", "lrkit.cli.main"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # see test_find_cli.py


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LRKIT, "search", *args], capture_output=True, text=True, timeout=300, env=ENV
    )


def start(*args: str) -> subprocess.Popen[str]:
    """``lrkit search`` in a session of its own, for a Ctrl-C to its whole process group."""
    return subprocess.Popen(
        [*LRKIT, "search", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        start_new_session=True,
    )


def test_a_narrowing_search_says_where_each_round_searched(tmp_path: Path) -> None:
    """Seed 000's progressive narrowing: the ranges were only in search.json (QA 142)."""
    out = tmp_path / "run"
    done = run("digits", "--trials", "4", "--epochs", "1", "--rounds", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    rounds = json.loads((out / "search.json").read_text())["rounds"]
    assert len(rounds) == 2 and rounds[1] != rounds[0]
    said = ", then ".join(f"{lr_text(low)} to {lr_text(high)}" for low, high in rounds)
    assert f"; rounds: {said}." in done.stdout, done.stdout


def test_search_writes_table_plot_json_and_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    args = ["digits", "--trials", "5", "--epochs", "3", "--pruner", "halving", "--low", "1e-3"]
    done = run(*args, "--out", str(out))
    assert done.returncode == 0, done.stderr
    data = json.loads((out / "search.json").read_text())
    assert len(data["trials"]) == 5
    assert data["task"] == "digits" and data["objective"].startswith("task digits, schedule")
    best = data["best_lr"]
    assert f"Best lr {best:.4g}" in done.stdout
    header = done.stdout.splitlines()[0].split()
    assert header == ["trial", "lr", "val", "loss", "state", "epochs", "time", "s"]
    assert data["value_name"] == "val loss" and data["metric"] == "accuracy"
    assert data["settings"]["pruner"] == "halving" and data["settings"]["n_trials"] == 5
    assert data["settings"]["n_rounds"] == 1 and "direction" not in data["settings"]
    assert done.stdout.splitlines()[-1] == (  # compare at the budget the LR was searched for
        f"next: lrkit compare digits --lr {best!r} --epochs 3  # schedules at the best LR"
    )
    assert (out / "search.png").stat().st_size > 10_000
    csv = (out / "search.csv").read_text().splitlines()
    assert len(csv) == 6 and "test_metric" in csv[0]
    assert (out / "study.journal").exists()

    status, said, err = in_process(["search", *args, "--out", str(out), "--json"], capsys)
    assert status == 0, err  # finished: read back
    assert json.loads(said)["trials"] == data["trials"]


def test_value_val_metric_keeps_the_best_accuracy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    args = ["search", "digits", "--trials", "3", "--epochs", "2", "--low", "1e-3"]
    status, said, err = in_process([*args, "--value", "val_metric", "--out", str(out)], capsys)
    assert status == 0, err
    assert said.splitlines()[0].split()[2:4] == ["val", "accuracy"]  # what the value is
    data = json.loads((out / "search.json").read_text())
    assert data["direction"] == "maximize"
    done = [t for t in data["trials"] if t["state"] == "complete"]
    assert data["best_value"] == max(t["value"] for t in done)
    assert all(t["value"] == t["val_metric"] for t in done)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--low", "1", "--high", "0.1"],
            "--low must be below --high, got --low=1.0 >= --high=0.1",
        ),
        (["--low", "0"], "low must be a positive finite learning rate, got 0.0"),
        (["--low=-1e-3"], "low must be a positive finite learning rate"),
        (["--low", "tiny"], "must be a positive learning rate or 'auto', got 'tiny'"),
        (["--sampler", "grid"], "Unknown sampler 'grid'; valid samplers"),
        (["--pruner", "asap"], "Unknown pruner 'asap'; valid pruners"),
        (["--trials", "0"], "must be a positive integer, got '0'"),
        (["--storage", "postgresql://u:pw@127.0.0.1:1/db"], "storage: cannot connect to"),
        (["--storage", "redis://127.0.0.1"], "storage must be a sqlite://, postgresql://"),
        (["--study", ""], "argument --study: must be a non-empty study name, got ''"),
        (["--study", " "], "argument --study: must be a non-empty study name, got ' '"),
        (["no_such_task"], "no_such_task"),
        (["--schedule", "cosine:0"], "schedule 'cosine:0': cosine: steps must be a positive"),
        (["--schedule", "cosine"], "schedule 'cosine': "),
        (["--device", "cuda:99"], "--device: must be a device this machine has"),
        (["--value", "accuracy"], "argument --value: invalid choice: 'accuracy'"),
        (["--storage", "sqlite:///"], "--storage must be an SQLite URL with a file"),
        (["--storage", "sqlite:///:memory:"], "(for a study kept in memory only, ':memory:')"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = in_process(["search", *args, "--out", str(tmp_path / "o")], capsys)
    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lrkit: error: ")
    assert message in lines[0]
    assert "u:pw" not in err  # the password is never echoed
    assert not (tmp_path / "o").exists()  # refused before the folder, or any file in it, is made


def test_a_storage_file_that_is_not_a_journal_is_refused_and_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("# Notes\n\nSome text, not an Optuna journal.\n")
    # A journal's first record, then a last line that is none: Optuna alone would skip that
    # line, append to the file, then fail to read it back.
    half = tmp_path / "half.journal"
    half.write_text('{"op_code": 0, "worker_id": "w", "study_name": "s", "directions": [1]}\nx\n')
    short = tmp_path / "short.journal"  # JSON with an op_code, but not a record Optuna reads
    short.write_text('{"op_code": 0}\n')
    not_a_journal = "--storage must be an Optuna journal file (one JSON record per line)"
    cases = {
        notes: f"{not_a_journal} or a new file, got {str(notes)!r}, which is not a journal "
        "(its first line is '# Notes'); name another file",
        half: f"--storage: the journal file {str(half)!r} is damaged at line 2 ('x'), after 1 "
        "good records; Optuna cannot read past it.",
        short: f"{not_a_journal}, got {str(short)!r}, whose records cannot be read (KeyError: ",
        tmp_path: "--storage must be a journal file path, a database URL or ':memory:', got "
        f"{str(tmp_path)!r}, which is a directory.",
    }
    for storage, message in cases.items():
        before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
        args = ["--storage", str(storage), "--trials", "1", "--epochs", "1"]
        status, _, err = in_process(["search", *args, "--out", str(tmp_path)], capsys)
        assert status == 2, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"lrkit: error: {message}"), err
        assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


def test_an_empty_storage_file_becomes_the_journal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal = tmp_path / "empty.journal"
    journal.touch()
    args = ["--storage", str(journal), "--trials", "1", "--epochs", "1", "--out", str(tmp_path)]
    done = run(*args, "--json")
    assert done.returncode == 0, done.stderr
    assert journal.read_text().startswith('{"op_code":')
    status, said, err = in_process(["search", *args, "--resume", "--json"], capsys)
    assert status == 0, err  # the journal it wrote is read back
    assert json.loads(said)["trials"] == json.loads(done.stdout)["trials"]


def test_auto_range_without_a_range_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "flat.py").write_text(FLAT_TASK)
    done = run(str(tmp_path / "flat.py"), "--low", "auto", "--out", str(tmp_path / "o"))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr  # the range test's warning is in the error, not beside it
    assert lines[0].startswith("lrkit: error: low/high='auto' needs a range from the range test")
    assert "the loss never decreased clearly" in lines[0] and "give low and high" in lines[0]
    assert "which found none (swept twice, 100 then 200 steps: the loss never" in lines[0]


def test_a_task_files_search_is_named_by_its_task(tmp_path: Path) -> None:
    """The report, the plot and search.json say the task's name ("flat"), not the file's."""
    (tmp_path / "mytask.py").write_text(FLAT_TASK)
    out = tmp_path / "o"
    done = run(str(tmp_path / "mytask.py"), "--trials", "2", "--out", str(out), "--quiet")
    assert done.returncode == 0, done.stderr
    assert "<title>flat: learning-rate search</title>" in (out / "report.html").read_text()
    data = json.loads((out / "search.json").read_text())
    assert data["task"] == "flat" and data["objective"].startswith("task mytask.py (file sha256")


def test_a_journal_cut_off_by_a_full_disk_resumes(tmp_path: Path) -> None:
    """A write that fails half-way (here a file size limit, as a full disk does) stops the
    search in one line naming the journal; the record it cut off is removed at --resume (it
    would make the journal unreadable once another record followed it), and the search ends
    with every trial."""
    out = tmp_path / "s"
    args = ["search", "--trials", "5", "--epochs", "1", "--out", str(out)]
    full = subprocess.run(
        [*LRKIT, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=ENV,
        preexec_fn=lambda: files_up_to(6000),
    )
    assert full.returncode == 1, full.stderr
    assert full.stderr.strip().splitlines()[-1] == (
        f"lrkit: error: cannot write the study's journal ({out / 'study.journal'}): File too "
        "large. Its finished trials are kept; once that is mended, resume the search "
        "(--resume)."
    )
    assert not (out / "study.journal").read_bytes().endswith(b"\n")  # cut off mid-record
    resumed = run(*args[1:], "--resume", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert "was cut off mid-write (a full disk, a crash); removed it" in resumed.stderr
    data = json.loads(resumed.stdout)
    assert data["counts"]["complete"] == 5 and data["counts"]["failed"] == 0


def test_the_same_finished_search_again_says_no_trial_ran(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["digits", "--trials", "2", "--epochs", "1", "--out", str(tmp_path)]
    first = run(*args)
    assert first.returncode == 0, first.stderr
    assert "note:" not in first.stderr
    note = (  # a warning: --quiet keeps errors and warnings alone (QA 139)
        f"warning: study 'lrkit-search' already finished in {tmp_path / 'study.journal'} with "
        "these settings, so no trial ran: these are its results. To search again, use another "
        "--study or --out.\n"
    )
    # said however the result is printed, and when --resume finds nothing to resume
    again = run(*args)  # a process of its own, as a user runs it
    assert again.returncode == 0, again.stderr
    assert note in again.stderr and "Warning" not in again.stderr
    for extra in (["--json"], ["--quiet"], ["--resume"]):
        status, said, err = in_process(["search", *args, *extra], capsys)
        assert status == 0, err
        assert note in err and "Warning" not in err, extra
        if extra == ["--json"]:
            assert json.loads(said)["counts"]["complete"] == 2  # stdout is the JSON


def test_a_search_in_which_every_trial_failed_says_why_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "breaks.py").write_text(BREAKS_IN_TRAINING_TASK)
    done = run(str(tmp_path / "breaks.py"), "--trials", "2", "--out", str(tmp_path / "o"))
    assert done.returncode == 1, done.stderr
    # on stderr, where the cause of a failing exit goes (QA 123: it was on stdout only)
    assert done.stderr.startswith(
        "lrkit: error: No trial completed (2 failed). The first error (trial 0): RuntimeError: the "
        "model broke in training\n"
    )
    assert "trial" in done.stdout  # the table
    assert "Warning" not in done.stderr  # the library's SearchWarning is said in the CLI's words
    quiet = run(
        str(tmp_path / "breaks.py"), "--trials", "2", "--out", str(tmp_path / "q"), "--quiet"
    )
    assert quiet.returncode == 1 and quiet.stdout == ""
    assert quiet.stderr.startswith("lrkit: error: No trial completed (2 failed). The first error")


CHATTY_TASK = """
import torch
from torch.utils.data import TensorDataset
from lrkit.tasks import Task

print("loading data...")  # on stdout, as task files do
g = torch.Generator().manual_seed(0)
x = torch.randn(64, 4, generator=g)
y = (x[:, 0] > 0).long()
task = Task(name="chatty", model=lambda: torch.nn.Linear(4, 2), epochs=1, batch_size=16,
            train_data=TensorDataset(x[:48], y[:48]), val_data=TensorDataset(x[48:], y[48:]))
"""


def test_json_stays_pure_when_the_task_file_and_its_worker_processes_print(
    tmp_path: Path,
) -> None:
    (tmp_path / "chatty.py").write_text(CHATTY_TASK)
    args = ["--trials", "2", "--workers", "2", "--out", str(tmp_path / "o"), "--json"]
    done = run(str(tmp_path / "chatty.py"), *args)
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["trials"]) == 2  # nothing but the document
    # said all the same, on stderr: the search's process and each worker's
    assert done.stderr.count("loading data...") == 3, done.stderr


def test_a_search_that_could_not_go_on_is_one_line_and_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # what a lost database or a gone coordinator raises (tests/search/test_postgres.py); the
    # CLI says it in its own words, a failure of the run (1), not of its usage (2)
    import lrkit.search
    from lrkit.errors import RunError

    def gone(*args: object, **kwargs: object) -> None:
        raise RunError("the study is not done; resume it ('resume=True', `--resume`).")

    monkeypatch.setattr(lrkit.search, "search", gone)
    status, out, err = in_process(["search", "--out", str(tmp_path / "o")], capsys)
    assert (status, out) == (1, "")
    # the library names both spellings of the option, the command its own alone
    assert err == "lrkit: error: the study is not done; resume it (--resume).\n"


def test_a_study_with_another_range_is_refused_and_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    first = run("digits", "--trials", "2", "--epochs", "1", "--out", str(out))
    assert first.returncode == 0, first.stderr
    journal = (out / "study.journal").read_bytes()
    args = ["search", "digits", "--trials", "2", "--epochs", "1", "--low", "1e-3"]
    status, _, err = in_process([*args, "--out", str(out)], capsys)
    assert status == 2
    assert "already exists with different settings: --low=1e-05 (this search: 0.001)" in err
    # what to do, in the command's words: a new search is another --study or --out
    assert err.rstrip().endswith("another --study, or another folder for its journal (--out=DIR).")
    assert (out / "study.journal").read_bytes() == journal  # nothing stored was touched


SMALL_TASK = """
import torch
from torch.utils.data import TensorDataset
from lrkit.tasks import Task
g = torch.Generator().manual_seed(0)
x = torch.randn(160, 4, generator=g)
y = (x[:, 0] > x[:, 1]).long()
task = Task(name='small', model=lambda: torch.nn.Linear(4, 2), train_data=TensorDataset(x[:120],
            y[:120]), val_data=TensorDataset(x[120:], y[120:]), batch_size=40, epochs=1)
"""


def test_another_study_in_the_same_folder_says_whose_files_it_replaces(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task, out = tmp_path / "small.py", tmp_path / "run"
    task.write_text(SMALL_TASK)
    done = run(str(task), "--trials", "2", "--study", "a", "--out", str(out))
    assert done.returncode == 0, done.stderr
    args = ["search", str(task), "--trials", "2", "--out", str(out), "--study"]
    status, _, err = in_process([*args, "b"], capsys)
    assert status == 0, err
    assert f"note: {out / 'search.json'} held study 'a'; it now holds 'b'" in err
    assert json.loads((out / "search.json").read_text())["study_name"] == "b"
    status, _, err = in_process([*args, "a", "--resume"], capsys)
    assert status == 0, err  # as the note says
    assert json.loads((out / "search.json").read_text())["study_name"] == "a"
    status, _, err = in_process([*args, "a", "--resume"], capsys)
    assert status == 0 and "held study" not in err  # the same study: nothing replaced


def test_a_broken_task_fails_before_any_trial(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task = tmp_path / "broken.py"
    task.write_text(SMALL_TASK.replace("lambda: torch.nn.Linear(4, 2)", "lambda: 1 / 0"))
    args = ["search", str(task), "--trials", "2", "--out", str(tmp_path / "run")]
    status, _, err = in_process(args, capsys)
    assert status == 2, err
    assert err.strip() == (
        "lrkit: error: Task 'small': model() raised ZeroDivisionError: division by zero "
        "(at broken.py:8)"
    )
    assert not (tmp_path / "run" / "study.journal").exists()  # no trial was run


def test_an_edited_task_file_is_another_search(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task, out = tmp_path / "small.py", tmp_path / "run"
    task.write_text(SMALL_TASK)
    first = run(str(task), "--trials", "2", "--out", str(out))
    assert first.returncode == 0, first.stderr
    args = ["search", str(task), "--trials", "2", "--out", str(out), "--resume"]
    status, _, err = in_process(args, capsys)
    assert status == 0, err  # the same file: the finished study is resumed
    task.write_text(SMALL_TASK.replace("manual_seed(0)", "manual_seed(1)"))  # other data
    status, _, err = in_process(args, capsys)
    assert status == 2, err
    line = err.strip()
    assert line.startswith("lrkit: error: study 'lrkit-search'") and "\n" not in line
    assert "already exists with different settings: the task file changed since the" in line
    assert line.count("file sha256") == 2  # the stored file's digest and the edited one's


def test_a_study_is_resumed_however_its_task_and_schedule_are_spelled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "copy").mkdir()
    task, out = tmp_path / "small.py", tmp_path / "run"
    task.write_text(SMALL_TASK)
    (tmp_path / "copy" / "small.py").write_text(SMALL_TASK)  # another machine's copy, say
    first = run(str(task), "--trials", "2", "--schedule", "cosine:3", "--out", str(out))
    assert first.returncode == 0, first.stderr
    trials = json.loads((out / "search.json").read_text())["trials"]
    for spelled, schedule in (
        ("./small.py", "cos:3"),
        ("copy/small.py", "cosine:steps=3"),
        ("copy/../small.py", " cosine:3"),
    ):
        args = ["search", spelled, "--trials", "2", "--schedule", schedule, "--resume"]
        monkeypatch.chdir(tmp_path)
        status, _, err = in_process([*args, "--out", str(out)], capsys)
        assert status == 0, (spelled, schedule, err)
        # resumed, not refused nor redone
        assert json.loads((out / "search.json").read_text())["trials"] == trials
    args = ["search", str(task), "--trials", "2", "--schedule", "cosine:4", "--resume"]
    status, _, err = in_process([*args, "--out", str(out)], capsys)
    assert status == 2 and "schedule cosine:steps=4" in err


PACED_TASK = """
import pathlib, time
import torch
from torch.utils.data import TensorDataset
from lrkit.tasks import Task

PACE = pathlib.Path(__file__).with_name("pace")


class Paced(torch.nn.Linear):  # each forward pass waits as long as the file "pace" says
    def forward(self, x):
        time.sleep(float(PACE.read_text()))
        return super().forward(x)


g = torch.Generator().manual_seed(0)
x = torch.randn(200, 4, generator=g)
y = (x[:, 0] > x[:, 1]).long()
task = Task(name="paced", model=lambda: Paced(4, 2), train_data=TensorDataset(x[:160], y[:160]),
            val_data=TensorDataset(x[160:], y[160:]), batch_size=40, epochs=4)
"""


@pytest.mark.parametrize(
    ("workers", "stop"),
    [
        ("1", "ctrl-c"),
        ("2", "ctrl-c"),
        ("1", "kill"),
        ("2", "kill"),
        ("2", "hangup"),  # a terminal closed, an ssh session dropped: the group gets SIGHUP
    ],
)
def test_interrupted_then_resumed(
    tmp_path: Path, workers: str, stop: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # trials of 20 forward passes that wait rather than compute (the other test process keeps
    # the CPU): 0.05 s each until two trials are done, then 3 s, so that the trials in flight
    # would take a minute more to end on their own
    task, out, pace = tmp_path / "paced.py", tmp_path / "run", tmp_path / "pace"
    task.write_text(PACED_TASK)
    pace.write_text("0.05")
    args = [str(task), "--trials", "5", "--workers", workers, "--out", str(out)]
    process = start(*args)
    journal = out / "study.journal"
    deadline = time.monotonic() + 120
    while _trials(journal) < 2:
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.1)
    pace.write_text("3")
    while _trials(journal, "RUNNING") < 1:  # a trial in flight, in a slow forward pass
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.1)
    time.sleep(0.5)
    if stop in ("ctrl-c", "hangup"):
        # as a terminal's: to the whole process group, worker processes (some perhaps still
        # importing torch) included
        os.killpg(process.pid, signal.SIGINT if stop == "ctrl-c" else signal.SIGHUP)
    else:  # a plain kill (SIGTERM) of lrkit alone: its workers are stopped by it
        process.send_signal(signal.SIGTERM)
    stopped = time.monotonic()
    _, err = process.communicate(timeout=60)
    assert time.monotonic() - stopped < 15  # not the in-flight trials' minute left
    if stop == "ctrl-c":
        # 130 from lrkit's handler; rarely (seen once in ~100 runs) the process ends by the
        # signal itself instead, which a shell reports as 130 too
        assert process.returncode in (130, -signal.SIGINT)
        assert "interrupted; finished trials are kept" in err and "--resume" in err
    else:  # SIGHUP ended it as SIGTERM does, leaving no lock behind (QA 152)
        assert process.returncode == (143 if stop == "kill" else 129)
        assert "lrkit: terminated; finished trials are kept" in err and "--resume" in err
        assert not (out / ".lrkit-lock").exists()
    assert "Traceback" not in err
    _assert_group_ended(process.pid)  # no worker left training
    pace.write_text("0")
    status, _, said = in_process(["search", *args], capsys)
    assert status == 2 and "--resume" in said
    resumed = run(*args, "--resume", "--json")
    assert resumed.returncode == 0, resumed.stderr
    counts = json.loads(resumed.stdout)["counts"]
    assert counts["complete"] == 5
    assert counts["failed"] == 0
    assert 1 <= counts["interrupted"] <= 2  # the trials in flight, queued again and finished


def _assert_group_ended(group: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    raise AssertionError(f"processes of lrkit search's group {group} still run")


SLOW_START_TASK = """
import pathlib, time
import torch
from torch.utils.data import TensorDataset
from lrkit.tasks import Task


class Slow(torch.nn.Linear):  # marks its first step, then takes its time: a range test of ~5 s
    def forward(self, x):
        pathlib.Path(__file__).with_suffix('.started').touch()
        time.sleep(0.05)
        return super().forward(x)


g = torch.Generator().manual_seed(0)
x = torch.randn(160, 4, generator=g)
y = (x[:, 0] > x[:, 1]).long()
task = Task(name='slow', model=lambda: Slow(4, 2), train_data=TensorDataset(x[:120], y[:120]),
            val_data=TensorDataset(x[120:], y[120:]), batch_size=40, epochs=1)
"""


def test_a_hangup_in_the_range_test_exits_129(tmp_path: Path) -> None:
    # it was made a TerminatedBeforeStudy, which exits 143 (review 153)
    task, out = tmp_path / "slow.py", tmp_path / "run"
    task.write_text(SLOW_START_TASK)
    process = start(str(task), "--low", "auto", "--trials", "1", "--out", str(out))
    deadline = time.monotonic() + 120
    while not task.with_suffix(".started").exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)
    process.send_signal(signal.SIGHUP)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 129
    assert err == "lrkit: terminated before any trial ran; run the same command again.\n"


def test_ctrl_c_in_the_range_test_says_there_is_nothing_to_resume(tmp_path: Path) -> None:
    task, out = tmp_path / "slow.py", tmp_path / "run"
    task.write_text(SLOW_START_TASK)
    args = [str(task), "--low", "auto", "--trials", "1", "--out", str(out)]
    process = start(*args)
    deadline = time.monotonic() + 120
    while not task.with_suffix(".started").exists():  # the range test (or the task's check)
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode in (130, -signal.SIGINT)
    assert err == "lrkit: interrupted before any trial ran; run the same command again.\n"
    again = run(*args)  # as it says: not refused as a study to resume
    assert again.returncode == 0, again.stderr
    searched = json.loads((out / "search.json").read_text())
    low, high = f"{searched['low']:.4g}", f"{searched['high']:.4g}"
    line = f"Searched {low} to {high}: its low end half a decade under the range test's."
    assert line in again.stdout.splitlines()  # --high: its default, said as it is
    assert searched["settings"]["auto_ends"] == "low" and searched["settings"]["seed"] == 0


def _trials(journal: Path, state: str = "COMPLETE") -> int:
    """How many of the search's trials ``journal`` holds in ``state``."""
    if not journal.exists():
        return 0
    import optuna
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(journal)))
    try:
        study = optuna.load_study(study_name="lrkit-search", storage=storage)
    except KeyError:
        return 0
    return len(study.get_trials(states=(optuna.trial.TrialState[state],)))
