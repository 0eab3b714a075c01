"""A throwaway PostgreSQL server for the tests: ``initdb``, started on 127.0.0.1, stopped after.

The many-machines mode of ``lrkit.search`` is tested against a real server, as a cluster would
run it, not a mock: Debian's ``postgresql`` package (``.ci/run`` installs it). The cluster lives
in a temporary directory with durability turned off (a test database need not survive a power
cut), which makes ``initdb`` and start take about a second.

``postgres_server()`` yields a :class:`PostgresServer` whose ``url`` reads
``postgresql://lrkit:<hex password>@127.0.0.1:<free port>/lrkit``; ``create_database(name)``
gives each test an empty database of its own.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

USER = "lrkit"
DATABASE = "lrkit"
SUPERUSER = "postgres"
MISSING = (
    "PostgreSQL's server binaries (initdb, pg_ctl, postgres) were not found: looked at "
    "`pg_config --bindir`, /usr/lib/postgresql/*/bin and PATH. The many-machines search is "
    "tested against a real server; `.ci/run` installs it (Debian: `apt-get install postgresql`)."
)
# A test cluster need not survive a crash: no fsync makes initdb and every commit fast.
SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "32MB",
    "log_min_messages": "warning",
}


class PostgresMissing(RuntimeError):
    """The server binaries are not installed."""


class ToolFailed(RuntimeError):
    """``initdb`` or ``pg_ctl`` exited with an error."""


@dataclass(frozen=True)
class PostgresServer:
    """A running server: ``url`` reaches its database ``lrkit`` as the user ``lrkit``."""

    host: str
    port: int
    password: str
    root: Path

    @property
    def url(self) -> str:
        return self.database_url(DATABASE)

    def database_url(self, name: str) -> str:
        return f"postgresql://{USER}:{self.password}@{self.host}:{self.port}/{name}"

    def create_database(self, name: str) -> str:
        """Creates an empty database owned by ``lrkit``; returns its URL."""
        _sql(self.url, f'CREATE DATABASE "{name}"')
        return self.database_url(name)


def find_bindir() -> Path:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``: ``pg_config``'s, else the
    newest under ``/usr/lib/postgresql`` (Debian's layout), else the one on ``PATH``."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10
            ).stdout.strip()
            if out:
                candidates.append(Path(out))

    def version(path: Path) -> float:
        name = path.parent.name
        return float(name) if name.replace(".", "", 1).isdigit() else 0.0

    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for bindir in candidates:
        if all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    raise PostgresMissing(MISSING)


@contextlib.contextmanager
def postgres_server(bindir: Path | None = None) -> Iterator[PostgresServer]:
    """Starts a fresh server on a free port of 127.0.0.1; stops it and deletes it on exit."""
    bindir = bindir or find_bindir()
    owner = _server_user()
    root = Path(tempfile.mkdtemp(prefix="lrkit-pg-", dir=_scratch()))
    try:
        data, sockets = root / "data", root / "sockets"
        sockets.mkdir()
        if owner is not None:  # root: the server refuses to run as root, so hand it the dir
            for path in (root, sockets):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        # trust on the socket (in a directory only the server's user can enter), passwords on TCP
        flags = f"-U {SUPERUSER} -A trust --auth-host=scram-sha-256 -E UTF8 --locale=C --no-sync"
        _run(owner, root, bindir / "initdb", "-D", str(data), *flags.split())
        port = _start(owner, root, bindir, data, sockets)
        try:
            server = PostgresServer("127.0.0.1", port, secrets.token_hex(12), root)
            admin = f"host={sockets} port={port} user={SUPERUSER} dbname=postgres"
            # the password is hex: safe inside quotes
            _sql(admin, f"CREATE ROLE {USER} LOGIN CREATEDB PASSWORD '{server.password}'")
            _sql(admin, f"CREATE DATABASE {DATABASE} OWNER {USER}")
            yield server
        finally:
            with contextlib.suppress(ToolFailed, subprocess.SubprocessError):
                _run(owner, root, bindir / "pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _start(
    owner: pwd.struct_passwd | None, root: Path, bindir: Path, data: Path, sockets: Path
) -> int:
    """Starts the server on a free port (another one if a racing process took it first)."""
    log = root / "server.log"
    for _attempt in range(3):
        port = _free_port()
        settings = {
            **SETTINGS,
            "listen_addresses": "'127.0.0.1'",
            "port": str(port),
            "unix_socket_directories": f"'{sockets}'",
        }
        conf = data / "postgresql.auto.conf"
        conf.write_text("".join(f"{key} = {value}\n" for key, value in settings.items()))
        if owner is not None:
            os.chown(conf, owner.pw_uid, owner.pw_gid)
        try:
            _run(
                owner,
                root,
                bindir / "pg_ctl",
                "-D",
                str(data),
                "-l",
                str(log),
                "-w",
                "-t",
                "60",
                "start",
            )
            return port
        except ToolFailed:
            text = log.read_text(errors="replace") if log.exists() else ""
            if "could not bind" not in text and "in use" not in text:
                break
    text = log.read_text(errors="replace") if log.exists() else "(no log)"
    raise RuntimeError(f"PostgreSQL did not start; its log ends:\n{text[-3000:]}")


def _scratch() -> str | None:
    """A RAM disk when there is a roomy one: deleting a cluster on a disk mounted with
    ``discard`` takes seconds, on tmpfs nothing (``None``: the usual temporary directory)."""
    with contextlib.suppress(OSError):
        shm = os.statvfs("/dev/shm")
        if shm.f_bavail * shm.f_frsize >= 2**30 and os.access("/dev/shm", os.W_OK):
            return "/dev/shm"
    return None


def _server_user() -> pwd.struct_passwd | None:
    """Who runs the server: ``None`` (this user) unless this is root, who may not."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' user exists")


def _run(owner: pwd.struct_passwd | None, cwd: Path, *command: str | Path) -> None:
    """Runs a PostgreSQL tool (as ``owner`` when given); a failure says what the tool said."""
    as_owner = {}
    if owner is not None:
        as_owner = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        **as_owner,
    )
    if result.returncode != 0:
        raise ToolFailed(
            f"{Path(command[0]).name} {command[-1]} failed (exit {result.returncode}):\n"
            f"{result.stdout}{result.stderr}".strip()
        )


def _sql(dsn: str, statement: str) -> None:
    """Runs one statement outside a transaction (``CREATE DATABASE`` needs that)."""
    try:
        import psycopg as driver  # lrkit[postgres]; psycopg2 where only that is installed
    except ImportError:
        import psycopg2 as driver  # type: ignore[no-redef]

    connection = driver.connect(dsn, connect_timeout=10)
    try:
        connection.autocommit = True
        connection.cursor().execute(statement)
    finally:
        connection.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
