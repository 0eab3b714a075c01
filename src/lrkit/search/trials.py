"""One trial, run the same way wherever it runs: in the search's process or in a worker's.

:func:`run_trial` takes the trial's LR from the sampler (or the retry it is), seeds every RNG
with its own seed, calls the objective, and tells the study how it ended. An exception is
recorded as a failed trial with its error text and the search goes on; a NaN or infinite result
is a failure too, never a best; Ctrl-C fails the trial as interrupted and queues it again, so a
resumed search redoes only what was in flight.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import inspect
import math
import os
import random
import re
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import optuna
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.trial import TrialState

from lrkit.checks import bool_or_text, plain
from lrkit.errors import ConfigError, error_chain, shown_value
from lrkit.search.result import TRACEBACK
from lrkit.search.samplers import LR_PARAM, OWN_ATTRS
from lrkit.search.storage import StorageSpec
from lrkit.search.study import HIGH_ATTR, LOW_ATTR, SEED_ATTR, fail_interrupted
from lrkit.search.timeouts import TrialTimeout, deadline, timed_out

Objective = Callable[..., Any]


def run_trial(
    study: optuna.Study,
    trial_id: int,
    objective: Objective,
    lr_range: tuple[float, float],
    timeout: float | None = None,
    spec: StorageSpec | None = None,
) -> TrialState:
    """Runs the objective for one claimed (RUNNING) trial and tells the study how it ended.

    A trial ended meanwhile by another process (a ``--resume`` started beside this search
    fails it as interrupted and queues its retry, or the search's parent ended it past its
    ``timeout``) stops quietly at its next write. One that runs past ``timeout`` seconds fails.
    One whose objective lost the connection to ``spec``'s database server (a write of
    ``trial.report`` failed) was interrupted, not failed: it is queued again.
    """
    trial = _Trial(study, trial_id)
    began = time.monotonic()
    try:
        return _run_trial(study, trial, objective, lr_range, timeout, spec)
    except optuna.exceptions.UpdateFinishedTrialError as error:
        state = study._storage.get_trial(trial_id).state
        if state != TrialState.RUNNING:
            return state
        # about another trial (the objective's own study, say): this one failed
        _fail(study, trial, error_text(error), traceback.format_exc())
        return TrialState.FAIL
    finally:
        _let_go(time.monotonic() - began)


class _Trial(optuna.Trial):
    """Optuna's trial, whose ``set_user_attr`` stores a NumPy number or a 0-d tensor as the
    Python number it holds, and a NumPy array as a list: Optuna's journal file and databases
    store JSON alone, and failed the trial over ``np.float32(1.5)`` (QA 132), which its memory
    kept. It refuses the names lrkit keeps its record of the trial in (``lrkit_slot``,
    ``lrkit_seed``, ...): an objective that wrote one broke the study's count (a resume ran
    trials again), or a retry's seed (QA 150, 155)."""

    def set_user_attr(self, key: str, value: Any) -> None:
        if isinstance(key, str) and key.startswith(OWN_ATTRS):
            raise ConfigError(
                f"the objective's trial.set_user_attr key must not start with {OWN_ATTRS!r}, "
                f"which lrkit keeps its record of the trial in, got {key!r}; name it otherwise."
            )
        super().set_user_attr(key, _stored(value))


def _stored(value: Any) -> Any:
    """``value`` with the NumPy numbers and 0-d tensors in it (through lists, tuples and dicts)
    as Python's, and its NumPy arrays as lists.

    Example:
        >>> _stored({"acc": np.float32(0.5), "per_epoch": [np.int64(3)], "w": np.arange(2)})
        {'acc': 0.5, 'per_epoch': [3], 'w': [0, 1]}
    """
    value = plain(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_stored(v) for v in value]
    if isinstance(value, dict):
        return {k: _stored(v) for k, v in value.items()}
    return value


COLLECT_SHARE = 0.05
"""The most of the trials' time that collecting their garbage may take."""

_collecting = {"last_s": 0.1, "since_s": 0.0}
"""What the last collection took (a guess before the first), and the trials' seconds since."""


