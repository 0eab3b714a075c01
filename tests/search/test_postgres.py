"""Many machines on one PostgreSQL study: a real server, separate worker processes, exact counts.

Each worker is its own OS process started as a cluster job would start it (same storage URL,
study name and settings); all of them are released at the same instant, so they race to create
the tables and the study. Whatever the race, the study must hold exactly the trials of the
search, each (round, slot) once, with the LRs and the best of the same search run alone.
"""

from __future__ import annotations

import gc
import json
import math
import os
import signal
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from lrkit.errors import ConfigError, RunError
from lrkit.search import (
    FinishedStudyWarning,
    SearchResult,
    SearchWarning,
    StorageSpec,
    search,
)
from lrkit.search.engine import collect
from lrkit.search.study import (
    CONFIG_ATTR,
    QUEUE_AHEAD,
    SearchConfig,
    open_study,
    pop_waiting,
    recover,
    set_state,
    study_state,
)
from tests.search.pg_worker import EndsItsConnection, Sleepy, bowl, own_database_error

ROOT = Path(__file__).resolve().parents[2]
LOW, HIGH = 1e-5, 1.0


@dataclass
class Worker:
    job: Path
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        """What the worker printed, and the ConfigError it ended with, if any."""
        text = ""
        for path in (self.job.with_suffix(".log"), Path(f"{self.job}.error")):
            text += path.read_text(errors="replace")[-3000:] if path.exists() else ""
        return text


def start_workers(tmp_path: Path, jobs: list[dict[str, Any]], **env: str) -> list[Worker]:
    """Starts one worker process per job and waits until each has imported everything."""
    workers = []
    for i, job in enumerate(jobs):
        path = tmp_path / f"worker{i}.json"
        path.write_text(json.dumps(job))
        with path.with_suffix(".log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "tests.search.pg_worker", str(path)],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), **env},
            )
        workers.append(Worker(path, process))
    wait_for(lambda: all(Path(f"{w.job}.ready").exists() for w in workers), 120, workers)
    return workers


def wait_for(predicate: Callable[[], bool], timeout: float, workers: list[Worker]) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            stop(workers)
            logs = "\n".join(f"--- worker {w.pid}:\n{w.log()}" for w in workers)
            raise AssertionError(f"timed out after {timeout} s\n{logs}")
        time.sleep(0.05)


def finish(workers: list[Worker], timeout: float = 120.0) -> None:
    """Waits for every worker; each must have ended well."""
    wait_for(lambda: all(w.process.poll() is not None for w in workers), timeout, workers)
    for w in workers:
        assert w.process.returncode == 0, (
            f"worker {w.pid} exited {w.process.returncode}:\n{w.log()}"
        )


def stop(workers: list[Worker]) -> None:
    for w in workers:
        if w.process.poll() is None:
            w.process.kill()
            w.process.wait()


def job(url: str, study: str, go: Path, n_trials: int, **extra: Any) -> dict[str, Any]:
    return {
        "storage": url,
        "study": study,
        "go": str(go),
        "n_trials": n_trials,
        "low": LOW,
        "high": HIGH,
        "seed": 7,
        **extra,
    }


def load(url: str, study: str) -> tuple[optuna.Study, SearchResult]:
    """The study straight from the database, and lrkit's view of it."""
    spec = StorageSpec.parse(url)  # opened as lrkit opens it: the installed driver named
    loaded = optuna.load_study(study_name=study, storage=spec.open())
    return loaded, collect(loaded, spec)


def alone(n_trials: int, **kwargs: Any) -> SearchResult:
    """The same search in one process, in memory: what every cluster run must reproduce."""
    return search(
        Sleepy(), LOW, HIGH, n_trials, seed=7, storage=":memory:", progress=False, **kwargs
    )


def slots(trials: list[optuna.trial.FrozenTrial]) -> list[tuple[int, int]]:
    return [(t.user_attrs["lrkit_round"], t.user_attrs["lrkit_slot"]) for t in trials]


