"""The range test's behaviour: the LRs it uses, the batches it reads, how it stops."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import re
import warnings
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import lrkit
from lrkit import LRFinder
from lrkit.finder import FinderWarning, RangeTestResult
from tests.finder.helpers import blobs, loader, mlp

CE = nn.CrossEntropyLoss()

# Short sweeps on easy data often show no descent; that warning is tested on its own below.
pytestmark = pytest.mark.filterwarnings("ignore::lrkit.finder.FinderWarning")


def _finder(lr: float = 1e-4, **opt: Any) -> tuple[LRFinder, nn.Module, torch.optim.Optimizer]:
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, **opt)
    return LRFinder(model, optimizer, CE), model, optimizer


def _record_lrs(optimizer: torch.optim.Optimizer) -> tuple[list[list[float]], Any]:
    """The LRs of every param group at each optimizer.step() that really runs."""
    seen: list[list[float]] = []
    handle = optimizer.register_step_pre_hook(
        lambda opt, args, kwargs: seen.append([float(g["lr"]) for g in opt.param_groups])
    )
    return seen, handle


def test_lrkit_exports_the_finder_lazily_and_the_result_is_typed_and_frozen() -> None:
    assert lrkit.LRFinder is LRFinder
    finder, _, _ = _finder()
    result = finder.range_test(loader(), end_lr=1, num_iter=20)
    assert isinstance(result, RangeTestResult) and finder.result is result
    assert result.steps == 20 and result.stop_reason == "completed" and result.diverged_lr is None
    assert len(result.losses) == len(result.smoothed) == len(result.group_lrs[0]) == 20
    assert all(math.isfinite(v) for v in result.losses)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.suggestion = 1.0  # type: ignore[misc]
    history = finder.history
    assert history == {"lr": list(result.lrs), "loss": list(result.smoothed)}
    finder.reset()  # torch-lr-finder's: the model and optimizer back (done), the history kept
    assert finder.result is result and finder.history is history
    history["lr"].clear()  # one dict, as torch-lr-finder's: the edit stays, the result too
    assert finder.history["lr"] == [] and len(result.lrs) == 20
    finder.range_test(loader(), end_lr=1, num_iter=20)
    assert len(finder.history["lr"]) == 20  # a new test, a new history


def test_exp_and_linear_sweeps_start_at_the_optimizer_lr_and_end_at_end_lr() -> None:
    finder, _, optimizer = _finder(lr=1e-4)
    seen, handle = _record_lrs(optimizer)
    exp = finder.range_test(loader(), end_lr=1e-1, num_iter=31)
    handle.remove()
    assert [s[0] for s in seen] == list(exp.lrs)  # the LRs the optimizer really stepped with
    assert exp.lrs[0] == exp.start_lr == 1e-4 and math.isclose(exp.lrs[-1], 1e-1)
    ratios = [b / a for a, b in zip(exp.lrs, exp.lrs[1:])]
    assert max(ratios) - min(ratios) < 1e-9  # geometric
    linear = finder.range_test(loader(), start_lr=0.01, end_lr=0.1, num_iter=10, step_mode="linear")
    assert [round(lr, 6) for lr in linear.lrs] == [0.01 * k for k in range(1, 11)]


def test_param_groups_keep_their_lr_ratios() -> None:
    model = mlp()
    optimizer = torch.optim.SGD(
        [
            {"params": model[0].parameters(), "lr": 1e-4},  # type: ignore[index]
            {"params": model[2].parameters(), "lr": 1e-3},  # type: ignore[index]
            {"params": [], "lr": 0.0},  # frozen on purpose: stays at 0
        ],
        lr=1.0,
    )
    seen, handle = _record_lrs(optimizer)
    result = LRFinder(model, optimizer, CE).range_test(loader(), start_lr=1e-5, num_iter=20)
    handle.remove()
    for lrs in seen:
        assert math.isclose(lrs[1] / lrs[0], 10.0) and lrs[2] == 0.0
    assert [s[1] for s in seen[: result.steps]] == list(result.group_lrs[1])
    assert result.lrs == result.group_lrs[0] and result.lrs[0] == 1e-5
    assert [g["lr"] for g in optimizer.param_groups] == [1e-4, 1e-3, 0.0]


def test_gradient_accumulation_steps_the_lr_once_per_optimizer_step() -> None:
    finder, _, optimizer = _finder()
    micro: list[float] = []

    def step_fn(model: nn.Module, batch: Any) -> torch.Tensor:
        loss = CE(model(batch[0]), batch[1])
        micro.append(loss.item())
        return loss

    seen, handle = _record_lrs(optimizer)
    result = finder.range_test(
        loader(batch_size=16), end_lr=1, num_iter=12, accumulation_steps=3, step_fn=step_fn
    )
    handle.remove()
    assert len(seen) == 12 and len(micro) == 36  # 3 micro-batches per optimizer step
    means = [sum(micro[i : i + 3]) / 3 for i in range(0, 36, 3)]
    assert all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(result.losses, means))


class _InfGrad(torch.autograd.Function):
    """Identity forward, infinite gradient backward: the overflow a GradScaler must skip."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return grad * math.inf


def test_steps_a_grad_scaler_skips_do_not_advance_the_sweep() -> None:
    finder, _, optimizer = _finder()
    scaler = torch.amp.GradScaler("cpu", init_scale=256.0)
    calls = 0

    def step_fn(model: nn.Module, batch: Any) -> torch.Tensor:
        nonlocal calls
        calls += 1
        out = model(batch[0])
        return CE(_InfGrad.apply(out) if calls in (3, 7, 8) else out, batch[1])

    seen, handle = _record_lrs(optimizer)
    result = finder.range_test(loader(), end_lr=1, num_iter=15, step_fn=step_fn, scaler=scaler)
    handle.remove()
    assert calls == 18 and result.skipped_steps == 3
    assert [s[0] for s in seen] == list(result.lrs)  # every planned LR stepped once, in order
    assert result.steps == 15 and math.isclose(result.lrs[-1], 1.0)
    assert scaler.get_scale() == 256.0  # restored


@pytest.mark.parametrize("init_scale", [1e12, 0.7])
def test_a_scale_that_float32_rounds_is_not_read_as_a_skipped_step(init_scale: float) -> None:
    """A fresh scaler's scale is the float it was given; once used, its float32 tensor's,
    rounded down for these: that was read as a back-off, a skip, and the step run again.
    (bfloat16 has float32's range: no gradient overflows at these scales.)"""
    finder, _, optimizer = _finder()
    scaler = torch.amp.GradScaler("cpu", init_scale=init_scale)
    seen, handle = _record_lrs(optimizer)
    result = finder.range_test(
        loader(), end_lr=1, num_iter=10, scaler=scaler, amp_dtype=torch.bfloat16
    )
    handle.remove()
    assert result.skipped_steps == 0 and len(seen) == 10
    assert [s[0] for s in seen] == list(result.lrs)