def _let_go(trial_s: float) -> None:
    """Frees what the trials left in reference cycles (a model that a hook or a closure refers
    back to) and, where CUDA is in use, the memory torch caches for them: without this, the
    trials of one process held on to every earlier model until Python's next full collection,
    which counts objects rather than the memory they hold (optuna #1224, #3050).

    It collects once the trials since the last collection (``trial_s`` is this one's) ran long
    enough that a collection costs at most ``COLLECT_SHARE`` of their time (one takes tens of
    ms with torch loaded): after every trial of a second or more, every few shorter ones, and
    a search of quick objectives pays nothing. Each collection is timed again, so one slow
    one (on a busy machine) does not stop the next (QA 146)."""
    _collecting["since_s"] += trial_s
    if _collecting["since_s"] * COLLECT_SHARE < _collecting["last_s"]:
        return
    started = time.perf_counter()
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        # after a CUDA error that sticks (a device-side assert), every CUDA call raises: the
        # trial is recorded by now, and the search goes on to say so (review 129)
        with contextlib.suppress(Exception):
            torch.cuda.empty_cache()
    _collecting.update(last_s=time.perf_counter() - started, since_s=0.0)


SAMPLER_FAILED = "the sampler could not draw the trial's lr"
"""How a trial's error starts when its sampler raised (the search warns of it at the end)."""


def error_text(error: BaseException) -> str:
    """``"ValueError: why"``, also for an exception whose ``str()`` raises.

    Example:
        >>> class Odd(Exception):
        ...     def __str__(self) -> str:
        ...         raise RuntimeError
        >>> error_text(ValueError("bad lr")), error_text(Odd())
        ('ValueError: bad lr', 'Odd: <its text could not be read: RuntimeError>')
    """
    try:
        text = str(error)
    except Exception as unreadable:
        text = f"<its text could not be read: {type(unreadable).__name__}>"
    return f"{type(error).__name__}: {text}"


def _run_trial(
    study: optuna.Study,
    trial: optuna.Trial,
    objective: Objective,
    lr_range: tuple[float, float],
    timeout: float | None,
    spec: StorageSpec | None,
) -> TrialState:
    trial_id = trial._trial_id
    attrs = trial.user_attrs
    low, high = attrs.get(LOW_ATTR, lr_range[0]), attrs.get(HIGH_ATTR, lr_range[1])
    try:
        lr = trial.suggest_float(LR_PARAM, low, high, log=True)
    except optuna.exceptions.UpdateFinishedTrialError:
        raise
    except Exception as error:  # a sampler that needs a package not installed (CmaEs: cmaes)
        if spec is not None and spec.lost(error):  # the draw's write, not the sampler
            fail_interrupted(study, trial_id)
            return TrialState.FAIL
        _fail(study, trial, f"{SAMPLER_FAILED}: {error_text(error)}", traceback.format_exc())
        return TrialState.FAIL
    seed = int(attrs.get(SEED_ATTR, trial.number))
    with _heartbeat(study, trial_id), _seeded(seed), _kept_as_it_was():
        began = time.monotonic()
        try:
            with deadline(timeout):
                value = _call(objective, lr, trial)
            if timeout is not None and time.monotonic() - began > timeout:
                raise TrialTimeout  # it swallowed one (a bare except, a return in a finally)
        except TrialTimeout as error:
            interrupt = _interrupt_behind(error)
            if interrupt is not None:  # a Ctrl-C that the time limit overtook: it stands
                fail_interrupted(study, trial_id)
                raise interrupt from None
            _fail(study, trial, timed_out(timeout))
            return TrialState.FAIL
        except optuna.TrialPruned as error:
            if str(error).strip():  # TrialPruned("loss flat since step 40"): kept as its error
                _say_why(trial, str(error))
            _tell(study, trial, state=TrialState.PRUNED)
            return TrialState.PRUNED
        except KeyboardInterrupt:
            fail_interrupted(study, trial_id)
            raise
        except optuna.exceptions.UpdateFinishedTrialError:
            raise
        except Exception as error:
            if spec is not None and spec.lost(error):  # not the LR's doing: run it again
                fail_interrupted(study, trial_id)  # raises if the server is still away
                return TrialState.FAIL
            _fail(study, trial, error_text(error), traceback.format_exc())
            return TrialState.FAIL
        except BaseException as error:  # sys.exit(), GeneratorExit: recorded, then it goes on
            _fail(study, trial, error_text(error), traceback.format_exc())
            raise
    number, problem = _number(value)
    if number is None:
        _fail(study, trial, problem)
        return TrialState.FAIL
    _tell(study, trial, number)
    return TrialState.COMPLETE


