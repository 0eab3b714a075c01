"""The learning-rate range test ("LR finder"): train briefly at rising LRs, read the loss curve.

:class:`LRFinder` keeps torch-lr-finder's names (``LRFinder(model, optimizer, criterion,
device)``, ``range_test(train_loader, val_loader, start_lr, end_lr, num_iter, step_mode,
smooth_f, diverge_th, accumulation_steps)``, ``plot()``, ``reset()``, ``history``) so existing
code runs with only its import changed, and fixes what the anchors get wrong:

- Nothing is left changed: model (parameters, gradients, buffers, train/eval modes), optimizer
  (state and every param-group key), GradScaler and RNGs are restored bit for bit when the test
  returns, raises, or is interrupted with Ctrl-C; the copy is kept on the CPU.
- The LR advances once per optimizer step that happens: with ``accumulation_steps`` once per
  that many micro-batches, and not at all on a step a GradScaler skipped.
- Param groups keep the ratios of their LRs.
- NaN and infinite losses end the sweep and never reach the curve; divergence is measured against
  the curve's own scale, so negative losses and losses near zero work (see
  :mod:`lrkit.finder.curve`); a curve without descent gives a warning, not a made-up LR.
- On a GPU the host never waits for a step: losses stay on the device and are read back every
  ``check_every`` steps.
- A :class:`~torch.nn.parallel.DistributedDataParallel` model records, at each step, the loss
  averaged over its process group: every rank stops at the same step and reads the same
  suggestion (a rank that stopped alone would leave the others waiting in DDP's all-reduce).
"""

from __future__ import annotations

import math
import os
import random
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypedDict, overload

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from lrkit.checks import check_flag, plain, positive_lr
from lrkit.devices import check_device
from lrkit.errors import ConfigError, NotRunError, bad_value
from lrkit.finder.batch import Criterion, StepFn
from lrkit.finder.plan import Plan, check_optimizer, check_options, is_scaler, make_plan
from lrkit.finder.result import FinderWarning, RangeTestResult, StopReason
from lrkit.finder.snapshot import Snapshot
from lrkit.finder.sweep import MAX_SKIPS_IN_A_ROW, Outcome, Sweep, allow_sync, ranks_agree
from lrkit.interrupts import no_interrupt

if TYPE_CHECKING:  # matplotlib is imported by plot() only
    from matplotlib.axes import Axes
    from typing_extensions import Unpack

    from lrkit.checks import Real, Whole
    from lrkit.finder.figure import FinderFigure

    class _LookOptions(TypedDict, total=False):
        """``LRFinder.plot``'s options of lrkit's own, by name only."""

        show_raw: bool
        title: str | None

    class _PlotOptions(_LookOptions, total=False):
        """``LRFinder.plot``'s options by name after a positional ``ax``."""

        skip_start: int
        skip_end: int
        log_lr: bool
        show_lr: float | None


_TORCH_LR_FINDER_PLOT = ("skip_start", "skip_end", "log_lr", "show_lr", "ax", "suggest_lr")
_PLOT_OPTIONS = (*_TORCH_LR_FINDER_PLOT, "show_raw", "title")
"""What ``LRFinder.plot`` takes by name: torch-lr-finder's, then lrkit's own."""


