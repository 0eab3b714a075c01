"""A search's Optuna study: created once, joined by any number of workers, resumed after a crash.

A round's trials are queued as WAITING trials (Optuna's ``enqueue_trial``), a few slots ahead of
the workers (:class:`RoundQueue`), each tagged with its round, its slot in the round and its
training seed. Workers only ever pop WAITING trials, an atomic step in every Optuna storage, so
the trial count is exact however many processes and machines run, no trial runs twice, and
a trial's LR and seed depend on its round and slot alone, not on who ran it or when.

The process that creates the study coordinates it: it queues each round's trials, narrows the
range between rounds and marks the study done. Others started on the same storage and study
name join and run trials. ``resume=True`` makes a process take over a study whose coordinator
died.
"""

from __future__ import annotations

import math
import re
import threading
import time
import warnings
from collections.abc import Callable, Collection
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any, Literal

import numpy as np
import optuna
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.trial import TrialState

from lrkit.errors import ConfigError
from lrkit.interrupts import no_interrupt
from lrkit.plaintext import lr_text
from lrkit.search.pruners import FIRST_ATTEMPT_ATTR, PLACE_ATTR, PRUNERS, pruner_key
from lrkit.search.result import INTERRUPTED, FinishedStudyWarning, is_foreign, is_interrupted
from lrkit.search.samplers import (
    FIRST_ATTR,
    OWN_ATTRS,
    ROUND_ATTR,
    ROUND_SIZE_ATTR,
    SAMPLERS,
    SEED_ATTR,
    SLOT_ATTR,
    sampler_key,
    slot_place,
)
from lrkit.search.space import LogRange
from lrkit.search.storage import StorageSpec
from lrkit.stacklevel import caller_level

CONFIG_ATTR = "lrkit_config"
STATE_ATTR = "lrkit_state"
LOW_ATTR, HIGH_ATTR = "lrkit_low", "lrkit_high"
RETRY_ATTR = "lrkit_retry_of"

Role = Literal["coordinator", "joiner"]


@dataclass(frozen=True)
class SearchConfig:
    """What defines a search; a study that exists must match it to be joined or resumed."""

    low: float
    high: float
    n_trials: int
    rounds: int
    seed: int
    sampler: str
    direction: str
    narrow: float
    pruner: str = "none"
    objective: str = ""  # what each trial trains: a task with its schedule and budget, a function
    start_lr: float | None = None  # the first trial's LR, if not drawn
    auto_ends: str = ""  # "low", "high" or "low,high": the ends the range test gave

    def __post_init__(self) -> None:  # stored and compared by what they are: "SHA" is "halving"
        for key, canonical in _NAMES:
            object.__setattr__(self, key, canonical(getattr(self, key)))

    def round_sizes(self) -> list[int]:
        base, extra = divmod(self.n_trials, self.rounds)
        return [base + (1 if r < extra else 0) for r in range(self.rounds)]

    def mismatch(self, stored: dict[str, Any], derived: Collection[str] = ()) -> str | None:
        """A sentence on how ``stored`` differs from this config, or ``None`` if it matches.

        ``derived`` names settings this process took from its own range test (``low``,
        ``high``, ``start_lr``), not from its caller: machines started at once each run one,
        and its last digits differ between them (threads, devices). The stored ones stand.
        """
        mine = {k: v for k, v in asdict(self).items() if k not in derived}
        # a setting added since the study was stored reads as its default
        defaults = {f.name: f.default for f in fields(self) if f.default is not MISSING}
        stored = {key: stored.get(key, default) for key, default in defaults.items()} | stored
        for key, canonical in _NAMES:  # as an earlier lrkit stored them: "SHA", "NopPruner"
            if key in stored:
                stored[key] = canonical(stored[key])
        diffs = [
            _setting(key, stored.get(key), value)
            for key, value in mine.items()
            if stored.get(key) != value
        ]
        return "; ".join(diffs) or None


def _name(key: Callable[[str], str]) -> Callable[[Any], Any]:
    """``key`` for a name; a sampler or pruner object's type name as it is."""
    return lambda value: key(value) if isinstance(value, str) else value


_NAMES = (("sampler", _name(sampler_key)), ("pruner", _name(pruner_key)))
"""The settings stored by a canonical name (``sampler_key``, ``pruner_key``)."""

