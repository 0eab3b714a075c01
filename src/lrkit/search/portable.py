"""Whether a worker process can load the objective: ``n_workers > 1`` sends it by pickle.

A spawned worker unpickles functions and classes by name, importing their module. A script run
as a file or with ``-m`` is imported again (as ``__mp_main__``), so what it defines is found; but
a notebook, an interactive session, ``python -c`` or a script read from standard input has no
file to import, and every worker would die before its trial began. :func:`check_portable` says
so at once, naming what cannot be found.
"""

from __future__ import annotations

import io
import os
import pickle
import sys
from typing import Any

from lrkit.errors import ConfigError

_WHY = "n_workers > 1 runs each trial in a fresh process"


def check_portable(objective: Any) -> None:
    """Raises :class:`ConfigError` when a fresh process could not load ``objective``.

    Example:
        >>> check_portable(len)
        >>> try:
        ...     check_portable(lambda lr: lr)
        ... except ConfigError as error:
        ...     print(str(error)[:60])
        n_workers > 1 runs each trial in a fresh process, so the obj
    """
    finder = _MainFinder(io.BytesIO())
    try:
        finder.dump(objective)
    except Exception as error:
        raise ConfigError(
            f"{_WHY}, so the objective must be picklable (a module-level function or class "
            "instance, or a task by name or path), got "
            f"{objective!r} ({type(error).__name__}: {error})."
        ) from None
    where = _unimportable_main()
    if finder.found and where:
        names = ", ".join(sorted(finder.found))
        raise ConfigError(
            f"{_WHY}, which must import the objective, but {names} is defined in {where}, which "
            "a fresh process cannot import. Define it in a .py file (run that file, or import "
            "it), or use n_workers=1."
        )


class _MainFinder(pickle.Pickler):
    """A pickler that notes every function and class it would look up in ``__main__``."""

    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file)
        self.found: set[str] = set()

    def reducer_override(self, obj: Any) -> Any:
        named = isinstance(obj, type) or (callable(obj) and hasattr(obj, "__qualname__"))
        if named and getattr(obj, "__module__", None) == "__main__":
            self.found.add(str(obj.__qualname__))
        return NotImplemented


def _unimportable_main() -> str | None:
    """Where ``__main__`` came from when a spawned process cannot import it again, else None.

    Example (pytest's or Python's own ``__main__`` here has a file or a module name):
        >>> _unimportable_main() is None
        True
    """
    main = sys.modules.get("__main__")
    if getattr(getattr(main, "__spec__", None), "name", None):
        return None  # python -m module: imported again by name
    path = getattr(main, "__file__", None)
    if path is None:
        return "__main__ of a notebook, an interactive session or `python -c`"
    if not os.path.isfile(path):
        return f"__main__ read from {path}" if path != "<stdin>" else "a script read from stdin"
    return None
