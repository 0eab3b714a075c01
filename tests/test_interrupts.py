"""Ctrl-C held while Python imports a module, raised at the next progress update: real signals."""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lrkit import interrupts
from lrkit.progress import ProgressBar

# A module that is sent Ctrl-C while it initialises, and reports it as an extension module
# does: "initialization failed". Old lrkit let the KeyboardInterrupt land here.
OPTIONAL_DEPENDENCY = """
import os, signal, time
try:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.5)
except KeyboardInterrupt:
    raise ImportError("initialization failed")
LOADED = True
"""


@pytest.fixture
def importable(tmp_path: Path) -> Iterator[Path]:
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in [n for n in sys.modules if n.startswith("lrkit_test_dep")]:
        del sys.modules[name]


def test_an_interrupt_inside_an_import_waits_for_the_next_progress_update(
    importable: Path,
) -> None:
    (importable / "lrkit_test_dep_a.py").write_text(OPTIONAL_DEPENDENCY)
    with interrupts.held_during_imports():
        module = importlib.import_module("lrkit_test_dep_a")  # not cut short
        assert module.LOADED
        with pytest.raises(KeyboardInterrupt), ProgressBar(3, enabled=False) as bar:
            bar.advance()
        bar.advance()  # raised once, not again
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_outside_an_import_ctrl_c_raises_at_once() -> None:
    with interrupts.held_during_imports(), pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # interrupted, not slept
    interrupts.raise_held()  # nothing held


def test_a_second_ctrl_c_while_one_is_held_raises_at_once(importable: Path) -> None:
    (importable / "lrkit_test_dep_b.py").write_text(
        "import os, signal, time\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"
        "time.sleep(0.2)\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"
        "time.sleep(60)\n"
    )
    started = time.monotonic()
    with interrupts.held_during_imports(), pytest.raises(KeyboardInterrupt):
        importlib.import_module("lrkit_test_dep_b")
    assert time.monotonic() - started < 30  # not held to the import's end (a minute)
    interrupts.raise_held()  # the held one went with the second


def test_an_ignored_or_foreign_sigint_is_left_alone() -> None:
    def foreign(signum: int, frame: object) -> None:
        pass

    for disposition in (signal.SIG_IGN, foreign):
        previous = signal.signal(signal.SIGINT, disposition)
        try:
            with interrupts.held_during_imports():
                assert signal.getsignal(signal.SIGINT) is disposition
            assert signal.getsignal(signal.SIGINT) is disposition
        finally:
            signal.signal(signal.SIGINT, previous)


def test_an_error_raised_while_handling_an_interrupt_counts_as_one() -> None:
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise RuntimeError("Error calling __set_name__") from None
    except RuntimeError as error:
        assert isinstance(interrupts.interrupt_behind(error), KeyboardInterrupt)
    assert interrupts.interrupt_behind(ValueError("plain")) is None


def test_ctrl_c_while_files_are_written_waits_for_all_of_them(tmp_path: Path) -> None:
    written = []
    with interrupts.held_during_imports():
        with pytest.raises(KeyboardInterrupt), interrupts.deferred():
            for name in "abc":
                if name == "b":
                    os.kill(os.getpid(), signal.SIGINT)
                    time.sleep(0.2)  # not cut short
                (tmp_path / name).write_text(name)
                written.append(name)
        interrupts.raise_held()  # raised once
    assert written == ["a", "b", "c"]