_DIGEST = re.compile(r"\(file sha256 [0-9a-f]+\)")  # a task file's, in an objective's description


def _setting(key: str, stored: Any, mine: Any) -> str:
    """``low=0.001 (this search: 1e-05)``: one setting that differs, as the study has it."""
    if key == "auto_ends":  # no parameter of its own: which of low and high were "auto"
        return f"ends from the range test: {stored or 'none'} (this search: {mine or 'none'})"
    if key == "start_lr":  # the CLI has no option for it: low="auto" sets it
        short = [lr_text(v) for v in (stored, mine)]
        if short[0] == short[1]:  # 0.1392 and 0.13920001: in full, or it reads as no difference
            short = [repr(stored), repr(mine)]
        return f"first trial at {short[0]} (this search: {short[1]})"
    if (
        key == "objective"
        and isinstance(stored, str)
        and isinstance(mine, str)
        and _DIGEST.search(stored)
        and _DIGEST.sub("", stored) == _DIGEST.sub("", mine)
    ):
        return f"the task file changed since the study began ({key}={stored!r}, now {mine!r})"
    if key in ("sampler", "pruner"):  # a name, or the class of an Optuna object
        named = SAMPLERS if key == "sampler" else PRUNERS
        stored_said, mine_said = (
            repr(v) if v in named or not isinstance(v, str) else f"an Optuna {v} object"
            for v in (stored, mine)
        )
        return f"{key}: the study's is {stored_said}, this search's {mine_said}"
    return f"{key}={stored!r} (this search: {mine!r})"


def trial_seed(seed: int, round_: int, slot: int) -> int:
    """The training seed of a trial: a function of the search seed and the trial's place alone."""
    return int(
        np.random.SeedSequence([seed % 2**64, round_, 2, slot]).generate_state(1)[0] % (2**31 - 1)
    )


def open_study(
    spec: StorageSpec,
    storage: optuna.storages.BaseStorage,
    name: str,
    config: SearchConfig,
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
    *,
    resume: bool | str,
    derived: Collection[str] = (),
) -> tuple[optuna.Study, Role]:
    """Creates the study (this process coordinates it) or loads it (joins, or resumes).
    ``derived``: settings that came from this process's range test (see
    :meth:`SearchConfig.mismatch`).

    Raises:
        ConfigError: The study exists with a different configuration, or exists in a local
            storage and ``resume`` was not asked for, or does not exist and ``resume`` is True
            (not ``"auto"``).
    """
    direction: Literal["minimize", "maximize"] = (
        "maximize" if config.direction == "maximize" else "minimize"
    )
    try:  # looking first: a failed create would still append to a journal file
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    except KeyError:
        if resume is True:
            raise no_study_to_resume(name, spec) from None
        try:
            with no_interrupt():  # a Ctrl-C between the writes would leave a study without config
                study = optuna.create_study(
                    study_name=name,
                    direction=direction,
                    storage=storage,
                    sampler=sampler,
                    pruner=pruner,
                )
                _claim(study, config)
        except optuna.exceptions.DuplicatedStudyError:  # another worker created it just now
            study = optuna.load_study(
                study_name=name, storage=storage, sampler=sampler, pruner=pruner
            )
        else:
            return study, "coordinator"
    stored = _wait_for_config(study, CONFIG_WAIT_S if spec.shared else LOCAL_CONFIG_WAIT_S)
    where = f"study {name!r} in {spec.describe()}"
    coordinate = resume is True or (resume == "auto" and not spec.shared)
    if stored is None and _empty(study) and _direction(study) == direction:
        # lrkit's, whose creator was killed (kill -9) between creating it and writing its
        # settings, or an empty one made with Optuna itself: nothing in it to lose, but taken
        # over only by a search that resumes it (on a database, a machine that joins has
        # waited for the coordinator's settings by now, in vain)
        if not coordinate:
            one = " on one machine" if spec.shared else ""
            raise ConfigError(
                f"{where} exists with no trial and none of lrkit's settings (made with Optuna "
                "itself, or by a search stopped as it began); to take it over, resume it"
                f"{one} ('resume=True', `--resume`), once no other search is starting it; "
                "else pick another study name. It was left as it was."
            )
        with no_interrupt():
            _claim(study, config)
        stored = asdict(config)
    if stored is None and _empty(study):  # an empty Optuna study that cannot be this search's
        theirs = _direction(study)
        value = "'val_metric'" if theirs == "maximize" else "'val_loss' (the default)"
        resumed = "" if coordinate else ", and resume it ('resume=True', `--resume`)"
        why = (
            f"its direction is {theirs!r} and this search's {direction!r}: search in its "
            f"direction (an objective function: direction={theirs!r}; a task: value={value}, "
            f"`--value` on the command line){resumed}, or pick another study name"
            if theirs is not None
            else "it has several objectives, and a search has one: pick another study name"
        )
        raise ConfigError(
            f"{where} exists with no trial but cannot be taken over: {why}. It was left as it was."
        )
    if stored is None:
        raise ConfigError(
            f"{where} exists but was not made by lrkit's search; pick another study name."
        )
    differs = config.mismatch(stored, derived)
    if differs is not None:
        new = (
            "another study_name (several searches share a database)"
            if spec.shared
            else "another study_name, or another folder for its journal (out=DIR)"
        )
        raise ConfigError(
            f"{where} already exists with different settings: {differs}. To go on with it, "
            f"use its settings; for a new search, give it {new}."
        )
    done = bool(study_state(study).get("done"))
    if not (coordinate or done or spec.shared):
        raise ConfigError(
            f"{where} already exists and is unfinished. If the search that made it has "
            "stopped, resume it ('resume=True', `--resume`); while it runs, a second process "
            "resuming it would take over its running trials, so wait for it or use another "
            "study name (several processes share one study only on a database server such "
            "as PostgreSQL)."
        )
    if done:  # run again, or a machine started after the others finished: read back
        _warn_finished(where)
    # "auto" on a shared storage joins: one coordinator only
    return study, "coordinator" if coordinate else "joiner"