class LRFinder:
    """The learning-rate range test on a user's model, optimizer and loss.

    Args:
        model: The model to test; left exactly as it was after every test.
        optimizer: Its optimizer, built on (some of) its parameters; any ``torch.optim`` class.
        criterion: ``criterion(output, labels) -> loss``; may be ``None`` when the batches are
            Hugging Face style dicts (the model returns ``.loss``) or a ``step_fn`` is given.
        device: Where to run the test: the model is moved there for the test and back after it.
            ``None``: where the model is.
        memory_cache, cache_dir: Where the range test keeps its copy of the model, gradients,
            optimizer state and the rest while it runs: ``True`` (the default), in CPU memory
            (never on the device, where torch-lr-finder keeps it); ``False``, in a file in
            ``cache_dir`` (the system's temporary folder when ``None``) removed after, as
            torch-lr-finder's is, for a model whose second copy would not fit in memory (on
            Linux the file's name goes at once: a process killed mid-test leaves nothing).
        amp_backend, amp_config, grad_scaler: torch-lr-finder's mixed precision, the defaults
            of :meth:`range_test`'s ``amp_dtype`` and ``scaler``: with ``amp_backend="torch"``,
            the forward pass runs under autocast with ``amp_config``'s ``dtype`` (autocast's
            own default for the device without one; none with ``enabled=False``), and
            ``grad_scaler`` scales the loss. NVIDIA apex (``"apex"``) is not supported.

    Raises:
        TypeError: ``model``, ``optimizer`` or ``criterion`` has the wrong type.
        ConfigError: The optimizer holds no trainable parameter of the model, ``device`` is
            not a device, or ``cache_dir`` is not a folder.

    Example:
        >>> import torch
        >>> from torch.utils.data import DataLoader, TensorDataset
        >>> _ = torch.manual_seed(0)
        >>> x = torch.randn(256, 8); y = (x[:, 0] > 0).long()
        >>> model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(),
        ...                             torch.nn.Linear(32, 2))
        >>> optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
        >>> finder = LRFinder(model, optimizer, torch.nn.CrossEntropyLoss())
        >>> result = finder.range_test(DataLoader(TensorDataset(x, y), batch_size=32),
        ...                            end_lr=100, num_iter=100)
        >>> result.stop_reason, f"{result.diverged_lr:.3g}", result.steps
        ('diverged', '4.64', 78)
        >>> optimizer.param_groups[0]["lr"], len(optimizer.state)  # as they were
        (0.0001, 0)
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        criterion: Criterion | None = None,
        device: str | torch.device | None = None,
        memory_cache: bool = True,
        cache_dir: str | os.PathLike[str] | None = None,
        amp_backend: str | None = None,
        amp_config: dict[str, Any] | None = None,
        grad_scaler: Any = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}."
            )
        if criterion is not None and not callable(criterion):
            raise TypeError(
                f"criterion must be callable (output, labels) -> loss, or None, "
                f"got {type(criterion).__name__}."
            )
        if isinstance(criterion, type):  # the class, where an instance was meant
            raise TypeError(
                f"criterion must be a loss function or an instance of a loss, got the class "
                f"{criterion.__name__}; call it: {criterion.__name__}()."
            )
        if not isinstance(memory_cache, bool):
            raise bad_value("memory_cache", "True or False", memory_cache)
        if cache_dir is not None and not isinstance(cache_dir, (str, os.PathLike)):
            raise bad_value("cache_dir", "a folder's path or None", cache_dir)
        if cache_dir is not None and not os.path.isdir(cache_dir):  # as torch-lr-finder checks
            raise bad_value("cache_dir", "an existing folder or None", cache_dir)
        check_optimizer(model, optimizer)
        self.model, self.optimizer, self.criterion = model, optimizer, criterion
        # where the range test keeps its copy: None in memory, else a folder for its file
        self._cache_dir = None if memory_cache else (cache_dir or tempfile.gettempdir())
        self._device: torch.device | None = None
        if device is not None:
            self.device = device
        self._result: RangeTestResult | None = None
        self._history: dict[str, list[float]] = {"lr": [], "loss": []}
        self._amp = _torch_lr_finder_amp(amp_backend, amp_config, grad_scaler)
        # torch-lr-finder's attributes, as given (read only: the range test reads them)
        self._memory_cache, self._given_cache_dir = memory_cache, cache_dir
        self._amp_backend, self._amp_config = amp_backend, amp_config
        self._grad_scaler = grad_scaler

    @property
    def device(self) -> torch.device:
        """Where the range test runs: the ``device`` given, else the model's (its first
        parameter's), as torch-lr-finder's ``device`` reads."""
        return self._device if self._device is not None else _model_device(self.model)

    @device.setter
    def device(self, value: str | torch.device | None) -> None:
        if value is None:  # the model's, wherever it is when a range test starts
            self._device = None
            return
        check_device(value)  # a device this machine has: said now, not mid-sweep
        self._device = torch.device(value)

    @property
    def model_device(self) -> torch.device:
        """The model's device (its first parameter's); the range test leaves the model there."""
        return _model_device(self.model)

    @property
    def memory_cache(self) -> bool:
        """Whether the range test keeps its copy of the model and optimizer in memory."""
        return self._memory_cache

    @property
    def cache_dir(self) -> str | os.PathLike[str] | None:
        """The folder given for that copy's file with ``memory_cache=False``."""
        return self._given_cache_dir

    @property
    def amp_backend(self) -> str | None:
        """torch-lr-finder's ``amp_backend``, as given."""
        return self._amp_backend

    @property
    def amp_config(self) -> dict[str, Any] | None:
        """torch-lr-finder's ``amp_config``, as given."""
        return self._amp_config

    @property
    def grad_scaler(self) -> Any:
        """torch-lr-finder's ``grad_scaler``, as given."""
        return self._grad_scaler

    @property
    def result(self) -> RangeTestResult | None:
        """The last range test's result, or ``None`` before the first one."""
        return self._result

    @property
    def history(self) -> dict[str, list[float]]:
        """torch-lr-finder's ``history``: ``{"lr": [...], "loss": [...]}`` (smoothed losses).

        The same dict until the next range test, as torch-lr-finder's: what a caller changes in
        it stays, and ``best_loss`` reads it. ``plot()`` draws :attr:`result`, which does not
        change.
        """
        return self._history

    @history.setter
    def history(self, value: dict[str, list[float]]) -> None:
        if not isinstance(value, dict):
            raise bad_value("history", 'a dict {"lr": [...], "loss": [...]}', value)
        self._history = value

    def reset(self) -> None:
        """Does nothing: torch-lr-finder's ``reset()`` puts the model and optimizer back as they
        were, which every range test here does itself, even when it raises.

        The last result stays, as torch-lr-finder's does: ``history``, ``best_loss`` and
        ``plot()`` still show it. This method exists so that torch-lr-finder code, which must
        call it, runs unchanged.
        """

    # What plot returns depends on its arguments, so a type checker is told case by case:
    # without suggest_lr, lrkit's figure (a FinderFigure, which unpacks as (ax, lr)), or (ax,
    # lr) for the caller's ax; with it, torch-lr-finder's (ax, lr) or ax. Each case twice:
    # torch-lr-finder's positional order (skip_start, skip_end, log_lr, show_lr, ax), and
    # lrkit's plot(ax, ...).
    @overload
    def plot(
        self,
        skip_start: int = ...,
        skip_end: int = ...,
        log_lr: bool = ...,
        show_lr: float | None = ...,
        ax: None = ...,
        suggest_lr: None = ...,
        **options: Unpack[_LookOptions],
    ) -> FinderFigure: ...
    @overload
    def plot(
        self, ax: Axes, /, *, suggest_lr: None = ..., **options: Unpack[_PlotOptions]
    ) -> tuple[Axes, float | None]: ...
    @overload
    def plot(
        self,
        skip_start: int = ...,
        skip_end: int = ...,
        log_lr: bool = ...,
        show_lr: float | None = ...,
        *,
        ax: Axes,
        suggest_lr: None = ...,
        **options: Unpack[_LookOptions],
    ) -> tuple[Axes, float | None]: ...
    @overload
    def plot(
        self,
        skip_start: int,
        skip_end: int,
        log_lr: bool,
        show_lr: float | None,
        ax: Axes,
        suggest_lr: None = ...,
        **options: Unpack[_LookOptions],
    ) -> tuple[Axes, float | None]: ...
    @overload
    def plot(
        self,
        skip_start: int = ...,
        skip_end: int = ...,
        log_lr: bool = ...,
        show_lr: float | None = ...,
        ax: Axes | None = ...,
        *,
        suggest_lr: Literal[True],
        **options: Unpack[_LookOptions],
    ) -> tuple[Axes, float | None]: ...
    @overload
    def plot(
        self, ax: Axes, /, *, suggest_lr: Literal[True], **options: Unpack[_PlotOptions]
    ) -> tuple[Axes, float | None]: ...
    @overload
    def plot(
        self,
        skip_start: int = ...,
        skip_end: int = ...,
        log_lr: bool = ...,
        show_lr: float | None = ...,
        ax: Axes | None = ...,
        *,
        suggest_lr: Literal[False],
        **options: Unpack[_LookOptions],
    ) -> Axes: ...
    @overload
    def plot(
        self, ax: Axes, /, *, suggest_lr: Literal[False], **options: Unpack[_PlotOptions]
    ) -> Axes: ...
    @overload
    def plot(
        self,
        skip_start: int = ...,
        skip_end: int = ...,
        log_lr: bool = ...,
        show_lr: float | None = ...,
        ax: Axes | None = ...,
        *,
        suggest_lr: bool,
        **options: Unpack[_LookOptions],
    ) -> Axes | tuple[Axes, float | None]: ...
    @overload
    def plot(
        self, ax: Axes, /, *, suggest_lr: bool, **options: Unpack[_PlotOptions]
    ) -> Axes | tuple[Axes, float | None]: ...
    def plot(self, *args: Any, **options: Any) -> Any:
        """Draws the last result (see :meth:`RangeTestResult.plot`) and returns the figure, or the
        axes and the suggestion, as torch-lr-finder does (see below); never blocks. Where the
        caller uses pyplot (it is imported, or this is IPython or Jupyter), a new figure is made
        through pyplot, so it shows as torch-lr-finder's does: at the end of a notebook cell, or at
        ``plt.show()``; elsewhere it opens no window.

        torch-lr-finder's calls work too: ``plot(skip_start, skip_end, log_lr, show_lr, ax,
        suggest_lr)``, by position or by name. ``show_lr`` marks an LR with a red line. Given
        ``suggest_lr`` (torch-lr-finder's way of asking for its return value), ``plot`` returns
        what torch-lr-finder 0.2.2 returns: ``(ax, suggested_lr)`` when ``suggest_lr`` is true
        (``suggested_lr`` is ``None`` where the curve shows no descent), else ``ax``. Without
        it, ``plot`` returns what torch-lr-finder returns by default, ``(ax, suggested_lr)``:
        for axes of the caller's (``ax``), that pair; else the figure it made, which unpacks
        as that pair (:class:`~lrkit.finder.figure.FinderFigure`), so that both
        ``finder.plot().savefig(...)`` and ``_, lr = finder.plot()`` work. lrkit's defaults
        differ: nothing is skipped at the ends (the marks show where the curve was read), and
        the suggestion is lrkit's.

        Raises:
            NotRunError: No range test has run yet (a ``ConfigError`` and a ``RuntimeError``).
            TypeError: Too many positional arguments, one given twice, or an unknown option.

        Example:
            >>> from torch.utils.data import DataLoader, TensorDataset
            >>> _ = torch.manual_seed(0); x = torch.randn(256, 4); y = (x[:, 0] > 0).long()
            >>> model = nn.Linear(4, 2)
            >>> finder = LRFinder(model, torch.optim.SGD(model.parameters(), lr=1e-4),
            ...                   nn.CrossEntropyLoss())
            >>> _ = finder.range_test(DataLoader(TensorDataset(x, y), batch_size=32), end_lr=100)
            >>> type(finder.plot()).__name__
            'FinderFigure'
            >>> _, lr = finder.plot()  # torch-lr-finder's default return
            >>> lr == finder.result.suggestion
            True
            >>> ax, lr = finder.plot(10, 5, suggest_lr=True)  # torch-lr-finder's call
            >>> type(ax).__name__, lr == finder.result.suggestion
            ('Axes', True)
            >>> mine, lr = finder.plot(ax=ax)  # and its default return, on axes of one's own
            >>> mine is ax, lr == finder.result.suggestion
            (True, True)
        """
        if self._result is None:
            raise NotRunError("plot needs a range test first: call range_test(...), got none.")
        if args and isinstance(args[0], (bool, np.bool_)):
            raise TypeError(
                f"plot's first argument must be skip_start (an int) or ax, got {args[0]!r}."
            )
        if args and isinstance(args[0], (int, np.integer)):
            if len(args) > len(_TORCH_LR_FINDER_PLOT):
                raise TypeError(
                    f"plot takes at most {len(_TORCH_LR_FINDER_PLOT)} positional arguments "
                    f"({', '.join(_TORCH_LR_FINDER_PLOT)}), got {len(args)}."
                )
            named = dict(zip(_TORCH_LR_FINDER_PLOT, args))
        elif len(args) > 1:
            raise TypeError(f"plot takes one positional argument (ax), got {len(args)}.")
        else:
            named = dict(zip(("ax",), args))
        twice = sorted(set(named) & set(options))
        if twice:
            raise TypeError(f"plot got {twice[0]!r} both by position and by name.")
        options.update(named)
        unknown = sorted(set(options) - set(_PLOT_OPTIONS))
        if unknown:
            raise TypeError(
                f"plot got an unexpected option {unknown[0]!r}; it takes "
                f"{', '.join(_PLOT_OPTIONS)}."
            )
        options = {k: plain(v) for k, v in options.items()}  # np.int64(10) skips as 10 does
        ax = options.pop("ax", None)
        show_lr = options.pop("show_lr", None)
        suggest_lr = options.pop("suggest_lr", None)
        if suggest_lr is not None:
            check_flag("suggest_lr", suggest_lr)
        given = ax is not None
        if ax is None:  # through pyplot where the caller uses it, as torch-lr-finder draws
            from lrkit.axes import figure_and_axes, pyplot_axes
            from lrkit.finder.figure import FinderFigure
            from lrkit.finder.plot import FIGSIZE

            ax = (
                pyplot_axes(FIGSIZE, FinderFigure)
                or figure_and_axes(None, FIGSIZE, FinderFigure)[1]
            )
            ax.figure.suggestion = self._result.suggestion  # `_, lr = finder.plot()` unpacks
        fig = self._result.plot(ax, **options)
        if show_lr is not None:
            ax.axvline(
                positive_lr("show_lr", show_lr), color="red", linestyle="--", label="show_lr"
            )
        if suggest_lr is None and not given:
            return fig  # unpacks as (ax, suggestion)
        return (ax, self._result.suggestion) if suggest_lr in (None, True) else ax

    @property
    def best_loss(self) -> float | None:
        """torch-lr-finder's ``best_loss``: the lowest smoothed loss of the last range test."""
        losses = self.history["loss"]
        return min(losses) if losses else None

    def range_test(
        self,
        train_loader: Iterable[Any],
        val_loader: Iterable[Any] | None = None,
        start_lr: Real | None = None,
        end_lr: Real = 10,
        num_iter: Whole = 100,
        step_mode: str = "exp",
        smooth_f: Real = 0.05,
        diverge_th: Real = 5,
        accumulation_steps: Whole = 1,
        non_blocking_transfer: bool = True,
        *,
        step_fn: StepFn | None = None,
        scaler: Any = None,
        amp_dtype: torch.dtype | None = None,
        balance: str | None = None,
        seed: Whole | None = None,
        rule: str = "lrkit",
        check_every: Whole = 10,
        on_step: Callable[[int], None] | None = None,
        progress: bool = True,
    ) -> RangeTestResult:
        """Trains at LRs rising from ``start_lr`` to ``end_lr`` and reads the loss curve.

        Args:
            train_loader: Batches to train on (any iterable; re-iterated when it runs out).
            val_loader: If given, the loss of each step is the mean loss over this loader after
                the step (torch-lr-finder's validation mode: more faithful, much slower).
            start_lr: The first LR of the first param group whose LR is not 0; ``None``: its
                current LR. Other groups keep their ratio to it.
            end_lr: That group's LR at the last step; must be > ``start_lr``.
            num_iter: Optimizer steps, from 10 to 100,000 (a range test takes a few hundred).
            step_mode: ``"exp"`` (geometric steps) or ``"linear"``.
            smooth_f: Weight of each new loss in the smoothed curve, in ``[0, 1)``; 0: none.
            diverge_th: Stop when the smoothed loss rises above its best by ``diverge_th - 1``
                times the curve's scale: the larger of ``|best|`` and a quarter of the drop so
                far (torch-lr-finder's ``diverge_th`` times the best loss when the best is at
                least a quarter of the drop; see :mod:`lrkit.finder.curve`); > 1.
            accumulation_steps: Micro-batches per optimizer step (>= 1); the LR advances once
                per optimizer step and the step's loss is the mean over its micro-batches.
            non_blocking_transfer: Copy batches to the device asynchronously.
            step_fn: ``step_fn(model, batch) -> loss`` for batches that are not ``(inputs,
                labels)`` or dicts (see :mod:`lrkit.finder.batch`); the finder still calls
                ``backward`` and steps the optimizer, so one that calls ``backward`` itself is
                refused (a ConfigError on the first step). Clip gradients in a step pre-hook
                (``optimizer.register_step_pre_hook``), which the sweep's steps run.
            scaler: A ``torch.amp.GradScaler`` for mixed precision; a step it skips does not
                advance the sweep.
            amp_dtype: Autocast dtype for the forward pass; default ``torch.float16`` when an
                enabled scaler is given, no autocast otherwise.
            balance: ``"undersample"`` or ``"sampler"`` to show the sweep class-balanced
                batches of an imbalanced ``train_loader`` (see :mod:`lrkit.finder.balance`).
                A sample's class is its second item, as the sweep reads a batch's labels; for
                samples that hold it elsewhere (several inputs, then the label, for a
                ``step_fn``), give the dataset a ``targets`` attribute.
            seed: Seeds torch's, NumPy's and Python's RNGs (and the balancing) for the test.
            rule: The suggestion rule (see :mod:`lrkit.finder.suggest`).
            check_every: Read the losses back and check for divergence every this many steps
                (1 with a validation loader); larger means fewer host syncs, a later stop.
            on_step: Called with the number of steps done after each step (a progress bar
                of the caller's: lrkit's own is then not shown).
            progress: A progress bar on a terminal (off one, a plain line to stderr now and
                then, for a sweep longer than 10 s), as torch-lr-finder's tqdm bar; ``False``:
                none.

        A :class:`~torch.nn.parallel.DistributedDataParallel` model is tested on every rank
        at once: each rank calls ``range_test`` on its own batches, and the loss recorded at
        each step (the validation loss too) is the mean over the model's process group, so
        every rank gets the same result. Any other model is tested on the calling rank alone.

        Returns:
            The :class:`RangeTestResult`.

        Raises:
            ConfigError: An argument is invalid, a loader is empty, or the first loss is
                already NaN; the message names the argument.
            TypeError: A batch cannot be read or the loss is not a scalar tensor.
        """
        started = time.perf_counter()
        # a DDP model's ranks start the sweep together, or all raise (one alone would hang)
        with ranks_agree(self.model, "its checks before the sweep"):
            plan = make_plan(
                self.optimizer,
                plain(start_lr),
                plain(end_lr),
                plain(num_iter),
                step_mode,
                plain(smooth_f),
                plain(diverge_th),
                plain(accumulation_steps),
                plain(check_every),
            )
            seed = plain(seed)
            if val_loader is not None:  # each step costs a validation pass: stop at once
                plan = replace(plan, check_every=1)
            check_options(train_loader, val_loader, step_fn, scaler, balance, seed, on_step, rule)
            check_flag("non_blocking_transfer", non_blocking_transfer)
            check_flag("progress", progress)
            home = _normalize(_model_device(self.model))
            device = home if self._device is None else _normalize(self._device)
            if scaler is None:
                scaler = self._amp.scaler
            if self._amp.given:  # torch-lr-finder's amp_config decides, whatever the scaler
                # autocast for another device type than the sweep's changes nothing, as in torch
                here = self._amp.device_type in (None, device.type)
                default_amp = (
                    (self._amp.dtype or torch.get_autocast_dtype(device.type))
                    if self._amp.autocast and here
                    else None
                )
            else:  # GradScaler(enabled=use_amp) with use_amp False: no mixed precision either
                enabled = scaler is not None and getattr(scaler, "is_enabled", lambda: True)()
                default_amp = torch.float16 if enabled else None
            # "float16" was torch's TypeError mid-test; float32 and float64, a warning from torch
            # and a test run without autocast
            if amp_dtype is not None and amp_dtype not in AUTOCAST_DTYPES:
                expected = "torch.bfloat16 or torch.float16 (what torch.autocast runs in), or None"
                raise bad_value("amp_dtype", expected, amp_dtype)
            autocast = amp_dtype if amp_dtype is not None else default_amp
            generators = [*_loader_generators(train_loader), *_loader_generators(val_loader)]
            fresh = _without_iterator([train_loader, val_loader])
            with allow_sync(device):
                modules = [self.criterion] if isinstance(self.criterion, nn.Module) else []
                snapshot = Snapshot(
                    self.model,
                    self.optimizer,
                    scaler,
                    generators,
                    also=modules,
                    cache_dir=self._cache_dir,
                )
        try:
            if seed is not None:
                _seed_everything(seed)
            loader = train_loader
            if balance is not None:
                from lrkit.finder.balance import balanced_loader

                loader = balanced_loader(train_loader, balance, seed=seed)  # type: ignore[arg-type]
            if device != home:
                _move(self.model, self.optimizer, device)
            sweep = Sweep(
                self.model,
                self.optimizer,
                self.criterion,
                plan,
                loader,
                val_loader,
                step_fn,
                scaler,
                autocast,
                device,
            )
            if on_step is None and progress:
                outcome = _with_progress(sweep, plan.num_iter, non_blocking_transfer)
            else:
                outcome = sweep.run(non_blocking_transfer, on_step)
        finally:
            # a second Ctrl-C while restoring would leave the optimizer half put back: held
            with no_interrupt(), allow_sync(device):
                if device != home:
                    self.model.to(home)
                snapshot.restore()
                _drop_iterators(fresh)
            del snapshot
        self._result = _result(plan, outcome, rule, time.perf_counter() - started)
        self._history = self._result.history
        if self._result.warning is not None:
            warnings.warn(f"Range test: {self._result.warning}", FinderWarning, stacklevel=2)
        return self._result