def test_the_cli_ends_with_130_on_a_ctrl_c_held_after_the_last_progress_update(
    importable: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lrkit.cli import schedule as schedule_cli
    from lrkit.cli.main import main

    (importable / "lrkit_test_dep_c.py").write_text(OPTIONAL_DEPENDENCY)

    def imports_then_succeeds(args: object) -> int:
        importlib.import_module("lrkit_test_dep_c")  # Ctrl-C lands in here, and is held
        return 0

    monkeypatch.setattr(schedule_cli, "run_list", imports_then_succeeds)
    assert main(["schedule", "list"]) == 130  # not 0, as if Ctrl-C had not been pressed


def test_find_interrupted_while_its_files_are_drawn_writes_none(
    importable: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from lrkit.cli.main import main
    from lrkit.finder import RangeTestResult

    (importable / "lrkit_test_dep_d.py").write_text(OPTIONAL_DEPENDENCY)
    plot = RangeTestResult.plot

    def plot_after_an_import(self: RangeTestResult, **kwargs: object) -> object:
        importlib.import_module("lrkit_test_dep_d")  # as matplotlib's first import can be hit
        return plot(self, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(RangeTestResult, "plot", plot_after_an_import)
    out = tmp_path / "out"
    assert main(["find", "--num-iter", "20", "--quiet", "--out", str(out)]) == 130
    assert not out.exists()


def test_the_search_display_raises_a_held_ctrl_c(importable: Path, tmp_path: Path) -> None:
    # a search with workers trains nothing in this process: its display is where Ctrl-C lands
    import optuna

    from lrkit.search.display import SearchDisplay

    (importable / "lrkit_test_dep_e.py").write_text(OPTIONAL_DEPENDENCY)
    study = optuna.create_study()
    with interrupts.held_during_imports():
        importlib.import_module("lrkit_test_dep_e")
        with pytest.raises(KeyboardInterrupt), SearchDisplay(study, 4, enabled=False) as display:
            display.update()


def test_a_ctrl_c_while_the_plot_is_saved_leaves_it_whole(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from matplotlib.figure import Figure

    from lrkit.cli.main import main

    savefig = Figure.savefig

    def interrupted_while_saving(self: Figure, *args: object, **kwargs: object) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C as the file is being written
        time.sleep(0.2)
        savefig(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", interrupted_while_saving)
    output = tmp_path / "x.png"
    assert main(["schedule", "plot", "cosine:100", "-o", str(output)]) == 130
    assert output.read_bytes()[-8:] == b"IEND\xaeB`\x82"  # a whole PNG, its last chunk written


# --- SIGTERM (a kill, a scheduler ending the job): the same orderly stop, as Terminated ---------


def test_sigterm_raises_terminated_at_once_and_the_default_comes_back() -> None:
    with interrupts.held_during_imports():
        with pytest.raises(interrupts.Terminated):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # interrupted, not slept
        assert interrupts.exit_status(interrupts.Terminated()) == 143
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_sighup_raises_hung_up_unless_nohup_ignores_it() -> None:
    with interrupts.held_during_imports(), pytest.raises(interrupts.HungUp):
        os.kill(os.getpid(), signal.SIGHUP)
        time.sleep(5)  # interrupted, not slept
    assert signal.getsignal(signal.SIGHUP) is signal.SIG_DFL
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup
    try:
        with interrupts.held_during_imports():
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.1)  # ignored: nothing raised
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_sigterm_inside_an_import_is_held_and_raised_as_terminated(importable: Path) -> None:
    (importable / "lrkit_test_dep_f.py").write_text(
        OPTIONAL_DEPENDENCY.replace("SIGINT", "SIGTERM")
    )
    with interrupts.held_during_imports():
        assert importlib.import_module("lrkit_test_dep_f").LOADED  # not cut short
        with pytest.raises(interrupts.Terminated):
            interrupts.raise_held()


def test_a_held_ctrl_c_then_sigterm_is_terminated(importable: Path) -> None:
    (importable / "lrkit_test_dep_g.py").write_text(
        "import os, signal, time\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"
        "time.sleep(0.2)\n"
        "os.kill(os.getpid(), signal.SIGTERM)\n"
        "time.sleep(5)\n"
    )
    with interrupts.held_during_imports(), pytest.raises(interrupts.Terminated):
        importlib.import_module("lrkit_test_dep_g")


def test_a_sigterm_handled_by_someone_else_is_left_alone() -> None:
    calls: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: calls.append(signum))
    try:
        with interrupts.held_during_imports():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.1)
        assert calls == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_the_journal_holds_sigterm_while_it_writes(importable: Path) -> None:
    with interrupts.held_during_imports():
        done = []
        with pytest.raises(interrupts.Terminated), interrupts.no_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)  # not cut short
            done.append(True)
        assert done == [True]


def test_the_cli_says_terminated_and_exits_143(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lrkit.cli import train as train_cli
    from lrkit.cli.main import main

    def killed(args: object) -> int:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
        return 0

    monkeypatch.setattr(train_cli, "run", killed)
    assert main(["train"]) == 143
    assert capsys.readouterr().err == "lrkit: terminated.\n"


def test_a_search_interrupted_while_its_files_are_drawn_says_how_to_get_them(
    importable: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from lrkit.cli.main import main
    from lrkit.search import SearchResult
    from tests.task_files import FLAT_TASK

    (importable / "lrkit_test_dep_h.py").write_text(OPTIONAL_DEPENDENCY)
    task, out = tmp_path / "flat.py", tmp_path / "out"
    task.write_text(FLAT_TASK)
    command = ["search", str(task), "--trials", "2", "--quiet", "--out", str(out)]
    plot = SearchResult.plot

    def plot_after_an_import(self: SearchResult, **kwargs: object) -> object:
        importlib.import_module("lrkit_test_dep_h")  # Ctrl-C held here, raised before writing
        return plot(self, **kwargs)  # type: ignore[arg-type]

    with monkeypatch.context() as patched:
        patched.setattr(SearchResult, "plot", plot_after_an_import)
        assert main(command) == 130
    assert capsys.readouterr().err.endswith(
        "lrkit: interrupted; the search finished and is kept; run the same command again to "
        "write its files.\n"
    )
    assert not (out / "search.json").exists()
    assert main(command) == 0  # as it says: the finished study's files, no trial run again
    assert len(json.loads((out / "search.json").read_text())["trials"]) == 2


def test_a_signal_while_the_parser_is_built_is_the_cli_s_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lrkit.cli import main as cli_main

    build = cli_main.build_parser

    def killed_while_building() -> object:
        os.kill(os.getpid(), signal.SIGTERM)  # outside any import: raised at once
        time.sleep(5)
        return build()

    monkeypatch.setattr(cli_main, "build_parser", killed_while_building)
    assert cli_main.main(["schedule", "list"]) == 143  # not a traceback
    assert capsys.readouterr().err == "lrkit: terminated.\n"


def test_tune_interrupted_while_a_stage_is_written_writes_all_its_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from matplotlib.figure import Figure

    from lrkit.cli.main import main

    savefig = Figure.savefig

    def killed_while_saving(self: Figure, *args: object, **kwargs: object) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # as the range test's PNG is being written
        time.sleep(0.2)
        savefig(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", killed_while_saving)
    out = tmp_path / "tune"
    assert main(["tune", "--budget", "66", "--quiet", "--out", str(out)]) == 143
    assert "lrkit: terminated; finished stages are kept" in capsys.readouterr().err
    assert (out / "range_test.png").read_bytes()[-8:] == b"IEND\xaeB`\x82"  # whole
    assert json.loads((out / "range_test.json").read_text())["suggestion"] > 0
    assert not (out / "search.json").exists()  # the next stage never began


def test_a_held_interrupt_stops_tune_in_its_range_test_and_a_search_before_its_study(
    importable: Path, tmp_path: Path
) -> None:
    from lrkit.search import search
    from lrkit.search.engine import InterruptedBeforeStudy
    from lrkit.tune import tune

    (importable / "lrkit_test_dep_i.py").write_text(OPTIONAL_DEPENDENCY)
    (importable / "lrkit_test_dep_j.py").write_text(OPTIONAL_DEPENDENCY)
    with interrupts.held_during_imports():
        importlib.import_module("lrkit_test_dep_i")  # held: the range test has no bar in tune
        with pytest.raises(KeyboardInterrupt):
            tune("digits", budget=66, out=tmp_path / "tune", say=None, progress=False)
        importlib.import_module("lrkit_test_dep_j")
        with pytest.raises(InterruptedBeforeStudy):  # not "resume it": nothing was stored
            search(lambda lr: lr, 1e-3, 1.0, 2, out=tmp_path / "search", progress=False)
    assert not (tmp_path / "tune" / "range_test.json").exists()  # stopped in the range test


def test_ctrl_c_in_a_task_file_s_own_code_stops_it_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # lrkit runs a task file through importlib: its code (minutes of data loading) counted as
    # an import, so Ctrl-C waited for the whole file, then was lost to its "defines no task"
    from lrkit.cli.main import main

    slow = tmp_path / "slow_task.py"
    slow.write_text(
        "import os, signal, time\nos.kill(os.getpid(), signal.SIGINT)\ntime.sleep(60)\n"
    )
    started = time.monotonic()
    assert main(["train", str(slow)]) == 130
    assert time.monotonic() - started < 30  # not slept to the end (a minute)
    assert capsys.readouterr().err.strip() == "lrkit: interrupted."


def test_ctrl_c_held_in_a_task_file_s_import_is_not_lost_to_its_error(
    importable: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lrkit.cli.main import main

    (importable / "lrkit_test_dep_t.py").write_text(OPTIONAL_DEPENDENCY)
    broken = importable / "broken_task.py"  # Ctrl-C lands in its import, then it has no task
    broken.write_text("import lrkit_test_dep_t\n")
    assert main(["train", str(broken)]) == 130  # not 2, for the missing task
    assert "defines no" not in capsys.readouterr().err


def test_ctrl_c_held_in_a_task_file_s_import_stops_the_file_when_the_import_ends(
    importable: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the import ends whole, as it must; then the file's own code (here a minute of "loading")
    # ran to its end before the held Ctrl-C was raised
    from lrkit.cli.main import main

    (importable / "lrkit_test_dep_l.py").write_text(OPTIONAL_DEPENDENCY)
    slow = importable / "loads_after_import.py"
    slow.write_text("import time\nimport lrkit_test_dep_l\ntime.sleep(60)\n")
    started = time.monotonic()
    assert main(["train", str(slow)]) == 130
    assert time.monotonic() - started < 30
    assert sys.gettrace() is None  # the trace that raised it is gone


def test_a_task_file_that_ends_with_the_interrupted_import_leaves_no_trace(
    importable: Path,
) -> None:
    from lrkit.tasks import load_task_file

    (importable / "lrkit_test_dep_e.py").write_text(OPTIONAL_DEPENDENCY)
    last = importable / "ends_with_import.py"
    last.write_text(
        "from lrkit.tasks import load_task\ntask = load_task('friedman')\nimport lrkit_test_dep_e\n"
    )
    with interrupts.held_during_imports():
        assert load_task_file(str(last)).name == "friedman"
        assert sys.gettrace() is None  # every later call would have paid for one
        with pytest.raises(KeyboardInterrupt):
            interrupts.raise_held()  # still held, for the next progress update


def test_ctrl_c_in_a_searchs_first_import_of_torch_leaves_torch_whole() -> None:
    """A notebook interrupted a search in its first second, inside torch's first import: every
    later `import torch` in the kernel failed (a module half imported) until a restart."""
    code = """
import os, signal, sys, importlib.abc
class Interrupt(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "torch.nn":  # deep inside `import torch`, as a Ctrl-C lands there
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None
import lrkit
sys.meta_path.insert(0, Interrupt())
try:
    lrkit.search(lambda lr: lr, 1e-3, 1.0, n_trials=2, storage=":memory:", progress=False)
except KeyboardInterrupt as stop:
    print("interrupted:", stop)
import torch
print(float(torch.ones(2).sum()))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "interrupted: before the search stored its study: nothing to resume",
        "2.0",
    ]
