"""Early stopping for trials: Optuna's pruners, chosen by name.

Every trial reports its validation value once per epoch, and its schedule is defined against the
full epoch budget (never against the epochs it may get), so a pruner compares all trials at the
same point of the same schedule (Auto-PyTorch #119).

Successive halving and Hyperband judge a trial against every trial's values at the same rung,
whatever its state, so the interrupted attempt of a trial (failed, its retry queued: see
:func:`lrkit.search.study.fail_interrupted`) would count a second time once its retry reaches
the same rungs, and a resumed search would prune trials that an uninterrupted one keeps. The
pruners built here by name do not see those attempts.

They also judge a trial in slot order, as one worker does: against the trials of earlier
rounds and of earlier slots of its round only, after waiting (a while) for those still running
to report the same step. Optuna's pruners judge against whatever has been reported so far, so
with several workers (or machines) the trial whose first epoch happened to end first survived
and the other was stopped, and two runs of one search could keep different trials.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Container
from typing import Any

import optuna
from optuna.storages._heartbeat import is_heartbeat_enabled
from optuna.trial import FrozenTrial, TrialState

from lrkit.errors import UnknownNameError, bad_value
from lrkit.search.result import is_interrupted
from lrkit.search.samplers import slot_place, whole_attr

PRUNERS = ("none", "halving", "hyperband", "median")
PLACE_ATTR = "lrkit_place"
"""On a trial lrkit queued: the number it has in a search that nothing interrupted (its round's
first number plus its slot), whose Hyperband bracket it takes. A round is queued as its trials
are taken, so an interrupted trial's retry takes a number between its slots, and the slots
queued after it have numbers one higher than they would."""
FIRST_ATTEMPT_ATTR = "lrkit_first_attempt"
"""On a retried trial: the number of its slot's first attempt, whose Hyperband bracket it keeps
(in a study queued whole by an earlier lrkit, without :data:`PLACE_ATTR`)."""
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
        >>> isinstance(make_pruner("halving"), optuna.pruners.SuccessiveHalvingPruner)
        True
    """
    if isinstance(name, optuna.pruners.BasePruner):
        return name
    if name is not None and not isinstance(name, str):
        raise bad_value("pruner", f"one of {', '.join(PRUNERS)} or an Optuna pruner", name)
    key = pruner_key(name)
    if key == "none":
        return optuna.pruners.NopPruner()
    if key == "halving":
        return HalvingPruner(min_resource=1, reduction_factor=3)
    if key == "hyperband":
        top: Any = max_resource if max_resource is not None else "auto"
        return HyperbandPruner(min_resource=1, max_resource=top, reduction_factor=3)
    if key == "median":
        return MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    raise UnknownNameError(f"Unknown pruner {name!r}; valid pruners: {', '.join(PRUNERS)}.")


class HalvingPruner(optuna.pruners.SuccessiveHalvingPruner):
    """Optuna's successive halving, blind to interrupted attempts, in slot order (see the
    module's notes)."""

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        return judged_in_slot_order(super().prune, study, trial)


class MedianPruner(optuna.pruners.MedianPruner):
    """Optuna's median pruner, blind to interrupted attempts, in slot order (see the module's
    notes)."""

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        return judged_in_slot_order(super().prune, study, trial)


class HyperbandPruner(optuna.pruners.HyperbandPruner):
    """Optuna's Hyperband, blind to interrupted attempts, in slot order (see the module's
    notes), with each trial in its slot's bracket: Hyperband picks a trial's bracket from its
    number, and a retry has a new one (and so do the slots queued after it), so it would join
    another bracket's competition."""

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        return judged_in_slot_order(super().prune, study, trial)

    def _get_bracket_id(self, study: optuna.Study, trial: FrozenTrial) -> int:
        place = whole_attr(
            trial.user_attrs.get(PLACE_ATTR, trial.user_attrs.get(FIRST_ATTEMPT_ATTR))
        )
        if place is not None and place != trial.number:
            trial = copy.copy(trial)
            trial.number = place
        return int(super()._get_bracket_id(study, trial))


ORDER_POLL_S = 0.05
"""How often a trial waiting for the earlier slots' judgements reads the storage again."""

ORDER_WAIT_LEAST_S = 10.0
"""The least time a trial may spend waiting, in all, for earlier slots' judgements. It may wait
as long as it has trained (and this least): a trial that started earlier on an equal machine
is judged within that; a far slower one, or a dead one, is not waited for, and the judgement is
then on the reports so far, as Optuna's."""

