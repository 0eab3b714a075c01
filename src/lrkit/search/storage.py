"""Where a study lives: a journal file (the local default), SQLite, or a shared database.

A storage is described by a :class:`StorageSpec`, plain data that a fresh worker process can
reopen. The local default is Optuna's journal file: it is safe with several processes on one
host, where SQLite is not ("database is locked", optuna #820 #4994). Many machines share one
PostgreSQL (or MySQL) database, Optuna's documented multi-node mode; those storages record a
heartbeat per running trial, so a trial whose worker died is found and failed.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import random
import time
import uuid
import warnings
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import optuna
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock
from optuna.storages.journal._base import BaseJournalSnapshot  # Optuna 4.0 on; not exported

from lrkit.errors import ConfigError, bad_value, error_chain
from lrkit.interrupts import no_interrupt
from lrkit.outputs import JOURNAL
from lrkit.urls import without_password

# A running trial's heartbeat every HEARTBEAT_S seconds; one silent for GRACE_S is failed and
# queued again. LRKIT_HEARTBEAT_S / LRKIT_GRACE_S override them (every worker must agree; the
# tests use seconds, not tens of seconds, to kill a worker and watch its trial come back).
HEARTBEAT_S = 10
GRACE_S = 40

STALE_LOCK_S = 10  # a journal write holds the file's lock for milliseconds
LOCK_WATCH_S = 5.0  # how long a young lock is watched before it counts as a killed writer's
# (a write holds it for milliseconds, but its fsync can take seconds on a loaded or network disk)
MAX_RECORD_BYTES = 16 * 2**20  # a journal record is a few kB; a longer "line" is no record
SCHEMA_RETRIES = 8  # opens on a fresh database, racing other workers to create the tables

Kind = Literal["journal", "rdb", "memory"]


@dataclass(frozen=True)
class StorageSpec:
    """A storage's kind and location: ``journal`` (a file path), ``rdb`` (a URL) or ``memory``.

    Example:
        >>> StorageSpec.parse("runs/study.journal")
        StorageSpec(kind='journal', location='runs/study.journal')
        >>> StorageSpec.parse("postgresql://lrkit@db:5432/lrkit").kind
        'rdb'
    """

    kind: Kind
    location: str = ""

    @staticmethod
    def parse(value: str | Path) -> StorageSpec:
        if not isinstance(value, (str, Path)):  # 5 would be a journal file named "5"
            raise _not_a_storage_name(value)
        text = str(value).strip()
        if not text:
            raise bad_value("storage", "a database URL or a journal file path", value)
        if text == ":memory:":
            return StorageSpec("memory")
        if "://" in text:
            scheme = text.split("://", 1)[0].split("+", 1)[0].lower()
            if scheme not in ("sqlite", "postgresql", "postgres", "mysql"):
                raise bad_value(
                    "storage",
                    "a sqlite://, postgresql:// or mysql:// URL, or a journal file path",
                    without_password(text),
                )
            if scheme == "sqlite" and _database(text).lstrip("/") in ("", ":memory:"):
                # SQLAlchemy's in-memory SQLite: every trial lost at the end, without a word
                raise bad_value(
                    "storage",
                    "an SQLite URL with a file, sqlite:///path/to/study.db (for a study kept "
                    "in memory only, ':memory:')",
                    text,
                )
            if scheme == "postgres":  # SQLAlchemy only knows the long name
                text = "postgresql" + text[len("postgres") :]
            return StorageSpec("rdb", text)
        return StorageSpec("journal", text)

    @property
    def file(self) -> Path | None:
        """The local file that holds the study: a journal, or an SQLite database; else None.

        Example:
            >>> StorageSpec.parse("sqlite:///runs/study.db").file
            PosixPath('runs/study.db')
        """
        if self.kind == "journal":
            return Path(self.location)
        if self.kind == "rdb" and self.location.startswith("sqlite"):
            return Path(_database(self.location))
        return None

    @property
    def shared(self) -> bool:
        """True for a database server that workers on other machines can join."""
        return self.kind == "rdb" and not self.location.startswith("sqlite")

    @property
    def has_heartbeat(self) -> bool:
        """True where running trials beat (database servers); SQLite is local, like a journal."""
        return self.shared

    def lost(self, error: BaseException) -> bool:
        """Whether ``error`` says this storage's database server went away (it restarted, the
        network dropped, a connection was ended): a connection error anywhere in its chain,
        under Optuna's and SQLAlchemy's wrappers, raised through Optuna's database storage (an
        objective's own database error is its own). Never for a local file (SQLite's
        "database is locked" is an OperationalError too), nor for bad data or rights in a
        commit."""
        chain = error_chain(error)
        return (
            self.shared
            and any(type(e).__name__ in LOST for e in chain)
            and any(_RDB_CODE in frame for e in chain for frame in _frames(e))
        )

    def describe(self) -> str:
        """The location without a password, for messages and reports."""
        if self.kind == "memory":
            return ":memory:"
        return without_password(self.location)

    def open(
        self, *, first: bool = False, snapshot: JournalSnapshot | None = None
    ) -> optuna.storages.BaseStorage:
        """Opens the storage; a database that cannot be reached is a :class:`ConfigError`.

        ``first``: the search's own process opening it, before any worker (never a trial's
        worker process): a journal file is checked to be one, and a lock left by a process
        killed mid-write is cleared. ``snapshot``: a journal's state as another process read it
        (:func:`journal_snapshot`): only the records written after it are read.
        """
        if self.kind == "memory":
            return optuna.storages.InMemoryStorage()
        if self.kind == "journal":
            path = Path(self.location)
            if first:
                check_journal(path)
                clear_stale_lock(path)
                clear_released_locks(path)
                cut_torn_record(path)
            # by its absolute path: an objective may change the working directory (Hydra)
            where = str(path.absolute())
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                backend = (
                    ShieldedJournalFileBackend(where)
                    if snapshot is None
                    else SnapshotJournalFileBackend(where, snapshot)
                )
            except OSError as error:
                raise ConfigError(
                    f"storage: cannot write the journal file {str(path)!r}: {error.strerror}."
                ) from None
            try:
                return ShieldedJournalStorage(backend)  # reads every record
            # A record that is JSON but not Optuna's: a missing field, or an unknown op_code
            # (on which Optuna's replay asserts).
            except (ValueError, KeyError, TypeError, AssertionError) as error:
                reason = f": {error}" if str(error) else ""
                raise ConfigError(
                    f"storage must be an Optuna journal file (one JSON record per line), got "
                    f"{str(path)!r}, whose records cannot be read ({type(error).__name__}"
                    f"{reason})."
                ) from None
        kwargs: dict[str, Any] = {}
        if self.file is not None:  # SQLite: its folder made, as a journal's is
            try:
                self.file.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise ConfigError(
                    f"storage: cannot make the folder of {self.describe()!r}: {error.strerror}."
                ) from None
        if self.shared:  # stale trials are failed and queued again by study.recover()
            kwargs = {
                "heartbeat_interval": _seconds("LRKIT_HEARTBEAT_S", HEARTBEAT_S),
                "grace_period": _seconds("LRKIT_GRACE_S", GRACE_S),
            }
            engine = {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
        else:
            engine = {"connect_args": {"timeout": 60}}
        try:
            return _rdb_storage(_with_driver(_absolute_sqlite(self.location)), engine, kwargs)
        except ImportError as error:
            driver = self.location.split("://", 1)[0].partition("+")[2]
            if not self.location.startswith("postgres"):
                advice = (
                    "install the driver SQLAlchemy names for this URL (e.g. `pip install "
                    "pymysql` with a mysql+pymysql:// URL)"
                )
            elif driver in ("", "psycopg"):
                advice = "run `pip install 'psycopg[binary]'` (or lrkit[postgres])"
            else:
                advice = (
                    f"install the {driver} driver, or write the URL as postgresql://..., which "
                    "lrkit reads with psycopg 3 (`pip install 'psycopg[binary]'`)"
                )
            raise ConfigError(
                f"storage: the database driver for {self.describe()!r} is missing ({error}); "
                f"{advice}."
            ) from None
        except Exception as error:  # SQLAlchemy's OperationalError and friends, Optuna's
            reason = driver_error(error).split(": ", 1)[-1]
            hint = ""
            if self.location.split("?", 1)[0].count("@") > 1:
                hint = (
                    " (a password that holds @, :, / or # must be percent-encoded in the URL: "
                    "%40, %3A, %2F, %23; or keep it in ~/.pgpass)"
                )
            if "no password supplied" in reason:
                hint = (
                    " (the server asks for a password: put it in ~/.pgpass, as "
                    "host:port:database:user:password, or in PGPASSWORD)"
                )
            raise StorageUnreachable(
                f"storage: cannot connect to {self.describe()!r}: {reason}{hint}"
            ) from None


class StorageUnreachable(ConfigError):
    """A database storage that could not be opened: its server refused or did not answer."""


# where Optuna's database storage lives (an error raised through it came from the study's)
_RDB_CODE = os.path.join("optuna", "storages", "_rdb", "")


def _frames(error: BaseException) -> Iterator[str]:
    """The files of the frames ``error`` was raised through."""
    tb = error.__traceback__
    while tb is not None:
        yield tb.tb_frame.f_code.co_filename
        tb = tb.tb_next


# the errors of a connection that went away: DBAPI's OperationalError and InterfaceError (as
# psycopg and SQLAlchemy name them), SQLAlchemy's DisconnectionError
LOST = frozenset({"OperationalError", "InterfaceError", "DisconnectionError"})


def driver_error(error: BaseException) -> str:
    """The first line of the database driver's error in ``error``'s chain (psycopg's
    ``connection refused``, ``permission denied for table ...``), not its wrappers' (Optuna's
    "An exception is raised during the commit", SQLAlchemy's) around it."""
    wrappers = ("optuna", "sqlalchemy", "lrkit")
    said = [e for e in error_chain(error) if str(e).strip()]
    driver = [e for e in said if type(e).__module__.split(".")[0] not in wrappers]
    cause = (driver or said or [error])[0]
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def _absolute_sqlite(url: str) -> str:
    """An SQLite URL with its file's absolute path, which a change of the working directory
    (an objective's ``os.chdir``) leaves where it was; any other URL as it is.

    Example:
        >>> import os
        >>> _absolute_sqlite("sqlite:///s.db?timeout=5") == f"sqlite:///{os.getcwd()}/s.db?timeout=5"
        True
        >>> _absolute_sqlite("sqlite:////abs/s.db"), _absolute_sqlite("postgresql://h/db")
        ('sqlite:////abs/s.db', 'postgresql://h/db')
        >>> _absolute_sqlite("sqlite:///file:s.db?uri=true")  # a URI filename: SQLite's to read
        'sqlite:///file:s.db?uri=true'
    """
    if not url.startswith("sqlite"):
        return url
    database = _database(url)
    if not database or os.path.isabs(database) or database.startswith("file:"):
        return url  # a URI filename (?uri=true) is SQLite's to read, as given
    head, rest = url.split(":///", 1)
    return f"{head}:///{os.path.abspath(database)}{rest[len(database) :]}"