def _warn_finished(where: str) -> None:
    warnings.warn(
        f"{where} already finished with these settings, so no trial ran: these are its "
        "results. To search again, use another study_name or storage (another out folder, "
        "for the default storage); the objective is compared by its name, not by its code.",
        FinishedStudyWarning,
        stacklevel=caller_level(),
    )


def no_study_to_resume(name: str, spec: StorageSpec) -> ConfigError:
    return ConfigError(
        f"resume: there is no study {name!r} in {spec.describe()} to resume; check the folder, "
        "storage and study name, or leave resume out to start a new search."
    )


def _direction(study: optuna.Study) -> str | None:
    """``"minimize"`` or ``"maximize"``; ``None`` for a study of several objectives, which no
    search of lrkit's makes."""
    if len(study.directions) != 1:
        return None
    return study.directions[0].name.lower()


def _empty(study: optuna.Study) -> bool:
    """Whether ``study`` holds nothing: no trial, no attribute."""
    return not study.user_attrs and not study.get_trials(deepcopy=False)


def _claim(study: optuna.Study, config: SearchConfig) -> None:
    """Writes the search's settings and first state into the study it made."""
    study.set_user_attr(CONFIG_ATTR, asdict(config))
    study.set_user_attr(STATE_ATTR, {"ranges": [[config.low, config.high]], "done": False})


# how long a study found without lrkit's settings is given to get them from the worker that
# created it a moment ago: another machine (a database), or another process on this one
CONFIG_WAIT_S, LOCAL_CONFIG_WAIT_S = 30.0, 2.0


def _wait_for_config(study: optuna.Study, timeout: float) -> dict[str, Any] | None:
    """The stored config; a study created a moment ago by another worker gets time to write it."""
    deadline = time.monotonic() + timeout
    while True:
        stored = study.user_attrs.get(CONFIG_ATTR)
        if stored is not None or time.monotonic() > deadline:
            return stored
        if study.trials:  # trials but no config: not an lrkit study
            return None
        time.sleep(0.2)


def study_state(study: optuna.Study) -> dict[str, Any]:
    """The coordinator's record: ``ranges`` (one per round queued so far) and ``done``."""
    return dict(study.user_attrs.get(STATE_ATTR, {}))


def set_state(study: optuna.Study, **changes: Any) -> dict[str, Any]:
    """Updates the record; a value it holds already is not written again (a rerun of a
    finished search would add a line to the journal each time)."""
    state = study_state(study)
    if any(state.get(key) != value for key, value in changes.items()):
        state.update(changes)
        study.set_user_attr(STATE_ATTR, state)
    return state


