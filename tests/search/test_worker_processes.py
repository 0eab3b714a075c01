"""Where a search's worker processes come from: a fork server that imported the heavy modules
once (torch, Optuna, lrkit), started for the search and gone after it; spawning where a fork
server of the caller's already runs. On CUDA, forked workers train on one GPU each (skipped
without a GPU)."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing import forkserver
from pathlib import Path
from typing import Any

import pytest
import torch
import torch._dynamo

from lrkit.search import FinishedStudyWarning, SearchResult, search
from lrkit.search.worker_processes import worker_processes
from lrkit.search.workers import _gpu_ids
from tests.search import objectives


def run(
    tmp_path: Path,
    name: str,
    n: int = 4,
    objective: Callable[..., float] = objectives.where_it_ran,
    high: float = 1.0,
) -> SearchResult:
    """A search of ``n`` trials with 2 workers, in its own journal file."""
    return search(
        objective,
        1e-4,
        high,
        n,
        n_workers=2,
        storage=str(tmp_path / f"{name}.journal"),
        progress=False,
    )


def children() -> set[int]:
    """This process's child processes, from /proc (a thread may end while they are read: its
    children, if any, pass to a thread still there)."""
    pids: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            pids.update(int(p) for p in (task / "children").read_text().split())
    return pids


def test_workers_come_with_torch_imported_and_leave_nothing_running(tmp_path: Path) -> None:
    run(tmp_path, "first", 2)  # starts what stays for the session (the resource tracker)
    before = children()
    result = run(tmp_path, "second")
    assert result.count("complete") == 4
    assert all(t.attrs["dynamo_there"] for t in result.trials)  # preloaded, not imported again
    servers = {t.attrs["ppid"] for t in result.trials}
    assert len(servers) == 1 and os.getpid() not in servers  # forked by one server...
    assert children() == before  # ...which ended with the search


def test_workers_see_the_environment_and_stderr_of_their_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    for mark in ("first", "second"):  # a server keeps the environment it started with
        monkeypatch.setenv("LRKIT_TEST_MARK", mark)
        result = run(tmp_path, mark)
        assert [t.attrs["mark"] for t in result.trials] == [mark] * 4
        err = capfd.readouterr().err  # the stderr of this test, where a spawned worker writes
        assert all(f"trial {t.number} says hello" in err for t in result.trials)


@pytest.fixture
def callers_fork_server() -> Iterator[int]:
    """A fork server of the caller's own, running (Python starts one on first use)."""
    process = multiprocessing.get_context("forkserver").Process(target=os.getpid)
    process.start()
    process.join()
    yield forkserver._forkserver._forkserver_pid  # type: ignore[attr-defined]
    forkserver._forkserver._stop()  # type: ignore[attr-defined]


def test_beside_the_callers_own_fork_server_workers_are_spawned(
    tmp_path: Path, callers_fork_server: int
) -> None:
    result = run(tmp_path, "beside")
    assert result.count("complete") == 4
    assert {t.attrs["ppid"] for t in result.trials} == {os.getpid()}  # spawned by this process
    assert not any(t.attrs["dynamo_there"] for t in result.trials)  # each imports afresh
    assert forkserver._forkserver._forkserver_pid == callers_fork_server  # type: ignore[attr-defined]