PROGRESS_AFTER_S = 0.5
"""A range test shows its progress bar once it has run this long."""


def _with_progress(sweep: Sweep, total: int, non_blocking: bool) -> Outcome:
    """Runs ``sweep`` with a progress bar, made once it has run ``PROGRESS_AFTER_S`` (a short
    test pays nothing for it: a small MLP's 100 steps take 30 ms) and updated ten times a
    second."""
    import contextlib

    from lrkit.progress import ProgressBar

    started = time.monotonic()
    shown_at = started
    bars: list[ProgressBar] = []
    with contextlib.ExitStack() as stack:

        def show(done: int) -> None:
            nonlocal shown_at
            now = time.monotonic()
            if now - shown_at < (PROGRESS_AFTER_S if not bars else 0.1):
                return
            shown_at = now
            if not bars:
                bar = ProgressBar(total, label="range test", unit="steps")
                bars.append(stack.enter_context(bar))
                bar.already(done)  # not in the pace: the time before the bar is not counted
            bars[0].update(done)

        outcome = sweep.run(non_blocking, show)
        if bars:
            bars[0].update(len(outcome.curve))
    return outcome


# -- torch-lr-finder's mixed precision ---------------------------------------------------------


class _Amp(NamedTuple):
    """A range test's mixed-precision defaults, from torch-lr-finder's arguments."""

    given: bool  # amp_backend="torch": autocast as amp_config says, with or without a scaler
    autocast: bool  # whether the forward pass runs under autocast
    dtype: torch.dtype | None  # its dtype; None: autocast's default for the device
    scaler: Any  # a GradScaler, or None
    device_type: str | None = None  # autocast for this device type only (amp_config's)


