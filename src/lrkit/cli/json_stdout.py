"""``--json``: stdout holds the JSON document alone, printed once the command is done."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

_json_documents: list[str] = []


def print_json(document: str) -> None:
    """Prints ``document`` on stdout once the command is done (see :func:`stdout_for_json`)."""
    _json_documents.append(document if document.endswith("\n") else document + "\n")


@contextlib.contextmanager
def stdout_for_json(enabled: bool) -> Iterator[None]:
    """With ``--json``, stdout holds the JSON document alone: while the command runs, whatever
    else prints there (a task file's ``print()``, a search's worker processes) goes to stderr,
    and :func:`print_json`'s document is written after.

    Example:
        >>> import io
        >>> with contextlib.redirect_stdout(io.StringIO()) as out:
        ...     with stdout_for_json(True):
        ...         print("loading data...")  # a task file's
        ...         print_json('{"lr": 0.1}')
        >>> out.getvalue()
        '{"lr": 0.1}\\n'
    """
    _json_documents.clear()  # an earlier command of this process that failed left its own
    saved = _duplicate_stdout() if enabled else None
    if saved is None:  # no --json, or no stdout to keep pure (closed: >&-)
        yield
        _print_documents()
        return
    os.dup2(2, 1)  # for processes started meanwhile, which write to the descriptor
    previous, sys.stdout = sys.stdout, sys.stderr
    try:
        yield
    finally:
        for stream in (previous, sys.stderr):  # what went to either meanwhile goes to stderr
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        sys.stdout = previous
        os.dup2(saved, 1)
        os.close(saved)
    _print_documents()


def _duplicate_stdout() -> int | None:
    """A duplicate of the descriptor under stdout, both streams flushed; None without one."""
    if sys.stdout is None:
        return None
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        return os.dup(1)
    except (OSError, ValueError):
        return None


def _print_documents() -> None:
    if _json_documents and sys.stdout is not None:
        sys.stdout.write("".join(_json_documents))
        sys.stdout.flush()