# how many of a round's trials wait in the queue at least (twice the trials running, where more
# run): the rest are queued as these are taken. Optuna's database storages read every unfinished
# trial again at each read, and a queued trial is unfinished: with a round of 2,000 queued at
# once, SQLite and halving, a trial cost 11 s of reading
QUEUE_AHEAD = 16


class RoundQueue:
    """Keeps a round's next slots queued as WAITING trials, a few at a time.

    Only the coordinator queues a round's slots (one process: no slot is queued twice), in
    slot order; a slot that is in the study already (a resumed search's, or one whose retry
    another process queued after an interruption) is not queued again. Thread-safe: a
    coordinator that runs its trials in its own process (``n_workers=1``) on a database server
    keeps the queue topped up from a second thread, for the machines that joined it.
    """

    def __init__(
        self,
        study: optuna.Study,
        config: SearchConfig,
        round_: int,
        lr_range: LogRange,
    ) -> None:
        self.study, self.round, self.lr_range = study, round_, lr_range
        sizes = config.round_sizes()
        self.size, self.first_number = sizes[round_], sum(sizes[:round_])
        self.seed = config.seed
        self.start = config.start_lr if round_ == 0 else None
        # the slots still to queue, the next last; read from the study when None
        self._missing: list[int] | None = None
        self._lock = threading.Lock()

    @property
    def all_queued(self) -> bool:
        """Whether every slot of the round is in the study (as of the last :meth:`top_up`)."""
        return self._missing == []

    def top_up(self) -> int:
        """Queues the round's next slots not in the study yet, until at least ``QUEUE_AHEAD`` of
        its trials wait, or twice as many as run; returns how many it queued."""
        with self._lock:
            try:
                return self._top_up()
            except BaseException:
                # a write may be stored and still raise (a connection lost in its commit): the
                # next call reads which slots are in the study, not queueing one twice
                self._missing = None
                raise

    def _top_up(self) -> int:
        if self._missing is None:
            places = (slot_place(t) for t in self.study.get_trials(deepcopy=False))
            present = {place[1] for place in places if place and place[0] == self.round}
            self._missing = [slot for slot in reversed(range(self.size)) if slot not in present]
        if not self._missing:
            return 0
        waiting, running = round_open(self.study, self.round)
        wanted = min(len(self._missing), max(QUEUE_AHEAD, 2 * running) - waiting)
        with no_interrupt():  # one enqueue is one write; none is left half done
            for _ in range(wanted):
                self._enqueue(self._missing[-1])
                self._missing.pop()
        return max(0, wanted)

    def _enqueue(self, slot: int) -> None:
        start = self.start if slot == 0 else None
        self.study.enqueue_trial(
            {"lr": start} if start is not None else {},
            user_attrs={
                **({FIRST_ATTR: self.start} if self.start is not None else {}),
                SLOT_ATTR: slot,
                PLACE_ATTR: self.first_number + slot,
                ROUND_ATTR: self.round,
                ROUND_SIZE_ATTR: self.size,
                SEED_ATTR: trial_seed(self.seed, self.round, slot),
                LOW_ATTR: self.lr_range.low,
                HIGH_ATTR: self.lr_range.high,
            },
        )