def _database(url: str) -> str:
    """The database part of an SQLAlchemy URL: ``runs/s.db`` of ``sqlite:///runs/s.db``,
    ``/abs/s.db`` of ``sqlite:////abs/s.db`` (its query left out).

    Example:
        >>> _database("sqlite:///runs/s.db?timeout=5"), _database("sqlite:///")
        ('runs/s.db', '')
    """
    return url.split("://", 1)[1].split("?", 1)[0].split("/", 1)[-1]


def check_journal(path: Path) -> None:
    """Raises ConfigError unless ``path`` is a new or empty file, or an Optuna journal.

    Optuna would append its records to any file, a README say, and fail to read it back only
    later: it skips a last line that is not a record, as if another process were writing it.
    Every complete line must be a JSON record with an ``op_code``; a last line without its
    newline may be one being written.
    """
    if path.is_dir():
        raise ConfigError(
            f"storage must be a journal file path, a database URL or ':memory:', got "
            f"{str(path)!r}, which is a directory."
        )
    try:
        with path.open("rb") as file:
            number = 0
            while line := file.readline(MAX_RECORD_BYTES):
                number += 1
                if not _is_journal_record(line):
                    raise _not_a_journal(path, number, line)
    except FileNotFoundError:
        return  # a new journal
    except OSError as error:
        raise ConfigError(
            f"storage: cannot read the journal file {str(path)!r}: {error.strerror}."
        ) from None


