"""How a command's sections join those already in a report, so each command writes its part.

A new section replaces the old one of the same key, with two exceptions that would otherwise lose
what an earlier command wrote: the summary keeps the earlier items whose labels the new one does
not show, and the reproduce section keeps the earlier commands of other lrkit subcommands
(``lrkit find ...`` then ``lrkit search ...`` lists both; running ``lrkit find`` again replaces
the first).

Example:
    >>> from lrkit.report.reproduce import reproduce_section, section_commands
    >>> old = [reproduce_section(["lrkit find digits"], versions={})]
    >>> new = [reproduce_section(["lrkit search digits", "lrkit find digits --seed 1"],
    ...                          versions={})]
    >>> section_commands(merge_sections(old, new)[0])
    ['lrkit search digits', 'lrkit find digits --seed 1']
"""

from __future__ import annotations

from collections.abc import Sequence

from lrkit.report.html import Section
from lrkit.report.reproduce import section_commands, with_commands
from lrkit.report.sections import summary_items, summary_section


def merge_sections(old: Sequence[Section], new: Sequence[Section]) -> list[Section]:
    """The old sections that ``new`` does not replace, then ``new`` (merged where it applies).

    Example:
        >>> from lrkit.report.sections import summary_section, summary_items
        >>> merged = merge_sections([summary_section({"suggestion": 0.01, "range": (0.001, 0.1)})],
        ...                         [summary_section({"best LR": 0.02, "range": (0.002, 0.2)})])
        >>> summary_items(merged[0])
        {'suggestion': '0.01', 'best LR': '0.02', 'range': '0.002 to 0.2'}
    """
    earlier = {s.key: s for s in old}
    replaced = {s.key for s in new}
    merged = []
    for s in new:
        before = earlier.get(s.key)
        if before is not None and s.key == "summary":
            s = _merge_summary(before, s)
        elif before is not None and s.key == "reproduce":
            s = _merge_commands(before, s)
        merged.append(s)
    return [s for s in old if s.key not in replaced] + merged


def command_key(command: str) -> str:
    """What a command does, so a rerun replaces it: ``"lrkit <subcommand>"``, else the command.

    Example:
        >>> command_key("python -m lrkit find digits --seed 3"), command_key("pip install lrkit")
        ('lrkit find', 'pip install lrkit')
    """
    tokens = command.split()
    for i, token in enumerate(tokens[:-1]):
        if token.rsplit("/", 1)[-1] == "lrkit" and not tokens[i + 1].startswith("-"):
            return f"lrkit {tokens[i + 1]}"
    return " ".join(tokens)


def _merge_summary(old: Section, new: Section) -> Section:
    before, after = summary_items(old), summary_items(new)
    if not before or not after:  # not lrkit's own summary markup: the new one simply replaces
        return new
    items = {k: v for k, v in before.items() if k not in after} | after
    return summary_section(items, title=new.title)


def _merge_commands(old: Section, new: Section) -> Section:
    before, after = section_commands(old), section_commands(new)
    if not after:
        return new
    done = {command_key(c) for c in after}
    return with_commands(new, [c for c in before if command_key(c) not in done] + after)
