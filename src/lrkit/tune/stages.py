"""What ``lrkit tune`` keeps between runs: each finished stage, keyed by the settings it ran with.

A stage's result is stored in the run folder as soon as the stage ends, with the settings that
produced it. A rerun with the same settings reads it back instead of redoing it, so an error or
a Ctrl-C late in the pipeline never costs the stages that had finished. (The search keeps its own
trials in the folder's Optuna journal and resumes from there.)

The results are pickled, and read back by an unpickler that builds lrkit's own data classes and
nothing else: a folder from elsewhere (shared, downloaded) cannot run code when a rerun reads it;
a file that names anything else is not read, and its stage runs again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import io
import json
import os
import pickle
import warnings
from pathlib import Path
from typing import Any, ClassVar

from lrkit.errors import ConfigError
from lrkit.outputs import JOURNAL, TUNE, in_the_way, unwritable, write_file

CACHE_DIR = ".lrkit-stages"
RUN_FILE = "run.json"  # in CACHE_DIR: the settings of the run the folder holds
NAMES = {"range_test": "range test", "compare": "comparison", "final": "final training"}
"""The stages' names as messages say them."""
KINDS = {
    "range_test": "lrkit.finder.result.RangeTestResult",
    "compare": "lrkit.compare.result.CompareResult",
    "final": "lrkit.history.History",
}
"""The class of each stage's result: a file that holds anything else is not read."""


def check_writable(out: Path) -> None:
    """Raises a one-line ConfigError unless ``out`` can be made and written, with no folder
    where a file of the run goes. It leaves nothing behind (see
    :func:`~lrkit.outputs.unwritable`): the run makes the folder once the other checks pass."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"out must be a folder, got {str(out)!r}, which is a file.")
    reason = unwritable(out)
    if reason is not None:
        raise ConfigError(f"out must be a writable folder, got {str(out)!r}: {reason}.")
    blocked = in_the_way(out, (*TUNE, JOURNAL))
    cache = out / CACHE_DIR
    if blocked is None and cache.exists() and not cache.is_dir():
        blocked = f"{os.fspath(cache)!r} is a file, where lrkit keeps a folder"
    if blocked is not None:
        raise ConfigError(f"out must be a folder lrkit can write its files in: {blocked}.")
    from lrkit.report.document import foreign_report

    if foreign_report(out):
        raise ConfigError(
            f"out must be a folder without a report.html of another program's: {str(out)!r} "
            "holds one that lrkit did not write, which this run's report would replace."
        )


def changed(out: Path, settings: dict[str, Any]) -> list[str]:
    """The names of the settings in which the run the folder holds differs from ``settings``
    (empty for a new folder or the same run)."""
    try:
        before = json.loads((out / CACHE_DIR / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(before, dict):
        return []
    mine = json.loads(_canonical(settings))
    return [key for key in sorted(set(before) | set(mine)) if before.get(key) != mine.get(key)]


def claim(out: Path, settings: dict[str, Any]) -> None:
    """Records ``settings`` as the run the folder holds.

    A run with other settings does not reuse the earlier run's stages (they are keyed by their
    settings); its files replace the earlier run's. Clear those first, then claim: a run
    stopped in between is still the earlier one's, and its rerun clears them.
    """
    folder = out / CACHE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    write_file(folder / RUN_FILE, _canonical(settings))


def digest(settings: dict[str, Any]) -> str:
    """A short name for a set of settings (the same settings, the same name)."""
    return hashlib.sha256(_canonical(settings).encode()).hexdigest()[:12]


def load(out: Path, stage: str, settings: dict[str, Any]) -> Any | None:
    """The stored result of ``stage`` if it ran with exactly ``settings``, else ``None``."""
    path = out / CACHE_DIR / f"{stage}.pkl"
    if not path.exists():
        return None
    try:
        stored_settings, result = _DataOnly(io.BytesIO(path.read_bytes())).load()
    except Exception:  # an unreadable cache is only a cache: redo the stage
        return None
    kind = type(result)
    if stage in KINDS and f"{kind.__module__}.{kind.__qualname__}" != KINDS[stage]:
        return None
    return result if stored_settings == _canonical(settings) else None


def save(out: Path, stage: str, settings: dict[str, Any], result: Any) -> None:
    """Stores a stage's result whole or not at all (:func:`lrkit.outputs.write_file`). One that
    cannot be stored is only not kept: a warning says so, and the run goes on (the files it
    writes next say what is wrong with the folder, if anything is)."""
    folder = out / CACHE_DIR
    path = folder / f"{stage}.pkl"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_file(path, pickle.dumps((_canonical(settings), result)))
    except OSError as error:
        warnings.warn(
            f"the {NAMES.get(stage, stage)} could not be kept for a rerun ({os.fspath(path)}: "
            f"{error.strerror or error}); a rerun will do it again.",
            UserWarning,
            stacklevel=2,
        )


class _DataOnly(pickle._Unpickler):  # Python's own: its BUILD can be refused for a class
    """Unpickles Python's plain values (numbers, strings, lists, dicts, ...) and instances of
    the data classes lrkit defines, built by their own ``__init__`` or filled in field by field;
    any other name the file asks for (``os.system``, a function, a module) raises
    ``UnpicklingError``, and so does filling in a class itself (a BUILD on the class would set
    its attributes, ``__post_init__`` included, for the rest of the process)."""

    dispatch: ClassVar[dict[int, Any]] = dict(pickle._Unpickler.dispatch)

    def find_class(self, module: str, name: str) -> Any:
        parts = module.split(".")
        if (
            parts[0] == "lrkit"
            and all(p.isidentifier() and not p.startswith("_") for p in parts)  # no __main__
            and name.isidentifier()
        ):
            found = getattr(importlib.import_module(module), name, None)
            if (
                isinstance(found, type)
                and found.__module__ == module
                and dataclasses.is_dataclass(found)
            ):
                return found
        raise pickle.UnpicklingError(
            f"a stage's file may hold lrkit's data alone, not {module}.{name}"
        )

    def load_build(self) -> None:
        if isinstance(self.stack[-2], type):  # type: ignore[attr-defined]
            raise pickle.UnpicklingError("a stage's file may not change a class")
        super().load_build()  # type: ignore[misc]

    dispatch[pickle.BUILD[0]] = load_build


def _canonical(settings: dict[str, Any]) -> str:
    return json.dumps(settings, sort_keys=True, default=str)