def _interrupt_behind(error: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C (or SIGTERM) that ``error`` was raised while handling, if any."""
    return next((e for e in error_chain(error) if isinstance(e, KeyboardInterrupt)), None)


def _tell(study: optuna.Study, trial: optuna.Trial, *args: Any, **kwargs: Any) -> None:
    """``study.tell``, unless the trial was ended meanwhile by another process: a ``--resume``
    started while this search still ran failed it as interrupted and queued its retry."""
    try:
        study.tell(trial, *args, **kwargs)
    except (optuna.exceptions.UpdateFinishedTrialError, ValueError):
        # Optuna says "Cannot tell a FAIL trial." with a ValueError; any other is re-raised
        if not study._storage.get_trial(trial._trial_id).state.is_finished():
            raise


def _fail(study: optuna.Study, trial: optuna.Trial, error: str, tb: str | None = None) -> None:
    _say_why(trial, error)
    if tb:
        trial.set_user_attr(TRACEBACK, tb[-4000:])
    _tell(study, trial, state=TrialState.FAIL)


def _say_why(trial: optuna.Trial, error: str) -> None:
    """Records why the trial ended where it did not complete: its error's first line."""
    first = error.strip().splitlines()[0][:500] if error.strip() else error
    trial.set_user_attr("error", first)


def _call(objective: Objective, lr: float, trial: optuna.Trial) -> Any:
    """``objective(lr, trial)``, or ``objective(lr)`` for one that takes the LR alone."""
    try:
        params = inspect.signature(objective).parameters.values()
    except (TypeError, ValueError):  # some builtins have no signature: pass both
        return objective(lr, trial)
    return objective(lr, trial) if _takes_trial(params) else objective(lr)


def _takes_trial(params: Iterable[inspect.Parameter]) -> bool:
    """Whether an objective with these parameters gets the trial: as its second positional
    parameter, one without a default, or named ``trial`` or ``..._trial`` (``optuna_trial=None``),
    or annotated as an Optuna trial (``t: optuna.Trial = None``), or through ``*args``;
    ``objective(lr, epochs=3)`` and ``objective(lr, n_trials=3)`` keep their default."""
    params = list(params)
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) < 2:
        return False
    second = positional[1]
    annotation = second.annotation
    said = annotation if isinstance(annotation, str) else repr(annotation)
    name = second.name.lower()
    return (
        second.default is inspect.Parameter.empty
        or name == "trial"
        or name.endswith("_trial")  # optuna_trial, not n_trials or trial_count
        or re.search(r"\b(Base|Frozen)?Trial\b", str(said)) is not None  # "Trial | None"
    )


def _number(value: Any) -> tuple[float | None, str]:
    """The objective's result as a finite float, or ``None`` and why it is not one."""
    if value is None:
        return None, (
            "the objective returned None; it must return the value to optimize (a number or a "
            "one-element tensor): is its return statement missing?"
        )
    if bool_or_text(value):
        return None, (
            f"the objective returned {value!r} ({type(value).__name__}); it must return the "
            "value to optimize (a number or a one-element tensor)"
        )
    if isinstance(value, (complex, np.complexfloating)) or _complex_tensor(value):
        return None, (
            f"the objective returned {_short(value)}, a complex number; it must return the "
            "value to optimize (a real number or a one-element tensor)"
        )
    detach = getattr(value, "detach", None)  # a loss tensor: read without autograd's warning
    if isinstance(value, np.ndarray) and value.size == 1:  # np.array([0.3]), as a tensor([0.3])
        value = value.reshape(())
    try:
        number = float(detach() if callable(detach) else value)
    except Exception as error:  # any: an int past float's range, a __float__ of the user's
        return None, (
            f"the objective returned {_short(value)} ({type(value).__name__}); it must return "
            f"the value to optimize (a number or a one-element tensor): "
            f"{type(error).__name__}: {error}"
        )
    if not math.isfinite(number):
        return None, (
            f"the objective returned {_short(value)}; a NaN or infinite result is a failure, "
            "not a best"
        )
    return number, ""


