"""The settings of one range test, checked before anything runs, and its table of LRs.

Every check raises a :class:`~lrkit.errors.ConfigError` (or ``TypeError``) that names the
argument, says what was expected and what was received, so that a bad call fails at once and
never half-way through a sweep.
"""

from __future__ import annotations

import inspect
import math
import numbers
import sys
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from lrkit.checks import MAX_LR, check_seed, positive_lr, whole_number
from lrkit.errors import ConfigError, bad_value
from lrkit.finder_settings import MAX_ITER, MIN_ITER, check_balance
from lrkit.plaintext import lr_text

STEP_MODES: tuple[str, ...] = ("exp", "linear")
"""How the LR rises: geometrically (``"exp"``) or linearly."""


MAX_ACCUMULATION = 10_000
"""The most micro-batches per optimizer step: more is a typo that would never finish a step."""


@dataclass(frozen=True)
class Plan:
    """The validated settings of one sweep and its LR table."""

    columns: tuple[tuple[float, ...], ...]  # columns[g][i]: the LR of group g at step i
    reference: int
    start_lr: float
    end_lr: float
    num_iter: int
    step_mode: str
    smooth_f: float
    diverge_th: float
    accumulation_steps: int
    check_every: int
    cut: str | None = None  # why the sweep ends before end_lr (an optimizer's bound on the LR)


def make_plan(
    optimizer: torch.optim.Optimizer,
    start_lr: float | None,
    end_lr: float,
    num_iter: int,
    step_mode: str,
    smooth_f: float,
    diverge_th: float,
    accumulation_steps: int,
    check_every: int,
) -> Plan:
    """Checks the sweep's settings and lists the LR of every param group at every step.

    The reference group (the first whose LR is not 0) runs from ``start_lr`` to ``end_lr``;
    every other group keeps its ratio to it, so a group at 0 stays at 0.

    Raises:
        ConfigError: A setting is invalid; the message names it.

    Example:
        >>> opt = torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)], "lr": 0.1},
        ...                        {"params": [torch.zeros(1, requires_grad=True)], "lr": 1.0}])
        >>> plan = make_plan(opt, 1e-3, 1.0, 10, "exp", 0.05, 5, 1, 10)
        >>> [(column[0], column[-1]) for column in plan.columns]
        [(0.001, 1.0), (0.01, 10.0)]
    """
    current = _group_lrs(optimizer)
    reference = next((g for g, lr in enumerate(current) if lr > 0), 0)
    if start_lr is None:
        if current[reference] <= 0:
            raise bad_value(
                "start_lr", "given when the optimizer's LR is 0 in every param group", None
            )
        start = current[reference]
    else:
        start = positive_lr("start_lr", start_lr)
    end = positive_lr("end_lr", end_lr)
    if end <= start:
        raise ConfigError(
            f"end_lr must be greater than start_lr ({float(start)!r}), got {end_lr!r}: the sweep "
            "raises the LR from start_lr to end_lr."
        )
    _integer("num_iter", num_iter, MIN_ITER, "a curve needs points to read")
    if num_iter > MAX_ITER:
        raise bad_value(
            "num_iter",
            f"an integer from {MIN_ITER} to {MAX_ITER:,} (a range test takes 100 to a few hundred "
            "steps)",
            num_iter,
        )
    given = step_mode
    if isinstance(step_mode, str):  # "Linear" and "EXP" too, as torch-lr-finder reads them
        step_mode = step_mode.lower()
    if step_mode not in STEP_MODES:
        raise bad_value("step_mode", f"one of {', '.join(map(repr, STEP_MODES))}", given)
    if not _is_number(smooth_f) or not 0 <= smooth_f < 1:
        raise bad_value("smooth_f", "a number in [0, 1) (0: no smoothing)", smooth_f)
    if not _is_number(diverge_th) or not diverge_th > 1 or not math.isfinite(diverge_th):
        raise bad_value("diverge_th", "a finite number > 1", diverge_th)
    _integer("accumulation_steps", accumulation_steps, 1, "micro-batches per optimizer step")
    if accumulation_steps > MAX_ACCUMULATION:  # a typo's 10**9 would never end a step
        raise bad_value(
            "accumulation_steps",
            f"at most {MAX_ACCUMULATION:,} micro-batches per optimizer step",
            accumulation_steps,
        )
    _integer("check_every", check_every, 1, "steps between divergence checks")
    if current[reference] > 0:
        ratios = [lr / current[reference] for lr in current]
    else:  # every group at 0 and start_lr given: sweep them all alike
        ratios = [1.0] * len(current)
    _check_bounds(start, end, start_lr, end_lr, step_mode, ratios)
    last = num_iter - 1
    if step_mode == "exp":
        lrs = [start * (end / start) ** (i / last) for i in range(num_iter)]
    else:
        lrs = [start + (end - start) * (i / last) for i in range(num_iter)]
    cut = None
    if isinstance(optimizer, _ADAFACTOR):
        lrs, cut = _applied_by_adafactor(optimizer, lrs, ratios, start_lr is not None)
        num_iter, end = len(lrs), lrs[-1]
    return Plan(
        columns=tuple(
            tuple(lrs) if ratio == 1.0 else tuple([lr * ratio for lr in lrs]) for ratio in ratios
        ),
        reference=reference,
        start_lr=start,
        end_lr=end,
        num_iter=num_iter,
        step_mode=step_mode,
        smooth_f=float(smooth_f),
        diverge_th=float(diverge_th),
        accumulation_steps=accumulation_steps,
        check_every=check_every,
        cut=cut,
    )


