"""``lrkit.tune.tune`` from Python: what it refuses before any work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lrkit.errors import ConfigError
from lrkit.tune import tune


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"out": 5}, "out must be a folder's path, got 5."),
        ({"budget": 10**9}, "budget must be a whole number of training epochs up to 100,000"),
    ],
)
def test_bad_arguments_name_the_parameter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, Any], message: str
) -> None:
    monkeypatch.chdir(tmp_path)  # the default --out would be made here
    with pytest.raises(ConfigError) as info:
        tune("digits", progress=False, say=lambda _: None, **kwargs)
    assert str(info.value).startswith(message)
    assert list(tmp_path.iterdir()) == []  # nothing made
