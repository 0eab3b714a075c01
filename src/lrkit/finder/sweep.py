"""The sweep: the per-step loop of a range test.

Kept free of host syncs (on a GPU the losses stay there and are read back every
``check_every`` steps) and of per-step Python work (on a small model each microsecond per step
is a visible part of the test's cost).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import itertools
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from lrkit.errors import ConfigError
from lrkit.finder.batch import (
    Criterion,
    StepFn,
    batch_loss,
    batch_size,
    check_loss,
    criterion_loss,
    to_device,
    warn_if_criterion_unused,
)
from lrkit.finder.curve import LossCurve, Stop
from lrkit.finder.plan import no_batch
from lrkit.finder.result import StopReason

if TYPE_CHECKING:
    from lrkit.finder.plan import Plan

SCALE_ROUNDING = 1e-6  # a scale read back this much lower is the scaler's own rounding
MAX_SKIPS_IN_A_ROW = 40
"""GradScaler-skipped steps in a row after which the sweep stops (``"non_finite_grads"``).

A scaler halves its scale at each skip; 40 halvings take the default 65536 below 1e-7, so a
gradient that is still not finite is not an overflow of float16.
"""

_NO_CONTEXT = contextlib.nullcontext()
_SEQUENCES = (list, tuple)
"""The batch types read inline as ``(inputs, labels)`` (a DataLoader collates pairs to lists)."""


@contextlib.contextmanager
def allow_sync(device: torch.device) -> Iterator[None]:
    """Lets the host wait for the GPU here, even under ``torch.cuda.set_sync_debug_mode``.

    The finder syncs on purpose only where it must (saving and restoring, the first loss, reading
    losses back every ``check_every`` steps); everywhere else a sync is a bug, and a test that
    runs the sweep with the debug mode set to ``"error"`` proves there is none.
    """
    if device.type != "cuda":
        yield
        return
    mode = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode(0)
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode(mode)


@dataclass(frozen=True)
class Outcome:
    """What a sweep leaves: its curve, why it stopped (``None``: it completed), and how many
    steps a GradScaler skipped."""

    curve: LossCurve
    stop: tuple[int, StopReason] | None
    skipped: int
    loss_kind: str


def _ddp_of(model: nn.Module) -> nn.parallel.DistributedDataParallel | None:
    """``model`` as a DistributedDataParallel, also through ``torch.compile``'s wrapper (torch's
    order: wrap in DDP, then compile); ``None`` for any other model."""
    inner = getattr(model, "_orig_mod", model)
    return inner if isinstance(inner, nn.parallel.DistributedDataParallel) else None


def _group_mean(
    ddp: nn.parallel.DistributedDataParallel | None,
) -> Callable[[Tensor], Tensor] | None:
    """What turns a rank's loss into the mean over a DistributedDataParallel model's process
    group; ``None`` for any other model (one may be range-tested on a single rank, where a
    collective would wait for ranks that never come).

    Every rank then records the same curve and so stops at the same step, for the same reason,
    and reads the same suggestion: a rank that stopped alone would leave the others waiting in
    DDP's gradient all-reduce. A non-finite loss on one rank makes the mean non-finite on all.
    """
    if ddp is None:
        return None
    group = ddp.process_group
    return functools.partial(_mean_over, group=group, size=dist.get_world_size(group))


def _collective_device(ddp: nn.parallel.DistributedDataParallel) -> torch.device:
    """Where a collective's tensor lives: the current GPU for NCCL (which reduces GPU tensors
    only), else the device of the model's parameters (gloo takes either)."""
    if dist.get_backend(ddp.process_group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    first = next(ddp.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def _mean_and_failures(
    loss: Tensor | None, ddp: nn.parallel.DistributedDataParallel
) -> tuple[Tensor, str | None]:
    """The mean of the ranks' ``loss`` over ``ddp``'s process group, and how many ranks failed
    (had no loss: ``"1 of its 2 ranks"``; ``None`` when none did), in one float32 all-reduce
    (every rank's tensor alike, failing or not) whose count is read on the host. Every rank
    can then raise at the same point, rather than one alone while the others wait for it in the
    next collective."""
    group, device = ddp.process_group, _collective_device(ddp)
    both = torch.zeros(2, device=device)
    if loss is None:
        both[1] = 1.0
    else:
        both[0] = loss.detach().to(device, torch.float32)
    dist.all_reduce(both, op=dist.ReduceOp.SUM, group=group)
    with allow_sync(device):
        failing = round(float(both[1]))
    size = dist.get_world_size(group)
    return both[0] / size, (f"{failing} of its {size} ranks" if failing else None)


@contextlib.contextmanager
def ranks_agree(model: nn.Module, what: str) -> Iterator[None]:
    """Runs the block; for a DDP model, every rank of its process group raises when the block
    raised on any (that rank its own error, the others a ConfigError naming ``what`` it
    failed), where one rank alone would leave the others waiting in the next collective."""
    ddp = _ddp_of(model)
    if ddp is None:
        yield
        return
    try:
        yield
    except Exception:
        _mean_and_failures(None, ddp)
        raise
    _, failing = _mean_and_failures(torch.zeros(()), ddp)
    if failing:
        raise ConfigError(
            f"every rank of a DDP model's process group must pass the range test's start: "
            f"{failing} failed {what} (see its error), so every rank stops here rather than "
            "wait for it."
        )


def _mean_over(loss: Tensor, group: Any, size: int) -> Tensor:
    """The mean of ``loss`` over ``group``, on a detached copy (the graph is left alone) on the
    loss's device: no host sync (gloo has no AVG: a SUM, then a division)."""
    mean = loss.detach().to(torch.promote_types(loss.dtype, torch.float32), copy=True)
    dist.all_reduce(mean, op=dist.ReduceOp.SUM, group=group)
    return mean.div_(size)


def _grad_clearer(optimizer: torch.optim.Optimizer) -> Callable[[], None] | list[Tensor]:
    """What clears the gradients before each step: the optimizer's parameters, or its own
    ``zero_grad`` when its class overrides torch's.

    ``Optimizer.zero_grad(set_to_none=True)`` sets each ``.grad`` that is not ``None`` to
    ``None``, inside a profiler range (and a dynamo guard) that costs 8-20 µs per call even when
    nobody profiles: on a small model that alone is 3-7% of a training step. For an optimizer
    that keeps torch's method, the sweep does the same assignments itself (a list of tensors is
    returned for that); another ``zero_grad`` (a subclass's, or one set on the instance) is
    called as it is.
    """
    own = "zero_grad" in vars(optimizer)  # set on the instance (patched by a library, say)
    if own or getattr(type(optimizer), "zero_grad", None) is not torch.optim.Optimizer.zero_grad:
        if _takes_set_to_none(optimizer.zero_grad):
            return functools.partial(optimizer.zero_grad, set_to_none=True)
        return optimizer.zero_grad  # a wrapper's zero_grad() of no arguments, called as it is
    return [p for group in optimizer.param_groups for p in group["params"]]


def _group_sizes(optimizer: torch.optim.Optimizer) -> list[int]:
    return [len(group["params"]) for group in optimizer.param_groups]


def _takes_set_to_none(method: Callable[..., Any]) -> bool:
    """Whether ``method`` can be called with ``set_to_none=`` (by name, or ``**kwargs``); one
    whose signature cannot be read is given it, as torch's own is."""
    try:
        parameters = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.name == "set_to_none" or p.kind is p.VAR_KEYWORD for p in parameters)


def clear_grads(clearer: Callable[[], None] | list[Tensor]) -> None:
    """Clears the gradients as ``zero_grad(set_to_none=True)`` does (see :func:`_grad_clearer`)."""
    if isinstance(clearer, list):
        for p in clearer:
            if p.grad is not None:
                p.grad = None
    else:
        clearer()


def _cycle(loader: Iterable[Any], name: str) -> Iterator[Any]:
    """Endless batches from a loader, starting it again whenever it runs out.

    A generator, not a class with ``__next__``: resuming one is the cheapest call Python has,
    and this runs once per step.
    """
    given = 0
    while True:
        empty = True
        for batch in loader:
            empty = False
            given += 1
            yield batch
        if empty and given:
            raise ConfigError(
                f"{name} ran out after {given} batches and gave none when started again (a "
                "generator or iterator can be read only once): pass a DataLoader or a list, or "
                "fewer steps (num_iter)."
            )
        if empty:
            raise no_batch(name, loader)


class Sweep:
    """One sweep: the per-step loop, kept free of host syncs and of per-step Python work."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        criterion: Criterion | None,
        plan: Plan,
        loader: Iterable[Any],
        val_loader: Iterable[Any] | None,
        step_fn: StepFn | None,
        scaler: Any,
        autocast: torch.dtype | None,
        device: torch.device,
    ) -> None:
        self.model, self.optimizer = model, optimizer
        self.criterion, self.plan, self.step_fn = criterion, plan, step_fn
        self.val_loader, self.scaler = val_loader, scaler
        self.autocast, self.device = autocast, device
        self.non_blocking = True
        self.batches = _cycle(loader, "train_loader")
        self.curve = LossCurve(plan.smooth_f, plan.diverge_th)
        # Losses of the steps since the last read. On a GPU they stay there as tensors until the
        # next read; on the CPU nothing waits, and a float per step is cheaper than a tensor
        # (measured: detaching each loss and stacking them per chunk was no cheaper).
        self._on_cpu = device.type == "cpu"
        self._pending: list[Tensor] = []
        self._values: list[float] = []
        self._first = True  # the first loss is checked on the host once, then never again
        self._scale = scaler.get_scale() if scaler is not None else 0.0
        self.skipped, self.in_a_row = 0, 0  # steps a GradScaler skipped: in all, and in a row
        self._clearer = _grad_clearer(optimizer)
        self._sizes = _group_sizes(optimizer)
        # what the first step's clearing cleared, before a step_fn could add a group
        self._cleared = [p for group in optimizer.param_groups for p in group["params"]]
        # A DDP model's losses are averaged over its process group (each step runs through
        # _run_general then; the plain loop is for every other model).
        self._ddp = _ddp_of(model)
        self._mean = _group_mean(self._ddp)

    def run(self, non_blocking: bool, on_step: Callable[[int], None] | None) -> Outcome:
        self.non_blocking = non_blocking
        groups = self.optimizer.param_groups
        tensor_lrs = any(isinstance(g["lr"], Tensor) for g in groups)
        plain = (
            self.scaler is None
            and self.autocast is None
            and self.plan.accumulation_steps == 1
            and self.val_loader is None
            and not tensor_lrs
            and self._mean is None
        )
        # torch-lr-finder's: a model in eval mode is trained; in train mode, modules the user
        # put in eval mode stay so (a frozen BatchNorm). Judged by the model inside a DDP or
        # torch.compile wrapper, whose own flag ddp.module.eval() leaves at train
        inner = self._ddp.module if self._ddp is not None else self.model
        if not getattr(inner, "_orig_mod", inner).training:
            self.model.train()
        if self._ddp is not None:
            self._first_batch_on_every_rank()
        try:
            if plain:  # it checks the first loss on the host itself
                stop = self._run_plain(0, on_step)
            else:
                stop = self._run_general(0, self.plan.num_iter, tensor_lrs, on_step)
        except ValueError as error:  # a loader's last batch of one sample, and a BatchNorm
            if "Expected more than 1 value per channel" not in str(error):
                raise
            raise ConfigError(
                "train_loader must not give a batch of one sample to a model whose BatchNorm "
                f"trains (torch: {error}): pass drop_last=True to its DataLoader, or a "
                "batch_size of at least 2."
            ) from error
        kind = "train" if self.val_loader is None else "val"
        return Outcome(self.curve, stop, self.skipped, kind)

    def _first_batch_on_every_rank(self) -> None:
        """Takes the first training batch before the first step, on every rank of a DDP model
        together: a rank that gets none (an empty shard) raises, and so do the others."""
        assert self._ddp is not None
        with ranks_agree(self.model, "to give its first training batch"):
            first = next(self.batches)
        self.batches = itertools.chain((first,), self.batches)

    def _run_general(
        self, step: int, end: int, tensor_lrs: bool, on_step: Callable[[int], None] | None
    ) -> tuple[int, StopReason] | None:
        """Steps ``step .. end - 1`` with any settings; why the sweep stopped, if it did."""
        plan, groups = self.plan, self.optimizer.param_groups
        watch = on_step is not None or self.step_fn is not None  # they may add param groups
        while step < end:
            for group, column in zip(groups, plan.columns):
                if tensor_lrs and isinstance(group["lr"], Tensor):
                    group["lr"].fill_(column[step])
                else:
                    group["lr"] = column[step]
            clear_grads(self._current_clearer() if watch else self._clearer)
            loss = self._step()
            if loss is None:  # a GradScaler skipped the step: run it again at the same LR
                if self.in_a_row >= MAX_SKIPS_IN_A_ROW:
                    return self._flush() or (step, "non_finite_grads")
                continue
            if self.val_loader is not None:
                loss = self._val_loss(self.val_loader, first=step == 0)
            if self._on_cpu:
                self._values.append(loss.item())
            else:
                self._pending.append(loss)
            step += 1
            if on_step is not None:
                on_step(step)
            if step % plan.check_every == 0 or step == plan.num_iter:
                stop = self._flush()
                if stop is not None:
                    return stop
        return None

    def _run_plain(
        self, step: int, on_step: Callable[[int], None] | None
    ) -> tuple[int, StopReason] | None:
        """Steps ``step ..`` to the end in the default case: one batch per step, float LRs, no
        scaler, autocast or validation loader.

        The same work as :meth:`_run_general` with every lookup hoisted out of the loop and the
        usual batch, an ``(inputs, labels)`` pair already on the device, read inline: on a small
        model each microsecond of Python per step is a visible part of the test's cost.
        """
        plan, optimizer = self.plan, self.optimizer
        n, every = plan.num_iter, plan.check_every
        optimizer_step, clearer = optimizer.step, self._clearer
        params = clearer if isinstance(clearer, list) else None
        model, criterion, step_fn, batches = (
            self.model,
            self.criterion,
            self.step_fn,
            self.batches,
        )
        device, non_blocking, on_cpu = self.device, self.non_blocking, self._on_cpu
        values, pending = self._values, self._pending
        # The first param group is set directly (most optimizers have just the one).
        first, lrs = optimizer.param_groups[0], plan.columns[0]
        others = list(zip(optimizer.param_groups[1:], plan.columns[1:]))
        # Pairs are read inline when there is a criterion and no step_fn.
        inline = criterion is not None and step_fn is None
        watch = on_step is not None or step_fn is not None  # they may add param groups
        for done in range(step + 1, n + 1):
            first["lr"] = lrs[done - 1]
            if others:
                for group, column in others:
                    group["lr"] = column[done - 1]
            if watch:
                clearer = self._current_clearer()
                params = clearer if isinstance(clearer, list) else None
            if params is not None:  # zero_grad(set_to_none=True), without its profiler range
                for p in params:
                    if p.grad is not None:
                        p.grad = None
            else:
                clearer()  # type: ignore[operator]
            batch = next(batches)
            here = False  # the usual batch: an (inputs, labels) pair of tensors on the device
            if inline and type(batch) in _SEQUENCES and len(batch) == 2:
                inputs, labels = batch
                try:
                    here = (
                        inputs.is_cpu and labels.is_cpu
                        if on_cpu
                        else inputs.device == device == labels.device
                    )
                except AttributeError:  # not tensors
                    here = False
            if here:
                loss = criterion_loss(criterion, model(inputs), labels)  # type: ignore[arg-type]
            else:
                batch = to_device(batch, device, non_blocking)
                loss = batch_loss(model, criterion, step_fn, batch)
            if done == 1:  # the first loss: checked on the host before it trains anything
                warn_if_criterion_unused(criterion, step_fn, batch)
                self._check_loss(loss)
            loss.backward()
            optimizer_step()
            if on_cpu:
                values.append(loss.item())
            else:
                pending.append(loss.detach())
            if on_step is not None:
                on_step(done)
            if done % every == 0 or done == n:
                stop = self._flush()
                if stop is not None:
                    return stop
        return None

    def _current_clearer(self) -> Callable[[], None] | list[Tensor]:
        """The gradient clearer, built again when the param groups changed (a group added in an
        ``on_step`` callback or a ``step_fn``: progressive unfreezing), so that every parameter
        the optimizer steps starts each step from no gradient."""
        sizes = _group_sizes(self.optimizer)
        if sizes != self._sizes:
            self._sizes, self._clearer = sizes, _grad_clearer(self.optimizer)
        return self._clearer

    def _step(self) -> Tensor | None:
        """One optimizer step, any settings; its mean loss, or ``None`` if a scaler skipped it.

        The first step also checks on the host that the loss is a finite scalar.
        """
        micro, scaler = self.plan.accumulation_steps, self.scaler
        total: Tensor | None = None
        # a DDP model syncs its gradients once per optimizer step, on its last micro-batch
        ddp = self._ddp
        with ddp.no_sync() if micro > 1 and ddp is not None else _NO_CONTEXT:
            for _ in range(micro - 1):
                loss = self._micro_step(micro, total is None)
                total = loss if total is None else total + loss
        loss = self._micro_step(micro, total is None)
        total = loss if total is None else total + loss
        loss = total / micro if micro > 1 else total
        if self._mean is not None:  # before any decision on it: every rank takes the same
            loss = self._mean(loss)
        if self._first:
            self._check_first(loss, "train_loader")
            self._first = False
        if scaler is None:
            self.optimizer.step()
            return loss
        scaler.step(self.optimizer)
        scaler.update()
        scale = scaler.get_scale()  # a sync, but GradScaler.step has made one already
        # the scaler backed off: inf or NaN gradients (a fresh scaler's scale is the float it
        # was given, which its float32 tensor then rounds, down for 1e12: not a back-off)
        skipped = scale < self._scale * (1 - SCALE_ROUNDING)
        self._scale = scale
        if skipped and not math.isfinite(float(loss)):  # the loss itself: the curve ends at it
            self.in_a_row = 0
            return loss
        self.skipped += skipped
        self.in_a_row = self.in_a_row + 1 if skipped else 0
        return None if skipped else loss

    def _micro_step(self, micro: int, opening: bool) -> Tensor:
        batch = to_device(next(self.batches), self.device, self.non_blocking)
        loss = self._loss(batch)
        if self._first and opening:  # the first batch
            warn_if_criterion_unused(self.criterion, self.step_fn, batch)
        if self._first:
            loss = check_loss(
                loss, "step_fn" if self.step_fn else "criterion (or the model's .loss)"
            )
            if opening:  # no gradient accumulated yet in this step
                self._check_no_backward()
        scaled = loss / micro if micro > 1 else loss
        (scaled if self.scaler is None else self.scaler.scale(scaled)).backward()
        return loss.detach()

    def _loss(self, batch: Any, source: str = "train_loader") -> Tensor:
        if self.autocast is None:
            return batch_loss(self.model, self.criterion, self.step_fn, batch, source)
        with torch.autocast(self.device.type, dtype=self.autocast):
            return batch_loss(self.model, self.criterion, self.step_fn, batch, source)

    def _val_loss(self, val_loader: Iterable[Any], first: bool) -> Tensor:
        """Mean validation loss over ``val_loader`` (weighted by batch size), on the device; for
        a DDP model, the mean of the ranks' means."""
        modules = list(self.model.modules())
        modes = [m.training for m in modules]  # a frozen BatchNorm's eval mode, say: kept
        self.model.eval()
        total: Tensor | None = None
        count = 0
        with torch.no_grad():
            for raw in val_loader:
                batch = to_device(raw, self.device, self.non_blocking)
                n = batch_size(batch)
                part = self._loss(batch, "val_loader").detach().float() * n
                total = part if total is None else total + part
                count += n
        for module, mode in zip(modules, modes):
            module.training = mode
        # a DDP model's ranks learn together whether any rank's loader was empty: the others
        # would wait for it in the next collective
        failing = None
        if self._ddp is not None:
            mean, failing = _mean_and_failures(None if total is None else total / count, self._ddp)
        if total is None and not first:
            raise ConfigError(
                "val_loader gave no batches the second time it was read (a generator or "
                "iterator can be read only once; it is read at every step): pass a DataLoader "
                "or a list."
            )
        if total is None:
            raise no_batch("val_loader", val_loader)
        if failing:
            raise ConfigError(
                f"val_loader must yield batches on every rank of the DDP model's process group: "
                f"{failing} gave none (see its error); every rank stops here rather than wait for "
                "it."
            )
        loss = total / count if self._ddp is None else mean
        if first:
            self._check_first(loss, "val_loader")
        return loss

    def _check_loss(self, loss: Tensor) -> None:
        """The first step's checks (as :meth:`_micro_step` and :meth:`_step` make them)."""
        check_loss(loss, "step_fn" if self.step_fn else "criterion (or the model's .loss)")
        self._check_no_backward()
        self._check_first(loss, "train_loader")
        self._first = False

    def _check_no_backward(self) -> None:
        """A ``step_fn`` that called ``backward`` itself (to clip, say) is refused: the sweep's
        own backward would add the gradient again, unclipped. Checked once, on the first step,
        whose gradients were cleared before ``step_fn`` ran (the parameters of a group it
        added are not looked at: their gradients are older)."""
        if self.step_fn is None:
            return
        grads = [p.grad for p in self._cleared if isinstance(p, Tensor) and p.grad is not None]
        # one sync for all of them; a sparse gradient's values are what it holds
        made = [(g._values() if g.is_sparse else g).ne(0).any() for g in grads]
        with allow_sync(self.device):
            if not made or not bool(torch.stack([m.to(made[0].device) for m in made]).any()):
                return
        raise ConfigError(
            "step_fn must return the loss without calling backward: the range test calls "
            "backward and steps the optimizer itself, so a gradient step_fn made is added to "
            "its own (clipping it there clips nothing). To clip gradients, clip in a step "
            "pre-hook, as the README shows: optimizer.register_step_pre_hook(hook), where "
            "hook(optimizer, args, kwargs) calls torch.nn.utils.clip_grad_norm_ and returns None."
        )

    def _check_first(self, loss: Tensor, source: str) -> None:
        with allow_sync(self.device):
            value = float(loss.detach())
        if not math.isfinite(value):
            raise ConfigError(
                f"{source} must give a finite loss at the start of the test, got {value}: the "
                "model, its weights or the data already produce NaN or inf before any step at a "
                "test LR (check the inputs for NaN, the initial weights and the loss function)."
            )

    def _flush(self) -> tuple[int, StopReason] | None:
        """Reads the pending losses back to the host (one sync) and feeds them to the curve."""
        if self._pending:
            with allow_sync(self.device):
                # One stack and one copy for the whole chunk; float64 keeps float64 losses exact.
                self._values.extend(torch.stack(self._pending).double().tolist())
            self._pending.clear()
        stop: tuple[int, Stop] | None = self.curve.extend(self._values)
        self._values.clear()  # in place: the plain loop holds on to this list
        return stop