def test_a_sweep_whose_every_step_the_scaler_skipped_says_why_and_plots_nothing() -> None:
    """float16 gradients overflow at every scale from 1e38 down 40 halvings: no step is
    recorded. The warning blamed num_iter and start_lr, and plot() skip_start + skip_end."""
    finder, _, _ = _finder()
    scaler = torch.amp.GradScaler("cpu", init_scale=1e38)
    result = finder.range_test(loader(), end_lr=1, num_iter=10, scaler=scaler)
    assert result.steps == 0 and result.stop_reason == "non_finite_grads"
    assert result.warning is not None
    assert result.warning.startswith("the GradScaler skipped 40 steps in a row")
    with pytest.raises(lrkit.ConfigError, match="nothing to plot: the range test recorded no step"):
        finder.plot()


def test_a_non_finite_loss_ends_the_sweep_with_a_scaler_as_without() -> None:
    """With a scaler, a NaN loss makes NaN gradients, which it skips: the sweep ran the step
    again and again instead of ending at the loss, as it does without a scaler."""
    steps = {}
    for scaler in (None, torch.amp.GradScaler("cpu", init_scale=256.0)):
        finder, _, _ = _finder()
        calls = 0

        def step_fn(model: nn.Module, batch: Any) -> torch.Tensor:
            nonlocal calls
            calls += 1
            loss = CE(model(batch[0]), batch[1])
            return loss * math.nan if calls >= 5 else loss

        result = finder.range_test(loader(), end_lr=1, num_iter=15, step_fn=step_fn, scaler=scaler)
        assert result.stop_reason == "non_finite_loss" and result.skipped_steps == 0
        steps[scaler is None] = result.steps
    assert steps[True] == steps[False] == 4


def test_a_short_loader_is_cycled() -> None:
    finder, _, _ = _finder()
    short = loader(n=64, batch_size=32)  # two batches
    assert finder.range_test(short, end_lr=0.1, num_iter=25).steps == 25


def test_a_loader_over_a_stream_without_length_is_read_and_cycled() -> None:
    # a DataLoader over an IterableDataset raises TypeError from len(): streaming data
    data = blobs(64)

    class Stream(torch.utils.data.IterableDataset):
        def __iter__(self) -> Any:
            return iter(zip(data.tensors[0], data.tensors[1]))

    stream = DataLoader(Stream(), batch_size=16)
    with pytest.raises(TypeError):
        len(stream)
    finder, _, _ = _finder()
    result = finder.range_test(stream, val_loader=stream, end_lr=0.1, num_iter=10)
    assert result.steps == 10 and all(math.isfinite(v) for v in result.losses)


def test_validation_mode_records_the_loss_after_each_step() -> None:
    finder, model, optimizer = _finder(lr=0.05)
    train, val = loader(batch_size=32), loader(n=96, batch_size=40, seed=1)
    twin, twin_opt = copy.deepcopy(model), copy.deepcopy(optimizer)
    result = finder.range_test(train, val_loader=val, end_lr=1, num_iter=10)
    assert result.loss_kind == "val" and result.steps == 10
    # the first point by hand: one step at the start LR, then the size-weighted mean val loss
    twin_opt = torch.optim.SGD(twin.parameters(), lr=0.05)
    x, y = next(iter(train))
    CE(twin(x), y).backward()
    twin_opt.step()
    with torch.no_grad():
        total = sum(CE(twin(vx), vy).item() * len(vy) for vx, vy in val)
    assert math.isclose(result.losses[0], total / 96, rel_tol=1e-5)


class _Dicts:
    def __init__(self, keys: tuple[str, str], **extra: Any) -> None:
        self.keys, self.extra = keys, extra

    def __iter__(self) -> Any:
        for x, y in loader():
            yield {self.keys[0]: x, self.keys[1]: y, **self.extra}


class _HFStyle(nn.Module):
    """Takes **batch and returns an object with .loss, as Hugging Face models do."""

    def __init__(self) -> None:
        super().__init__()
        self.net = mlp()

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor) -> Any:
        logits = self.net(input_ids)
        return SimpleNamespace(loss=CE(logits, labels), logits=logits)


class _HFTuple(_HFStyle):
    """A Hugging Face model with ``return_dict=False``: ``(loss, logits)``, or ``(logits,)``
    without labels."""

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor | None = None) -> Any:
        logits = self.net(input_ids)
        return (logits,) if labels is None else (CE(logits, labels), logits)


def test_a_hugging_face_tuple_output_gives_its_first_item_as_the_loss() -> None:
    model = _HFTuple()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-5)
    result = LRFinder(model, optimizer).range_test(
        _Dicts(("input_ids", "labels")), end_lr=1, num_iter=10
    )
    assert result.steps == 10 and all(math.isfinite(v) for v in result.losses)
    with pytest.raises(TypeError, match=r"got a tuple whose first item is not a scalar loss"):
        LRFinder(model, optimizer).range_test([{"input_ids": x} for x, _ in loader()])


def test_a_criterion_given_with_batches_a_model_scores_itself_is_said_to_be_unused() -> None:
    """QA 146: with a criterion given out of habit (torch-lr-finder requires one), a Hugging
    Face batch's loss was the model's own .loss, and the criterion was ignored silently."""
    hf = _HFStyle()
    finder = LRFinder(hf, torch.optim.Adam(hf.parameters(), lr=1e-5), CE)
    for micro in (1, 2):  # once a test, at the caller's line, whatever the filter (review 148)
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            finder.range_test(
                _Dicts(("input_ids", "labels")), end_lr=1, num_iter=10, accumulation_steps=micro
            )
        said = [w for w in seen if "criterion is not used for a dict batch" in str(w.message)]
        assert len(said) == 1 and said[0].filename == __file__, [str(w.message) for w in seen]
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="criterion is not used")
        LRFinder(hf, torch.optim.Adam(hf.parameters(), lr=1e-5)).range_test(
            _Dicts(("input_ids", "labels")), end_lr=1, num_iter=10
        )