def _complex_tensor(value: Any) -> bool:
    import torch

    return isinstance(value, torch.Tensor) and value.is_complex()


def _short(value: Any) -> str:
    text = shown_value(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_objective(objective: Objective) -> None:
    """Fails at once, not once per trial, for an objective that cannot take ``(lr, trial)`` or
    ``(lr)`` as :func:`_call` passes them."""
    try:
        signature = inspect.signature(objective)
    except (TypeError, ValueError):  # no signature to read: the trials will tell
        return
    params = list(signature.parameters.values())
    if params and params[0].name == "trial" and params[0].kind != params[0].VAR_POSITIONAL:
        raise ConfigError(  # Optuna's objective(trial): it would get the LR, and fail each time
            f"objective must take the LR first, objective(lr, trial) or objective(lr) (lrkit "
            f"suggests the LR and passes it), got a callable with parameters {signature}, "
            "whose first is named 'trial'."
        )
    try:
        signature.bind(*((0.1, None) if _takes_trial(params) else (0.1,)))
    except TypeError:
        raise ConfigError(
            f"objective must take the LR and the trial, objective(lr, trial), or the LR "
            f"alone, objective(lr); got a callable with parameters {signature}."
        ) from None


@contextlib.contextmanager
def _kept_as_it_was() -> Iterator[None]:
    """Puts back, after a trial, what an objective may change for the whole process: the
    working directory (a Hydra-style ``os.chdir``) and torch's CPU thread count, so that every
    trial, and the search's own files after them, find what the search started with."""
    import torch

    threads = torch.get_num_threads()
    try:
        cwd: str | None = os.getcwd()
    except OSError:  # the caller's folder was removed: nothing to go back to
        cwd = None
    try:
        yield
    finally:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        if cwd is not None:
            with contextlib.suppress(OSError):
                if os.getcwd() != cwd:
                    os.chdir(cwd)


@functools.cache
def _cpu_only() -> bool:
    """Whether this process's torch has no device but the CPU to seed: then only the CPU's
    generator is seeded, as ``torch.manual_seed`` would, without its 0.2 ms of recording where
    each device's seed was queued (a third of a quick trial's overhead)."""
    import torch

    devices = [
        torch.cuda,
        torch.backends.mps,
        getattr(torch, "xpu", None),
        getattr(torch, "mtia", None),
    ]
    custom = torch._C._get_privateuse1_backend_name()  # a backend a package registered
    available = any(device is not None and device.is_available() for device in devices)
    return not available and not hasattr(torch, custom)


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seeds Python's, NumPy's and torch's global RNGs for the trial; restores them after."""
    import torch

    py_state, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        random.seed(seed)
        np.random.seed(seed)
        if _cpu_only():
            torch.default_generator.manual_seed(seed)
        else:  # every device's generator, CUDA's queued for its first use if not up yet
            torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


@contextlib.contextmanager
def _heartbeat(study: optuna.Study, trial_id: int) -> Iterator[None]:
    """Records the trial's heartbeat while it runs, on storages that have one."""
    storage = study._storage
    interval = storage.get_heartbeat_interval() if isinstance(storage, BaseHeartbeat) else None
    if not interval or not isinstance(storage, BaseHeartbeat):
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception):  # a missed beat only risks a late retry
                storage.record_heartbeat(trial_id)
            stop.wait(interval)

    thread = threading.Thread(target=beat, name=f"lrkit-heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