class TornRecordWarning(UserWarning):
    """A journal's last record was cut off (a full disk, a crash mid-write) and removed."""


def cut_torn_record(path: Path) -> bool:
    """Removes a last record cut off mid-write from the journal; True if there was one.

    Every record is written whole, newline last, under the journal's lock, so with the lock
    held a last line without its newline is a write that failed half-way (the disk filled, the
    machine went down). Optuna's reader skips it, but the next record would be appended to
    it, and that line, no longer the last, would make the journal unreadable for good.
    """
    if _whole(path):  # the usual case, at once: no lock to wait for
        return False
    lock = JournalFileSymlinkLock(str(path))  # a live writer's record ends in milliseconds
    try:
        if not lock.acquire():
            return False
    except OSError:  # a read-only folder: nothing can be appended to it either
        return False
    try:
        if _whole(path):  # a live writer's record, finished meanwhile
            return False
        with path.open("rb+") as file:
            end = size = file.seek(0, os.SEEK_END)
            while end > 0:  # back to the last newline, a block at a time
                start = max(0, end - 65536)
                file.seek(start)
                block = file.read(end - start)
                newline = block.rfind(b"\n")
                if newline >= 0:
                    end = start + newline + 1
                    break
                end = start
            file.truncate(end)
    except OSError:
        return False
    finally:
        lock.release()
    warnings.warn(
        f"the last record of the journal {str(path)!r} was cut off mid-write (a full disk, a "
        f"crash); removed it ({size - end} bytes): the trial it belonged to is run again if it "
        "had not finished.",
        TornRecordWarning,
        stacklevel=2,
    )
    return True