def test_dict_batches_hugging_face_models_and_step_fn() -> None:
    for keys in (("input", "label"), ("x", "targets")):
        finder, _, _ = _finder()
        assert finder.range_test(_Dicts(keys, meta="id"), end_lr=1, num_iter=10).steps == 10
    hf = _HFStyle()
    finder = LRFinder(hf, torch.optim.Adam(hf.parameters(), lr=1e-5))  # no criterion needed
    assert finder.range_test(_Dicts(("input_ids", "labels")), end_lr=1, num_iter=10).steps == 10
    model = mlp()
    custom = LRFinder(model, torch.optim.SGD(model.parameters(), lr=1e-4))
    batches = [(x, y, torch.ones(len(y))) for x, y in loader()]  # a list is a loader too

    def weighted(model: nn.Module, batch: Any) -> torch.Tensor:
        x, y, w = batch
        return (nn.functional.cross_entropy(model(x), y, reduction="none") * w).mean()

    assert custom.range_test(batches, end_lr=1, num_iter=10, step_fn=weighted).steps == 10


@pytest.mark.parametrize("micro", [1, 3])
def test_a_step_fn_that_calls_backward_is_refused_and_a_step_pre_hook_clips(micro: int) -> None:
    """QA 119: a step_fn that clipped after its own backward (retain_graph=True, as torch's
    error advises) ran without a word, and the sweep's backward added the unclipped gradient:
    norms of 0.3-0.5 reached the optimizer with max_norm=0.01."""
    finder, model, optimizer = _finder(momentum=0.9)
    before = copy.deepcopy(model.state_dict())

    def clipping(model: nn.Module, batch: Any) -> torch.Tensor:
        loss = CE(model(batch[0]), batch[1])
        loss.backward(retain_graph=True)
        nn.utils.clip_grad_norm_(model.parameters(), 0.01)
        return loss

    with pytest.raises(lrkit.ConfigError, match=r"^step_fn must return the loss without calling "):
        finder.range_test(loader(), num_iter=10, step_fn=clipping, accumulation_steps=micro)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    norms: list[float] = []

    def clip(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        norms.append(float(nn.utils.clip_grad_norm_(model.parameters(), 0.01)))
        norms.append(float(nn.utils.get_total_norm([p.grad for p in model.parameters()])))

    optimizer.register_step_pre_hook(clip)
    finder.range_test(loader(), num_iter=10, accumulation_steps=micro, progress=False)
    assert len(norms) == 20 and max(norms[1::2]) <= 0.01 * 1.0001 < max(norms[::2])


def test_the_backward_check_reads_only_what_the_first_step_cleared_and_sparse_gradients() -> None:
    """Review 122: a group a step_fn adds (progressive unfreezing) keeps the gradients it had
    before the test, which read as a backward in step_fn; a sparse gradient raised aten's
    NotImplementedError instead of the refusal."""
    torch.manual_seed(0)
    body, head = nn.Linear(8, 8), nn.Linear(8, 2)
    model = nn.Sequential(body, nn.ReLU(), head)
    pairs = list(loader())
    CE(model(pairs[0][0]), pairs[0][1]).backward()  # earlier training left gradients
    optimizer = torch.optim.SGD(head.parameters(), lr=1e-4)

    def unfreezing(model: nn.Module, batch: Any) -> torch.Tensor:
        if len(optimizer.param_groups) == 1:
            optimizer.add_param_group({"params": list(body.parameters())})
        return CE(model(batch[0]), batch[1])

    result = LRFinder(model, optimizer, CE).range_test(pairs, num_iter=10, step_fn=unfreezing)
    assert result.steps == 10
    sparse = nn.Sequential(nn.Embedding(10, 4, sparse=True), nn.Flatten(), nn.Linear(8, 2))
    words = [(torch.randint(0, 10, (16, 2)), torch.randint(0, 2, (16,))) for _ in range(4)]

    def backward_too(model: nn.Module, batch: Any) -> torch.Tensor:
        loss = CE(model(batch[0]), batch[1])
        loss.backward(retain_graph=True)
        return loss

    finder = LRFinder(sparse, torch.optim.SGD(sparse.parameters(), lr=1e-3), CE)
    with pytest.raises(lrkit.ConfigError, match=r"^step_fn must return the loss without"):
        finder.range_test(words, num_iter=10, step_fn=backward_too)


def test_a_model_output_the_criterion_cannot_take_says_how_to_pick_the_prediction() -> None:
    """QA 119: an RNN's (output, hidden), or a dict of heads, reached cross_entropy as it was:
    "argument 'input' (position 1) must be Tensor, not tuple", with no word from lrkit."""

    class Pair(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = mlp()

        def forward(self, x: torch.Tensor) -> Any:
            out = self.net(x[:, :8])
            return (out, out.detach()) if x.shape[1] == 8 else {"logits": out, "aux": out}

    model = Pair()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)
    pairs = list(loader())
    with pytest.raises(TypeError, match=r"must be Tensor, not tuple") as caught:  # torch's
        LRFinder(model, optimizer, CE).range_test(pairs, num_iter=10)
    (note,) = caught.value.__notes__  # the error keeps its type: code that catches it still does
    assert note.startswith("The model's output, a tuple of 2 items (a tensor of shape (32, 2), ")
    assert "criterion=lambda output, labels: loss(output[0], labels)" in note
    wider = [(torch.cat([x, x], 1), y) for x, y in pairs]
    with pytest.raises(TypeError) as caught:
        LRFinder(model, optimizer, CE).range_test(wider, num_iter=10)
    (note,) = caught.value.__notes__
    assert "a dict with keys 'logits', 'aux'" in note and "loss(output['logits'], labels)" in note

    def wrong_shapes(output: Any, labels: torch.Tensor) -> torch.Tensor:  # it picks: no note
        return (output[0] @ labels.float()).mean()

    with pytest.raises(RuntimeError) as caught:
        LRFinder(model, optimizer, wrong_shapes).range_test(pairs, num_iter=10)
    assert not getattr(caught.value, "__notes__", [])
    picked = LRFinder(model, optimizer, lambda output, labels: CE(output[0], labels))
    assert picked.range_test(pairs, num_iter=10, progress=False).steps == 10


def test_a_criterion_failing_on_a_batch_of_three_says_which_items_it_read() -> None:
    """QA 119: (inputs, lengths, labels) batches, as packed sequences come, used the lengths
    as the labels; where that fails, the error says how the batch was read."""
    finder, _, _ = _finder()
    lengths = torch.full((32,), 9)  # not a class index of 2 classes
    batches = [(x, lengths, y) for x, y in loader()]
    with pytest.raises(IndexError, match=r"Target 9 is out of bounds") as caught:  # torch's
        finder.range_test(batches, num_iter=10)
    (note,) = caught.value.__notes__
    assert note.startswith("The batch has 3 items: the first was read as the inputs and the ")


def test_negative_losses_do_not_stop_the_sweep_early() -> None:
    finder, _, _ = _finder(lr=1e-3, momentum=0.9)
    result = finder.range_test(loader(), end_lr=0.5, num_iter=40, step_fn=_shifted(-10.0))
    assert result.stop_reason == "completed" and max(result.losses) < 0
    assert result.suggestion is not None


def _shifted(offset: float) -> Any:
    return lambda model, batch: CE(model(batch[0]), batch[1]) + offset


def test_a_nan_loss_ends_the_sweep_and_never_reaches_the_curve() -> None:
    finder, _, optimizer = _finder(lr=1e-4, momentum=0.9)

    def step_fn(model: nn.Module, batch: Any) -> torch.Tensor:
        loss = CE(model(batch[0]), batch[1])
        return loss * math.nan if optimizer.param_groups[0]["lr"] > 0.2 else loss

    result = finder.range_test(loader(), end_lr=10, num_iter=50, step_fn=step_fn)
    assert result.stop_reason == "non_finite_loss"
    assert result.diverged_lr is not None and result.diverged_lr > 0.2 >= result.lrs[-1]
    assert all(math.isfinite(v) for v in result.losses + result.smoothed)
    assert result.suggestion is None or result.suggestion <= 0.2


def test_a_curve_without_descent_warns_and_suggests_nothing() -> None:
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, maximize=True)  # climbs the loss
    finder = LRFinder(model, optimizer, CE)
    with pytest.warns(FinderWarning, match="Range test"):
        result = finder.range_test(loader(), end_lr=1, num_iter=20)
    assert result.suggestion is None and result.range is None and result.warning
    ax, lr = finder.plot(suggest_lr=True)  # torch-lr-finder 0.2.2: two values whenever asked
    assert lr is None and ax.figure is not None


