"""Whether a worker process can load the objective: ``n_workers > 1`` sends it by pickle.

A worker (spawned, or forked by a fork server that never ran the script) unpickles functions
and classes by name, importing their module. A script run as a file or with ``-m`` is imported
again (as ``__mp_main__``), so what it defines is found; but a notebook, an interactive session,
``python -c`` or a script read from standard input has no file to import, nor does a package's
``__main__.py``; and an objective defined inside the script's ``if __name__ == "__main__":``
block is not there when a worker imports the script.
Every worker would die before its trial began; :func:`check_portable` says so at once, naming
what cannot be found.
"""

from __future__ import annotations

import ast
import io
import multiprocessing
import os
import pickle
import sys
from pathlib import Path
from typing import Any

from lrkit.errors import ConfigError

_WHY = "n_workers > 1 runs each trial in a fresh process"
_PICKLABLE = {"objective": "a module-level function or class instance, or a task by name or path"}


def refuse_in_worker(call: str) -> None:
    """Raises :class:`ConfigError` when a worker process is importing the script that started
    a search, whose unguarded top level calls ``call`` again: not a second search (nor, for
    ``tune``, a second range test before it)."""
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise ConfigError(
            f"{call} was called while a worker process imported the script that started the "
            f"search; a script that runs {call} with n_workers > 1 must start it under "
            '`if __name__ == "__main__":`.'
        )


def check_portable(objective: Any, what: str = "objective") -> None:
    """Raises :class:`ConfigError` when a fresh process could not load ``objective``.

    ``what`` names it in the message: ``"objective"``, or a ``"sampler"`` or ``"pruner"``
    object, which travels to every worker too.

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
        hint = _PICKLABLE.get(what, "an instance of a module-level class")
        raise ConfigError(
            f"{_WHY}, so the {what} must be picklable ({hint}), got "
            f"{objective!r} ({type(error).__name__}: {error})."
        ) from None
    if not finder.found:
        return
    names = ", ".join(sorted(finder.found))
    where = _unimportable_main()
    if where:
        raise ConfigError(
            f"{_WHY}, which must import the {what}, but {names} is defined in {where}, which "
            "a fresh process cannot import. Define it in a .py file (run that file, or import "
            "it), or use n_workers=1."
        )
    guarded = sorted(_under_main_guard({n.split(".")[0] for n in finder.found}))
    if guarded:
        raise ConfigError(
            f"{_WHY}, which imports the script again without running its "
            f'`if __name__ == "__main__":` block, but {", ".join(guarded)} is defined inside that '
            "block. Define it at the script's top level, or use n_workers=1."
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
    """Where ``__main__`` came from when a spawned process cannot import it again, else None
    (a script run as a file, or a module run with ``python -m module``)."""
    main = sys.modules.get("__main__")
    name = getattr(getattr(main, "__spec__", None), "name", None)
    if name == "__main__" or (name or "").endswith(".__main__"):
        # multiprocessing never imports a __main__.py again: python -m pkg, python folder/
        return "the __main__.py of a package, folder or zip file run as a program"
    if name:
        return None  # python -m module: imported again by name
    path = getattr(main, "__file__", None)
    if path is None:
        return "__main__ of a notebook, an interactive session or `python -c`"
    if not os.path.isfile(path):
        return f"__main__ read from {path}" if path != "<stdin>" else "a script read from stdin"
    return None


def _under_main_guard(names: set[str]) -> set[str]:
    """Those of ``names`` that the main script defines only inside ``if __name__ ==
    "__main__":``, which a worker importing the script again does not run."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    path = getattr(spec, "origin", None) or getattr(main, "__file__", None)
    try:
        tree = ast.parse(Path(str(path)).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return set()  # nothing to read: the worker's own error will say
    guarded: set[str] = set()
    everywhere: set[str] = set()
    for statement in tree.body:
        (guarded if _is_main_guard(statement) else everywhere).update(_defined(statement))
    return (names & guarded) - everywhere


def _is_main_guard(statement: ast.stmt) -> bool:
    if not isinstance(statement, ast.If) or not isinstance(statement.test, ast.Compare):
        return False
    sides = [statement.test.left, *statement.test.comparators]
    named = any(isinstance(x, ast.Name) and x.id == "__name__" for x in sides)
    main = any(isinstance(x, ast.Constant) and x.value == "__main__" for x in sides)
    return named and main


def _defined(statement: ast.stmt) -> set[str]:
    """The module-level names a statement (with the blocks inside it) may bind."""
    found = set()
    for node in ast.walk(statement):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            found.add(node.id)
        elif isinstance(node, ast.alias):
            found.add((node.asname or node.name).split(".")[0])
    return found