JUDGED_ATTR = "lrkit_judged"
"""A trial's system attr: the last step its pruner judged it at (its rung value stored)."""

_WAITED: dict[int, float] = {}  # seconds each trial of this process has waited, by trial id


def judged_in_slot_order(
    prune: Callable[[optuna.Study, FrozenTrial], bool], study: optuna.Study, trial: FrozenTrial
) -> bool:
    """``prune(study, trial)`` with the study seen in slot order (:func:`in_slot_order`); then
    marks ``trial`` as judged at its last step, so that later slots wait no longer for it.

    A trial is marked once its pruner has stored what later trials compare against (successive
    halving's rung value is written inside ``prune``, not by ``trial.report``).
    """
    pruned = prune(in_slot_order(study, trial), trial)
    if trial.last_step is not None and slot_place(trial) is not None:
        study._storage.set_trial_system_attr(trial._trial_id, JUDGED_ATTR, trial.last_step)
    return pruned


def in_slot_order(study: optuna.Study, trial: FrozenTrial) -> optuna.Study:
    """``study`` as a pruner should see it when judging ``trial``: the same study, listing only
    the trials before it in slot order (earlier rounds, then earlier slots of its round), none
    of them an interrupted attempt (Hyperband's bracket studies, built on its storage,
    included), once those still running have been judged at ``trial``'s last step (or the
    trial has waited its share: :data:`ORDER_WAIT_LEAST_S`; a trial whose machine stopped
    beating is not waited for).

    A trial without lrkit's slot (one added by hand through Optuna) is judged against every
    trial, as Optuna does.
    """
    place = slot_place(trial)
    if place is None:
        return _view(study, lambda t: True)
    step = trial.last_step
    waited = _WAITED.get(trial._trial_id, 0.0)
    started = trial.datetime_start
    trained = 0.0 if started is None else (started.now(started.tzinfo) - started).total_seconds()
    patience = max(ORDER_WAIT_LEAST_S, trained - waited) - waited  # in all, not per step
    began = time.monotonic()
    while step is not None and patience > 0:
        trials = study._storage.get_all_trials(study._study_id, deepcopy=False)
        stale = _stale(study)
        behind = [
            t
            for t in trials
            if t.state == TrialState.RUNNING
            and _before(t, place)
            and t._trial_id not in stale
            and _judged(t) < step
        ]
        if not behind or time.monotonic() - began > patience:
            break
        time.sleep(ORDER_POLL_S)
    _WAITED[trial._trial_id] = waited + time.monotonic() - began
    return _view(study, lambda t: t.number == trial.number or _before(t, place))


def _before(trial: FrozenTrial, place: tuple[int, int]) -> bool:
    """Whether ``trial`` comes before ``place`` in slot order (one without a place does not)."""
    own = slot_place(trial)
    return own is not None and own < place


def _judged(trial: FrozenTrial) -> int:
    """The last step ``trial`` was judged at (-1: none yet)."""
    step = whole_attr(trial.system_attrs.get(JUDGED_ATTR))
    return -1 if step is None else step


def _stale(study: optuna.Study) -> set[int]:
    """The ids of running trials whose heartbeat stopped (a dead machine's), on a database with
    heartbeats; none elsewhere."""
    storage = study._storage
    try:
        if not is_heartbeat_enabled(storage):
            return set()
        return set(storage._get_stale_trial_ids(study._study_id))  # type: ignore[attr-defined]
    except Exception:  # a storage of another kind, a database hiccup: wait as if alive
        return set()


def _view(study: optuna.Study, shown: Any) -> optuna.Study:
    """``study`` listing only the trials ``shown`` keeps, and no interrupted attempt."""
    view = copy.copy(study)  # a Study copies without its thread-local cache
    view._storage = _Listed(study._storage, shown)  # type: ignore[assignment]  # duck-typed
    return view


class _Listed:
    """A storage's view that lists only some trials, never an interrupted attempt; all else
    goes to the storage."""

    def __init__(self, storage: optuna.storages.BaseStorage, shown: Any) -> None:
        self._storage = storage
        self._shown = shown

    def __getattr__(self, name: str) -> Any:
        return getattr(self._storage, name)

    def get_all_trials(
        self, study_id: int, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        trials = self._storage.get_all_trials(study_id, deepcopy=deepcopy, states=states)
        return [t for t in trials if not is_interrupted(t) and self._shown(t)]