def test_a_diverging_sweep_stops_and_says_where() -> None:
    finder, _, _ = _finder(lr=1e-4, momentum=0.9)
    result = finder.range_test(loader(), end_lr=1e3, num_iter=60)
    assert result.stop_reason in ("diverged", "non_finite_loss")
    assert result.steps < 60 and result.diverged_lr is not None
    assert result.diverged_lr >= result.lrs[-1]


def _empty() -> DataLoader[Any]:
    return DataLoader(TensorDataset(torch.zeros(0, 8), torch.zeros(0, dtype=torch.long)))


BAD_CALLS: dict[str, tuple[dict[str, Any], str]] = {
    "end_below_start": ({"start_lr": 0.1, "end_lr": 0.01}, "end_lr must be greater than start_lr"),
    "end_equals_start": ({"start_lr": 0.1, "end_lr": 0.1}, "end_lr"),
    "too_few_iterations": ({"num_iter": 5}, "num_iter must be an integer >= 10"),
    "step_mode": ({"step_mode": "cosine"}, "step_mode must be one of 'exp', 'linear'"),
    "accumulation": ({"accumulation_steps": 0}, "accumulation_steps must be an integer >= 1"),
    "amp_dtype_text": ({"amp_dtype": "float16"}, "amp_dtype must be torch.bfloat16 or torch"),
    "amp_dtype_int": ({"amp_dtype": torch.int64}, "amp_dtype must be torch.bfloat16 or torch"),
    # torch.autocast warns and runs the whole test in full precision
    "amp_dtype_float32": ({"amp_dtype": torch.float32}, "or None, got torch.float32."),
    "amp_dtype_float64": ({"amp_dtype": torch.float64}, "or None, got torch.float64."),
    # 10**9 micro-batches a step never finished one
    "accumulation_huge": ({"accumulation_steps": 10**9}, "accumulation_steps must be at most"),
    "smooth_f_one": ({"smooth_f": 1.0}, "smooth_f must be a number in [0, 1)"),
    "smooth_f_negative": ({"smooth_f": -0.1}, "smooth_f"),
    "diverge_th": ({"diverge_th": 1}, "diverge_th must be a finite number > 1"),
    "start_lr_negative": ({"start_lr": -1.0}, "start_lr must be a positive finite"),
    "end_lr_nan": ({"end_lr": math.nan}, "end_lr must be a positive finite"),
    "end_lr_huge": (
        {"end_lr": 1e300},
        "end_lr must be a learning rate of at most 1e+06, got 1e+300",
    ),
    "start_lr_tiny": (
        {"start_lr": 1e-320, "end_lr": 1.0},
        "start_lr must be at least 5.563e-309, so that end_lr / start_lr is a finite number",
    ),
    "balance": ({"balance": "oversample"}, "balance must be one of 'undersample', 'sampler'"),
    "seed": ({"seed": "7"}, "seed must be an integer"),
    "seed_past_numpy": ({"seed": 2**64}, "seed must be an integer from 0 to 4294967295, or None"),
    "negative_seed": ({"seed": -1}, "seed must be an integer from 0 to 4294967295, or None"),
    "step_mode_as_given": (
        {"step_mode": "LIN"},
        "step_mode must be one of 'exp', 'linear', got 'LIN'",
    ),
    "non_blocking": (
        {"non_blocking_transfer": "yes"},
        "non_blocking_transfer must be True or False, got 'yes'",
    ),
    "empty_loader": ({"train_loader": "empty"}, "train_loader must yield at least one batch"),
    "empty_val_loader": ({"val_loader": "empty"}, "val_loader must yield at least one batch"),
    "drop_last_loader": (  # QA 127: said "an empty loader", not why
        {"train_loader": "drop_last"},
        "train_loader must yield at least one batch, got a DataLoader of 20 items in batches of "
        "32 with drop_last=True, which drops its one short batch.",
    ),
    "one_shot_loader": (
        {"train_loader": "one_shot"},
        "train_loader ran out after 3 batches and gave none when started again (a generator or "
        "iterator can be read only once): pass a DataLoader or a list, or fewer steps (num_iter).",
    ),
    "one_shot_val_loader": (
        {"val_loader": "one_shot"},
        "val_loader gave no batches the second time it was read",
    ),
    "first_loss_nan": ({"step_fn": "nan"}, "train_loader must give a finite loss at the start"),
    "nan_inputs": ({"train_loader": "nan"}, "train_loader must give a finite loss at the start"),
    "first_val_loss_nan": ({"val_loader": "nan"}, "val_loader must give a finite loss at the"),
}


