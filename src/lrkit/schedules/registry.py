"""Schedules by name: the canonical names, and aliases for torch's, timm's and Hugging Face's.

Names are matched case-insensitively and without ``_`` or ``-``, so ``"OneCycleLR"``,
``"one_cycle"`` and ``"onecycle"`` are one name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from lrkit.errors import SpecError, UnknownNameError, did_you_mean
from lrkit.schedules.base import Schedule

S = TypeVar("S", bound=type[Schedule])

_CLASSES: dict[str, type[Schedule]] = {}
_ALIASES: dict[str, str] = {}
_SPELLINGS: dict[str, str] = {}  # normalised alias -> the spelling it was registered with


def normalize(name: str) -> str:
    """The lookup key of a name: lower case, no ``_``, ``-`` or spaces."""
    return name.lower().replace("_", "").replace("-", "").replace(" ", "")


def register(*aliases: str) -> Callable[[S], S]:
    """Class decorator: registers a schedule under its ``name`` and the given aliases."""

    def add(cls: S) -> S:
        _CLASSES[cls.name] = cls
        for alias in (cls.name, *aliases):
            _ALIASES[normalize(alias)] = cls.name
            _SPELLINGS.setdefault(normalize(alias), alias)  # StepLR, not its twin step_lr
        return cls

    return add


def schedule_class(name: str) -> type[Schedule]:
    """The schedule class registered under ``name`` or one of its aliases.

    Raises:
        UnknownNameError: the name is not registered; the message lists the valid names.
        SpecError: ``name`` is not a string.

    Example:
        >>> schedule_class("CosineAnnealingLR").name
        'cosine'
        >>> schedule_class(None)
        Traceback (most recent call last):
        ...
        lrkit.errors.SpecError: name must be a schedule name such as 'cosine', got None.
    """
    if not isinstance(name, str):
        raise SpecError(f"name must be a schedule name such as 'cosine', got {name!r}.")
    _load_builtins()
    canonical = _ALIASES.get(normalize(name))
    if canonical is None:
        near = did_you_mean(normalize(name), [*schedule_names(), *alias_names()])
        raise UnknownNameError(
            f"Unknown schedule name {name!r}.{near} Valid names: {', '.join(schedule_names())} "
            "(and their aliases, such as CosineAnnealingLR: `lrkit schedule list` shows them)."
        )
    return _CLASSES[canonical]


def schedule_names() -> list[str]:
    """The canonical names of every registered schedule, sorted."""
    _load_builtins()
    return sorted(_CLASSES)


def alias_names() -> list[str]:
    """Every alias as registered (torch, timm and Hugging Face names), canonical ones excluded."""
    _load_builtins()
    return [_SPELLINGS[a] for a, c in _ALIASES.items() if a != normalize(c)]


def _load_builtins() -> None:
    # Importing the package registers every built-in schedule (each module decorates its classes).
    import lrkit.schedules  # noqa: F401
