"""The "how to reproduce" section: the exact commands, copyable, and the versions they ran with.

Each command is one block in a ``<pre>``: a long one wraps on screen with its next lines indented
under its first, and copying the block gives each command back on one line.

Example:
    >>> s = reproduce_section(["lrkit find digits", "lrkit search digits"], versions={})
    >>> section_commands(s)
    ['lrkit find digits', 'lrkit search digits']
"""

from __future__ import annotations

import html
import platform
import re
import sys
from collections.abc import Mapping, Sequence
from importlib import metadata

from lrkit.errors import bad_value
from lrkit.report.html import Section, escape, facts_html

VERSIONED = ("torch", "numpy", "optuna", "matplotlib", "scikit-learn")
"""The libraries whose versions :func:`environment_versions` records, after lrkit and Python."""

_COMMANDS = re.compile(r'(<pre class="commands"><code>)(.*?)(</code></pre>)', re.DOTALL)
_COMMAND = re.compile(r'<span class="cmd">(.*?)</span>', re.DOTALL)


def reproduce_section(
    commands: Sequence[str],
    *,
    versions: Mapping[str, str] | None = None,
    title: str = "How to reproduce",
) -> Section:
    """The exact commands, one per line in a copyable block, and the versions they ran with.

    Args:
        commands: The commands in the order to run them. A long one wraps on screen, its next
            lines indented under its first; copying the block gives each back on one line.
        versions: Library versions to list; ``None`` records :func:`environment_versions`,
            ``{}`` lists none.
        title: The section's heading.

    Example:
        >>> s = reproduce_section(["lrkit find digits --seed 0"], versions={})
        >>> print(s.html)
        <pre class="commands"><code><span class="cmd">lrkit find digits --seed 0</span></code></pre>
    """
    if isinstance(commands, str) or not all(isinstance(c, str) for c in commands):
        raise bad_value("commands", "a sequence of command strings", commands)
    body = f'<pre class="commands"><code>{_commands_html(commands)}</code></pre>'
    versions = environment_versions() if versions is None else versions
    if versions:
        body += f'\n<p class="caption">Versions</p>\n{facts_html(dict(versions))}'
    if "threads" in versions:
        body += (
            '\n<p class="caption">On the CPU the commands repeat these numbers to the digit with'
            " these versions and as many threads (<code>OMP_NUM_THREADS</code>; a search's"
            " workers each had their share of the cores); another thread count moves their last"
            " digits.</p>"
        )
    return Section("reproduce", title, body)


def section_commands(section: Section) -> list[str]:
    """The commands of a :func:`reproduce_section`, e.g. as read back from a file.

    Example:
        >>> section_commands(reproduce_section(["lrkit find 'a b'", "lrkit search"], versions={}))
        ["lrkit find 'a b'", 'lrkit search']
    """
    found = _COMMANDS.search(section.html)
    if found is None:
        return []
    return [html.unescape(c) for c in _COMMAND.findall(found.group(2))]


def with_commands(section: Section, commands: Sequence[str]) -> Section:
    """``section`` (a reproduce section) listing ``commands`` instead, its versions kept."""
    lines = _commands_html(commands)
    body = _COMMANDS.sub(lambda m: m.group(1) + lines + m.group(3), section.html, count=1)
    return Section(section.key, section.title, body)


def _commands_html(commands: Sequence[str]) -> str:
    # Block spans, not newlines: the browser copies one line per block, and CSS can indent a
    # wrapped command's continuation lines so that they do not read as commands of their own.
    return "".join(f'<span class="cmd">{escape(c.strip())}</span>' for c in commands if c.strip())


def environment_versions() -> dict[str, str]:
    """lrkit's, Python's and the main libraries' versions, read without importing them, and
    torch's CPU threads (``threads``) where the process has imported torch (it trained).

    Example:
        >>> list(environment_versions())[:2]
        ['lrkit', 'python']
    """
    from lrkit import __version__

    found = {"lrkit": __version__, "python": platform.python_version()}
    for name in VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    found["platform"] = platform.platform(terse=True)
    torch = sys.modules.get("torch")  # a CPU sum's last bits move with the thread count
    if torch is not None:
        found["threads"] = str(torch.get_num_threads())
    return found