@pytest.mark.parametrize("case", list(BAD_CALLS), ids=list(BAD_CALLS))
def test_bad_input_is_a_config_error_naming_the_parameter(case: str) -> None:
    kwargs, message = BAD_CALLS[case]
    kwargs = dict(kwargs)
    finder, model, optimizer = _finder()
    before = copy.deepcopy(model.state_dict())
    kind = kwargs.pop("train_loader", None)
    train: Any = {"empty": _empty(), None: loader()}.get(kind)
    if kind == "drop_last":
        train = loader(n=20, drop_last=True)
    if kind == "nan":  # read inline as (inputs, labels)
        train = [(torch.full((4, 8), math.nan), torch.zeros(4, dtype=torch.long))]
    if kind == "one_shot":
        train = iter(list(loader())[:3])
    if kwargs.get("val_loader") == "one_shot":
        kwargs["val_loader"] = iter(list(loader())[:2])
    if kwargs.get("val_loader") == "empty":
        kwargs["val_loader"] = _empty()
    if kwargs.get("val_loader") == "nan":
        kwargs["val_loader"] = [(torch.full((4, 8), math.nan), torch.zeros(4, dtype=torch.long))]
    if kwargs.get("step_fn") == "nan":
        kwargs["step_fn"] = lambda m, b: CE(m(b[0]), b[1]) * math.nan
    with pytest.raises(lrkit.ConfigError, match=re.escape(message)):
        finder.range_test(train, **kwargs)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert optimizer.param_groups[0]["lr"] == 1e-4


def test_no_param_group_is_swept_past_the_highest_lr() -> None:
    model = mlp()
    optimizer = torch.optim.SGD(
        [
            {"params": model[0].parameters(), "lr": 1e-4},  # type: ignore[index]
            {"params": model[2].parameters(), "lr": 1e-2},  # type: ignore[index]
        ]
    )
    finder = LRFinder(model, optimizer, CE)
    with pytest.raises(lrkit.ConfigError) as info:
        finder.range_test(loader(), end_lr=1e5, num_iter=10)
    assert str(info.value) == (
        "end_lr must be a learning rate of at most 1e+06 (param group 1 runs at 100x the swept "
        "LR, so end_lr must be at most 1e+04), got 100000.0."
    )
    result = finder.range_test(loader(), end_lr=1e4, num_iter=10)  # at the limit: it runs
    assert result.lrs[0] == 1e-4


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_extreme_but_valid_bounds_sweep_without_error(optimizer: str) -> None:
    model = mlp()
    make = torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam
    finder = LRFinder(model, make(model.parameters(), lr=1e-4), CE)
    result = finder.range_test(loader(), start_lr=1e-300, end_lr=1e6, num_iter=10)
    assert result.lrs[0] == 1e-300 and result.stop_reason in ("diverged", "completed")
    linear = finder.range_test(
        loader(), start_lr=1e-320, end_lr=1e6, num_iter=10, step_mode="linear"
    )
    assert linear.lrs[0] == 1e-320  # no ratio to overflow in a linear sweep


def test_an_unknown_rule_fails_before_the_sweep() -> None:
    finder, _, optimizer = _finder()
    seen, handle = _record_lrs(optimizer)
    with pytest.raises(lrkit.UnknownNameError, match="Unknown suggestion rule 'best'; valid rules"):
        finder.range_test(loader(), rule="best")
    handle.remove()
    assert seen == []


def test_the_anchor_tools_names_for_their_rules_are_accepted() -> None:
    finder, _, _ = _finder()
    for alias, rule in (("fastai", "valley"), ("torch-lr-finder", "steepest")):
        result = finder.range_test(loader(), end_lr=1.0, num_iter=20, rule=alias)
        assert result.rule == rule


def test_check_every_sets_how_far_past_divergence_the_sweep_may_run() -> None:
    steps: list[int] = []
    for every in (1, 25):
        finder, _, _ = _finder(lr=1e-4, momentum=0.9)
        done: list[int] = []
        result = finder.range_test(
            loader(), end_lr=1e4, num_iter=100, check_every=every, on_step=done.append
        )
        assert result.stop_reason in ("diverged", "non_finite_loss")
        steps.append(done[-1] - result.steps)  # steps run after the one that ended it
    assert steps[0] <= 1 and 0 <= steps[1] < 25


def test_bad_construction_is_a_clear_error() -> None:
    model = mlp()
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module, got str"):
        LRFinder("model", torch.optim.SGD(model.parameters(), lr=0.1))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"optimizer must be a torch\.optim\.Optimizer, got list"):
        LRFinder(model, [])  # type: ignore[arg-type]
    frozen = torch.optim.SGD([nn.Parameter(torch.zeros(2), requires_grad=False)], lr=0.1)
    with pytest.raises(lrkit.ConfigError, match="optimizer must hold at least one parameter"):
        LRFinder(model, frozen)
    other = torch.optim.SGD(mlp().parameters(), lr=0.1)
    with pytest.raises(lrkit.ConfigError, match="optimizer must hold parameters of the model"):
        LRFinder(model, other)
    with pytest.raises(lrkit.ConfigError, match=r"without a closure, got LBFGS, whose step"):
        LRFinder(model, torch.optim.LBFGS(model.parameters()))  # before any sweep, not in one
    with pytest.raises(lrkit.ConfigError, match=r"got Rprop, which reads lr only to start"):
        LRFinder(model, torch.optim.Rprop(model.parameters()))  # the LR swept changes nothing
    with pytest.raises(lrkit.ConfigError, match="plot needs a range test first"):
        LRFinder(model, torch.optim.SGD(model.parameters(), lr=0.1)).plot()
    with pytest.raises(lrkit.ConfigError, match="device must be a torch device"):
        LRFinder(model, torch.optim.SGD(model.parameters(), lr=0.1), device="gpu0")
    with pytest.raises(lrkit.ConfigError, match="device must be a device that holds data"):
        LRFinder(model, torch.optim.SGD(model.parameters(), lr=0.1), device="meta")
    if not torch.cuda.is_available():  # said when built, not as torch's assertion mid-sweep
        with pytest.raises(lrkit.ConfigError, match=r"has no CUDA device\), got 'cuda'"):
            LRFinder(model, torch.optim.SGD(model.parameters(), lr=0.1), device="cuda")
    with pytest.raises(TypeError, match=r"got the class CrossEntropyLoss; call it"):
        LRFinder(model, torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss)