def requeue(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """Queues a trial again, same LR (if it had one) and seed: the retry of an interrupted one."""
    attrs = {k: v for k, v in trial.user_attrs.items() if k.startswith(OWN_ATTRS)}
    attrs[RETRY_ATTR] = trial.number
    attrs.setdefault(FIRST_ATTEMPT_ATTR, trial.number)  # a retry of a retry: the first's
    lr = trial.params.get("lr", trial.system_attrs.get("fixed_params", {}).get("lr"))
    params = {"lr": lr} if lr is not None else {}  # one that died before it took a fixed LR
    study.enqueue_trial(params, user_attrs=attrs)


def fail_interrupted(study: optuna.Study, trial_id: int) -> bool:
    """Fails a RUNNING trial as interrupted and queues it again; False if it had already ended.

    Ctrl-C is held back meanwhile: one between the failing and the queueing would lose the
    trial's slot for good (a failed trial's slot counts as taken).
    """
    storage = study._storage
    with no_interrupt():
        try:
            storage.set_trial_user_attr(trial_id, "error", INTERRUPTED)
            if not storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                return False
        except optuna.exceptions.UpdateFinishedTrialError:
            return False
        requeue(study, storage.get_trial(trial_id))
    return True


def recover(study: optuna.Study, spec: StorageSpec) -> int:
    """Fails and re-queues the trials left RUNNING by workers that died; returns how many.

    With a heartbeat (database storages), only trials whose heartbeat stopped; with a journal
    file, every RUNNING trial, and every interrupted trial whose retry was never queued:
    resuming a local study says its earlier workers are gone.
    """
    if spec.has_heartbeat:
        # Optuna's own test of the heartbeats finds them; failing them here rather than through
        # optuna.storages.fail_stale_trials records why first: a finished trial takes no attrs.
        storage = study._storage
        if not isinstance(storage, BaseHeartbeat) or not storage.get_heartbeat_interval():
            return 0
        stale = storage._get_stale_trial_ids(study._study_id)
        return sum(fail_interrupted(study, trial_id) for trial_id in stale)
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    failed = sum(fail_interrupted(study, t._trial_id) for t in running)
    return failed + _requeue_orphans(study)


def _requeue_orphans(study: optuna.Study) -> int:
    """Queues the interrupted trials whose retry was never queued; returns how many.

    ``fail_interrupted`` writes twice (the failure, then the retry); a ``kill -9`` between the
    two leaves the slot failed with nothing to take its place. Only for a local study being
    resumed: its earlier workers are gone, so no one is about to write the retry.
    """
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get(RETRY_ATTR) for t in trials}
    orphans = [t for t in trials if is_interrupted(t) and t.number not in retried]
    with no_interrupt():
        for trial in orphans:
            requeue(study, trial)
    return len(orphans)


def pop_waiting(study: optuna.Study) -> int | None:
    """Claims one WAITING trial (atomically: at most one worker gets it); its id, or None.

    In the order of the rounds' slots, not of trial numbers: the retry of an interrupted trial
    takes its slot's place, ahead of the slots after it, so a resumed search runs its trials
    in the order an uninterrupted one does."""
    storage = study._storage
    waiting = storage.get_all_trials(study._study_id, deepcopy=False, states=(TrialState.WAITING,))
    for trial in sorted(waiting, key=_queue_place):
        try:
            if storage.set_trial_state_values(trial._trial_id, state=TrialState.RUNNING):
                # beat at once: a trial with no heartbeat yet is never found stale, so a worker
                # dying before its trial's first beat (a fresh process still importing torch)
                # would leave the trial RUNNING for ever and the round never closing
                if isinstance(storage, BaseHeartbeat) and storage.get_heartbeat_interval():
                    storage.record_heartbeat(trial._trial_id)
                return trial._trial_id
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    return None


def _queue_place(trial: optuna.trial.FrozenTrial) -> tuple[int, int, int]:
    """(round, slot, number); a trial queued by other code, without lrkit's attrs or with
    others in their place, by its number."""
    place = slot_place(trial)
    return (0, trial.number, trial.number) if place is None else (*place, trial.number)


def round_open(study: optuna.Study, round_: int) -> tuple[int, int]:
    """(waiting, running) trials of round ``round_``."""
    waiting = running = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING, TrialState.RUNNING)):
        if t.user_attrs.get(ROUND_ATTR, 0) == round_:
            if t.state == TrialState.WAITING:
                waiting += 1
            else:
                running += 1
    return waiting, running


def study_direction(study: optuna.Study) -> Literal["minimize", "maximize"]:
    """Whether ``study`` minimizes or maximizes its value."""
    return "maximize" if study.direction == optuna.study.StudyDirection.MAXIMIZE else "minimize"


def best_trial(
    trials: list[optuna.trial.FrozenTrial], direction: str
) -> optuna.trial.FrozenTrial | None:
    """The best completed trial of the search's own (one that Optuna itself added to the study
    is not) with a finite value and an LR, or ``None``."""
    done = [
        t
        for t in trials
        if t.state == TrialState.COMPLETE
        and t.value is not None
        and math.isfinite(t.value)
        and "lr" in t.params
        and not is_foreign(t)
    ]
    sign = 1.0 if direction == "minimize" else -1.0
    return min(done, key=lambda t: sign * float(t.value or 0.0), default=None)
