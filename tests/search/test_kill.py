"""A real ``kill -9`` in the middle of a search, then ``resume``: nothing finished is redone,
nothing is left RUNNING, the trial count is exact."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from lrkit.search import search
from tests.search.objectives import DiesBetweenWrites, Logged, quadratic

ROOT = Path(__file__).resolve().parents[2]


def _wait_for(predicate, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _lines(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def _study(journal: Path, name: str = "lrkit-search") -> optuna.Study:
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))
    )
    return optuna.load_study(study_name=name, storage=storage)


def test_kill_9_then_resume(tmp_path: Path) -> None:
    log, journal = tmp_path / "ran.log", tmp_path / "study.journal"
    script = (
        "from lrkit.search import search\n"
        "from tests.search.objectives import DiesBetweenWrites, Logged\n"
        f"search(Logged({str(log)!r}), 1e-5, 1.0, 8, storage={str(journal)!r}, progress=False)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)
    try:
        # a trial logs before the search records it complete: the 4th line means the 3rd is stored
        _wait_for(lambda: len(_lines(log)) >= 4)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    before = {t.number: t for t in _study(journal).trials}
    done_before = {n for n, t in before.items() if t.state == optuna.trial.TrialState.COMPLETE}
    assert len(done_before) >= 3
    assert any(t.state == optuna.trial.TrialState.WAITING for t in before.values())

    result = search(
        Logged(log, 0.0), 1e-5, 1.0, 8, storage=str(journal), progress=False, resume=True
    )
    after = _study(journal).trials
    assert not [t for t in after if t.state.name in ("RUNNING", "WAITING")]
    complete = [t for t in result.trials if t.state == "complete"]
    assert len(complete) == 8
    assert len({(t.round, t.seed) for t in complete}) == 8  # every slot once
    for number in done_before:  # finished before the kill: kept as they were, not redone
        assert after[number].datetime_complete == before[number].datetime_complete
        assert _lines(log).count(number) == 1
    assert result.count("failed") == 0
    lost = [t for t in result.trials if t.state == "interrupted"]
    assert all(t.error and t.error.startswith("interrupted") for t in lost)
    assert len(lost) <= 1  # at most the trial in flight was lost


def test_a_kill_between_failing_and_requeuing_a_trial_is_repaired_on_resume(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "study.journal"
    script = (
        "from lrkit.search import search\n"
        "from tests.search.objectives import DiesBetweenWrites\n"
        f"search(DiesBetweenWrites(2), 1e-5, 1.0, 6, storage={str(journal)!r}, progress=False)\n"
    )
    died = subprocess.run([sys.executable, "-c", script], cwd=ROOT)
    assert died.returncode == 9
    before = _study(journal).trials
    assert before[2].state == optuna.trial.TrialState.FAIL
    assert not [t for t in before if t.user_attrs.get("lrkit_retry_of") == 2]  # no retry queued

    result = search(
        DiesBetweenWrites(-1), 1e-5, 1.0, 6, storage=str(journal), progress=False, resume=True
    )
    assert result.count("complete") == 6
    assert result.tally() == "6 complete; and 1 interrupted, run again"
    retry = [t for t in _study(journal).trials if t.user_attrs.get("lrkit_retry_of") == 2]
    assert len(retry) == 1 and retry[0].params["lr"] == before[2].params["lr"]
    assert retry[0].user_attrs["lrkit_seed"] == before[2].user_attrs["lrkit_seed"]
    # it ran in its slot's place, before the slots after it (as an uninterrupted search would)
    after = _study(journal).trials
    later = [t.datetime_start for t in after if t.user_attrs.get("lrkit_slot", 0) > 2]
    assert len(later) == 3 and retry[0].datetime_start < min(later)


def test_kill_9_of_the_cli_with_workers_ends_its_workers_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "lrkit.cli.main",
        "search",
        "digits",
        "--trials",
        "6",
        "--epochs",
        "2",
        "--workers",
        "2",
        "--out",
        str(out),
        "--quiet",
    ]
    process = subprocess.Popen(command, cwd=ROOT)
    journal = out / "study.journal"
    descendants: dict[int, int | None] = {}

    def two_running() -> bool:
        if not journal.exists():
            return False
        try:
            trials = _study(journal).trials
        except KeyError:  # the file exists, the study is not written into it yet
            return False
        running = [t for t in trials if t.state.name == "RUNNING"]
        # the workers are the fork server's children, not the CLI's
        below = _descendants(process.pid)
        workers = [pid for pid, parent in below.items() if parent != process.pid]
        return len(running) >= 2 and len(workers) >= 2

    try:
        _wait_for(two_running, timeout=120)
        # by start time too: a pid freed by the kill may be another process's by the check
        descendants = {pid: _started(pid) for pid in _descendants(process.pid)}
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()

    def left() -> list[int]:
        return [p for p, t in descendants.items() if _alive(p) and _started(p) == t]

    try:  # the fork server, its workers and anything they started: none left orphaned
        _wait_for(lambda: not left(), timeout=15)
    finally:
        for pid in left():  # not left to train on if the test fails
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    resumed = subprocess.run(
        [*command, "--resume"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    trials = _study(journal).trials
    assert not [t for t in trials if t.state.name in ("RUNNING", "WAITING")]
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    failed = [str(t.user_attrs.get("error")) for t in trials if t.state.name == "FAIL"]
    assert len(complete) == 6
    # only the trials the kill cut short (queued again), none that failed of its own
    assert len(failed) <= 2 and all(e.startswith("interrupted") for e in failed), failed
    assert (out / "search.json").exists() and (out / "search.png").exists()


def _descendants(pid: int) -> dict[int, int]:
    """Every process below ``pid`` (its children, theirs, and so on), each with its parent."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):  # ended while listed
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    found: dict[int, int] = {}
    below = [pid]
    while below:
        parent = below.pop()
        for child in children.get(parent, []):
            found[child] = parent
            below.append(child)
    return found