def test_batches_it_cannot_read_are_a_type_error() -> None:
    finder, _, _ = _finder()
    with pytest.raises(TypeError, match=r"train_loader must yield .* pairs or dicts"):
        finder.range_test([torch.zeros(4, 8)] * 3, num_iter=10)
    with pytest.raises(TypeError, match="step_fn must return a scalar loss tensor"):
        finder.range_test(loader(), num_iter=10, step_fn=lambda m, b: m(b[0]))
    x, y = blobs(8).tensors
    with pytest.raises(
        TypeError,
        match=r"a dict batch with the label key 'target' and no input key \('input', 'inputs', "
        r"'x'\) is passed as model\(\*\*batch\), which failed: .*'image'.* Name its input "
        r"'input', or pass step_fn=lambda model, batch: criterion\(model\(batch\['image'\]\), "
        r"batch\['target'\]\)",
    ):
        finder.range_test([{"image": x, "target": y}], num_iter=10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing else is raised along the way
        with pytest.raises(lrkit.ConfigError, match="criterion must be given"):
            LRFinder(finder.model, finder.optimizer).range_test(loader(), num_iter=10)


def _hand_loop(
    model: nn.Module, optimizer: torch.optim.Optimizer, data: Any, lrs: Any
) -> list[float]:
    """What the sweep must do at each LR: zero_grad, forward, backward, step (cycling data)."""
    losses: list[float] = []
    batches = iter(())
    for lr in lrs:
        optimizer.param_groups[0]["lr"] = lr
        batch = next(batches, None)
        if batch is None:
            batches = iter(data)
            batch = next(batches)
        optimizer.zero_grad(set_to_none=True)
        loss = CE(model(batch[0]), batch[1])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("batches", ["loader", "list"])
@pytest.mark.parametrize("name", ["sgd", "adamw"])
def test_each_step_is_the_step_a_hand_written_loop_takes(name: str, batches: str) -> None:
    """The sweep clears gradients itself (zero_grad's work without its profiler range) and reads
    pairs inline: its losses must be those of a plain loop at its LRs, bit for bit."""
    data: Any = loader(batch_size=32)
    if batches == "list":
        data = list(data)
    results = []
    for run in ("finder", "hand"):
        model = mlp()
        optimizer: torch.optim.Optimizer = (
            torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
            if name == "sgd"
            else torch.optim.AdamW(model.parameters(), lr=1e-3)
        )
        if run == "finder":
            result = LRFinder(model, optimizer, CE).range_test(data, end_lr=1.0, num_iter=30)
            lrs = result.lrs
            results.append(list(result.losses))
        else:
            results.append(_hand_loop(model, optimizer, data, lrs))
    assert results[0] == results[1]


def test_an_optimizer_with_its_own_zero_grad_has_it_called_every_step() -> None:
    class Counting(torch.optim.SGD):
        calls = 0

        def zero_grad(self, set_to_none: bool = True) -> None:
            type(self).calls += 1
            super().zero_grad(set_to_none)

    model = mlp()
    optimizer = Counting(model.parameters(), lr=1e-3)
    LRFinder(model, optimizer, CE).range_test(loader(), end_lr=1.0, num_iter=25)
    assert Counting.calls == 25

    # one patched onto the instance (as some libraries do) is called too
    plain = torch.optim.SGD(model.parameters(), lr=1e-3)
    calls: list[bool] = []
    original = plain.zero_grad

    def patched(set_to_none: bool = True) -> None:
        calls.append(set_to_none)
        original(set_to_none)

    plain.zero_grad = patched  # type: ignore[method-assign]
    LRFinder(model, plain, CE).range_test(loader(), end_lr=1.0, num_iter=15)
    assert calls == [True] * 15


def test_an_optimizer_whose_zero_grad_takes_no_arguments_has_it_called() -> None:
    # a wrapper's zero_grad(self): set_to_none=True was a TypeError at the first step
    class Legacy(torch.optim.SGD):
        calls = 0

        def zero_grad(self) -> None:  # type: ignore[override]
            type(self).calls += 1
            super().zero_grad()

    model = mlp()
    LRFinder(model, Legacy(model.parameters(), lr=1e-3), CE).range_test(loader(), num_iter=15)
    assert Legacy.calls == 15


def test_a_disabled_grad_scaler_runs_the_sweep_in_full_precision() -> None:
    # GradScaler(enabled=use_amp) with use_amp False turned float16 autocast on all the same
    dtypes: set[torch.dtype] = set()
    model = mlp()
    model.register_forward_hook(lambda module, args, out: dtypes.add(out.dtype))
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    off = torch.amp.GradScaler("cpu", enabled=False)
    LRFinder(model, optimizer, CE).range_test(loader(), num_iter=12, scaler=off)
    assert dtypes == {torch.float32}


def test_gradients_left_over_from_training_do_not_leak_into_the_first_step() -> None:
    """A model handed over with .grad set (mid-training, before zero_grad): the first sweep step
    starts from cleared gradients, and the user's gradients are back afterwards."""
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    CE(model(blobs().tensors[0]), blobs().tensors[1]).backward()
    grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    twin = copy.deepcopy(model)
    twin_opt = torch.optim.SGD(twin.parameters(), lr=1e-3)
    result = LRFinder(model, optimizer, CE).range_test(loader(), end_lr=1.0, num_iter=12)
    assert result.losses == tuple(_hand_loop(twin, twin_opt, loader(), result.lrs))
    assert all(torch.equal(p.grad, g) for p, g in zip(model.parameters(), grads))


def test_torch_lr_finder_plot_calls_and_attributes_work_unchanged() -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)
    # torch-lr-finder's constructor: memory_cache / cache_dir are accepted
    finder = LRFinder(model, optimizer, CE, device="cpu", memory_cache=False, cache_dir=None)
    result = finder.range_test(loader(), end_lr=10, num_iter=60)
    assert result.suggestion is not None
    assert isinstance(finder.plot(), Figure)  # lrkit's own call
    ax, lr = finder.plot(10, 5, True, None, None, True)  # torch-lr-finder's, by position
    assert isinstance(ax, Axes) and lr == result.suggestion
    assert len(ax.lines) > 0
    plain = finder.plot(skip_start=10, skip_end=5, suggest_lr=False, show_lr=0.01)
    assert isinstance(plain, Axes)
    assert any(line.get_label() == "show_lr" for line in plain.lines)
    mine = Figure().add_subplot()
    assert finder.plot(ax=mine, suggest_lr=False) is mine  # drawn on the axes given
    assert finder.best_loss == min(finder.history["loss"])
    finder.history["loss"][0] = -1.0  # torch-lr-finder's history is one dict, edited in place
    assert finder.best_loss == -1.0 and finder.history["loss"][0] == -1.0
    assert result.smoothed[0] != -1.0  # the result stays as it was
    with pytest.raises(TypeError, match="at most 6 positional arguments"):
        finder.plot(10, 5, True, None, None, True, 1)
    with pytest.raises(TypeError, match="'skip_start' both by position and by name"):
        finder.plot(10, skip_start=3)
    with pytest.raises(lrkit.ConfigError, match="show_lr must be a positive finite"):
        finder.plot(show_lr=-1.0)
    with pytest.raises(lrkit.ConfigError, match="memory_cache must be True or False, got 'no'"):
        LRFinder(model, optimizer, CE, memory_cache="no")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="unexpected option 'foo'; it takes skip_start, "):
        finder.plot(foo=1)
    with pytest.raises(lrkit.ConfigError, match="log_lr must be True or False, got 'no'"):
        finder.plot(log_lr="no")
    with pytest.raises(lrkit.ConfigError, match="suggest_lr must be True or False, got 'yes'"):
        finder.plot(suggest_lr="yes")  # was taken, as true
    with pytest.raises(lrkit.ConfigError, match="title must be a string or None, got 3"):
        finder.plot(title=3)
    missing = "/nonexistent/lrkit-cache"
    for memory_cache in (True, False):  # torch-lr-finder checks it either way
        with pytest.raises(
            lrkit.ConfigError,
            match=f"cache_dir must be an existing folder or None, got '{missing}'",
        ):
            LRFinder(model, optimizer, CE, memory_cache=memory_cache, cache_dir=missing)
    assert isinstance(finder.plot(log_lr=1, show_raw=0), Figure)  # torch-lr-finder: `if log_lr:`
    with pytest.raises(lrkit.ConfigError, match="cache_dir must be a folder's path or None, got 3"):
        LRFinder(model, optimizer, CE, cache_dir=3)  # type: ignore[arg-type]
    import numpy as np

    ax, _ = finder.plot(np.int64(10), np.int64(5), suggest_lr=True, show_lr=np.float32(0.01))
    assert isinstance(ax, Axes)
    with pytest.raises(TypeError, match="first argument must be skip_start"):
        finder.plot(True)
    best = finder.best_loss
    finder.reset()
    assert finder.best_loss == best and isinstance(finder.plot(suggest_lr=False), Axes)


