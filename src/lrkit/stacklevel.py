"""The ``stacklevel`` that points a warning lrkit gives at the user's own line."""

from __future__ import annotations

import sys


def caller_level() -> int:
    """The ``stacklevel`` for ``warnings.warn`` called here that names the first caller outside
    lrkit (the user's line), however deep inside lrkit the warning is raised."""
    level, frame = 1, sys._getframe(1)
    while frame is not None and str(frame.f_globals.get("__name__", "")).startswith("lrkit."):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level
