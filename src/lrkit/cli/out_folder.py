"""A command's ``--out`` folder: checked and held before any training, and its part of the
folder's ``report.html`` written after."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lrkit.cli import HOLDS, UsageError, command_line
from lrkit.outputs import SUMMARY, held, in_the_way, unwritable

REPORT_PART = {"find": "range_test", "search": "search", "compare": "compare"}
"""The section of ``report.html`` each command writes (and a rerun replaces)."""


def write_report_part(
    out: Any, sections: list[Any], *, title: str, subtitle: str, task: str
) -> Any:
    """Writes a command's sections into ``out/report.html`` (keeping the other commands' parts
    on the same ``task``, as :func:`~lrkit.tasks.registry.task_identity` names it), with the
    command line under "how to reproduce"; returns the file's path."""
    from lrkit.report import reproduce_section, write_report

    return write_report(
        out,
        [*sections, reproduce_section([command_line()])],
        title=title,
        subtitle=subtitle,
        merge=True,
        task=task,
    )


def check_out(
    out: Path, *, command: str | None = None, files: Sequence[str] = (), task: str | None = None
) -> None:
    """Fails before any training if ``out`` cannot be made or written (exit status 2).

    It is tried for real (made, a file written and removed), then everything this made is
    removed again: a usage error later still leaves nothing behind. ``command`` (``"find"``,
    ``"search"``, ``"compare"``): the folder is then held for this process until the command
    ends (:func:`lrkit.outputs.held`), so that another process's command on it fails at once
    (exit 1) instead of mixing its files in; a folder that holds an ``lrkit tune`` run is
    refused, since the command would replace a stage of it and the report would contradict its
    summary; so is one whose report holds another command's part on another ``task`` (see
    :func:`write_report_part`), which the report would mix with this one. ``files``: the names
    the command writes there; a folder in the place of one is refused.
    """
    problem = unwritable(out)
    if problem is not None:
        raise UsageError(
            f"--out must be a folder that can be made and written, got {os.fspath(out)!r}: "
            f"{problem}."
        )
    if command is not None:  # held from here to the command's end (see main), checks and all
        HOLDS.enter_context(held(out, f"lrkit {command}"))
    if command is not None and is_tune_folder(out):
        raise UsageError(
            f"--out {os.fspath(out)!r} holds an `lrkit tune` run; `lrkit {command}` would "
            "replace one of its stages and its report would no longer agree with its summary: "
            "use another folder."
        )
    if command is not None and task is not None:
        other = other_task_part(out, task, keep=REPORT_PART[command])
        if other is not None:
            raise UsageError(
                f"--out {os.fspath(out)!r} holds {other}; this `lrkit {command}` is on "
                f"{task!r}, and one report would show both: use another folder."
            )
    problem = in_the_way(out, files)
    if problem is not None:
        raise UsageError(
            f"--out must be a folder that can be made and written, got {os.fspath(out)!r}: "
            f"{problem}."
        )
    if command is not None:
        refuse_foreign_report(out)


def refuse_foreign_report(out: Path) -> None:
    """A UsageError when ``out`` holds a ``report.html`` lrkit did not write, which the
    command's report would replace."""
    from lrkit.report.document import foreign_report

    if foreign_report(out):
        raise UsageError(
            f"--out {os.fspath(out)!r} holds a report.html that lrkit did not write, which "
            "this command's report would replace: use another folder, or move that file."
        )


def other_task_part(folder: Path, task: str, *, keep: str) -> str | None:
    """What ``folder``'s report holds on a task other than ``task``, besides the part ``keep``
    that the command replaces (``"a search on 'digits'"``); ``None`` when nothing.

    Example:
        >>> import tempfile
        >>> from lrkit.report import Section, write_report
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = write_report(folder, [Section("search", "Search", "")], title="t", task="digits")
        >>> other_task_part(folder, "friedman", keep="range_test")
        "a search on 'digits'"
        >>> other_task_part(folder, "friedman", keep="search") is None
        True
        >>> import shutil; shutil.rmtree(folder)
    """
    from lrkit.report import read_sections
    from lrkit.report.document import report_task

    before = report_task(folder)
    if before is None or before == task:
        return None
    shown = {"range_test": "a range test", "search": "a search", "compare": "a comparison"}
    parts = [s.key for s in read_sections(folder) if s.key not in (keep, "reproduce")]
    if not parts:
        return None
    what = " and ".join(shown.get(key, f"a {key!r} section") for key in parts)
    return f"{what} on {before!r}"


def is_tune_folder(folder: Path) -> bool:
    """Whether ``folder`` holds an ``lrkit tune`` run: its ``summary.json``, or the stages of
    one that has not finished (``.lrkit-stages/run.json``)."""
    from lrkit.tune.stages import CACHE_DIR, RUN_FILE

    with contextlib.suppress(OSError):
        if (folder / CACHE_DIR / RUN_FILE).is_file():
            return True
    try:
        summary = json.loads((folder / SUMMARY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    settings = summary.get("settings") if isinstance(summary, dict) else None
    return isinstance(settings, dict) and "plan" in settings