def assert_same_search(result: SearchResult, reference: SearchResult) -> None:
    """Same LR and value in every (round, slot), the same best, the same rounds."""

    mine = {(t.round, t.seed): (t.lr, t.value) for t in result.trials if t.state == "complete"}
    theirs = {(t.round, t.seed): (t.lr, t.value) for t in reference.trials}
    assert mine == theirs  # a trial's seed is a function of (seed, round, slot) alone
    assert result.best_lr == reference.best_lr
    assert result.best_value == reference.best_value
    assert result.rounds == reference.rounds


def test_three_machines_share_one_study_exactly(postgres_db: str, tmp_path: Path) -> None:
    n, study = 12, "three-machines"
    go, markers = tmp_path / "go", tmp_path / "markers"
    markers.mkdir()
    each = job(postgres_db, study, go, n, sleep=0.2, markers=str(markers), quorum=3)
    workers = start_workers(tmp_path, [each] * 3)
    go.touch()  # all at once: they race to create the tables and the study
    finish(workers)

    loaded, result = load(postgres_db, study)
    trials = loaded.get_trials()
    assert sorted(t.number for t in trials) == list(range(n))  # none lost, none duplicated
    assert [t.state for t in trials] == [TrialState.COMPLETE] * n  # none left RUNNING/WAITING
    assert sorted(slots(trials)) == [(0, slot) for slot in range(n)]
    assert {t.user_attrs["pid"] for t in trials} == {w.pid for w in workers}  # all three ran
    assert loaded.user_attrs["lrkit_state"]["done"] is True

    assert result.count("complete") == n and len(result.trials) == n
    assert result.best_value == min(t.value for t in trials)  # the true best
    assert result.best_trial is not None and result.best_trial.number == loaded.best_trial.number
    reference = alone(n)
    assert [t.lr for t in result.trials] == [t.lr for t in reference.trials]  # by trial number
    assert result.best_trial.number == reference.best_trial.number  # type: ignore[union-attr]
    assert_same_search(result, reference)
    for w in workers:  # every worker, coordinator or joiner, reports the whole study
        own = json.loads(Path(f"{w.job}.result.json").read_text())
        assert own["counts"]["complete"] == n and own["best_lr"] == reference.best_lr


def test_machines_on_a_tpe_search_draw_lrs_of_their_own(postgres_db: str, tmp_path: Path) -> None:
    # each machine's TPE started from the same seeded random state: its first draw was the
    # coordinator's first LR again (QA 150)
    n, study = 6, "tpe-machines"
    go, markers = tmp_path / "go", tmp_path / "markers"
    markers.mkdir()
    each = job(postgres_db, study, go, n, sleep=0.2, markers=str(markers), quorum=2, sampler="tpe")
    workers = start_workers(tmp_path, [each] * 2)
    go.touch()
    finish(workers)

    loaded, _ = load(postgres_db, study)
    trials = loaded.get_trials()
    assert {t.user_attrs["pid"] for t in trials} == {w.pid for w in workers}  # both ran
    lrs = [t.params["lr"] for t in trials]
    assert len(lrs) == n and len(set(lrs)) == n, lrs


