"""One search worker of the PostgreSQL tests, as a machine of a cluster would run it.

``python -m tests.search.pg_worker JOB.json`` imports everything, writes ``JOB.ready``, waits for
the file named ``go`` in the job (so that all workers start at once and race to create the
study), runs :func:`lrkit.search.search` on the job's storage and study, and writes its result
to ``JOB.result.json`` (or the error to ``JOB.error``).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import optuna


def bowl(lr: float) -> float:
    """Minimum at lr = 10**-2.5, distinct values for distinct LRs (so the best is unique)."""
    return (math.log10(lr) + 2.5) ** 2


class Sleepy:
    """The bowl after ``seconds`` of sleep, so trials overlap across workers.

    Records the worker's pid in the trial; with ``markers``, writes ``<pid>-<number>`` there
    when a trial starts; with ``quorum`` too, holds each trial until that many workers have
    started one (so that every worker surely runs a trial, however slowly it started); with
    ``hang``, never finishes (a worker to kill mid-trial); with ``first``, the first trial it
    runs in a process takes that many seconds.
    """

    def __init__(
        self,
        seconds: float = 0.0,
        markers: str | None = None,
        hang: bool = False,
        quorum: int = 0,
        first: float | None = None,
    ) -> None:
        self.seconds, self.markers, self.hang, self.quorum = seconds, markers, hang, quorum
        self.first = first

    def __call__(self, lr: float, trial: optuna.Trial) -> float:
        trial.set_user_attr("pid", os.getpid())
        if self.markers is not None:
            markers = Path(self.markers)
            (markers / f"{os.getpid()}-{trial.number}").touch()
            deadline = time.monotonic() + 60.0
            while self.quorum and time.monotonic() < deadline:
                if len({p.name.split("-")[0] for p in markers.iterdir()}) >= self.quorum:
                    break
                time.sleep(0.05)
        seconds = self.first if self.first is not None else self.seconds
        self.first = None  # the first trial only
        time.sleep(3600.0 if self.hang else seconds)
        return bowl(lr)


class EndsItsConnection:
    """The bowl; trial 1's first attempt has its ``trial.report`` cut off mid-write, as when
    the server restarts or a connection is ended under a running query: a lock held from
    another connection keeps the write waiting, and every other connection to the database is
    then ended. With ``close``, the database is also closed to new connections (the server is
    still away when the trial's worker tries to record it)."""

    def __init__(self, name: str, admin: str, close: bool = False) -> None:
        self.name, self.admin, self.close = name, admin, close  # admin: another database's URL

    def __call__(self, lr: float, trial: optuna.Trial) -> float:
        if trial.number == 1:
            import threading

            import psycopg

            search_db = self.admin.rsplit("/", 1)[0] + "/" + self.name
            locker = psycopg.connect(search_db)
            locker.execute("LOCK TABLE trial_intermediate_values IN ACCESS EXCLUSIVE MODE")

            def cut() -> None:
                time.sleep(0.5)  # the report waits on the lock by now
                with psycopg.connect(self.admin, autocommit=True) as admin:
                    if self.close:
                        admin.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false')
                    admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> %s",
                        (self.name, locker.info.backend_pid),
                    )
                locker.close()

            threading.Thread(target=cut, daemon=True).start()
            trial.report(1.0, 1)
        return bowl(lr)


def own_database_error(lr: float) -> float:
    """The objective's own database fails it (its data's SQLite table is missing): not the
    study's storage, whatever the error's class is called."""
    import sqlite3

    sqlite3.connect(":memory:").execute("SELECT * FROM no_such_table")
    return bowl(lr)


def main(job_path: str) -> int:
    import torch  # every trial seeds torch: import it before the start line, not in the race

    from lrkit.errors import ConfigError
    from lrkit.search import search

    torch.set_num_threads(1)
    job: dict[str, Any] = json.loads(Path(job_path).read_text())
    Path(job_path + ".ready").touch()
    go = Path(job["go"])
    deadline = time.monotonic() + 120.0
    while not go.exists():
        if time.monotonic() > deadline:
            return 2
        time.sleep(0.02)
    objective = Sleepy(
        job.get("sleep", 0.0),
        job.get("markers"),
        job.get("hang", False),
        job.get("quorum", 0),
        job.get("first"),
    )
    try:
        result = search(
            objective,
            job["low"],
            job["high"],
            job["n_trials"],
            seed=job["seed"],
            rounds=job.get("rounds", 1),
            sampler=job.get("sampler", "stratified"),
            storage=job["storage"],
            study_name=job["study"],
            join_timeout=job.get("join_timeout", 30.0),
            progress=False,
        )
    except ConfigError as error:
        Path(job_path + ".error").write_text(str(error))
        return 3
    result.to_json(job_path + ".result.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