def test_workers_of_a_fork_server_that_died_are_stopped_and_their_trials_rerun(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setenv("LRKIT_TEST_MARKS", str(marks))
    killed: list[int] = []

    def kill_the_server() -> None:  # once two trials run: as the OOM killer would
        deadline = time.monotonic() + 60
        while len(list(marks.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        pid = forkserver._forkserver._forkserver_pid  # type: ignore[attr-defined]
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    killer = threading.Thread(target=kill_the_server)
    killer.start()
    result = run(tmp_path, "died", 4, objectives.slow_and_marked)
    killer.join()
    assert killed  # the server was there to kill
    assert result.count("complete") == 4 and result.count("failed") == 0
    assert result.count("interrupted") == 2  # the two in flight, stopped and run again
    assert not any(Path(f"/proc/{t.attrs['pid']}").exists() for t in result.trials)


SHADOWED = """
import sys
from lrkit.search import search
from objectives_here import quadratic_bowl

if __name__ == "__main__":
    result = search(quadratic_bowl, 1e-4, 1.0, 4, n_workers=2, storage=sys.argv[1],
                    progress=False)
    print(result.count("complete"), result.count("failed"))
"""


def test_a_module_in_the_working_directory_does_not_shadow_the_workers_imports(
    tmp_path: Path,
) -> None:
    # a spawned worker searches the script's folder, not the working directory: so does the
    # fork server's preloading
    scripts, cwd = tmp_path / "scripts", tmp_path / "cwd"
    scripts.mkdir()
    cwd.mkdir()
    (scripts / "drive.py").write_text(SHADOWED)
    (scripts / "objectives_here.py").write_text(
        "import math, torch\n\ndef quadratic_bowl(lr):\n    return (math.log10(lr) + 2) ** 2\n"
    )
    (cwd / "optuna.py").write_text("raise RuntimeError('the working directory was searched')\n")
    done = subprocess.run(
        [sys.executable, str(scripts / "drive.py"), str(tmp_path / "s.journal")],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["4", "0"]
    assert "working directory was searched" not in done.stderr


def _in_a_forked_worker(look: Callable[[Any], None]) -> Any:
    """What ``look(queue)`` puts on the queue in a worker of a search's fork server."""
    with worker_processes() as source:
        assert source.forked
        context = source.context()
        found = context.SimpleQueue()
        process = context.Process(target=look, args=(found,))
        process.start()
        process.join(timeout=60)
        return found.get()


def _cli_imported(found: Any) -> None:
    found.put("lrkit.cli.main" in sys.modules)


def test_under_the_cli_workers_start_with_its_module_imported() -> None:
    # the lrkit script's one import, which each worker would make again when it reruns the
    # script (pytest's own script, here, imports nothing of lrkit)
    import lrkit.cli.main  # noqa: F401

    assert _in_a_forked_worker(_cli_imported) is True


def _imported_where(found: Any) -> None:
    module = sys.modules.get("tests.search.preloaded")
    found.put(None if module is None else os.getpid() != module.IMPORTED_BY)


def test_the_callers_own_preload_modules_are_imported_once_by_the_server() -> None:
    # what a script names with multiprocessing.set_forkserver_preload (a heavy library it
    # imports) is imported by the search's fork server, not again by every worker
    import tests.search.preloaded  # noqa: F401  (as the script imports it)

    forkserver.set_forkserver_preload(["__main__", "tests.search.preloaded"])
    try:
        # there before the worker ran, imported by another process
        assert _in_a_forked_worker(_imported_where) is True
        # the caller's list put back, for a fork server of its own
        assert forkserver._forkserver._preload_modules == ["__main__", "tests.search.preloaded"]
    finally:
        forkserver.set_forkserver_preload(["__main__"])
    assert forkserver._forkserver._preload_modules == ["__main__"]  # the caller's, put back


def test_a_search_with_nothing_to_run_starts_no_worker_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lrkit.search.workers as workers

    started: list[int] = []
    real = workers.worker_processes

    @contextlib.contextmanager
    def counted() -> Iterator[object]:
        started.append(1)
        with real() as source:
            yield source

    monkeypatch.setattr(workers, "worker_processes", counted)
    first = run(tmp_path, "done", 4)
    assert first.count("complete") == 4 and started == [1]  # one for the whole search
    with pytest.warns(FinishedStudyWarning):
        again = run(tmp_path, "done", 4)  # the same search, finished: no trial to run
    assert again.count("complete") == 4 and started == [1]  # and no fork server for it


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_forked_workers_train_on_their_own_gpu(tmp_path: Path) -> None:
    torch.zeros(1, device="cuda")  # CUDA initialised here: a fork of this process could not
    result = run(tmp_path, "cuda", 4, objectives.on_cuda, high=0.1)
    assert result.count("complete") == 4, [t.error for t in result.trials]
    gpus = set(_gpu_ids())
    assert all(t.attrs["visible"] in gpus and t.attrs["devices"] == 1 for t in result.trials)
