"""``report.html``: one self-contained page of sections, written atomically, read back to merge.

Each section sits between comment markers that :func:`read_sections` finds again, so that
``lrkit find``, ``search``, ``compare`` and ``tune`` can each write their part of one report
(``merge=True``) without disturbing the others'::

    <!-- lrkit-section:range_test -->
    <section id="range_test" data-lrkit-section="range_test" data-lrkit-title="Range test">
    <h2>Range test</h2>
    ...
    </section>
    <!-- /lrkit-section:range_test -->

Example:
    >>> import tempfile
    >>> from lrkit.report.sections import summary_section
    >>> folder = tempfile.mkdtemp()
    >>> path = write_report(folder, [summary_section({"best LR": 0.01})], title="digits")
    >>> path.name, [s.key for s in read_sections(path)]
    ('report.html', ['summary'])
    >>> import shutil; shutil.rmtree(folder)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timezone
from html import unescape
from pathlib import Path

from lrkit.errors import ConfigError, bad_value
from lrkit.outputs import REPORT, write_file
from lrkit.report.html import Section, escape
from lrkit.report.merge import merge_sections
from lrkit.report.style import CSS

ORDER = ("summary", "range_test", "search", "compare", "training", "reproduce")
"""Where known sections go, top to bottom; other keys follow in the order given."""

REPORT_NAME = REPORT
"""The file written when :func:`write_report` is given a folder."""

_SECTION = re.compile(
    r"<!-- lrkit-section:(?P<key>[a-z][a-z0-9_-]*) -->\s*"
    r"<section\b(?P<attrs>[^>]*)>\s*<h2\b[^>]*>(?P<heading>.*?)</h2>\s*"
    r"(?P<body>.*?)\s*</section>\s*<!-- /lrkit-section:(?P=key) -->",
    re.DOTALL,
)
_TITLE = re.compile(r'data-lrkit-title="([^"]*)"')
_TAG = re.compile(r"<[^>]+>")
_TASK = re.compile(r'<meta name="lrkit-task" content="([^"]*)">')


def write_report(
    path: str | Path,
    sections: Sequence[Section],
    *,
    title: str,
    subtitle: str | None = None,
    merge: bool = False,
    task: str | None = None,
) -> Path:
    """Writes ``sections`` as one HTML file (figures embedded, no network needed to view it).

    Args:
        path: The file to write (a name ending in ``.html``), or a folder to write
            ``report.html`` in, such as a command's ``--out``. Missing folders are made.
        sections: The sections; they are shown in :data:`ORDER` whatever order they come in.
        title: The page's heading and ``<title>``, e.g. ``"digits: lr 0.012 with cosine"``.
        subtitle: A line under the heading.
        merge: Keep the sections of an existing report at ``path`` that ``sections`` do not
            replace (see :func:`~lrkit.report.merge.merge_sections`); otherwise overwrite it.
            A report on another ``task`` is overwritten all the same (its sections are not
            about this one); one that names no task, or a call without ``task``, merges (and
            keeps the task the report names).
        task: What the report is about (a built-in task's name, a task file's path), recorded
            in the page for :func:`report_task`.

    Returns:
        The path written.

    Raises:
        ConfigError: The folder cannot be made (the message names it), two sections share a
            key, or an argument has the wrong type.
        OSError: The file cannot be written (a full disk; the error names it). The report
            that was there is left as it was.
    """
    if not isinstance(title, str) or not title.strip():
        raise bad_value("title", "a non-empty string", title)
    if subtitle is not None and not isinstance(subtitle, str):
        raise bad_value("subtitle", "a string or None", subtitle)
    if task is not None and not isinstance(task, str):
        raise bad_value("task", "a string or None", task)
    sections = _checked(sections)
    target = _report_file(path)
    before = report_task(target) if merge else None
    if merge and task is None:  # what the report is about stays said
        task = before
    if merge and target.is_file() and before in (None, task):
        sections = merge_sections(read_sections(target), sections)
    _make_folder(target.parent)
    write_file(target, render_report(sections, title=title, subtitle=subtitle, task=task))
    return target


def foreign_report(folder: str | Path) -> bool:
    """Whether ``folder`` holds a ``report.html`` that lrkit did not write (no generator tag of
    lrkit's near its top): a file of the user's, which a command's report would replace.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> foreign_report(folder)
        False
        >>> _ = (folder / "report.html").write_text("<html>my notes</html>")
        >>> foreign_report(folder)
        True
        >>> foreign_report(write_report(folder, [], title="digits").parent)
        False
        >>> import shutil; shutil.rmtree(folder)
    """
    target = _report_file(folder)
    if not target.is_file():
        return False
    try:
        with target.open(encoding="utf-8", errors="replace") as file:
            head = file.read(4096)
    except OSError:  # unreadable: writing it fails on its own, naming it
        return False
    return '<meta name="generator" content="lrkit ' not in head


def report_task(path: str | Path) -> str | None:
    """The task a report written by :func:`write_report` is about; ``None`` when it does not
    say (no ``task`` was given, or the file is missing or not lrkit's).

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> report_task(write_report(folder, [], title="digits", task="digits"))
        'digits'
        >>> import shutil; shutil.rmtree(folder)
    """
    try:
        with _report_file(path).open(encoding="utf-8", errors="replace") as file:
            head = file.read(4096)  # the meta tags come first
    except OSError:
        return None
    found = _TASK.search(head)
    return unescape(found.group(1)) if found else None


def read_sections(path: str | Path) -> list[Section]:
    """The sections of a report written by :func:`write_report`, in the file's order.

    A file without lrkit's markers has no sections.

    Raises:
        ConfigError: ``path`` (or ``report.html`` in the folder ``path``) is not a readable file.
    """
    target = _report_file(path)
    try:
        text = target.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise ConfigError(
            f"report must be a readable lrkit report file, got '{target}': "
            f"{error.strerror or error}"
        ) from error
    found = []
    for match in _SECTION.finditer(text):
        named = _TITLE.search(match["attrs"])
        title = unescape(named.group(1) if named else _TAG.sub("", match["heading"])).strip()
        found.append(Section(match["key"], title or match["key"], match["body"]))
    return found


def order_sections(sections: Sequence[Section]) -> list[Section]:
    """``sections`` in :data:`ORDER`, sections of other keys after them as given.

    Example:
        >>> keys = ["notes", "reproduce", "range_test", "summary"]
        >>> [s.key for s in order_sections([Section(k, k, "") for k in keys])]
        ['summary', 'range_test', 'reproduce', 'notes']
    """
    rank = {key: i for i, key in enumerate(ORDER)}
    indexed = list(enumerate(sections))
    indexed.sort(key=lambda pair: (rank.get(pair[1].key, len(ORDER)), pair[0]))
    return [s for _, s in indexed]


def render_report(
    sections: Sequence[Section],
    *,
    title: str,
    subtitle: str | None = None,
    generated: datetime | None = None,
    task: str | None = None,
) -> str:
    """The whole HTML page: inline CSS only, a table of contents, the sections, a footer."""
    from lrkit import __version__

    ordered = order_sections(_checked(sections))
    when = (generated or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M %Z").strip()
    toc = "".join(f'<a href="#{s.key}">{escape(s.title)}</a>' for s in ordered)
    head = [
        '<p class="brand">lrkit report</p>',
        f"<h1>{escape(title)}</h1>",
        f'<p class="subtitle">{escape(subtitle)}</p>' if subtitle else "",
        f'<nav class="toc" aria-label="Contents">{toc}</nav>' if len(ordered) > 1 else "",
    ]
    body = "\n".join(_section_html(s) for s in ordered) or "<p>No sections yet.</p>"
    about = f'\n<meta name="lrkit-task" content="{escape(task)}">' if task is not None else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="lrkit {escape(__version__)}">{about}
<title>{escape(title)}</title>
<style>
{CSS}
</style>
</head>
<body>
<header class="page-header"><div class="wrap">
{"".join(part + chr(10) for part in head if part)}</div></header>
<main class="wrap">
{body}
</main>
<footer class="page-footer"><div class="wrap"><p>Generated by lrkit {escape(__version__)} on
{escape(when)}. Self-contained: figures are embedded, nothing is fetched to view this page.</p>
</div></footer>
</body>
</html>
"""


def _report_file(path: str | Path) -> Path:
    """``path`` itself if it names an HTML file, else ``report.html`` in the folder ``path``."""
    target = Path(path)
    if target.suffix.lower() in (".html", ".htm") and not target.is_dir():
        return target
    return target / REPORT_NAME


def _section_html(s: Section) -> str:
    key, title = s.key, escape(s.title)
    return (
        f"<!-- lrkit-section:{key} -->\n"
        f'<section id="{key}" data-lrkit-section="{key}" data-lrkit-title="{title}">\n'
        f"<h2>{title}</h2>\n{s.html.strip()}\n</section>\n"
        f"<!-- /lrkit-section:{key} -->"
    )


def _checked(sections: Sequence[Section]) -> list[Section]:
    if isinstance(sections, Section) or not all(isinstance(s, Section) for s in sections):
        raise bad_value("sections", "a sequence of Section objects", sections)
    keys = [s.key for s in sections]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ConfigError(
            f"sections must have distinct keys, got {', '.join(map(repr, twice))} more than "
            "once; build one section per key."
        )
    return list(sections)


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = "it is a file" if folder.is_file() else error.strerror or str(error)
        raise _unwritable(folder, reason) from error


def _unwritable(folder: Path, reason: str) -> ConfigError:
    return ConfigError(f"out must be a writable folder, got '{folder}': {reason}.")
