"""Early stopping for trials: Optuna's pruners, chosen by name.

Every trial reports its validation value once per epoch, and its schedule is defined against the
full epoch budget (never against the epochs it may get), so a pruner compares all trials at the
same point of the same schedule (Auto-PyTorch #119).
"""

from __future__ import annotations

from typing import Any

import optuna

from lrkit.errors import UnknownNameError, bad_value

PRUNERS = ("none", "halving", "hyperband", "median")
_PRUNER_ALIASES = {
    "nop": "none",
    "off": "none",
    "noppruner": "none",  # what pruner=None was stored as before lrkit stored its key
    "sha": "halving",
    "asha": "halving",
    "successive-halving": "halving",
}


def pruner_key(name: str | None) -> str:
    """A pruner's name as a study stores it, whatever its spelling: ``None`` is ``"none"``.

    Example:
        >>> pruner_key(None), pruner_key("SHA"), pruner_key("Hyperband")
        ('none', 'halving', 'hyperband')
    """
    key = "none" if name is None else name.strip().lower()
    return _PRUNER_ALIASES.get(key, key)


def make_pruner(name: str | Any, *, max_resource: int | None = None) -> optuna.pruners.BasePruner:
    """An Optuna pruner from a name in :data:`PRUNERS`, or an Optuna pruner passed through.

    Args:
        name: ``"none"``; ``"halving"``: asynchronous successive halving, keeping the best third
            at each rung from the first epoch on; ``"hyperband"``: several such brackets;
            ``"median"``: stop a trial worse than the median of earlier trials at the same epoch
            (after 3 trials, from the first epoch).
        max_resource: The epoch budget of a trial (Hyperband's top rung).

    Example:
        >>> type(make_pruner("halving")).__name__
        'SuccessiveHalvingPruner'
    """
    if isinstance(name, optuna.pruners.BasePruner):
        return name
    if name is not None and not isinstance(name, str):
        raise bad_value("pruner", f"one of {', '.join(PRUNERS)} or an Optuna pruner", name)
    key = pruner_key(name)
    if key == "none":
        return optuna.pruners.NopPruner()
    if key == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    if key == "hyperband":
        top: Any = max_resource if max_resource is not None else "auto"
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=top, reduction_factor=3)
    if key == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    raise UnknownNameError(f"Unknown pruner {name!r}; valid pruners: {', '.join(PRUNERS)}.")
