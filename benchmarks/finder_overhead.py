"""What a range test costs over the training steps it takes: the finder's own overhead.

For a small CNN (the ``digits`` task's: 8x8 images, batch 64) and a small MLP (64 -> 128 -> 10,
batch 64) on the CPU, this times

- a bare loop of 100 training steps (``zero_grad``, forward, loss, ``backward``, ``step``), and
- ``LRFinder.range_test`` over the same 100 steps, same model, same batches: the snapshot, the
  sweep, reading the losses back, the suggestion, and restoring everything,

in one process, in turns (the order rotating), and prints the best of each, the ratio of the
bests and the median of the per-round ratios (robust to the machine slowing down in between). The
machine may be shared: with other work running, only the best of many runs measures the loops
themselves, hence at least 31 rounds and 6 s of runs per row by default (``runs`` says how many
rounds that made). The target is a ratio <= 1.03 (torch-lr-finder measured 1.01 on a small CNN
and 1.32 on a small MLP, where its per-step Python work shows).

The sweep clears gradients itself, with the assignments ``optimizer.zero_grad(set_to_none=True)``
makes but without the profiler range torch wraps them in (~15-20 us per call in a training loop,
whether or not anybody profiles): on the small MLP that saving pays for most of the finder's own
work. ``vs lean`` shows that work alone: the test over a *lean* bare loop that clears gradients
the same way.

Two data sources: ``tensors``, batches made in advance (the strict measure: nothing dilutes the
finder's own work), and ``loader``, a shuffling DataLoader over a TensorDataset (what a training
loop usually reads). ``suggest ms`` is the suggestion rule's share of the test. The sweep's LRs
(1e-4 to 1e-2) never diverge, so all loops run exactly 100 steps.

Run it with ``python benchmarks/finder_overhead.py [--repeats N] [--seconds S] [--threads T]``; it
exits 1 when a ratio of the bests misses the target.

``--torch-lr-finder`` times torch-lr-finder's ``range_test`` and ``reset()`` on the ``loader``
rows too, in the same rotation (its ``tlf ratio`` column; it takes a DataLoader, not a list of
batches). It is not a dependency: ``pip install -c constraints.txt torch-lr-finder==0.2.2``
first. Its progress bar and closing line go to a buffer, not the terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lrkit import LRFinder, RangeTestResult
from lrkit.finder.suggest import suggest
from lrkit.tasks.digits import digits_cnn

STEPS = 100
BATCH = 64


def tensors(shape: tuple[int, ...], n_batches: int = 17) -> list[tuple[torch.Tensor, ...]]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n_batches * BATCH, *shape, generator=g)
    y = torch.randint(0, 10, (n_batches * BATCH,), generator=g)
    return list(zip(x.split(BATCH), y.split(BATCH)))


def loader(shape: tuple[int, ...]) -> DataLoader[Any]:
    x, y = (torch.cat(part) for part in zip(*tensors(shape)))
    generator = torch.Generator().manual_seed(0)
    return DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True, generator=generator)


def small_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))


MODELS: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "cnn (digits)": (digits_cnn, (1, 8, 8)),
    "mlp 64-128-10": (small_mlp, (64,)),
}


def epochs(data: Iterable[Any]) -> Iterator[Any]:
    """Batches of ``data``, pass after pass (``itertools.cycle`` would replay the first pass of a
    DataLoader from memory instead of loading, and shuffling, again)."""
    while True:
        yield from data


def bare_loop(model: nn.Module, optimizer: torch.optim.Optimizer, data: Iterable[Any]) -> None:
    criterion = nn.CrossEntropyLoss()
    for x, y in islice(epochs(data), STEPS):
        optimizer.zero_grad(set_to_none=True)
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()


def lean_loop(model: nn.Module, optimizer: torch.optim.Optimizer, data: Iterable[Any]) -> None:
    """The bare loop with gradients cleared as the sweep clears them (no profiler range)."""
    criterion = nn.CrossEntropyLoss()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for x, y in islice(epochs(data), STEPS):
        for p in params:
            if p.grad is not None:
                p.grad = None
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()


def range_test(
    model: nn.Module, optimizer: torch.optim.Optimizer, data: Iterable[Any]
) -> RangeTestResult:
    finder = LRFinder(model, optimizer, nn.CrossEntropyLoss())
    result = finder.range_test(data, start_lr=1e-4, end_lr=1e-2, num_iter=STEPS)
    if result.steps != STEPS:
        raise RuntimeError(f"the sweep stopped early ({result.stop_reason}): not comparable")
    return result


def torch_lr_finder_test(
    model: nn.Module, optimizer: torch.optim.Optimizer, data: DataLoader[Any]
) -> None:
    """torch-lr-finder's sweep over the same steps, then its ``reset()``: what a user of it
    runs to get the model and optimizer back, as lrkit's range test does by itself."""
    from torch_lr_finder import LRFinder as TorchLRFinder

    finder = TorchLRFinder(model, optimizer, nn.CrossEntropyLoss(), device="cpu")
    quiet = io.StringIO()
    with contextlib.redirect_stderr(quiet), contextlib.redirect_stdout(quiet):  # its tqdm bar
        finder.range_test(data, start_lr=1e-4, end_lr=1e-2, num_iter=STEPS)  # and a line
    finder.reset()
    if len(finder.history["lr"]) != STEPS:
        raise RuntimeError("torch-lr-finder's sweep stopped early: not comparable")