def _torch_lr_finder_amp(backend: str | None, config: dict[str, Any] | None, scaler: Any) -> _Amp:
    """The range test's defaults from torch-lr-finder's ``amp_backend``, ``amp_config`` and
    ``grad_scaler``."""
    if backend == "apex":
        raise ConfigError(
            "amp_backend='apex' (NVIDIA apex's amp) is not supported, got it; use "
            "amp_backend='torch' with amp_config={'device_type': 'cuda', 'dtype': "
            "torch.float16} and grad_scaler=torch.amp.GradScaler('cuda'), or range_test("
            "scaler=..., amp_dtype=...)."
        )
    if backend not in (None, "torch"):
        raise bad_value("amp_backend", "'torch' or None", backend)
    if config is not None and not isinstance(config, dict):
        raise bad_value("amp_config", "a dict of torch.autocast's arguments, or None", config)
    if scaler is not None and not is_scaler(scaler):
        raise bad_value("grad_scaler", "a torch.amp.GradScaler, or None", scaler)
    if backend is None:
        if config is not None or scaler is not None:
            which = "amp_config" if config is not None else "grad_scaler"
            raise ConfigError(
                f"{which} is used only with amp_backend='torch', got amp_backend=None; pass "
                "amp_backend='torch' too."
            )
        return _Amp(False, False, None, None)
    options = config or {}
    unknown = sorted(set(options) - set(_AUTOCAST_KEYS), key=str)
    if unknown:
        raise ConfigError(
            f"amp_config must hold torch.autocast's arguments ({', '.join(_AUTOCAST_KEYS)}), "
            f"got the key {unknown[0]!r}."
        )
    dtype = options.get("dtype")
    if dtype is not None and dtype not in AUTOCAST_DTYPES:
        raise bad_value("amp_config['dtype']", "torch.float16 or torch.bfloat16", dtype)
    device_type = options.get("device_type")
    if device_type is not None and not isinstance(device_type, str):
        raise bad_value("amp_config['device_type']", "a device type such as 'cuda'", device_type)
    return _Amp(True, options.get("enabled", True) is not False, dtype, scaler, device_type)