def test_machines_that_joined_run_the_round_while_its_coordinator_trains_one_trial(
    postgres_db: str, tmp_path: Path
) -> None:
    # a round is queued a few slots ahead (QUEUE_AHEAD); a coordinator that trains its trial in
    # its own thread queues more from another, or the other machines would wait for its trial
    n, study = 2 * QUEUE_AHEAD + 8, "busy-coordinator"
    markers = tmp_path / "markers"
    markers.mkdir()
    # the coordinator's trials are held until a second name shows among the markers (a
    # minute at most): the test's own, once the joiner has run every other trial, so the
    # first one lasts as long as the joiner needs, however loaded the machine
    jobs = [
        job(postgres_db, study, tmp_path / "go-first", n, markers=str(markers), quorum=2),
        job(postgres_db, study, tmp_path / "go-then", n),
    ]
    coordinator, joiner = workers = start_workers(tmp_path, jobs)
    (tmp_path / "go-first").touch()
    wait_for(lambda: any(markers.iterdir()), 60, workers)  # it made the study, and trains
    (tmp_path / "go-then").touch()
    watched = optuna.load_study(study_name=study, storage=StorageSpec.parse(postgres_db).open())

    def joiner_ran_the_rest() -> bool:
        done = watched.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        return len([t for t in done if t.user_attrs.get("pid") == joiner.pid]) >= n - 1

    # past the coordinator's minute the joiner may finish all the same (too late: failed below)
    wait_for(joiner_ran_the_rest, 120, workers)
    (markers / "released-by-the-test").touch()
    finish(workers)

    loaded, _ = load(postgres_db, study)
    trials = loaded.get_trials()
    assert sorted(slots(trials)) == [(0, slot) for slot in range(n)]
    mine = [t for t in trials if t.user_attrs["pid"] == coordinator.pid]
    long = min(mine, key=lambda t: t.datetime_start)
    assert long.number == 0 and long.datetime_complete is not None
    meanwhile = [
        t
        for t in trials
        if t.user_attrs["pid"] == joiner.pid
        and t.datetime_complete is not None
        and t.datetime_complete < long.datetime_complete
    ]
    assert len(meanwhile) == n - 1


def test_a_machine_with_several_workers_runs_each_trial_in_a_fresh_process(
    postgres_url: str,
) -> None:
    # `--workers W` on a machine with W GPUs: each trial in a fresh process of its own, which
    # opens the database itself and must find the trial its parent claimed for it
    study = f"workers-{uuid.uuid4().hex[:8]}"
    result = search(
        Sleepy(),
        LOW,
        HIGH,
        2,
        seed=7,
        storage=postgres_url,
        study_name=study,
        n_workers=2,
        progress=False,
    )
    assert result.count("complete") == 2, [t.error for t in result.trials]
    pids = {t.attrs["pid"] for t in result.trials}
    assert len(pids) == 2 and os.getpid() not in pids
    assert_same_search(result, alone(2))


def test_a_joiner_with_other_settings_is_refused_and_stores_nothing(postgres_url: str) -> None:
    study = f"settings-{uuid.uuid4().hex[:8]}"
    first = search(Sleepy(), LOW, HIGH, 4, storage=postgres_url, study_name=study, progress=False)
    assert first.count("complete") == 4
    loaded, _ = load(postgres_url, study)
    attrs_before = dict(loaded.user_attrs)

    with pytest.raises(ConfigError, match=r"different settings: low=1e-05 \(this search: 0.0001\)"):
        search(Sleepy(), 1e-4, HIGH, 4, storage=postgres_url, study_name=study, progress=False)
    loaded, after = load(postgres_url, study)
    assert len(loaded.get_trials()) == 4 and loaded.user_attrs == attrs_before

    # the same settings join the finished study and report it as it is, and say so
    with pytest.warns(FinishedStudyWarning, match="already finished with these settings"):
        again = search(
            Sleepy(), LOW, HIGH, 4, storage=postgres_url, study_name=study, progress=False
        )
    assert again.trials == after.trials == first.trials

    # resume="auto" (create or resume) on a shared storage joins a study that is there: a
    # second coordinator could queue a round twice; only resume=True takes over
    spec = StorageSpec.parse(postgres_url)
    config = SearchConfig(**loaded.user_attrs[CONFIG_ATTR])
    roles = []
    for resume in ("auto", True):  # nothing left to take over either way
        with pytest.warns(FinishedStudyWarning, match="no trial ran"):
            roles.append(
                open_study(spec, spec.open(), study, config, *_optuna_parts(), resume=resume)[1]
            )
    assert roles == ["joiner", "coordinator"]


def test_a_search_closes_its_database_connections(postgres_url: str) -> None:
    """Done or refused, a search closes its connections itself: left to the garbage
    collector, each one was a psycopg ResourceWarning (shown under ``python -X dev``)."""
    study = f"closed-{uuid.uuid4().hex[:8]}"
    gc.collect()  # what the tests before this one left open is theirs
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        search(Sleepy(), LOW, HIGH, 2, storage=postgres_url, study_name=study, progress=False)
        with pytest.raises(ConfigError, match="different settings"):
            search(Sleepy(), 1e-4, HIGH, 2, storage=postgres_url, study_name=study, progress=False)
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def _optuna_parts() -> tuple[optuna.samplers.BaseSampler, optuna.pruners.BasePruner]:
    return optuna.samplers.RandomSampler(), optuna.pruners.NopPruner()