def _whole(path: Path) -> bool:
    """Whether the file is missing, empty, or ends with a newline (its last record whole)."""
    try:
        with path.open("rb") as file:
            size = file.seek(0, os.SEEK_END)
            return size == 0 or (file.seek(size - 1) >= 0 and file.read(1) == b"\n")
    except OSError:
        return True


def clear_stale_lock(
    path: Path, older_than: float = STALE_LOCK_S, watch: float = LOCK_WATCH_S
) -> bool:
    """Removes the journal's lock if a process killed mid-write left it; True if it did.

    A write holds the lock (Optuna's symlink ``<journal>.lock``) for milliseconds. One killed
    holding it (``kill -9``) leaves it behind, and Optuna would wait out its grace period, 30
    seconds, logging "taking longer" lines, before it forced it open. A lock older than
    ``older_than`` seconds is such a leftover; so is a younger one that is still there, the
    same one, after ``watch`` seconds (a ``--resume`` right after the kill), where a live
    writer's comes and goes. It is taken away as Optuna releases a lock, by a rename first, so
    that a lock made afresh in the meantime by a live writer is put back.
    """
    lock = f"{path}.lock"
    try:
        seen = os.lstat(lock)
    except OSError:  # no lock: the usual case
        return False
    if time.time() - seen.st_mtime < older_than:
        deadline = time.monotonic() + watch
        while time.monotonic() < deadline:
            time.sleep(0.02)
            try:
                now = os.lstat(lock)
            except OSError:  # released: a live writer's
                return False
            if _same(now) != _same(seen):
                seen, deadline = now, time.monotonic() + watch  # another write: watch it anew
    taken = f"{lock}.{uuid.uuid4().hex}.stale"
    try:
        os.rename(lock, taken)
        moved = os.lstat(taken)
    except OSError:  # another process took it first
        return False
    if _same(moved) != _same(seen):  # a live writer's, made afresh
        with contextlib.suppress(OSError):
            os.rename(taken, lock)
        return False
    with contextlib.suppress(OSError):
        os.unlink(taken)
    return True


def clear_released_locks(path: Path, older_than: float | None = None) -> int:
    """Removes the released locks a killed process left beside the journal; how many it did.

    Optuna releases the journal's lock by renaming it (``<journal>.lock<uuid>.rename``) and
    then deleting that name, and :func:`clear_stale_lock` does the same (``.stale``). A
    process killed between the two (SIGTERM during a write) leaves the renamed link, which no
    process reads again, and each such kill added one. One renamed more than ``older_than``
    seconds ago (:data:`STALE_LOCK_S` by default) is such a leftover, as a live release
    deletes its own within microseconds: its status-change time, which a rename sets, tells,
    or its modification time (when the lock was taken) where that is later.
    """
    limit = STALE_LOCK_S if older_than is None else older_than
    removed = 0
    lock = f"{path.name}.lock"
    try:
        names = os.listdir(path.parent)
    except OSError:
        return 0
    for name in names:
        if not (name.startswith(lock) and name.endswith((".rename", ".stale"))):
            continue
        try:
            seen = os.lstat(path.parent / name)
            if time.time() - max(seen.st_ctime, seen.st_mtime) >= limit:
                os.unlink(path.parent / name)
                removed += 1
        except OSError:  # gone already
            continue
    return removed