def check_optimizer(model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    params = [p for group in optimizer.param_groups for p in group["params"]]
    trainable = [p for p in params if p.requires_grad]
    if not trainable:
        raise ConfigError(
            "optimizer must hold at least one parameter that requires grad, got an optimizer "
            f"with {len(params)} parameters, none trainable; build it from model.parameters()."
        )
    owned = {id(p) for p in model.parameters()}
    if not any(id(p) in owned for p in trainable):
        raise ConfigError(
            "optimizer must hold parameters of the model, got one whose parameters all belong "
            "to another model; build it from model.parameters()."
        )
    if isinstance(optimizer, torch.optim.Rprop):
        raise ConfigError(
            "optimizer must apply the LR it is given at every step, got Rprop, which reads lr "
            "only to start each parameter's step size and then adapts the step sizes itself: "
            "the LRs a range test sweeps change nothing after its first step. Search the "
            "initial step size (lrkit.search) with Rprop inside the objective, or run the range "
            "test with SGD or Adam."
        )
    if _needs_closure(optimizer):
        raise ConfigError(
            f"optimizer must take one step per batch without a closure, got "
            f"{type(optimizer).__name__}, whose step(closure) evaluates the loss several times "
            "(as LBFGS's line search does), where a range test steps once per batch at a known "
            "LR. Run the range test with SGD or Adam, or search the LR (lrkit.search) with "
            "this optimizer inside the objective."
        )


def _group_lrs(optimizer: torch.optim.Optimizer) -> list[float]:
    """Each param group's LR as a float, or a ConfigError naming the group without one."""
    lrs = []
    for g, group in enumerate(optimizer.param_groups):
        lr: Any = group.get("lr")
        where = f"optimizer's param group {g} must have a learning rate 'lr'"
        if lr is None or isinstance(lr, str):
            raise ConfigError(
                f"{where} to sweep, got {type(optimizer).__name__} with lr={lr!r}: a range test "
                "of an optimizer that sets its own step size (transformers' Adafactor with "
                "relative_step=True) or names it otherwise measures nothing. Give it an LR "
                "(Adafactor: relative_step=False, lr=...), or run the range test with SGD or Adam."
            )
        if isinstance(lr, torch.Tensor):  # a float tensor of one value, as torch takes
            value = lr.item() if lr.numel() == 1 and lr.is_floating_point() else math.nan
        elif isinstance(lr, numbers.Real) and not isinstance(lr, bool):
            try:
                value = float(lr)
            except OverflowError:  # an int of 400 digits
                value = math.inf
        else:
            value = math.nan
        if not (math.isfinite(value) and value >= 0):
            raise bad_value(
                f"optimizer's param group {g}'s 'lr'",
                "a finite number >= 0 to sweep from (or a float tensor of one)",
                lr,
            )
        lrs.append(value)
    return lrs


_ADAFACTOR: tuple[type, ...] = tuple(
    getattr(torch.optim, name) for name in ("Adafactor",) if hasattr(torch.optim, name)
)


def _applied_by_adafactor(
    optimizer: torch.optim.Optimizer, lrs: list[float], ratios: list[float], given_start: bool
) -> tuple[list[float], str | None]:
    """The sweep's LRs up to the first that torch's Adafactor would not apply, and why it was
    cut there (``None``: not cut).

    Its step size is ``min(lr, 1 / sqrt(step))``, ``step`` counting each parameter's updates:
    an LR above that bound does not change the step, so the curve past it would plot losses
    against LRs never used. The sweep ends where the group of the highest LR passes it; a
    ConfigError if that leaves fewer than ``MIN_ITER`` steps.
    """
    done = max(
        (int(state["step"]) for state in optimizer.state.values() if "step" in state),
        default=0,
    )
    top = max(ratios)  # the group of the highest LR passes the bound first
    kept = next((i for i, lr in enumerate(lrs) if lr * top > (done + i + 1) ** -0.5), len(lrs))
    if kept == len(lrs):
        return lrs, None
    g = ratios.index(top)
    group = f" of param group {g}" if len(ratios) > 1 else ""
    if kept == 0:
        start = "start_lr" if given_start else "The optimizer's LR, where the sweep starts,"
        raise ConfigError(
            f"{start} must be below what torch's Adafactor applies, min(lr, 1/sqrt(step)) = "
            f"{lr_text((done + 1) ** -0.5)} at its step {done + 1}, got "
            f"{lr_text(lrs[0] * top)}{group}: a higher LR does not change its step."
        )
    if kept < MIN_ITER:
        raise ConfigError(
            f"end_lr must keep the sweep under what torch's Adafactor applies, min(lr, "
            f"1/sqrt(step)), for its first {MIN_ITER} steps, got {lr_text(lrs[-1])}: the LR{group} "
            f"passes it at the sweep's step {kept + 1} (Adafactor's {done + kept + 1}), and a "
            f"higher LR does not change its step. Lower end_lr (to about "
            f"{lr_text((done + MIN_ITER) ** -0.5 / top)}), start lower, or sweep in more steps "
            "(num_iter)."
        )
    at = f"LR {lr_text(lrs[kept - 1])}"
    if top != 1.0:
        at += f" (param group {g} at {lr_text(lrs[kept - 1] * top)})"
    cut = (
        f"the sweep ended at {at}, step {kept} of {len(lrs)}, not at end_lr={lr_text(lrs[-1])}: "
        "torch's Adafactor steps by min(lr, 1/sqrt(step)), "
        f"{lr_text((done + kept + 1) ** -0.5)} at its step {done + kept + 1}, so a higher "
        f"LR{group} would not change its step (nor, later in a longer sweep, where the bound is "
        "lower)."
    )
    return lrs[:kept], cut


def _needs_closure(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``optimizer.step`` requires a ``closure`` argument (``torch.optim.LBFGS``)."""
    try:
        params = inspect.signature(optimizer.step).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "closure" and p.default is p.empty for p in params)


def check_options(
    train_loader: Any,
    val_loader: Any,
    step_fn: Any,
    scaler: Any,
    balance: Any,
    seed: Any,
    on_step: Any,
    rule: Any,
) -> None:
    from lrkit.finder.suggest import resolve_rule

    resolve_rule(rule)  # before the sweep, not after it
    for name, loader in (("train_loader", train_loader), ("val_loader", val_loader)):
        if loader is None and name == "val_loader":
            continue
        if not hasattr(loader, "__iter__"):
            raise TypeError(f"{name} must be an iterable of batches, got {type(loader).__name__}.")
        if _length(loader) == 0:
            raise no_batch(name, loader)
    if step_fn is not None and not callable(step_fn):
        raise TypeError(f"step_fn must be callable (model, batch) -> loss, got {step_fn!r}.")
    if on_step is not None and not callable(on_step):
        raise TypeError(f"on_step must be callable (steps_done) -> None, got {on_step!r}.")
    if scaler is not None and not is_scaler(scaler):
        raise TypeError(f"scaler must be a torch.amp.GradScaler, got {type(scaler).__name__}.")
    if balance is not None:
        check_balance(balance)
    if seed is not None:
        check_seed(seed, why=", or None")


def _check_bounds(
    start: float,
    end: float,
    start_lr: float | None,
    end_lr: float,
    step_mode: str,
    ratios: list[float],
) -> None:
    """Every group's LR stays at most ``MAX_LR``, and a geometric sweep's ratio is finite."""
    top = max(ratios)
    if not end * top <= MAX_LR:
        group = ratios.index(top)
        why = (
            f" (param group {group} runs at {top:g}x the swept LR, so end_lr must be at most "
            f"{lr_text(MAX_LR / top)})"
            if top > 1.0
            else ""
        )
        raise bad_value("end_lr", f"a learning rate of at most {MAX_LR:g}{why}", end_lr)
    if step_mode == "exp" and not math.isfinite(end / start):
        given = "the optimizer's LR, " if start_lr is None else ""
        raise bad_value(
            "start_lr",
            f"{given}at least {lr_text(end / sys.float_info.max)}, so that end_lr / start_lr is a "
            "finite number for the geometric sweep",
            start if start_lr is None else start_lr,
        )


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_scaler(scaler: Any) -> bool:
    """Whether ``scaler`` has what the sweep calls on a GradScaler (``get_scale`` tells it a
    skipped step)."""
    return all(callable(getattr(scaler, m, None)) for m in ("scale", "step", "update", "get_scale"))


def _integer(name: str, value: object, least: int, why: str) -> None:
    whole_number(name, value, least=least, expected=f"an integer >= {least} ({why})")


def _length(loader: Any) -> int | None:
    """``len(loader)``, or ``None`` where it has none: a DataLoader over an IterableDataset has
    ``__len__`` and raises TypeError from it (a stream, a webdataset)."""
    try:
        return len(loader)
    except TypeError:
        return None


def no_batch(name: str, loader: Any) -> ConfigError:
    """The error for the loader ``name`` that yielded no batch: said an empty loader, or why a
    DataLoader is empty when ``drop_last`` drops its only, short, batch.

    Example:
        >>> import torch
        >>> from torch.utils.data import DataLoader, TensorDataset
        >>> short = DataLoader(TensorDataset(torch.zeros(5)), batch_size=8, drop_last=True)
        >>> print(no_batch("train_loader", short))  # doctest: +NORMALIZE_WHITESPACE
        train_loader must yield at least one batch, got a DataLoader of 5 items in batches of 8
        with drop_last=True, which drops its one short batch.
    """
    return ConfigError(f"{name} must yield at least one batch, got {_empty(loader)}.")


def _empty(loader: Any) -> str:
    """How :func:`no_batch` names a loader that yielded no batch."""
    dataset = getattr(loader, "dataset", None)
    size = getattr(loader, "batch_size", None)
    if getattr(loader, "drop_last", False) and hasattr(dataset, "__len__") and size:
        items = len(dataset)  # type: ignore[arg-type]
        if 0 < items < size:
            return (
                f"a DataLoader of {items} items in batches of {size} with drop_last=True, which "
                "drops its one short batch"
            )
    return "an empty loader"
