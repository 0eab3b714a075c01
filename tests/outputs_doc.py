"""Checks an output file's keys against docs/outputs.md, which documents each one.

A file's keys are written as the doc writes them: ``counts.pruned`` for a nested dict,
``trials[].lr`` for the dicts of a list (the first one's keys). A key whose value is ``null``
stands for the documented keys under it (``range_test.range`` when ``range_test`` is null).
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parents[1] / "docs" / "outputs.md"
CSV_OF = {"search.csv": ("search.json", "trials[]."), "compare.csv": ("compare.json", "rows[].")}
CSV_LEFT_OUT = {"search.csv": {"traceback"}}
# keys a file holds under another file's names: summary.json's comparison is compare.json's rows
BORROWED = {"summary.json": [("comparison[].", "compare.json", "rows[].")]}


def documented(name: str) -> set[str]:
    """The keys the doc's table under ``## `name``` lists."""
    sections = re.split(r"^## ", DOC.read_text(), flags=re.M)
    [section] = [s for s in sections if s.startswith(f"`{name}`")]
    keys = set()
    for line in section.splitlines():
        if match := re.match(r"\| `([^`]+)`(?:, `([^`]+)`)? \|", line):
            keys.update(k for k in match.groups() if k)
    for prefix, source, theirs in BORROWED.get(name, []):
        keys |= {
            prefix + k.removeprefix(theirs) for k in documented(source) if k.startswith(theirs)
        }
    return keys


def flat(data: Any, prefix: str = "") -> dict[str, Any]:
    """Every key of ``data`` as the doc writes it, with its value; a list of dicts as its
    first dict's."""
    keys = {prefix: data} if prefix else {}
    if isinstance(data, dict):
        for key, value in data.items():
            keys |= flat(value, f"{prefix}.{key}" if prefix else key)
    elif isinstance(data, list) and data and isinstance(data[0], dict):
        keys = {f"{prefix}[]": data[0]} | flat(data[0], f"{prefix}[]")
    return keys


def assert_keys_documented(path: Path) -> None:
    """``path`` (a JSON or CSV file lrkit wrote) has every key its doc table lists, and no other."""
    if path.name in CSV_OF:
        with path.open(newline="") as table:
            columns = set(next(csv.reader(table)))
        source, prefix = CSV_OF[path.name]
        expected = {k.removeprefix(prefix) for k in documented(source) if k.startswith(prefix)}
        assert columns == expected - CSV_LEFT_OUT.get(path.name, set()), path.name
        return
    have = flat(json.loads(path.read_text()))
    listed = documented(path.name)
    # a parent the doc writes only through its children (trials[] through trials[].lr)
    parents = {k for k in have if any(d.startswith((f"{k}.", f"{k}[]")) for d in listed)}
    undocumented = sorted(set(have) - listed - parents)
    assert not undocumented, f"{path.name}: keys docs/outputs.md does not list: {undocumented}"
    nulls = [k for k, value in have.items() if value is None]
    missing = sorted(
        k for k in listed - set(have) if not k.startswith(tuple(f"{n}." for n in nulls))
    )
    assert not missing, f"{path.name}: keys docs/outputs.md lists that the file lacks: {missing}"
