"""Packages that are also functions: ``lrkit.search()``, ``lrkit.compare()``, ``lrkit.tune()``.

Each of those packages calls :func:`make_callable` last, with the function of its name. A type
checker cannot see this (a module is not callable to it), so each package also defines a class
of the same shape (``SearchPackage``, ``ComparePackage``, ``TunePackage``) that
``lrkit/__init__.py`` declares the name as; see :class:`lrkit.search.SearchPackage`.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any


def make_callable(module_name: str, function: Callable[..., Any]) -> None:
    """Makes the loaded module ``module_name`` callable as ``function``; it stays the module.

    Example:
        >>> import lrkit.compare
        >>> lrkit.compare.__call__ is lrkit.compare.compare, type(lrkit.compare).__name__
        (True, 'CallablePackage')
    """

    class CallablePackage(types.ModuleType):
        __call__ = staticmethod(function)

    sys.modules[module_name].__class__ = CallablePackage