def test_numpy_numbers_are_numbers() -> None:
    import numpy as np

    finder, _, _ = _finder()
    result = finder.range_test(
        loader(),
        end_lr=np.float32(10.0),
        num_iter=np.int64(20),
        smooth_f=np.float64(0.05),
        seed=np.int64(3),
    )
    assert result.steps <= 20 and result.lrs[0] < result.lrs[-1]
    assert len(json.loads(json.dumps(result.to_dict()))["lrs"]) == result.steps


def test_an_optimizer_with_a_scheduler_attached_is_tested_and_the_schedule_goes_on() -> None:
    # torch-lr-finder refuses it ("Optimizer already has a scheduler attached to it"); here the
    # range test starts at the LR the scheduler set, and leaves the schedule as it was
    def scheduled() -> tuple[nn.Module, torch.optim.Optimizer, Any]:
        torch.manual_seed(0)
        model = mlp()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        return model, optimizer, torch.optim.lr_scheduler.OneCycleLR(optimizer, 0.1, 20)

    tested, untested = scheduled(), scheduled()
    model, optimizer, _ = tested
    result = LRFinder(model, optimizer, CE).range_test(loader(), end_lr=10, num_iter=20)
    assert result.start_lr == untested[1].param_groups[0]["lr"]  # OneCycleLR's first LR
    lrs: dict[int, list[float]] = {0: [], 1: []}
    for i, (_, opt, sched) in enumerate((tested, untested)):
        for _ in range(10):
            opt.step()
            sched.step()
            lrs[i].append(opt.param_groups[0]["lr"])
    assert lrs[0] == lrs[1]


def test_a_linear_sweep_warns_that_its_suggestion_is_poor() -> None:
    """benchmarks/finder_linear.py: linear sweeps lost 25 to 42 points of held-out score on
    average on the regret tasks, an exponential one 1.1; the user hears it with the result."""
    model = mlp()
    finder = LRFinder(model, torch.optim.SGD(model.parameters(), lr=1e-4), nn.CrossEntropyLoss())
    with pytest.warns(FinderWarning, match=r"a linear sweep \(step_mode='linear'\) spends most"):
        linear = finder.range_test(loader(), end_lr=1, num_iter=50, step_mode="linear")
    assert linear.warning is not None and "step_mode='exp'" in linear.warning
    exponential = finder.range_test(loader(), end_lr=10, num_iter=50)
    assert "linear sweep" not in (exponential.warning or "")


class _StepSize(torch.optim.Optimizer):
    """An optimizer of a user's own whose step size is not called ``lr``."""

    def __init__(self, params: Any) -> None:
        super().__init__(params, {"step_size": 0.1})

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-group["step_size"])


def test_an_optimizer_without_a_learning_rate_is_a_clear_error() -> None:
    model = mlp()
    finder = LRFinder(model, _StepSize(model.parameters()), CE)
    with pytest.raises(lrkit.ConfigError, match=r"param group 0 must have a learning rate 'lr'"):
        finder.range_test(loader(), start_lr=1e-4, end_lr=1, num_iter=20)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    optimizer.param_groups[0]["lr"] = None  # as transformers' Adafactor(relative_step=True)
    with pytest.raises(lrkit.ConfigError, match=r"got SGD with lr=None"):
        LRFinder(model, optimizer, CE).range_test(loader(), end_lr=1, num_iter=20)


def test_the_sweep_ends_where_adafactor_stops_applying_the_lr() -> None:
    # torch's Adafactor steps by min(lr, 1/sqrt(step)): an LR above that changes nothing
    model = mlp()
    optimizer = torch.optim.Adafactor(model.parameters(), lr=1e-3)
    seen, handle = _record_lrs(optimizer)
    with pytest.warns(FinderWarning, match=r"Adafactor steps by min\(lr, 1/sqrt\(step\)\)"):
        result = LRFinder(model, optimizer, CE).range_test(loader(), end_lr=10, num_iter=100)
    handle.remove()
    assert 10 <= result.steps < 100 and len(seen) == result.steps
    assert all(lrs[0] <= (step + 1) ** -0.5 for step, lrs in enumerate(seen))
    assert seen[-1][0] == pytest.approx(result.lrs[-1])
    assert result.suggestion is None or result.suggestion <= result.lrs[-1]
    # said in the result (the CLI's JSON and report, tune's note), and no advice to go further
    assert result.warning is not None and "Also, the sweep ended at LR" in result.warning
    assert "sweep further" not in result.warning and "end_lr)" not in result.warning
    late = torch.optim.Adafactor(model.parameters(), lr=1e-3)
    late.state[next(model.parameters())]["step"] = torch.tensor(9999.0)  # 1/sqrt(10000): 0.01
    with pytest.raises(lrkit.ConfigError, match=r"start_lr must be below .* = 0.01 at its step"):
        LRFinder(model, late, CE).range_test(loader(), start_lr=0.05, end_lr=1, num_iter=20)
    with pytest.raises(lrkit.ConfigError, match=r"end_lr must keep the sweep under .* 10 steps"):
        LRFinder(model, late, CE).range_test(loader(), start_lr=1e-3, end_lr=1, num_iter=20)