def _started(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot; ``None`` if it has ended."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (not a zombie waiting for its parent to read its status)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_a_lock_left_by_a_killed_writer_is_cleared_on_open(tmp_path: Path) -> None:
    from lrkit.search.storage import STALE_LOCK_S, StorageSpec

    journal = tmp_path / "study.journal"
    search(Logged(tmp_path / "ran.log", 0.0), 1e-5, 1.0, 2, storage=str(journal), progress=False)
    lock = Path(f"{journal}.lock")  # Optuna's lock: a symlink made for the length of a write
    spec = StorageSpec.parse(str(journal))
    os.symlink(journal, lock)
    started = time.monotonic()
    spec.open(first=True)  # a --resume right after the kill: not Optuna's 30 s wait
    assert not lock.is_symlink() and time.monotonic() - started < 10
    os.symlink(journal, lock)
    old = time.time() - STALE_LOCK_S - 5
    os.utime(lock, (old, old), follow_symlinks=False)
    spec.open()
    assert lock.is_symlink()  # a trial's worker process opening the journal leaves it be
    storage = spec.open(first=True)
    assert not lock.is_symlink()  # the search's own open: a lock that old is a dead writer's
    assert [p.name for p in tmp_path.iterdir() if ".lock" in p.name] == []
    storage.set_study_user_attr(storage.get_all_studies()[0]._study_id, "x", 1)  # writes at once


def test_released_locks_a_killed_writer_left_are_cleared_on_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Optuna releases the lock by renaming it, then deleting the new name: a SIGTERM between
    the two left a '<journal>.lock<uuid>.rename' link that no --resume removed, one more for
    each unlucky kill (QA 134)."""
    from lrkit.search import storage
    from lrkit.search.storage import StorageSpec

    journal = tmp_path / "study.journal"
    search(Logged(tmp_path / "ran.log", 0.0), 1e-5, 1.0, 2, storage=str(journal), progress=False)
    monkeypatch.setattr(storage, "STALE_LOCK_S", 0.5)  # a rename sets the time: wait it out
    left = [f"study.journal.lock{i}1b2c.rename" for i in range(3)]
    left.append("study.journal.lock.9f8e.stale")  # clear_stale_lock's own, killed mid-way
    for name in left:
        os.symlink(journal, tmp_path / name)
    time.sleep(0.6)
    young = "study.journal.lock7777.rename"  # a live process between its rename and delete
    taken = tmp_path / "study.journal.lock"  # ... of a lock taken long ago, renamed just now
    os.symlink(journal, taken)
    os.utime(taken, (1e9, 1e9), follow_symlinks=False)
    taken.rename(tmp_path / young)
    (tmp_path / "study.journal.lockfile.txt").write_text("a file of the user's")
    spec = StorageSpec.parse(str(journal))
    spec.open()  # a trial's worker process opening the journal leaves them be
    assert all((tmp_path / name).is_symlink() for name in left)
    spec.open(first=True)
    assert sorted(p.name for p in tmp_path.iterdir() if ".lock" in p.name) == [
        young,
        "study.journal.lockfile.txt",
    ]


def test_a_live_writer_s_lock_is_left_to_it(tmp_path: Path) -> None:
    """Locks that come and go (a live process writing) are never taken away."""
    import threading

    from lrkit.search.storage import clear_stale_lock

    journal = tmp_path / "study.journal"
    journal.touch()
    lock = Path(f"{journal}.lock")
    stop = threading.Event()

    def writes() -> None:
        while not stop.is_set():
            os.symlink(journal, lock)
            time.sleep(0.005)
            lock.unlink()
            time.sleep(0.005)

    writer = threading.Thread(target=writes)
    writer.start()
    try:
        assert not any(clear_stale_lock(journal) for _ in range(20))
    finally:
        stop.set()
        writer.join()
    assert [p.name for p in tmp_path.iterdir()] == ["study.journal"]  # no lock put aside


def test_a_journal_being_appended_to_passes_the_check(tmp_path: Path) -> None:
    from lrkit.search.storage import check_journal

    journal = tmp_path / "study.journal"
    search(Logged(tmp_path / "ran.log", 0.0), 1e-5, 1.0, 2, storage=str(journal), progress=False)
    check_journal(journal)
    with journal.open("ab") as handle:  # another process half-way through writing a record
        handle.write(b'{"op_code": 5, "worker_id": "w')
    check_journal(journal)


def test_ctrl_c_stops_workers_mid_trial_at_once(tmp_path: Path) -> None:
    # Worker processes start with Ctrl-C held (so that none lands while they unpickle their
    # job) and must take it again for their trial: else a Ctrl-C waits for the parent's 10 s
    # grace and a terminate(), or for the trials to end.
    journal = tmp_path / "study.journal"
    script = (
        "from lrkit.search import search\n"
        "from tests.search.objectives import Sleeper\n"
        f"search(Sleeper({str(tmp_path)!r}, 60.0), 1e-5, 1.0, 4, storage={str(journal)!r}, "
        "n_workers=2, progress=False)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    _wait_for(lambda: len(list(tmp_path.glob("started-*"))) == 2, timeout=120)
    time.sleep(0.5)
    os.killpg(process.pid, signal.SIGINT)  # as a terminal's Ctrl-C
    started = time.monotonic()
    _, err = process.communicate(timeout=60)
    assert time.monotonic() - started < 9.0, err  # not the 10 s grace
    # the script's own KeyboardInterrupt only: nothing from the workers
    assert err.count("Traceback") <= 1 and "Process lrkit-trial" not in err, err
    assert "Exception ignored" not in err, err
    trials = _study(journal).trials
    lost = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    assert len(lost) == 2 and all(t.user_attrs["error"].startswith("interrupted") for t in lost)
    retries = [t for t in trials if "lrkit_retry_of" in t.user_attrs]
    assert sorted(t.user_attrs["lrkit_retry_of"] for t in retries) == sorted(t.number for t in lost)
    assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]


def test_waiting_trials_are_claimed_by_slot_and_others_by_number() -> None:
    from lrkit.search.study import pop_waiting

    study = optuna.create_study()
    study.enqueue_trial({}, user_attrs={"lrkit_round": 0, "lrkit_slot": 3})
    study.enqueue_trial({}, user_attrs={"lrkit_slot": "a"})  # another program's attrs: by number
    study.enqueue_trial({}, user_attrs={"lrkit_round": 0, "lrkit_slot": 0})  # a retry of slot 0
    study.enqueue_trial({})  # queued by other code: by its number (3, after slot 3's 0)
    claimed = [pop_waiting(study) for _ in range(5)]
    numbers = [study._storage.get_trial(i).number for i in claimed[:4] if i is not None]
    assert numbers == [2, 1, 0, 3] and claimed[4] is None


def test_a_study_cut_short_before_its_settings_resumes_and_a_foreign_one_is_refused(
    tmp_path: Path,
) -> None:
    import pytest

    from lrkit import ConfigError

    journal = tmp_path / "study.journal"
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))
    )
    optuna.create_study(study_name="lrkit-search", storage=storage)  # what a kill -9 leaves
    # between creating the study and writing its settings (a Ctrl-C there is held)
    result = search(lambda lr: lr, 1e-5, 1.0, 4, storage=str(journal), progress=False, resume=True)
    assert result.count("complete") == 4 and result.study_name == "lrkit-search"

    theirs = optuna.create_study(study_name="theirs", storage=storage)
    theirs.set_user_attr("owner", "another program")
    optuna.create_study(study_name="max", storage=storage, direction="maximize")
    for name, said in (
        ("theirs", "exists but was not made by lrkit's search"),  # not empty
        # of the other direction: said so, with the way to search it (QA 150)
        ("max", "cannot be taken over: its direction is 'maximize' and this search's 'minimize'"),
    ):
        with pytest.raises(ConfigError, match=re.escape(said)):
            search(
                lambda lr: lr,
                1e-5,
                1.0,
                4,
                storage=str(journal),
                study_name=name,
                progress=False,
                resume=True,
            )
    assert not _study(journal, "theirs").trials and not _study(journal, "max").trials
    # not resumed: both steps said at once, for a function and for a task (QA 155)
    said = "(an objective function: direction='maximize'; a task: value='val_metric', `--value`"
    with pytest.raises(ConfigError, match=re.escape(said + " on the command line), and resume")):
        search(lambda lr: lr, 1e-5, 1.0, 4, storage=str(journal), study_name="max")

    # QA 130: an empty one, when not resumed, was written into (claimed), then refused
    optuna.create_study(study_name="mine", storage=storage)
    before = journal.read_bytes()
    with pytest.raises(ConfigError, match="exists with no trial and none of lrkit's settings"):
        search(lambda lr: lr, 1e-5, 1.0, 4, storage=str(journal), study_name="mine")
    assert journal.read_bytes() == before
    # one of several objectives, which no search of lrkit's makes: said so, not Optuna's error
    optuna.create_study(study_name="two", storage=storage, directions=["minimize"] * 2)
    with pytest.raises(ConfigError, match="it has several objectives, and a search has one"):
        search(lambda lr: lr, 1e-5, 1.0, 4, storage=str(journal), study_name="two", resume=True)


def test_ctrl_c_between_claiming_a_trial_and_starting_its_worker_queues_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trial taken from the queue, whose worker never started, was left RUNNING until a
    resume: now it is queued again at once, as the workers' trials are."""
    import lrkit.search.workers as workers

    journal = tmp_path / "study.journal"
    real = workers.journal_snapshot
    taken = []

    def ctrl_c_at_the_third(storage: optuna.storages.BaseStorage) -> object:
        taken.append(1)
        if len(taken) == 3:  # the first two trials' workers started; the third is claimed
            raise KeyboardInterrupt
        return real(storage)

    monkeypatch.setattr(workers, "journal_snapshot", ctrl_c_at_the_third)
    with pytest.raises(KeyboardInterrupt):
        search(quadratic, 1e-5, 1.0, 4, storage=str(journal), n_workers=2, progress=False)
    trials = _study(journal).trials
    assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    stopped = [t for t in trials if t.user_attrs.get("error", "").startswith("interrupted")]
    # the claimed one, queued again; the other worker's trial may still have been in flight
    # (a slot frees when the first of the two ends), and is queued again too
    assert 2 in {t.number for t in stopped} and {t.number for t in stopped} <= {0, 1, 2}
    monkeypatch.setattr(workers, "journal_snapshot", real)
    resumed = search(
        quadratic, 1e-5, 1.0, 4, storage=str(journal), n_workers=2, progress=False, resume=True
    )
    assert resumed.count("complete") == 4


def test_ctrl_c_between_claiming_a_trial_and_running_it_in_process_queues_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With one worker, the trial taken from the queue was left RUNNING until a resume when
    Ctrl-C came before its own handling began (while the display was redrawn)."""
    import lrkit.search.workers as workers

    journal = tmp_path / "study.journal"
    real = workers.run_trial
    calls = []

    def ctrl_c_at_the_second(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(workers, "run_trial", ctrl_c_at_the_second)
    with pytest.raises(KeyboardInterrupt):
        search(quadratic, 1e-5, 1.0, 4, storage=str(journal), progress=False)
    trials = _study(journal).trials
    assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    stopped = [t for t in trials if t.user_attrs.get("error", "").startswith("interrupted")]
    assert [t.number for t in stopped] == [1]


def test_ctrl_c_as_an_in_process_search_claims_a_trial_queues_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl-C held while the trial was claimed arrived as the claim ended, before the
    handling that queues it again began: it stayed RUNNING until a resume."""
    import lrkit.search.workers as workers

    journal = tmp_path / "study.journal"
    real = workers.pop_waiting
    claims = []

    def ctrl_c_in_the_second_claim(study: optuna.Study) -> int | None:
        claimed = real(study)  # None once the queue is empty, before it is topped up
        if claimed is not None:
            claims.append(claimed)
            if len(claims) == 2:
                os.kill(os.getpid(), signal.SIGINT)  # held by no_interrupt until the claim ends
        return claimed

    monkeypatch.setattr(workers, "pop_waiting", ctrl_c_in_the_second_claim)
    # as in a terminal: a pytest-xdist worker ignores SIGINT, which no_interrupt leaves so
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            search(quadratic, 1e-5, 1.0, 4, storage=str(journal), progress=False)
    finally:
        signal.signal(signal.SIGINT, before)
    trials = _study(journal).trials
    assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    stopped = [t for t in trials if t.user_attrs.get("error", "").startswith("interrupted")]
    assert [t.number for t in stopped] == [1]


def test_a_lock_held_through_a_slow_write_is_left_to_its_writer(tmp_path: Path) -> None:
    """A write's fsync can take seconds on a loaded or network disk: a lock held 3 s, then
    released, is not taken away."""
    import threading

    from lrkit.search.storage import LOCK_WATCH_S, clear_stale_lock

    journal = tmp_path / "study.journal"
    journal.touch()
    lock = Path(f"{journal}.lock")
    os.symlink(journal, lock)
    release = threading.Timer(LOCK_WATCH_S - 2.0, lock.unlink)
    release.start()
    try:
        assert clear_stale_lock(journal) is False
    finally:
        release.join()
    assert [p.name for p in tmp_path.iterdir()] == ["study.journal"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel's signal is Linux's")
def test_a_kill_9_ends_workers_stuck_where_no_python_thread_runs(tmp_path: Path) -> None:
    """QA 120: a worker stuck in native code that holds the GIL could not run the thread that
    watches its search, and kept its fork server alive: both ran on for 12 minutes after a
    kill -9 of the search. The kernel's parent-death signal now ends the server, then them."""
    marks = tmp_path / "marks"
    marks.mkdir()
    script = (
        "from lrkit.search import search\n"
        "from tests.search.objectives import stuck_holding_the_gil\n"
        f"search(stuck_holding_the_gil, 1e-5, 1.0, 4, n_workers=2, out={str(tmp_path)!r}, "
        "progress=False)\n"
    )
    env = {**os.environ, "LRKIT_TEST_MARKS": str(marks)}
    process = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env)
    workers: list[int] = []
    try:
        _wait_for(lambda: len(list(marks.glob("*.pid"))) == 2)
        workers = [int(p.name.split(".")[0]) for p in marks.glob("*.pid")]
        servers = {_parent(pid) for pid in workers}
        time.sleep(0.5)  # into the regex
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert len(servers) == 1 and process.pid not in servers  # forked by the search's server
    try:
        _wait_for(lambda: not any(_alive(pid) for pid in [*workers, *servers]), timeout=10.0)
    finally:
        for pid in workers:  # not left to burn a core for hours if the test fails
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert _study(tmp_path / "study.journal").trials[0].state.name == "RUNNING"  # for --resume


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_second_ctrl_c_kills_stuck_workers_at_once(tmp_path: Path) -> None:
    """QA 124: a second Ctrl-C broke out of the wait for the workers with them still running,
    and the process hung at exit waiting for them, for good."""
    marks = tmp_path / "marks"
    marks.mkdir()
    script = (
        "from lrkit.search import search\n"
        "from tests.search.objectives import stuck_holding_the_gil\n"
        "if __name__ == '__main__':\n"
        f"    search(stuck_holding_the_gil, 1e-5, 1.0, 4, n_workers=2, out={str(tmp_path)!r}, "
        "progress=False)\n"
    )
    (tmp_path / "stuck.py").write_text(script)
    env = {**os.environ, "LRKIT_TEST_MARKS": str(marks), "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, str(tmp_path / "stuck.py")], cwd=ROOT, env=env, stderr=subprocess.PIPE
    )
    workers: list[int] = []
    try:
        _wait_for(lambda: len(list(marks.glob("*.pid"))) == 2)
        workers = [int(p.name.split(".")[0]) for p in marks.glob("*.pid")]
        time.sleep(0.5)  # into the regex
        process.send_signal(signal.SIGINT)  # to the search alone: the workers run on
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=15)  # the grace and the wait are 2 s and 10 s
        assert process.returncode != 0 and b"KeyboardInterrupt" in err
        assert not any(_alive(pid) for pid in workers)
    finally:
        process.kill()
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