_AUTOCAST_KEYS = ("device_type", "dtype", "enabled", "cache_enabled")
AUTOCAST_DTYPES = (torch.bfloat16, torch.float16)  # torch.autocast's lower precisions


# -- devices and RNGs --------------------------------------------------------------------------


def _model_device(model: nn.Module) -> torch.device:
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def _normalize(device: torch.device) -> torch.device:
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return device


def _move(model: nn.Module, optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    """Moves the model and its optimizer state to ``device`` (restored from the snapshot after)."""
    model.to(device)
    for values in optimizer.state.values():
        for key, value in values.items():
            # Adam keeps its step count on the CPU on purpose; only per-parameter tensors move.
            if isinstance(value, Tensor) and value.dim() > 0:
                values[key] = value.to(device)


def _loader_generators(loader: Any) -> list[torch.Generator]:
    """The ``torch.Generator`` objects a DataLoader draws its order from (restored after);
    through a torch-lr-finder style wrapper's ``data_loader`` too."""
    inner = getattr(loader, "data_loader", None)
    found = [] if inner is None or inner is loader else _loader_generators(inner)
    for owner in (
        loader,
        getattr(loader, "sampler", None),
        getattr(getattr(loader, "batch_sampler", None), "sampler", None),
    ):
        generator = getattr(owner, "generator", None)
        if isinstance(generator, torch.Generator):
            found.append(generator)
    return found


def _without_iterator(loaders: list[Any]) -> list[DataLoader[Any]]:
    """The DataLoaders among ``loaders`` (through a torch-lr-finder style wrapper's
    ``data_loader`` too) that hold no iterator of ``persistent_workers`` yet."""
    found: list[DataLoader[Any]] = []
    for loader in loaders:
        for candidate in (loader, getattr(loader, "data_loader", None)):
            if not isinstance(candidate, DataLoader) or not candidate.persistent_workers:
                continue
            unused = getattr(candidate, "_iterator", None) is None
            if unused and all(candidate is not f for f in found):
                found.append(candidate)
    return found


def _drop_iterators(loaders: list[DataLoader[Any]]) -> None:
    """Stops the ``persistent_workers`` iterator the range test made each of ``loaders`` keep:
    its workers were seeded from the loader's generator during the test and drew from their
    RNGs since, so the next epoch would be shuffled and augmented otherwise than without the
    test (the generator itself is restored). The next ``iter(loader)`` starts fresh workers,
    seeded as they would have been."""
    for loader in loaders:
        made = getattr(loader, "_iterator", None)
        if made is not None:
            shutdown = getattr(made, "_shutdown_workers", None)
            if callable(shutdown):
                shutdown()
            loader._iterator = None


def _seed_everything(seed: int) -> None:
    # Not torch.manual_seed: on a machine where CUDA is not initialised yet it would queue a
    # seed for CUDA's first use, after the test, where the snapshot cannot undo it.
    torch.default_generator.manual_seed(seed)
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.manual_seed_all(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


LINEAR_WARNING = (
    "a linear sweep (step_mode='linear') spends most of its steps near end_lr and few on the "
    "descent the suggestion is read from: on lrkit's benchmark tasks its suggestions lost 25 "
    "to 42 points of held-out score on average, and it gave none in half of the tests, "
    "against 1.1 points for an exponential sweep (benchmarks/finder_linear.py); for a "
    "suggestion, sweep with step_mode='exp'."
)


def _result(plan: Plan, outcome: Outcome, rule: str, seconds: float) -> RangeTestResult:
    from lrkit.finder.suggest import suggest

    curve, n = outcome.curve, len(outcome.curve)
    reference = plan.columns[plan.reference]
    lrs = reference[:n]
    stop_reason: StopReason = "completed" if outcome.stop is None else outcome.stop[1]
    diverged_lr = None if outcome.stop is None else reference[outcome.stop[0]]
    ended = outcome.stop is not None or plan.cut is not None  # no further sweep to advise
    s = suggest(lrs, curve.raw, rule=rule, stopped_early=ended)
    if s.lr is None and stop_reason == "non_finite_loss":  # why none: the step a NaN ended
        # the sweep on was tried, though it is not part of the curve, and the warning says so
        s = suggest([*lrs, reference[n]], [*curve.raw, math.nan], rule=rule, stopped_early=ended)
    warning = s.warning
    if stop_reason == "non_finite_grads":  # why, before what the curve then says
        grads = (
            f"the GradScaler skipped {MAX_SKIPS_IN_A_ROW} steps in a row (gradients not finite "
            "at every scale it backed off to): look for gradients that are not finite "
            "whatever the scale, or start the scaler lower (init_scale)."
        )
        warning = grads if warning is None else f"{grads} {warning}"
    if plan.cut is not None:  # the optimizer's bound ended it (Adafactor's 1/sqrt(step)); after
        # the reading's own warning, whose first clause callers quote as why it gave none
        warning = plan.cut if warning is None else f"{warning} Also, {plan.cut}"
    if plan.step_mode == "linear":  # torch-lr-finder's mode, kept; its readings are poor
        warning = f"{warning} Also, " if warning else ""
        warning += LINEAR_WARNING
    return RangeTestResult(
        lrs=lrs,
        losses=tuple(curve.raw),
        smoothed=tuple(curve.smoothed),
        group_lrs=tuple(column[:n] for column in plan.columns),
        suggestion=s.lr,
        range=s.range,
        rule=s.rule,
        stop_reason=stop_reason,
        diverged_lr=diverged_lr,
        warning=warning,
        loss_kind="val" if outcome.loss_kind == "val" else "train",
        skipped_steps=outcome.skipped,
        start_lr=plan.start_lr,
        end_lr=plan.end_lr,
        num_iter=plan.num_iter,
        step_mode=plan.step_mode,
        smooth_f=plan.smooth_f,
        diverge_th=plan.diverge_th,
        accumulation_steps=plan.accumulation_steps,
        seconds=seconds,
    )
