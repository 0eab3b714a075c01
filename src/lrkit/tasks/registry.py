"""Finding a task: a built-in name (``digits``) or a user's Python file (``path/to/task.py``).

A task file is ordinary Python that defines, at module level, either ``task = Task(...)`` or a
function ``def task() -> Task`` (called with no arguments; use it to load data lazily). Another
attribute can be picked with ``path/to/file.py:name``. The file's own folder is first on
``sys.path`` while it runs, so it can import its neighbours, and stays on it (last) for the
imports its functions make later. It runs from the same random state (Python's, NumPy's and
torch's CPU generator, seeded with 0) in every process: a split drawn without a seed is the
same split in every run and in every worker process of a search (one drawn from a generator of
its own, such as ``np.random.default_rng()``, is not). The caller's random state is put back
after.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lrkit.errors import TaskError, UnknownNameError, bad_value, did_you_mean
from lrkit.interrupts import TASK_MODULE
from lrkit.tasks.base import Task
from lrkit.tasks.digits import digits_task
from lrkit.tasks.friedman import friedman_task

BUILTIN_TASKS: dict[str, Callable[[], Task]] = {
    "digits": digits_task,
    "friedman": friedman_task,
}
"""Built-in task builders by name; each loads its data only when called."""

ALIASES: dict[str, str] = {"default": "digits", "friedman1": "friedman"}
"""Other names accepted for the built-in tasks."""

DEFAULT_TASK = "digits"


def task_names() -> tuple[str, ...]:
    """The names of the built-in tasks, sorted.

    Example:
        >>> task_names()
        ('digits', 'friedman')
    """
    return tuple(sorted(BUILTIN_TASKS))


def load_task(source: str | os.PathLike[str] | Task) -> Task:
    """Returns the task named by ``source``: a built-in name, a ``.py`` path, or a Task as is.

    Anything ending in ``.py`` (optionally followed by ``:attribute``) or containing a path
    separator is read as a file; anything else as a built-in name or alias.

    Raises:
        UnknownNameError: ``source`` is not a path and names no built-in task.
        TaskError: The file does not exist, fails to run, or defines no usable task.

    Example:
        >>> load_task("digits").name
        'digits'
        >>> load_task("mnist")
        Traceback (most recent call last):
        ...
        lrkit.errors.UnknownNameError: Unknown task 'mnist'. Built-in tasks: digits, friedman ...
    """
    if isinstance(source, Task):
        return source
    if not isinstance(source, (str, os.PathLike)):
        raise bad_value("task", "a Task, a built-in task's name or a task file's path", source)
    named = _file_of(source)
    if named is not None:
        return load_task_file(named[0], attr=named[1])
    text = os.fspath(source)
    name = _builtin_name(text)
    if name not in BUILTIN_TASKS:
        _check_colon(text)
        there = _py_beside(text)
        near = "" if there else did_you_mean(text, [*task_names(), *ALIASES])
        raise UnknownNameError(
            f"Unknown task {text!r}{there}.{near} Built-in tasks: {', '.join(task_names())} "
            f"(aliases: {', '.join(sorted(ALIASES))}). "
            "Or give the path of a .py file that defines `task`."
        )
    return BUILTIN_TASKS[name]()


def _py_beside(text: str) -> str:
    """`` ('name.py' is here: give its name with .py)`` where ``text`` names a task file without
    its suffix, else ``""``."""
    file = f"{text}.py"
    return f" ({file!r} is here: give its name with .py)" if Path(file).is_file() else ""


def _check_colon(text: str) -> None:
    """A TaskError for a task file followed by ':' and no task name (``good.py:``,
    ``sub/good.py:1x``), which would otherwise read as a file or a built-in that is not there."""
    head, colon, tail = text.rpartition(":")
    if colon and head.endswith(".py") and Path(head).is_file():
        raise TaskError(
            f"Task {text!r}: after the file {head!r}, ':' must be followed by the name of a "
            f"task it defines, such as {f'{head}:task'!r}, got {tail!r}."
        )


def task_fingerprint(source: str | os.PathLike[str] | Task) -> str | None:
    """The SHA-256 of a task file's bytes (its first 16 hex digits); ``None`` for a built-in
    task or a Task object.

    Runs that are resumed or reused (``lrkit tune``'s stages, a search's study) are keyed by it,
    so that an edited task file is never mistaken for the one they ran. Only the file itself
    counts, not the modules or data files it reads.
    """
    if isinstance(source, Task):
        return None
    named = _file_of(source)
    if named is None:
        return None
    try:
        return hashlib.sha256(Path(named[0]).read_bytes()).hexdigest()[:16]
    except OSError:  # loading the task says what is wrong with the path
        return None


def task_identity(source: str | os.PathLike[str]) -> str:
    """One name per task however it is spelled: a built-in's own name (aliases resolved), or a
    task file's absolute path (``:attribute`` kept when not ``task``); loads the same task.

    Example:
        >>> task_identity("default"), task_identity("Digits")
        ('digits', 'digits')
    """
    named = _file_of(source)
    if named is None:
        return _builtin_name(os.fspath(source))
    path = str(Path(named[0]).resolve())
    return path if named[1] == "task" else f"{path}:{named[1]}"


def _builtin_name(text: str) -> str:
    """A built-in task's name from how it was written (any case, or an alias)."""
    return ALIASES.get(text.lower(), text.lower())


def _file_of(source: str | os.PathLike[str]) -> tuple[str, str] | None:
    """``(path, attribute)`` when ``source`` names a task file, ``None`` for a built-in name."""
    text = os.fspath(source)
    path, _, attr = text.rpartition(":")
    if path.endswith(".py") and attr.isidentifier():
        return path, attr
    if text.endswith(".py") or "/" in text or os.sep in text:
        return text, "task"
    return None


