"""The HTML building blocks of a report: a section, an embedded figure, a table.

Everything here returns plain HTML strings; nothing refers to anything outside the page. A
figure becomes a PNG inside a ``data:`` URI, so ``report.html`` is one file that opens offline.

Example:
    >>> s = Section("summary", "Summary", table_html([{"lr": 0.0123, "task": "<digits>"}]))
    >>> "<td class=\\"num\\">0.0123</td>" in s.html, "&lt;digits&gt;" in s.html
    (True, True)
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lrkit.errors import ConfigError, bad_value

if TYPE_CHECKING:
    from matplotlib.figure import Figure

KEY_PATTERN = re.compile(r"[a-z][a-z0-9_-]*")
"""What a section key may look like: it becomes an HTML id and part of a comment marker."""

DISPLAY_DPI = 100
"""CSS pixels per figure inch: a 7-inch figure shows 700 px wide (less in a narrow window)."""

RENDER_SCALE = 2
"""Pixels drawn per CSS pixel, so that figures stay sharp on high-density screens and zoomed."""


@dataclass(frozen=True)
class Section:
    """One part of a report, as one command writes it.

    Attributes:
        key: What the section holds: ``"summary"``, ``"range_test"``, ``"search"``,
            ``"compare"``, ``"training"``, ``"reproduce"``, or a key of your own (lowercase
            letters, digits, ``_`` and ``-``). A later report write with the same key replaces it.
        title: The heading shown above the section and in the table of contents.
        html: The section's body (without the heading): trusted HTML, escape any text in it.

    Example:
        >>> Section("range_test", "Range test", "<p>ok</p>").key
        'range_test'
        >>> Section("Range Test", "x", "")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lrkit.errors.ConfigError: key must be lowercase letters, digits, '_' or '-' ...
    """

    key: str
    title: str
    html: str

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not KEY_PATTERN.fullmatch(self.key):
            raise bad_value(
                "key",
                "lowercase letters, digits, '_' or '-' starting with a letter (e.g. 'range_test')",
                self.key,
            )
        if not isinstance(self.title, str) or not self.title.strip():
            raise bad_value("title", "a non-empty string", self.title)
        if not isinstance(self.html, str):
            raise bad_value("html", "a string of HTML", type(self.html).__name__)


def escape(value: object) -> str:
    """``str(value)`` with ``& < > " '`` escaped, safe in text and in quoted attributes.

    Example:
        >>> escape('<script>alert("x")</script>')
        '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;'
    """
    return html.escape(str(value), quote=True)


def figure_html(fig: Figure, alt: str, *, dpi: float = DISPLAY_DPI) -> str:
    """A matplotlib figure as an ``<img>`` holding a PNG ``data:`` URI.

    The PNG is drawn at ``RENDER_SCALE`` times ``dpi``; ``width``/``height`` give the size in CSS
    pixels (so the page lays out before decoding) and the image shrinks to fit narrow windows.

    Args:
        fig: The figure (made with ``matplotlib.figure.Figure``; pyplot is never needed).
        alt: What the figure shows, for screen readers and when images are off.
        dpi: CSS pixels per figure inch.

    Example:
        >>> from matplotlib.figure import Figure
        >>> fig = Figure(figsize=(2, 1))
        >>> _ = fig.add_subplot().plot([1, 2], [3, 4])
        >>> tag = figure_html(fig, "a line")
        >>> tag.startswith('<img src="data:image/png;base64,'), 'width="200" height="100"' in tag
        (True, True)
    """
    if not (isinstance(dpi, (int, float)) and math.isfinite(dpi) and dpi > 0):
        raise bad_value("dpi", "a positive number", dpi)
    from matplotlib.colors import to_rgba

    buffer = io.BytesIO()
    # the figure's own background (a dark style's text is light), white where it has none
    face = to_rgba(fig.get_facecolor())
    fig.savefig(
        buffer, format="png", dpi=dpi * RENDER_SCALE, facecolor=face if face[3] else "white"
    )
    png = buffer.getvalue()
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk: the pixel size
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<img src="data:image/png;base64,{data}" alt="{escape(alt)}" '
        f'width="{round(width / RENDER_SCALE)}" height="{round(height / RENDER_SCALE)}" '
        'style="max-width:100%;height:auto">'
    )


def format_value(value: Any, floatfmt: str = ".4g") -> str:
    """A cell's text: ``""`` for ``None``, floats by ``floatfmt``, anything else by ``str``.

    Example:
        >>> format_value(0.012345), format_value(None), format_value(True), format_value(3)
        ('0.01235', '', 'yes', '3')
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return format(value, floatfmt) if math.isfinite(value) else str(value)
    return str(value)


def format_metric(metric: str, value: float | None) -> str:
    """A metric's text: an accuracy as a percentage (as the summary, the comparison and the CLI
    show it), any other as :func:`format_value` has it.

    Example:
        >>> format_metric("accuracy", 0.98612), format_metric("r2", 0.91234)
        ('98.61%', '0.9123')
    """
    if metric == "accuracy" and value is not None and math.isfinite(value):
        return f"{value:.2%}"
    return format_value(value)


