"""The files a command writes into its output folder, and checks, before any work, that the
folder can be written and that nothing is in their way (a folder of the same name would fail the
writes only after all the training)."""

from __future__ import annotations

import contextlib
import contextvars
import csv
import errno
import io
import math
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

REPORT = "report.html"
RANGE_PNG, RANGE_JSON = "range_test.png", "range_test.json"
SEARCH_PNG, SEARCH_JSON, SEARCH_CSV = "search.png", "search.json", "search.csv"
COMPARE_PNG, COMPARE_JSON, COMPARE_CSV = "compare.png", "compare.json", "compare.csv"
SUMMARY = "summary.json"  # lrkit tune's
LOCK = ".lrkit-lock"  # held by the command writing the folder (see held())
TEMP_PREFIX, TEMP_SUFFIX = ".lrkit-", ".tmp"  # write_file's temporary files
JOURNAL = "study.journal"  # a search's study, where no other storage is given

# what each command writes
FIND = (RANGE_PNG, RANGE_JSON, REPORT)
SEARCH = (SEARCH_PNG, SEARCH_JSON, SEARCH_CSV, REPORT)
COMPARE = (COMPARE_PNG, COMPARE_JSON, COMPARE_CSV, REPORT)
TUNE = (
    RANGE_PNG,
    RANGE_JSON,
    SEARCH_PNG,
    SEARCH_JSON,
    SEARCH_CSV,
    COMPARE_PNG,
    COMPARE_JSON,
    COMPARE_CSV,
    SUMMARY,
    REPORT,
)


def in_the_way(folder: Path, names: Iterable[str]) -> str | None:
    """Why one of the files ``names`` cannot be written in ``folder``: something other than a
    file where it goes; ``None`` when every one can.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> (folder / "search.json").mkdir()
        >>> in_the_way(folder, SEARCH).endswith("json' is a folder, where lrkit writes a file")
        True
    """
    for name in names:
        path = folder / name
        if path.exists() and not path.is_file():
            kind = "a folder" if path.is_dir() else "not a regular file"
            return f"{os.fspath(path)!r} is {kind}, where lrkit writes a file"
    return None


def unwritable(folder: Path) -> str | None:
    """Why files cannot be written in ``folder`` (made if missing), or ``None`` if they can.

    Whatever this makes to find out (the missing folders, a probe file) is removed again.
    """
    try:
        folder.exists()  # a name too long for the system raises here (Python 3.11)
    except OSError as error:
        return f"{error.strerror or error}"
    missing = _missing(folder)
    existing = missing[-1].parent if missing else folder
    if existing.exists() and not existing.is_dir():
        return f"{os.fspath(existing)!r} is a file, not a folder"
    made: list[Path] = []
    try:
        for path in reversed(missing):
            path.mkdir()
            made.append(path)
        probe = folder / f".lrkit-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        failed = Path(error.filename) if isinstance(error, FileExistsError) else None
        if failed is not None and failed.is_symlink():  # one to nothing, or a loop: not "exists"
            link = f"{os.fspath(failed)!r} is a symbolic link to {os.readlink(failed)!r}"
            return f"{link}, which leads to no folder"
        return f"{error.strerror or error}"
    finally:
        for path in reversed(made):
            with contextlib.suppress(OSError):
                path.rmdir()
    return None