def test_a_joiner_whose_coordinator_is_gone_says_so_and_returns_no_result(
    postgres_url: str,
) -> None:
    study = f"orphan-{uuid.uuid4().hex[:8]}"
    search(Sleepy(), LOW, HIGH, 3, storage=postgres_url, study_name=study, progress=False)
    loaded, _ = load(postgres_url, study)
    set_state(loaded, done=False)  # as if its coordinator died before it could say "done"
    with pytest.raises(RunError, match=r"is not done, and it has had no trial to run for 1 s"):
        search(
            Sleepy(),
            LOW,
            HIGH,
            3,
            storage=postgres_url,
            study_name=study,
            join_timeout=1,
            progress=False,
        )
    # --resume on one machine finishes it
    resumed = search(
        Sleepy(),
        LOW,
        HIGH,
        3,
        storage=postgres_url,
        study_name=study,
        resume=True,
        progress=False,
    )
    assert resumed.count("complete") == 3 and study_state(load(postgres_url, study)[0])["done"]


class CutsTheDatabase:
    """The bowl; its third trial cuts the search off its database (a server restarted, a
    network gone): it closes the database to new connections and ends those it has."""

    def __init__(self, name: str, admin: str) -> None:
        self.name = name  # the search's database
        self.admin = admin  # a URL of another database on the server, to reopen this one from

    def __call__(self, lr: float, trial: optuna.Trial) -> float:
        if trial.number == 2:
            import psycopg

            with psycopg.connect(self.admin, autocommit=True) as admin:
                name = self.name
                admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (name,),
                )
        return bowl(lr)


