"""Results as strict JSON: NaN and infinities become ``null`` (JSON has no NaN)."""

from __future__ import annotations

import json
import math
from typing import Any


def jsonable(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None``, tuples as lists.

    Example:
        >>> jsonable({"loss": float("nan"), "lrs": (0.1, float("inf"))})
        {'loss': None, 'lrs': [0.1, None]}
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def dumps(value: Any, indent: int | None = 2) -> str:
    """Strict JSON text of :func:`jsonable` ``(value)``.

    Example:
        >>> dumps([1.0, float("nan")], indent=None)
        '[1.0, null]'
    """
    return json.dumps(jsonable(value), indent=indent, allow_nan=False)