def test_adafactors_bound_ends_the_sweep_where_the_highest_group_passes_it() -> None:
    """The group of the highest LR passes 1/sqrt(step) first: the sweep ended where the
    first group did, 18 steps later, the other group clipped all along."""
    first, second = mlp(), mlp()
    model = nn.ModuleList([first, second])
    optimizer = torch.optim.Adafactor(
        [{"params": first.parameters(), "lr": 1e-4}, {"params": second.parameters(), "lr": 1e-3}]
    )
    seen, handle = _record_lrs(optimizer)

    def step_fn(model: nn.Module, batch: Any) -> torch.Tensor:
        x, y = batch
        return CE(model[0](x), y) + CE(model[1](x), y)

    cut = r"\(param group 1 at [\d.]+\).* a higher LR of param group 1"
    with pytest.warns(FinderWarning, match=cut):
        result = LRFinder(model, optimizer).range_test(
            loader(), end_lr=10, num_iter=100, step_fn=step_fn
        )
    handle.remove()
    assert 10 <= result.steps < 100 and len(seen) == result.steps
    assert all(lrs[1] <= (step + 1) ** -0.5 for step, lrs in enumerate(seen))
    assert result.group_lrs[1][-1] == pytest.approx(10 * result.lrs[-1])


def test_the_task_range_test_says_where_adafactor_ended_it() -> None:
    """lrkit find and tune hear the result's warning only: the cut was warned apart, and lost."""
    from lrkit.finder.task import range_test_task
    from lrkit.tasks import load_task

    task = dataclasses.replace(
        load_task("digits"), optimizer=lambda params, lr: torch.optim.Adafactor(params, lr=lr)
    )
    with pytest.warns(FinderWarning) as caught:
        result = range_test_task(task, seed=0)
    assert result.warning is not None and "torch's Adafactor steps by" in result.warning
    assert [str(w.message) for w in caught] == [f"Range test: {result.warning}"]


def test_a_numeric_lr_of_any_kind_is_swept_and_a_bad_one_named() -> None:
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    optimizer.param_groups[0]["lr"] = np.float32(1e-4)  # a NumPy scalar, not a float subclass
    result = LRFinder(model, optimizer, CE).range_test(loader(), end_lr=1, num_iter=20)
    assert result.start_lr == pytest.approx(1e-4) and result.steps == 20
    optimizer.param_groups[0]["lr"] = float("nan")
    with pytest.raises(lrkit.ConfigError, match=r"param group 0's 'lr' must be a finite number"):
        LRFinder(model, optimizer, CE).range_test(loader(), end_lr=1, num_iter=20)


@pytest.mark.parametrize("validation", [False, True], ids=["train_loss", "val_loss"])
def test_a_module_the_user_put_in_eval_mode_stays_so_during_the_sweep(validation: bool) -> None:
    """Fine-tuning with a frozen BatchNorm (``model.train(); bn.eval()``): the sweep used to
    call ``model.train()``, so the BatchNorm trained on the sweep's batches and the curve was
    another model's (QA 110). A model wholly in eval mode is still swept in train mode."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2))
    seen: list[tuple[bool, bool]] = []  # (model, BatchNorm) modes at each training forward
    model.register_forward_pre_hook(
        lambda m, _: seen.append((m.training, m[1].training)) if torch.is_grad_enabled() else None
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-5)
    data = loader(256, 32)
    val = loader(64, 64, seed=1) if validation else None
    model.train()
    model[1].eval()
    mean = model[1].running_mean.clone()
    LRFinder(model, optimizer, CE).range_test(data, val, end_lr=1, num_iter=20, progress=False)
    assert seen == [(True, False)] * 20
    assert torch.equal(model[1].running_mean, mean) and not model[1].training
    seen.clear()
    model.eval()
    LRFinder(model, optimizer, CE).range_test(data, val, end_lr=1, num_iter=20, progress=False)
    assert seen == [(True, True)] * 20 and not model.training  # as torch-lr-finder, restored


def test_a_last_batch_of_one_sample_under_batchnorm_names_the_loader() -> None:
    """33 samples in batches of 32: the sweep reaches the batch of one mid-test, where torch's
    BatchNorm raised "Expected more than 1 value per channel" with no word of the loader."""
    model = mlp(norm=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-5)
    with pytest.raises(lrkit.ConfigError, match=r"^train_loader must not give a batch of one") as e:
        LRFinder(model, optimizer, CE).range_test(loader(33, 32), num_iter=10, progress=False)
    assert "drop_last=True" in str(e.value)
    LRFinder(model, optimizer, CE).range_test(  # as it says
        loader(33, 32, drop_last=True), num_iter=10, progress=False
    )


@pytest.mark.parametrize(("bad_call", "said"), [(30, "with no rise before it"), (2, "numbers")])
def test_the_warning_of_a_sweep_a_nan_ended_says_where(bad_call: int, said: str) -> None:
    """QA 125: the sweep leaves the NaN's step out of its curve, and the reading never saw that
    a NaN ended it: one bad batch in a level curve was told to start the sweep lower, and a NaN
    at the first steps from lr 1e-7 (QA 119's float16 Adam) was not told to look at the
    numbers."""
    calls = [0]

    def criterion(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        calls[0] += 1
        return CE(output, target) * (math.nan if calls[0] == bad_call else 1.0)

    model = mlp()
    finder = LRFinder(model, torch.optim.SGD(model.parameters(), lr=1e-6), criterion)
    with pytest.warns(lrkit.finder.FinderWarning) as warned:
        result = finder.range_test(loader(), start_lr=1e-7, end_lr=10, num_iter=100)
    assert result.stop_reason == "non_finite_loss" and result.suggestion is None
    assert len(result.lrs) == bad_call - 1
    message = str(warned[0].message)
    assert said in message and "Start the sweep lower" not in message