def test_a_lost_database_stops_the_search_in_one_line_and_resume_finishes_it(
    postgres_db: str, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    # the trial cut off stays RUNNING: stale after 2 s, not 40 (another machine may run it)
    monkeypatch.setenv("LRKIT_HEARTBEAT_S", "1")
    monkeypatch.setenv("LRKIT_GRACE_S", "2")

    name = postgres_db.rsplit("/", 1)[1]
    objective = CutsTheDatabase(name, postgres_url)
    with pytest.raises(RunError, match=r"lost the study's storage \(postgresql://lrkit@") as info:
        search(objective, LOW, HIGH, 5, storage=postgres_db, study_name="cut", progress=False)
    assert "during the search: OperationalError: connection failed: " in str(info.value)
    assert "Its finished trials are kept" in str(info.value)
    assert "resume the search ('resume=True', `--resume`)" in str(info.value)
    with psycopg.connect(postgres_url, autocommit=True) as admin:  # the server is back
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    resumed = search(
        objective,
        LOW,
        HIGH,
        5,
        storage=postgres_db,
        study_name="cut",
        resume=True,
        progress=False,
    )
    assert resumed.count("complete") == 5 and resumed.n_trials == 5


def test_a_trial_whose_report_loses_its_connection_runs_again(
    postgres_db: str, postgres_url: str
) -> None:
    """A write of ``trial.report`` cut off under a running query (the server restarted, a
    connection was ended) is no fault of the LR: the trial is queued again and the search
    finishes every slot, instead of keeping a failure that a resume never reruns."""
    name = postgres_db.rsplit("/", 1)[1]
    objective = EndsItsConnection(name, postgres_url)
    result = search(objective, LOW, HIGH, 4, storage=postgres_db, study_name="cut", progress=False)
    assert result.count("failed") == 0 and result.count("interrupted") == 1
    assert result.count("complete") == 4 and result.n_trials == 4
    interrupted = next(t for t in result.trials if t.state == "interrupted")
    retry = next(t for t in result.trials if t.number > 3)
    assert interrupted.number == 1 and retry.lr == interrupted.lr


def test_an_objectives_own_database_error_fails_its_trial_once(postgres_db: str) -> None:
    """An OperationalError of the objective's own (not raised through the study's storage)
    fails the trial, as any error does: queued again, it would run again forever."""
    with pytest.warns(SearchWarning, match="no trial completed"):
        result = search(own_database_error, LOW, HIGH, 3, storage=postgres_db, progress=False)
    assert [t.state for t in result.trials] == ["failed"] * 3
    assert result.trials[0].error == "OperationalError: no such table: no_such_table"


WORKERS_LOSE_THE_DATABASE = """
import sys
from lrkit.errors import RunError
from lrkit.search import search
from tests.search.pg_worker import EndsItsConnection

if __name__ == "__main__":
    url, name, admin = sys.argv[1:4]
    try:
        search(EndsItsConnection(name, admin, close=True), 1e-5, 1.0, 4, storage=url,
               study_name="cut", n_workers=2, progress=False)
    except RunError as error:
        print(f"RunError: {error}", file=sys.stderr)
        sys.exit(1)
"""


def test_a_worker_that_loses_the_database_says_so_in_one_line(
    postgres_db: str, postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With worker processes, a worker cut off from a database that stays away prints one line
    (not a traceback from each worker), and the search stops with a RunError that says to
    resume it; resumed once the database is back, it finishes every slot."""
    import psycopg

    # trials left RUNNING are stale after 2 s, not 40 (another machine may run them)
    monkeypatch.setenv("LRKIT_HEARTBEAT_S", "1")
    monkeypatch.setenv("LRKIT_GRACE_S", "2")

    name = postgres_db.rsplit("/", 1)[1]
    script = tmp_path / "lose.py"
    script.write_text(WORKERS_LOSE_THE_DATABASE)
    done = subprocess.run(
        [sys.executable, str(script), postgres_db, name, postgres_url],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert "lost the study's storage" in done.stderr
    assert "resume the search ('resume=True', `--resume`)" in done.stderr  # a script's
    with psycopg.connect(postgres_url, autocommit=True) as admin:  # the server is back
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    time.sleep(2.5)  # the heartbeats of trials left RUNNING are stale by now
    objective = EndsItsConnection(name, postgres_url, close=True)  # trial 1 ran: harmless now
    resumed = search(
        objective, LOW, HIGH, 4, storage=postgres_db, study_name="cut", resume=True, progress=False
    )
    assert resumed.count("complete") == 4 and resumed.n_trials == 4
    assert resumed.count("failed") == 0


def test_an_unreachable_database_is_a_config_error_quickly() -> None:
    start = time.monotonic()
    with pytest.raises(ConfigError) as info:
        search(Sleepy(), LOW, HIGH, 4, storage="postgresql://x:y@127.0.0.1:1/nope", progress=False)
    assert time.monotonic() - start < 15
    message = str(info.value)
    assert message.startswith("storage: cannot connect"), message
    assert "postgresql://x@127.0.0.1:1/nope" in message and "x:y@" not in message


def test_a_password_is_never_shown_however_it_is_written() -> None:
    """Unencoded @ in the password (SQLAlchemy reads it as the host's start): hidden whole,
    with a hint to percent-encode it; a password in the query string: dropped."""
    for url, secret in (
        ("postgresql://lrkit:p@ss:w/rd#1@127.0.0.1:1/nope", "ss:w/rd"),
        ("postgresql://lrkit@127.0.0.1:1/nope?password=S3cretPW&sslmode=disable", "S3cretPW"),
    ):
        with pytest.raises(ConfigError) as info:
            search(Sleepy(), LOW, HIGH, 4, storage=url, progress=False)
        message = str(info.value)
        assert message.startswith("storage: cannot connect to 'postgresql://lrkit@127.0.0.1:1/")
        assert secret not in message
        hint = "must be percent-encoded in the URL: %40, %3A, %2F, %23" in message
        assert hint == ("#" in url)
    assert "sslmode=disable" in message


def test_a_database_that_refuses_writes_is_named_by_the_driver_s_error(
    postgres_db: str,
) -> None:
    """Not Optuna's "invalid data in the commit" around it."""
    import psycopg

    name = postgres_db.rsplit("/", 1)[1]
    with psycopg.connect(postgres_db, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    with pytest.raises(ConfigError) as info:
        search(Sleepy(), LOW, HIGH, 4, storage=postgres_db, progress=False)
    assert "in a read-only transaction" in str(info.value), info.value
    assert "invalid data in the commit" not in str(info.value)


def test_a_killed_worker_s_trial_is_failed_by_heartbeat_and_rerun(
    postgres_db: str, tmp_path: Path
) -> None:
    n, study = 8, "killed"
    markers = tmp_path / "markers"
    markers.mkdir()
    first, others = tmp_path / "go-first", tmp_path / "go-others"
    base = job(postgres_db, study, first, n, sleep=0.5, markers=str(markers), quorum=3)
    jobs = [base, {**base, "go": str(others)}, {**base, "go": str(others), "hang": True}]
    # a heartbeat a second, a trial silent for 3 s is stale (10 s / 40 s in production)
    workers = start_workers(tmp_path, jobs, LRKIT_HEARTBEAT_S="1", LRKIT_GRACE_S="3")
    coordinator, _, victim = workers

    def started(worker: Worker) -> bool:
        return any(p.name.startswith(f"{worker.pid}-") for p in markers.iterdir())

    first.touch()  # the first creates the study and coordinates ...
    wait_for(lambda: started(coordinator), 60, workers)
    others.touch()  # ... the others join; the last hangs in its first trial
    wait_for(lambda: started(victim), 60, workers)
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait()
    finish(workers[:2])

    loaded, result = load(postgres_db, study)
    trials = loaded.get_trials()
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert len(failed) == 1 and failed[0].user_attrs["pid"] == victim.pid
    retry = [t for t in trials if t.user_attrs.get("lrkit_retry_of") == failed[0].number]
    assert len(retry) == 1 and retry[0].state == TrialState.COMPLETE
    assert retry[0].user_attrs["pid"] != victim.pid  # another worker finished it
    assert retry[0].params == failed[0].params and slots(retry) == slots(failed)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == n and len(trials) == n + 1  # exact, the retry included
    assert sorted(slots(complete)) == [(0, slot) for slot in range(n)]
    assert result.count("complete") == n and result.count("interrupted") == 1
    assert result.count("failed") == 0 and result.n_trials == n
    lost = result.trials[failed[0].number]
    assert lost.error is not None and lost.error.startswith("interrupted"), lost
    assert_same_search(result, alone(n))
    assert math.isfinite(result.best_value or math.nan)


def test_a_trial_claimed_by_a_worker_that_died_before_running_it_comes_back(
    postgres_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fresh trial process imports torch for seconds before its first beat; a machine dying
    # then must not leave the trial RUNNING for ever (a trial that never beat is never stale).
    monkeypatch.setenv("LRKIT_HEARTBEAT_S", "1")
    monkeypatch.setenv("LRKIT_GRACE_S", "1")
    spec = StorageSpec.parse(postgres_db)
    study = optuna.create_study(study_name="claimed", storage=spec.open())
    study.enqueue_trial({}, user_attrs={"lrkit_slot": 0, "lrkit_round": 0})
    claimed = pop_waiting(study)  # ... and the claimer dies without another word
    assert claimed is not None and recover(study, spec) == 0  # it is not stale yet
    time.sleep(2.5)
    assert recover(study, spec) == 1
    lost, retry = study.get_trials()
    assert lost.state == TrialState.FAIL and lost.user_attrs["error"].startswith("interrupted")
    assert retry.state == TrialState.WAITING and retry.user_attrs["lrkit_retry_of"] == 0


# A real, tiny training task; BLOBS_PAUSE slows each batch so trials overlap across machines
# (sleeping changes no number: the in-process reference runs without it).
TASK_FILE = """
import os, time
import torch
from torch.utils.data import TensorDataset
from lrkit.tasks import Task
PAUSE = float(os.environ.get("BLOBS_PAUSE", "0"))
class Slow(torch.nn.Linear):
    def forward(self, x):
        time.sleep(PAUSE)
        return super().forward(x)
g = torch.Generator().manual_seed(0)
x = torch.randn(256, 5, generator=g)
y = (x[:, 0] - x[:, 1] > 0).long()
task = Task(name="blobs", model=lambda: Slow(5, 2), epochs=2, batch_size=64,
            train_data=TensorDataset(x[:192], y[:192]), val_data=TensorDataset(x[192:], y[192:]))
"""


def test_the_documented_command_with_narrowing_rounds_on_three_machines(
    postgres_db: str, tmp_path: Path
) -> None:
    """``lrkit search TASK --storage URL --study NAME --rounds 2`` started on three machines."""
    task = tmp_path / "blobs.py"
    task.write_text(TASK_FILE)
    n = 10
    flags = f"--trials {n} --rounds 2 --seed 7 --study cli --quiet".split()
    command = [sys.executable, "-m", "lrkit.cli.main", "search", str(task), *flags]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "BLOBS_PAUSE": "0.05"}
    machines = [
        subprocess.Popen(
            [*command, "--storage", postgres_db, "--out", str(tmp_path / f"m{i}")],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(3)
    ]
    try:
        for machine in machines:
            output, _ = machine.communicate(timeout=240)
            assert machine.returncode == 0, output
    finally:
        for machine in machines:
            machine.kill()  # a no-op on those that ended
            machine.wait()

    loaded, result = load(postgres_db, "cli")
    trials = loaded.get_trials()
    assert sorted(t.number for t in trials) == list(range(n))
    assert [t.state for t in trials] == [TrialState.COMPLETE] * n
    assert sorted(slots(trials)) == [(r, slot) for r in (0, 1) for slot in range(5)]
    assert result.best_value == min(t.value for t in trials)
    reference = search(
        str(task), LOW, HIGH, n, seed=7, rounds=2, storage=":memory:", progress=False
    )
    assert len(result.rounds) == 2 and result.rounds[1] != result.rounds[0]
    assert [t.lr for t in result.trials] == [t.lr for t in reference.trials]
    assert_same_search(result, reference)
    for i in range(3):  # each machine wrote the whole study's result
        data = json.loads((tmp_path / f"m{i}" / "search.json").read_text())
        assert data["counts"]["complete"] == n and data["best_lr"] == result.best_lr
        assert data["storage"] == StorageSpec.parse(postgres_db).describe()  # no password


def test_a_server_that_asks_for_a_password_none_was_given_for_says_where_one_goes(
    postgres_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """libpq's bare "fe_sendauth: no password supplied" said nothing of ~/.pgpass."""
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))  # no password file to find
    monkeypatch.delenv("PGPASSWORD", raising=False)
    url = StorageSpec.parse(postgres_db).describe()  # the same URL, its password left out
    with pytest.raises(ConfigError) as info:
        search(Sleepy(), LOW, HIGH, 2, storage=url, progress=False)
    assert "no password supplied" in str(info.value)
    assert "put it in ~/.pgpass, as host:port:database:user:password, or in PGPASSWORD" in str(
        info.value
    )


def test_an_empty_study_made_with_optuna_itself_is_taken_over_only_when_resumed(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review 131: on a database, a machine that joins (no resume) waited for a coordinator's
    settings, then wrote its own into the study and waited on a coordinator that was not
    there; it is refused now, the study untouched, and a resume takes it over."""
    import lrkit.search.study

    monkeypatch.setattr(lrkit.search.study, "CONFIG_WAIT_S", 0.5)  # the wait, not its length
    name = f"theirs-{uuid.uuid4().hex[:8]}"
    optuna.create_study(study_name=name, storage=postgres_url)
    with pytest.raises(ConfigError, match="exists with no trial and none of lrkit's settings"):
        search(Sleepy(), LOW, HIGH, 2, storage=postgres_url, study_name=name, progress=False)
    loaded, _ = load(postgres_url, name)
    assert loaded.user_attrs == {} and loaded.get_trials() == []
    taken = search(
        Sleepy(), LOW, HIGH, 2, storage=postgres_url, study_name=name, progress=False, resume=True
    )
    assert taken.count("complete") == 2
