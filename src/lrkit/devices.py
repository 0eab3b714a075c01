"""Whether a device is one this machine can train on, said before any work: torch would say it
only at the first tensor moved there, in its own words (``Torch not compiled with CUDA
enabled``), after a range test or a search had begun."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lrkit.errors import ConfigError

if TYPE_CHECKING:
    import torch


def device_problem(device: Any) -> str | None:
    """What is wrong with ``device`` as a place to train (``"must be ..."``), or ``None``.

    Example:
        >>> device_problem("cpu") is None
        True
        >>> device_problem("gpu")
        "must be a torch device such as 'cpu' or 'cuda:0'"
    """
    import torch

    if isinstance(device, bool) or not isinstance(device, (str, torch.device)):
        return "must be a torch device such as 'cpu' or 'cuda:0'"
    try:
        place = torch.device(device)
    except (RuntimeError, ValueError):
        return "must be a torch device such as 'cpu' or 'cuda:0'"
    if place.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0 or (place.index or 0) >= count:
            has = (
                "it has no CUDA device"
                if count == 0
                else f"it has {count} CUDA device{'s' if count > 1 else ''}, cuda:0 to "
                f"cuda:{count - 1}"
            )
            return f"must be a device this machine has ({has})"
    elif place.type == "mps" and not torch.backends.mps.is_available():
        return "must be a device this machine has (MPS is not available)"
    elif place.type == "meta":
        return "must be a device that holds data ('meta' tensors have none to train on)"
    elif place.type != "cpu":
        try:
            torch.empty(1, device=place)
        except Exception:  # RuntimeError, or ModuleNotFoundError for torch.hpu and the like
            return f"must be a device this machine has (this torch cannot use {place.type!r})"
    return None


def check_device(device: Any, name: str = "device") -> None:
    """Raises a ConfigError naming ``name`` unless ``device`` is one this machine can train on.

    Example:
        >>> check_device("meta")
        Traceback (most recent call last):
        ...
        lrkit.errors.ConfigError: device must be a device that holds data ('meta' tensors ...
    """
    problem = device_problem(device)
    if problem is not None:
        raise ConfigError(f"{name} {problem}, got {device!r}.")


def device_text(device: str | torch.device) -> str:
    """``device`` as the text lrkit passes on and records (``torch.device("cuda", 0)`` is
    ``"cuda:0"``); anything else as it is, for the checks where it is used to say what is
    wrong with it.

    Example:
        >>> import torch
        >>> device_text(torch.device("cuda", 0)), device_text("cpu")
        ('cuda:0', 'cpu')
    """
    # by its type's module, without importing torch: a search imports torch later, where a
    # Ctrl-C in the middle of that first import is held (tests/test_interrupts.py)
    return str(device) if type(device).__module__ == "torch" else device  # type: ignore[return-value]