def table_html(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str] | None = None,
    *,
    floatfmt: str | Mapping[str, str] = ".4g",
    headers: Mapping[str, str] | None = None,
) -> str:
    """An HTML table of ``rows`` in a wrapper that scrolls sideways when the window is narrow.

    Args:
        rows: One mapping per row; missing keys give empty cells.
        columns: The columns in order; ``None`` takes every key, in the order first seen.
        floatfmt: A format for float cells, or one per column (others get ``".4g"``).
        headers: Column headings to show instead of the keys.

    Example:
        >>> print(table_html([{"a": 1.0, "b": "x"}], floatfmt={"a": ".2f"}))
        <div class="table-wrap" style="overflow-x:auto;max-width:100%"><table>
        <thead><tr><th class="num">a</th><th>b</th></tr></thead>
        <tbody>
        <tr><td class="num">1.00</td><td>x</td></tr>
        </tbody></table></div>
    """
    if isinstance(rows, Mapping) or not all(isinstance(row, Mapping) for row in rows):
        raise ConfigError("rows must be a sequence of mappings (one dict per row).")
    if columns is None:
        columns = list(dict.fromkeys(key for row in rows for key in row))
    names = headers or {}

    def fmt(column: str) -> str:
        return floatfmt if isinstance(floatfmt, str) else floatfmt.get(column, ".4g")

    numeric = {}  # right-aligned: columns of numbers (and blanks)
    for c in columns:
        values = [row.get(c) for row in rows if row.get(c) is not None]
        numeric[c] = bool(values) and all(_is_number(v) for v in values)
    head = "".join(f"<th{_cell(numeric[c])}>{escape(names.get(c, c))}</th>" for c in columns)
    body = "\n".join(
        "<tr>"
        + "".join(
            f"<td{_cell(numeric[c], text)}>{escape(text)}</td>"
            for c in columns
            for text in (format_value(row.get(c), fmt(c)),)
        )
        + "</tr>"
        for row in rows
    )
    return (
        '<div class="table-wrap" style="overflow-x:auto;max-width:100%"><table>\n'
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table></div>"
    )


def facts_html(facts: Mapping[str, Any]) -> str:
    """A two-column table of labelled values; empty values (``None``, ``""``) are left out.

    Example:
        >>> print(facts_html({"suggestion": 0.0123, "warning": None}))
        <div class="table-wrap facts" style="overflow-x:auto;max-width:100%"><table>
        <tbody>
        <tr><th scope="row">suggestion</th><td>0.0123</td></tr>
        </tbody></table></div>
    """
    rows = "\n".join(
        f'<tr><th scope="row">{escape(k)}</th><td>{escape(format_value(v))}</td></tr>'
        for k, v in facts.items()
        if v is not None and v != ""
    )
    return (
        '<div class="table-wrap facts" style="overflow-x:auto;max-width:100%">'
        f"<table>\n<tbody>\n{rows}\n</tbody></table></div>"
    )


def paragraphs_html(text: str) -> str:
    """Plain text as ``<p>`` paragraphs (split at blank lines), escaped.

    Example:
        >>> paragraphs_html("a < b\\n\\nsecond")
        '<p>a &lt; b</p>\\n<p>second</p>'
    """
    parts = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    return "\n".join(f"<p>{escape(p)}</p>" for p in parts)


_NUMBER = r"[-+]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?%?|[-+]?inf|nan"
_NUMBER_TEXT = re.compile(rf"(?:{_NUMBER})(?:±(?:{_NUMBER}))?|\((?:{_NUMBER})\)|-", re.IGNORECASE)
"""A cell's text that reads as a number: ``0.1913``, ``1,200``, ``97.65%``, ``98.61±0.20``,
``-inf``, a stopped trial's ``(0.1138)``, or ``-`` where there is none (not a list such as
``30,60``)."""


def _is_number(value: Any) -> bool:
    """Whether a cell is a number, or text written as one (right-aligned as numbers are).

    Example:
        >>> [_is_number(v) for v in (0.5, True, "97.65%", "98.61±0.00", "(0.1138)", "(inf)")]
        [True, False, True, True, True, True]
        >>> [_is_number(v) for v in ("30,60", "1,", "(0.5", "cosine:5", "1,200", "-inf")]
        [False, False, False, False, True, True]
    """
    if isinstance(value, str):
        return _NUMBER_TEXT.fullmatch(value.strip()) is not None
    return isinstance(value, (int, float)) and not isinstance(value, bool)


LONG_CELL = 24
"""A cell of more characters than this may be broken anywhere on paper (a path, an error);
shorter ones break at spaces only, so that a number or a word is never split."""


def _cell(numeric: bool, text: str = "") -> str:
    """A cell's class attribute: ``num`` (right-aligned), ``long`` (may break anywhere); a
    header's is given no text, so it is never ``long``."""
    classes = ["num"] * numeric + ["long"] * (len(text) > LONG_CELL)
    return f' class="{" ".join(classes)}"' if classes else ""