def load_task_file(path: str | os.PathLike[str], *, attr: str = "task") -> Task:
    """Runs a user's task file and returns the task it defines as ``attr``.

    Raises:
        TaskError: The file does not exist, raises while running, defines no ``attr``, or
            defines something that is neither a Task nor a function returning one.
    """
    file = Path(path)
    if not file.is_file():
        problem = "is a directory, not a file" if file.is_dir() else "does not exist"
        given = os.fspath(path)  # as given: Path drops a leading ./
        _check_colon(str(given))
        if not file.exists():
            problem += _py_beside(given)
        raise TaskError(f"Task file {given!r} {problem}.")
    with _same_randomness():
        return _task_of(file, _run_file(file), attr)


def _task_of(file: Path, module: object, attr: str) -> Task:
    """The task that ``module`` (run from ``file``) defines as ``attr``, or its function returns."""
    found = getattr(module, attr, None)
    must = (
        f"it must define a module-level `{attr} = Task(...)` or a function "
        f"`def {attr}() -> Task` (from lrkit.tasks import Task)"
    )
    if found is None:
        import difflib

        own = getattr(module, "__name__", None)
        tasks = [name for name, value in vars(module).items() if isinstance(value, Task)]
        if attr == "task" and len(tasks) == 1:  # the default: its task may have another name
            hint = f" (it defines `{tasks[0]}`: give {f'{file}:{tasks[0]}'!r})"
        elif attr == "task" and tasks:  # several: name them, and how to pick one
            named = ", ".join(f"`{name}`" for name in tasks)
            hint = f" (it defines {named}: give one, as {f'{file}:{tasks[0]}'!r})"
        else:  # a typo: a Task, or a function the file itself defines (it may return one)
            functions = [n for n, v in vars(module).items() if getattr(v, "__module__", "") == own]
            near = difflib.get_close_matches(attr, [*tasks, *functions], n=1)
            hint = f" (did you mean `{near[0]}`?)" if near else ""
        raise TaskError(f"Task file {str(file)!r} defines no `{attr}`{hint}: {must}.")
    if isinstance(found, Task):
        return found
    if not callable(found):
        raise TaskError(
            f"`{attr}` in task file {str(file)!r} must be a lrkit.tasks.Task, got "
            f"{_kind(found)}; {must}."
        )
    try:
        made = found()
    except (Exception, SystemExit) as exc:  # sys.exit() in a task file: an error, said
        raise TaskError(
            f"`{attr}()` in task file {str(file)!r} raised {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(made, Task):
        raise TaskError(
            f"`{attr}()` in task file {str(file)!r} must return a lrkit.tasks.Task, got "
            f"{_kind(made)}."
        )
    return made


def _run_file(file: Path) -> object:
    """Executes ``file`` as a fresh module, registered in ``sys.modules`` so pickling works."""
    resolved = file.resolve()
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:10]
    module_name = f"{TASK_MODULE}{digest}"
    spec = importlib.util.spec_from_file_location(module_name, resolved)
    if spec is None or spec.loader is None:
        raise TaskError(f"Task file {str(file)!r} cannot be loaded as Python.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    folder = str(resolved.parent)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # a script's sys.exit() too: said, not silent
        del sys.modules[module_name]
        raise TaskError(
            f"Task file {str(file)!r} raised {type(exc).__name__} while loading: {exc}"
        ) from exc
    finally:
        # Move only our own entry: the file may have edited sys.path itself. Last, so that a
        # neighbour imported later (in task() or the model builder) is found, and shadows
        # nothing installed.
        if folder in sys.path:  # once, however often the file is loaded
            sys.path[:] = [*(entry for entry in sys.path if entry != folder), folder]
    return module


@contextmanager
def _same_randomness() -> Iterator[None]:
    """Python's, NumPy's and torch's (CPU) global random states seeded with 0 for the block,
    and the caller's put back after it.

    Imports in the block leave the states as they found them: a module imported for the first
    time may draw from them (importing ``sklearn.datasets`` moves ``random``'s), and a search's
    worker processes start with such modules imported already (their fork server preloads
    them), where the main process imports them inside the block. Without this, a split a task
    file draws after ``import sklearn.datasets`` differed between the two (QA 117).
    """
    import builtins
    import random
    import threading

    import numpy as np
    import torch

    python, numpy = random.getstate(), np.random.get_state()
    importing = builtins.__import__
    depth, this_thread = 0, threading.get_ident()

    def neutral_import(*args: Any, **kwargs: Any) -> Any:
        nonlocal depth
        # inside another import (the outermost one puts the states back), or another thread's
        if depth or threading.get_ident() != this_thread:
            return importing(*args, **kwargs)
        states = random.getstate(), np.random.get_state(), torch.random.get_rng_state()
        depth += 1
        try:
            return importing(*args, **kwargs)
        finally:
            depth -= 1
            random.setstate(states[0])
            np.random.set_state(states[1])
            torch.random.set_rng_state(states[2])

    with torch.random.fork_rng(devices=[]):
        random.seed(0)
        np.random.seed(0)
        torch.default_generator.manual_seed(0)  # the CPU's: CUDA's (and its lazy seed) untouched
        builtins.__import__ = neutral_import
        try:
            yield
        finally:
            builtins.__import__ = importing
            random.setstate(python)
            np.random.set_state(numpy)


def _kind(value: object) -> str:
    """``an int``, ``a dict``: a value's type with its article, for messages."""
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"