def suggest_ms(result: RangeTestResult, repeats: int) -> float:
    """The best time of the suggestion rule alone on the recorded curve (part of the test)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        suggest(result.lrs, result.losses, rule=result.rule)
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def measure(
    build: Callable[[], nn.Module],
    data: Iterable[Any],
    repeats: int,
    seconds: float = 0.0,
    *,
    with_tlf: bool = False,
) -> tuple[list[float], list[float], list[float], float, list[float]]:
    """Times the loops in turns: ``repeats`` rounds at least, and for ``seconds`` at least;
    ``with_tlf``, torch-lr-finder's test too (the last list; empty without)."""
    torch.manual_seed(0)
    model = build()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    bare_loop(model, optimizer, data)  # warm up kernels and allocator, and give it momentum
    result = range_test(model, optimizer, data)
    bare: list[float] = []
    lean: list[float] = []
    finder: list[float] = []
    tlf: list[float] = []
    if with_tlf:
        assert isinstance(data, DataLoader), "torch-lr-finder takes a DataLoader"
        torch_lr_finder_test(model, optimizer, data)  # its first run imports it: untimed
    started, i = time.perf_counter(), 0
    while i < repeats or time.perf_counter() - started < seconds:
        # The bare loops train their own copy; the finder restores the model itself. They run
        # in turns, and the order rotates, so that none always runs on the caches (or the CPU
        # clock) another one left behind.
        twin = copy.deepcopy(model)
        twin_opt = torch.optim.SGD(twin.parameters(), lr=1e-3, momentum=0.9)
        twin_opt.load_state_dict(optimizer.state_dict())
        orders = ORDERS_TLF if with_tlf else ORDERS
        for which in orders[i % len(orders)]:
            start = time.perf_counter()
            if which == 0:
                bare_loop(twin, twin_opt, data)
            elif which == 1:
                lean_loop(twin, twin_opt, data)
            elif which == 2:
                range_test(model, optimizer, data)
            else:
                torch_lr_finder_test(model, optimizer, data)  # type: ignore[arg-type]
            (bare, lean, finder, tlf)[which].append(time.perf_counter() - start)
        i += 1
    return bare, lean, finder, suggest_ms(result, repeats), tlf


ORDERS = ((0, 1, 2), (2, 0, 1), (1, 2, 0), (2, 1, 0), (0, 2, 1), (1, 0, 2))
# with torch-lr-finder's test (3): each loop at each place once in four rounds, and after
# each other loop once (a balanced Latin square)
ORDERS_TLF = ((0, 1, 3, 2), (1, 2, 0, 3), (2, 3, 1, 0), (3, 0, 2, 1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=31, help="timed repeats of each loop")
    parser.add_argument(
        "--seconds",
        type=float,
        default=6.0,
        help="and go on repeating for at least this long per row (default: 6)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    parser.add_argument("--target", type=float, default=1.03, help="target ratio of the bests")
    parser.add_argument(
        "--torch-lr-finder",
        action="store_true",
        help="time torch-lr-finder's range_test + reset() on the loader rows too (installed "
        "on the side: pip install -c constraints.txt torch-lr-finder==0.2.2)",
    )
    args = parser.parse_args(argv)
    if args.torch_lr_finder:
        try:
            import torch_lr_finder  # noqa: F401
        except ImportError:
            parser.error(
                "--torch-lr-finder needs torch-lr-finder installed: "
                "pip install -c constraints.txt torch-lr-finder==0.2.2"
            )
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")  # a short sweep may warn about its curve

    print(
        f"range test of {STEPS} steps (restore included) over a bare loop of the same {STEPS} "
        f"steps; CPU, {args.threads} thread(s), at least {args.repeats} repeats and "
        f"{args.seconds:g} s per row"
    )
    print(
        f"{'model':<14} {'data':<8} {'bare ms':>8} {'test ms':>8} {'ratio':>6} {'paired':>7}  "
        f"{'lean ms':>7} {'vs lean':>7} {'suggest ms':>10} {'target':>6} {'runs':>5}"
        + ("      tlf ratio" if args.torch_lr_finder else "")
    )
    failed = False
    for name, (build, shape) in MODELS.items():
        for source, data in (("tensors", tensors(shape)), ("loader", loader(shape))):
            with_tlf = args.torch_lr_finder and source == "loader"
            bare, lean, finder, rule_ms, tlf = measure(
                build, data, args.repeats, args.seconds, with_tlf=with_tlf
            )
            b_best, l_best, f_best = 1e3 * min(bare), 1e3 * min(lean), 1e3 * min(finder)
            ratio = f_best / b_best
            paired = statistics.median(f / b for f, b in zip(finder, bare))
            ok = ratio <= args.target
            failed |= not ok
            print(
                f"{name:<14} {source:<8} {b_best:>8.1f} {f_best:>8.1f} {ratio:>6.3f} "
                f"{paired:>7.3f}  {l_best:>7.1f} {f_best / l_best:>7.3f} {rule_ms:>10.2f} "
                f"{args.target:>6g} {len(bare):>5}  {'ok' if ok else 'FAIL'}"
                + (f"  {1e3 * min(tlf) / b_best:>9.3f}" if tlf else "")
            )
    print(
        "ratio: best test / best bare loop; paired: median of test / bare over the rounds; "
        "lean: the bare loop clearing gradients as the sweep does; suggest ms: the suggestion "
        "rule's share of the test"
        + (
            "; tlf ratio: torch-lr-finder's range_test + reset() over the same bare loop"
            if args.torch_lr_finder
            else ""
        )
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
