"""``report.html``: the self-contained page that ``lrkit find``, ``search``, ``compare`` and
``tune`` write, with the plots embedded so that it opens anywhere without a network.

Build sections from lrkit's results, then write them; each command writes its part of one report
with ``merge=True``, keeping the sections the others wrote.

Example:
    >>> import tempfile
    >>> from lrkit.report import reproduce_section, summary_section, write_report
    >>> folder = tempfile.mkdtemp()
    >>> path = write_report(folder, [summary_section({"best LR": 0.012}),
    ...                              reproduce_section(["lrkit tune digits"], versions={})],
    ...                     title="digits: lr 0.012")
    >>> "data-lrkit-section=\\"reproduce\\"" in path.read_text()
    True
    >>> import shutil; shutil.rmtree(folder)

Importing this package does not import matplotlib; drawing a section does.
"""

from __future__ import annotations

from lrkit.report.document import ORDER, REPORT_NAME, read_sections, render_report, write_report
from lrkit.report.html import Section, figure_html
from lrkit.report.merge import merge_sections
from lrkit.report.reproduce import environment_versions, reproduce_section, section_commands
from lrkit.report.sections import (
    range_test_section,
    search_section,
    section,
    summary_items,
    summary_section,
    training_section,
)

__all__ = [
    "ORDER",
    "REPORT_NAME",
    "Section",
    "environment_versions",
    "figure_html",
    "merge_sections",
    "range_test_section",
    "read_sections",
    "render_report",
    "reproduce_section",
    "search_section",
    "section",
    "section_commands",
    "summary_items",
    "summary_section",
    "training_section",
    "write_report",
]
