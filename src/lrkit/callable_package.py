"""Packages that are also functions: ``lrkit.search()``, ``lrkit.compare()``, ``lrkit.tune()``.

Each of those packages calls :func:`make_callable` last, with the function of its name. A type
checker cannot see this (a module is not callable to it), so each package also defines a class
of the same shape (``SearchPackage``, ``ComparePackage``, ``TunePackage``) that
``lrkit/__init__.py`` declares the name as; see :class:`lrkit.search.SearchPackage`.
"""

from __future__ import annotations

import inspect
import sys
import types
from collections.abc import Callable
from typing import Any


def make_callable(module_name: str, function: Callable[..., Any]) -> None:
    """Makes the loaded module ``module_name`` callable as ``function``; it stays the module.

    Example:
        >>> import lrkit.compare
        >>> import inspect
        >>> lrkit.compare.__call__ is lrkit.compare.compare, type(lrkit.compare).__name__
        (True, 'CallablePackage')
        >>> list(inspect.signature(lrkit.compare).parameters)[:3]
        ['task', 'lr', 'schedules']
    """

    class CallablePackage(types.ModuleType):
        __call__ = staticmethod(function)

    module = sys.modules[module_name]
    module.__class__ = CallablePackage
    # help() and inspect.signature read a callable object's __call__ as a method and leave out
    # its first parameter (objective, task); the module's own signature says it whole
    module.__signature__ = inspect.signature(function)  # type: ignore[attr-defined]