def _missing(folder: Path) -> list[Path]:
    """The folders from ``folder`` up that do not exist, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


@contextlib.contextmanager
def held(folder: Path, holder: str) -> Iterator[None]:
    """Holds the output folder ``folder`` for this process while the block runs: a command of
    another process that would write there too fails at once, instead of mixing its files with
    this one's. ``holder`` (``"lrkit find"``) is what that command's error names.

    An advisory lock on ``folder/.lrkit-lock``, a file removed again when the block ends (the
    lock goes with the process if it dies); none where the platform has no ``fcntl`` or the file
    system no locks. Folders made for it are removed again when the block leaves them empty.

    Raises:
        RunError: Another process holds the folder.
    """
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    from lrkit.errors import RunError

    made = _missing(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / LOCK
    handle = None
    locked = False  # a file system without locks leaves the folder unheld
    try:
        while handle is None:
            handle = lock.open("a+", encoding="utf-8")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                who = handle.read().strip() or "another lrkit command"
                handle.close()
                handle = None  # the file is the other process's to remove
                raise RunError(
                    f"out: {os.fspath(folder)!r} is in use by {who}, still running; wait for it "
                    "to end, or use another folder."
                ) from None
            except OSError:  # a file system without locks (ENOLCK): unheld
                break
            # its last holder may have removed the file between our open and our lock
            with contextlib.suppress(OSError):
                if os.path.samestat(os.fstat(handle.fileno()), lock.stat()):
                    locked = True
                    break
            handle.close()
            handle = None
        handle.truncate(0)
        handle.write(f"`{holder}` (pid {os.getpid()})\n")
        handle.flush()
        if locked:  # no other lrkit command writes here now
            _remove_stray_temps(folder)
        yield
    finally:
        if handle is not None:
            with contextlib.suppress(OSError):  # while still held; its own file, not a new one
                if os.path.samestat(os.fstat(handle.fileno()), lock.stat()):
                    lock.unlink()
            handle.close()
        for path in made:  # deepest first; one that holds anything stays
            with contextlib.suppress(OSError):
                path.rmdir()


def _remove_stray_temps(folder: Path) -> None:
    """Removes the temporary files of :func:`write_file` that a command killed mid-write
    (``kill -9``) left in ``folder``: only the holder of the folder may, as no one else writes
    there then."""
    for stray in folder.glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"):
        with contextlib.suppress(OSError):
            if stray.is_file() and not stray.is_symlink():
                stray.unlink()


def write_file(path: str | os.PathLike[str], data: str | bytes) -> None:
    """Writes ``data`` to ``path`` whole or not at all: into a temporary file next to it, flushed
    to disk, then renamed over it. A full disk or a crash leaves the file that was there (or
    none), never half of one. The file keeps the mode of the one it replaces (a new one: as
    ``open`` would make it, under the umask).

    Where a rename cannot stand in for a write, ``data`` is written into ``path`` itself, as
    ``open(path, "w")`` would: a symbolic link (its target is written), something other than a
    regular file (``/dev/stdout``, a FIFO), or a folder where no temporary file can be made.

    Raises:
        OSError: It cannot be written (the error names ``path``); nothing is left behind.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "a.json"
        >>> write_file(path, "{}")
        >>> path.read_text(), [p.name for p in path.parent.iterdir()]
        ('{}', ['a.json'])
    """
    path = Path(path)
    # a lone surrogate (a file name's undecodable byte, in an error text) as \udcff, not a crash
    raw = data.encode("utf-8", "backslashreplace") if isinstance(data, str) else data
    try:
        try:
            there: os.stat_result | None = path.lstat()
        except FileNotFoundError:
            there = None
        if there is not None and not stat.S_ISREG(there.st_mode):  # a link, a device, a FIFO
            return _write_in_place(path, raw)
        if there is not None and not os.access(path, os.W_OK):  # as open(path, "w") refuses it
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        mode = stat.S_IMODE(there.st_mode) if there is not None else 0o666 & ~_umask()
        try:
            fd, temp = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX)
        except OSError as error:
            if error.errno not in (errno.EACCES, errno.EPERM, errno.ENAMETOOLONG, errno.EROFS):
                raise
            return _write_in_place(path, raw)  # a writable file in a folder that is not, say
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(raw)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp, mode)  # mkstemp makes it private
            staged = _staged.get()
            if staged is not None:  # inside together(): renamed with the others at its end
                staged.append((temp, path))
                return None
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
    except OSError as error:
        if error.filename == str(path):
            raise
        raise type(error)(error.errno, error.strerror or str(error), str(path)) from error
    return None


# the files written inside together(), in this thread (or task) alone
_staged: contextvars.ContextVar[list[tuple[str, Path]] | None] = contextvars.ContextVar(
    "lrkit_staged", default=None
)


@contextlib.contextmanager
def together() -> Iterator[None]:
    """Makes the files :func:`write_file` writes in the block appear all at once at its end, or,
    if the block raises (a full disk at the third file), none of them: each is written whole
    into a temporary file next to its place, and all are renamed into place once the last is
    written. (A file written in place, a symbolic link's target say, is written at once.)

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> try:
        ...     with together():
        ...         write_file(folder / "a.json", "{}")
        ...         raise OSError("the disk is full")
        ... except OSError:
        ...     pass
        >>> list(folder.iterdir())
        []
    """
    if _staged.get() is not None:  # inside another: its end is this one's
        yield
        return
    staged: list[tuple[str, Path]] = []
    token = _staged.set(staged)
    renamed = 0
    try:
        try:
            yield
        finally:
            _staged.reset(token)  # a write from here on is its own
        for temp, path in staged:
            os.replace(temp, path)
            renamed += 1
    except BaseException:
        for temp, _ in staged[renamed:]:
            with contextlib.suppress(OSError):
                os.unlink(temp)
        raise


@contextlib.contextmanager
def writing() -> Iterator[None]:
    """Where a command writes its files: Ctrl-C waits until they are all written
    (:func:`lrkit.interrupts.deferred`), and they appear together or, if one cannot be written
    (a full disk), none does (:func:`together`)."""
    from lrkit.interrupts import deferred

    with deferred(), together():
        yield


def _write_in_place(path: Path, raw: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(raw)


def _umask() -> int:
    """This process's umask, read without changing it where Linux says it (``os.umask`` sets
    it while it reads, for every thread)."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        status = Path("/proc/self/status").read_text()
        return int(
            next(line for line in status.splitlines() if line.startswith("Umask:")).split()[1], 8
        )
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def csv_text(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """``rows`` as CSV text under the header ``columns``, lines ended by ``\n``: a value that
    is missing, ``None``, NaN or infinite is an empty field (the JSON files' ``null``).

    Example:
        >>> row = {"lr": 0.1, "loss": float("nan"), "best": True}
        >>> print(csv_text([row], ["lr", "loss", "best"]))
        lr,loss,best
        0.1,,True
        <BLANKLINE>
    """
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _csv_value(v) for k, v in row.items()} for row in rows)
    return buffer.getvalue()


def _csv_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


PNG_DPI = 110
"""The resolution of every PNG a command writes."""


def save_png(fig: Figure, path: Path, dpi: int = PNG_DPI) -> None:
    """Saves ``fig`` as a PNG at ``path``, whole or not at all (see :func:`write_file`)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    write_file(path, buffer.getvalue())