def _same(stat: os.stat_result) -> tuple[int, int]:
    """What tells one lock from another made in its place: its inode and modification time."""
    return stat.st_ino, stat.st_mtime_ns


def _is_journal_record(line: bytes) -> bool:
    if not line.endswith(b"\n"):  # being written by another process, or no journal at all
        return line.lstrip().startswith(b"{")
    try:
        record = json.loads(line)
    except ValueError:  # not JSON, or not UTF-8
        return False
    return isinstance(record, dict) and "op_code" in record


def _not_a_journal(path: Path, number: int, line: bytes) -> ConfigError:
    shown = line[:200].decode("utf-8", "replace").strip()
    shown = shown if len(shown) <= 40 else shown[:40] + "..."
    if number > 1:  # records first, then a line that is not one: a damaged journal
        return ConfigError(
            f"storage: the journal file {str(path)!r} is damaged at line {number} "
            f"({shown!r}), after {number - 1} good records; Optuna cannot read past it. Keep "
            "a copy, and remove that line (and any after it) to go on from the records before."
        )
    if line.startswith(b"SQLite format 3"):  # an SQLite database given as a plain path
        return ConfigError(
            f"storage must be a journal file path or a database URL, got {str(path)!r}, an "
            f"SQLite database given as a path; give it as a URL: 'sqlite:///{path}'."
        )
    return ConfigError(
        f"storage must be an Optuna journal file (one JSON record per line) or a new file, got "
        f"{str(path)!r}, which is not a journal (its first line is {shown!r}); name another "
        "file, such as study.journal."
    )


def close_storage(storage: optuna.storages.BaseStorage) -> None:
    """Closes a database storage's connections now, not when the garbage collector finds them
    (psycopg warns of each one still open then); a journal or memory storage holds none. A
    connection that cannot be closed (its server gone) is let go: the search's own outcome is
    what the caller must hear."""
    if isinstance(storage, optuna.storages.RDBStorage):
        with contextlib.suppress(Exception):
            storage.remove_session()
            storage.engine.dispose()


def _rdb_storage(
    url: str, engine: dict[str, Any], kwargs: dict[str, Any]
) -> optuna.storages.RDBStorage:
    """Opens a database storage; workers that meet on a fresh database take turns creating it.

    Optuna creates its tables on first use with ``CREATE TABLE IF NOT EXISTS``, which is not
    safe to run at once from several connections on PostgreSQL: all but one fail with
    ``duplicate key value violates unique constraint "pg_type_typname_nsp_index"``. A cluster's
    workers start together, so the losers wait a moment and open again, finding the tables made.
    """
    import sqlalchemy.exc

    with warnings.catch_warnings():  # heartbeats are "experimental" since Optuna 2.9
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        for attempt in range(1, SCHEMA_RETRIES):
            try:
                return optuna.storages.RDBStorage(url, engine_kwargs=engine, **kwargs)
            except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
                time.sleep(0.2 * attempt * (1.0 + random.random()))  # jitter: not in step
        return optuna.storages.RDBStorage(url, engine_kwargs=engine, **kwargs)


def _with_driver(url: str) -> str:
    """Names the PostgreSQL driver that is installed: a bare ``postgresql://`` means psycopg 3
    to SQLAlchemy 2.1 but psycopg2 to 2.0, so pick the one present (lrkit[postgres] brings 3)."""
    if not url.startswith("postgresql://"):
        return url
    import importlib.util

    for module, dialect in (("psycopg", "postgresql+psycopg"), ("psycopg2", "postgresql+psycopg2")):
        if importlib.util.find_spec(module) is not None:
            return dialect + url[len("postgresql") :]
    return url


def _seconds(variable: str, default: int) -> int:
    """A whole number of seconds from the environment variable ``variable``, else ``default``."""
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"{variable} must be a whole number of seconds >= 1, got {text!r}.")
    return int(text)


class ShieldedJournalFileBackend(JournalFileBackend):
    """Optuna's journal file, whose reads and writes finish even when Ctrl-C comes mid-way."""

    def read_logs(self, log_number_from: int) -> Generator[dict[str, Any], None, None]:
        with no_interrupt():  # Optuna's reader is lazy: read it all while shielded
            logs = list(super().read_logs(log_number_from))
        yield from logs

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        with no_interrupt():
            super().append_logs(logs)


class ShieldedJournalStorage(optuna.storages.JournalStorage):
    """Optuna's journal storage, whose replay of the records read finishes even when Ctrl-C or
    a trial's time limit (SIGALRM) comes mid-way: Optuna counts a record as read before it
    applies it, so one interrupted there would be missing from this process's view of the study
    for good (a trial another process finished, seen running forever)."""

    def _sync_with_backend(self) -> None:
        with no_interrupt():
            super()._sync_with_backend()


@dataclass(frozen=True)
class JournalSnapshot:
    """A journal storage's state as one process has read it: Optuna's own snapshot of its
    replayed records (what Optuna's Redis journal saves every 100 trials), and how many
    records that is and where they end in the file. A worker process opens the journal from it
    (``StorageSpec.open(snapshot=...)``) and reads only what was written since, instead of
    replaying the whole file: 10 ms a trial at 200 trials, growing with the study."""

    state: bytes
    records: int
    offset: int  # bytes of the file the records take


def journal_snapshot(storage: optuna.storages.BaseStorage) -> JournalSnapshot | None:
    """The snapshot of a journal file storage opened by :meth:`StorageSpec.open`; ``None`` for
    any other storage, or where Optuna keeps its state otherwise than this was written for (a
    worker then replays the file, as it always may)."""
    backend = getattr(storage, "_backend", None)
    replay = getattr(storage, "_replay_result", None)
    lock = getattr(storage, "_thread_lock", None)
    if not isinstance(backend, ShieldedJournalFileBackend) or replay is None or lock is None:
        return None
    with lock:
        records = getattr(replay, "log_number_read", None)
        offset = getattr(backend, "_log_number_offset", {}).get(records)
        if not isinstance(records, int) or not isinstance(offset, int):
            return None
        return JournalSnapshot(pickle.dumps(replay), records, offset)


class SnapshotJournalFileBackend(ShieldedJournalFileBackend, BaseJournalSnapshot):
    """A journal file opened from a :class:`JournalSnapshot`: Optuna's storage restores its
    state from ``load_snapshot`` and reads the file from the snapshot's end on."""

    def __init__(self, file_path: str, snapshot: JournalSnapshot) -> None:
        super().__init__(file_path)
        self._snapshot: JournalSnapshot | None = snapshot
        # where the snapshot's records end, so that Optuna's reader seeks there (without it, it
        # would read the file from the start, parsing only the records after the snapshot)
        self._log_number_offset[snapshot.records] = snapshot.offset

    def load_snapshot(self) -> bytes | None:
        snapshot, self._snapshot = self._snapshot, None
        return None if snapshot is None else snapshot.state

    def save_snapshot(self, snapshot: bytes) -> None:
        """Keeps nothing: a journal file holds records only."""


def default_storage(out: str | Path) -> StorageSpec:
    """The local default: a journal file ``study.journal`` in the run directory ``out``."""
    return StorageSpec("journal", str(Path(out) / JOURNAL))


def _not_a_storage_name(value: object) -> ConfigError:
    """The error for a storage given as something other than its name: an Optuna storage
    object is named by what opens it again, since every worker process and machine opens the
    storage itself."""
    expected = "a database URL, a journal file path or ':memory:'"
    module = type(value).__module__.split(".")[0]
    if module != "optuna":
        return bad_value("storage", expected, value)
    url = getattr(value, "url", None)  # RDBStorage keeps its URL
    instead = {
        "RDBStorage": f"its URL, {without_password(url)!r}" if isinstance(url, str) else "its URL",
        "JournalStorage": "the journal file's path",
        "InMemoryStorage": "':memory:'",
    }.get(type(value).__name__, "its URL or path")
    return ConfigError(
        f"storage must be {expected}, got an Optuna {type(value).__name__} object: each worker "
        f"process and machine opens the storage itself, from its name; pass {instead}."
    )
