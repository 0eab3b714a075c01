"""A range test leaves no trace: model, optimizer, GradScaler and RNGs come back bit for bit."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from lrkit import LRFinder
from lrkit.errors import ConfigError, RunError
from lrkit.finder.snapshot import Snapshot
from tests.finder.helpers import blobs, mlp, train_steps

pytestmark = pytest.mark.filterwarnings("ignore::lrkit.finder.FinderWarning")

OPTIMIZERS: dict[str, Callable[[Any], torch.optim.Optimizer]] = {
    "sgd_momentum": lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9, nesterov=True),
    "adam": lambda p: torch.optim.Adam(p, lr=1e-3),
    "adamw": lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=0.1, amsgrad=True),
}


def _setup(make_opt: Callable[[Any], torch.optim.Optimizer]) -> tuple[Any, ...]:
    model = mlp(norm=True)  # BatchNorm buffers and Dropout's draws from the global RNG
    optimizer = make_opt(model.parameters())
    data = DataLoader(blobs(), batch_size=32, shuffle=True, generator=torch.Generator())
    data.generator.manual_seed(1)  # type: ignore[union-attr]
    return model, optimizer, data


def _state(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    return {
        "model": {k: v.clone() for k, v in model.state_dict().items()},
        "grads": {
            k: None if p.grad is None else p.grad.clone() for k, p in model.named_parameters()
        },
        "optimizer": optimizer.state_dict(),
        "modes": [m.training for m in model.modules()],
    }


def _assert_equal(a: Any, b: Any, where: str = "") -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.device == b.device, where
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), (where, a.keys(), b.keys())
        for key in a:
            _assert_equal(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_equal(x, y, f"{where}[{i}]")
    else:
        assert a == b, (where, a, b)


def _rng() -> tuple[Any, ...]:
    return torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()


@pytest.mark.parametrize("name", list(OPTIMIZERS), ids=list(OPTIMIZERS))
def test_k_steps_after_a_range_test_equal_k_steps_without(name: str) -> None:
    runs = []
    for with_test in (False, True):
        torch.manual_seed(123)
        np.random.seed(123)
        model, optimizer, data = _setup(OPTIMIZERS[name])
        train_steps(model, optimizer, data, 5)  # mid-training: momentum / Adam moments exist
        if with_test:
            finder = LRFinder(model, optimizer, nn.CrossEntropyLoss())
            result = finder.range_test(data, end_lr=1e3, num_iter=40, seed=7)  # diverges
            assert result.stop_reason in ("diverged", "non_finite_loss")
        losses = train_steps(model, optimizer, data, 12)
        runs.append((losses, _state(model, optimizer), _rng()))
    (losses_a, state_a, rng_a), (losses_b, state_b, rng_b) = runs
    assert losses_a == losses_b
    _assert_equal(state_a, state_b)
    assert torch.equal(rng_a[0], rng_b[0]) and np.array_equal(rng_a[1], rng_b[1])
    assert rng_a[2] == rng_b[2]


class _Boom(Exception):
    pass


@pytest.mark.parametrize("error", [_Boom, KeyboardInterrupt], ids=["exception", "ctrl_c"])
def test_restored_when_the_sweep_raises(error: type[BaseException]) -> None:
    model, optimizer, data = _setup(OPTIMIZERS["adam"])
    train_steps(model, optimizer, data, 3)
    model.eval()  # a mode the sweep changes
    model[0].weight.grad = torch.full_like(model[0].weight, 0.5)  # type: ignore[index]
    before, rng, order = _state(model, optimizer), _rng(), data.generator.get_state()  # type: ignore[union-attr]
    group = optimizer.param_groups[0]
    moment = optimizer.state[model[0].weight]["exp_avg"]  # type: ignore[index]

    def interrupt(done: int) -> None:
        if done == 7:
            raise error

    finder = LRFinder(model, optimizer, nn.CrossEntropyLoss())
    with pytest.raises(error):
        finder.range_test(data, end_lr=10, num_iter=20, on_step=interrupt)
    _assert_equal(before, _state(model, optimizer))
    assert torch.equal(rng[0], torch.get_rng_state()) and rng[2] == random.getstate()
    assert torch.equal(order, data.generator.get_state())  # type: ignore[union-attr]
    # restored in place: whatever holds on to them stays valid
    assert optimizer.param_groups[0] is group
    assert optimizer.state[model[0].weight]["exp_avg"] is moment  # type: ignore[index]
    assert finder.result is None


def _held(folder: Path) -> list[str]:
    """This process's open descriptors of files in ``folder`` whose name is gone, as paths that
    read them (``/proc/self/fd/N``)."""
    found = []
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):  # the listing's own descriptor, closed by now
            target = os.readlink(fd)
            if target.startswith(f"{folder}/") and target.endswith(" (deleted)"):
                found.append(str(fd))
    return found


@pytest.mark.parametrize("error", [None, _Boom], ids=["completed", "raised"])
def test_memory_cache_false_keeps_the_copy_in_a_file_of_cache_dir_until_restored(
    error: type[BaseException] | None, tmp_path: Path
) -> None:
    """QA 120: torch-lr-finder's memory_cache=False changed nothing (the copy stayed in memory,
    the folder empty). Now the copy is in a file there during the sweep, read back to restore,
    and let go after; the model, optimizer and RNGs come back exactly. The file's name is gone
    from the folder at once, the file held open (so that no kill leaves it there)."""
    model, optimizer, data = _setup(OPTIMIZERS["adamw"])
    train_steps(model, optimizer, data, 3)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    before, rng = _state(model, optimizer), _rng()
    scale = scaler.get_scale()
    names: list[list[str]] = []
    held: list[list[tuple[str, int]]] = []

    def look(done: int) -> None:
        names.append(sorted(p.name for p in tmp_path.iterdir()))
        held.append([(os.readlink(fd), os.stat(fd).st_size) for fd in _held(tmp_path)])
        if error is not None and done == 7:
            raise error

    finder = LRFinder(
        model, optimizer, nn.CrossEntropyLoss(), memory_cache=False, cache_dir=tmp_path
    )
    with pytest.raises(_Boom) if error else contextlib.nullcontext():
        finder.range_test(data, end_lr=10, num_iter=20, on_step=look, scaler=scaler)
    assert all(n == [] for n in names)
    ((name, size),) = held[0]
    assert Path(name).name.startswith("lrkit-snapshot-")
    weights = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    assert size > 3 * weights  # the weights, their gradients and AdamW's three state tensors
    assert all(h == held[0] for h in held)  # one file throughout
    assert _held(tmp_path) == [] and list(tmp_path.iterdir()) == []  # let go after
    _assert_equal(before, _state(model, optimizer))
    assert torch.equal(rng[0], torch.get_rng_state()) and rng[2] == random.getstate()
    assert scaler.get_scale() == scale


KILLED = """
import sys, time
import torch
from torch import nn
from lrkit import LRFinder

model = nn.Linear(4, 2)
data = [(torch.randn(8, 4), torch.randint(0, 2, (8,))) for _ in range(4)]
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
loss = nn.CrossEntropyLoss()
finder = LRFinder(model, optimizer, loss, memory_cache=False, cache_dir=sys.argv[1])

def wait(done):
    print("sweeping", flush=True)
    time.sleep(60)

finder.range_test(data, num_iter=10, on_step=wait, progress=False)
"""


@pytest.mark.parametrize("signal", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "SIGTERM"])
def test_a_range_test_killed_mid_sweep_leaves_no_file_in_cache_dir(
    signal: signal.Signals, tmp_path: Path
) -> None:
    """Leftover of QA 124: the file lived on after kill -9 (torch-lr-finder's does too)."""
    folder = tmp_path / "cache"
    folder.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED, str(folder)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None and process.stdout.readline() == "sweeping\n"
        process.send_signal(signal)
        assert process.wait(timeout=30) == -signal
    finally:
        process.kill()
    assert list(folder.iterdir()) == []


def test_a_snapshot_in_a_file_holds_no_tensor_in_memory_and_restores_twice(tmp_path: Path) -> None:
    model, optimizer, data = _setup(OPTIMIZERS["adam"])
    train_steps(model, optimizer, data, 2)
    before = _state(model, optimizer)
    snap = Snapshot(model, optimizer, cache_dir=tmp_path)
    assert snap.saved_tensors() == [] and len(_held(tmp_path)) == 1
    for _ in range(2):
        train_steps(model, optimizer, data, 2)
        snap.restore()
        _assert_equal(before, _state(model, optimizer))
    assert snap.saved_tensors() == []  # let go again after each restore
    del snap
    assert _held(tmp_path) == [] and list(tmp_path.iterdir()) == []


def test_a_snapshot_file_holds_a_view_s_values_not_its_whole_storage(tmp_path: Path) -> None:
    """Review 122: written without a copy, a 16-float buffer sliced from a 200 MB table wrote
    the whole table to the file."""
    model = nn.Linear(3, 3)
    model.register_buffer("position", torch.arange(1_000_000.0)[:16])
    snap = Snapshot(model, torch.optim.SGD(model.parameters(), lr=0.1), cache_dir=tmp_path)
    (file,) = _held(tmp_path)
    assert os.stat(file).st_size < 100_000
    model.position.zero_()
    snap.restore()
    assert model.position.tolist() == [float(i) for i in range(16)]


def _no_proc(path: str) -> str:  # the snapshot on a system without /proc/self/fd: macOS, say
    return path


@pytest.mark.parametrize("system", ["linux", "no /proc"])
def test_a_cleaner_of_temporary_files_cannot_take_the_copy_away_on_linux(
    system: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the file keeps its name, one removed mid-sweep says the model was not restored."""
    if system == "no /proc":
        monkeypatch.setattr("lrkit.finder.snapshot._held_open", _no_proc)
    model, optimizer, data = _setup(OPTIMIZERS["adam"])
    before = _state(model, optimizer)
    cleaned: list[str] = []

    def clean_tmp(done: int) -> None:  # a cleaner of temporary files, say
        if done == 3:
            for file in tmp_path.iterdir():
                file.unlink()
                cleaned.append(file.name)

    finder = LRFinder(
        model, optimizer, nn.CrossEntropyLoss(), memory_cache=False, cache_dir=tmp_path
    )
    if system == "linux":
        finder.range_test(data, num_iter=10, on_step=clean_tmp)
        assert cleaned == []
        _assert_equal(before, _state(model, optimizer))
    else:
        with pytest.raises(RunError, match=r"could not read back its copy .* were NOT restored"):
            finder.range_test(data, num_iter=10, on_step=clean_tmp)
        assert len(cleaned) == 1 and cleaned[0].startswith("lrkit-snapshot-")


def test_ctrl_c_while_the_snapshot_file_is_written_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QA 124: a KeyboardInterrupt in torch.save left the half-written file in cache_dir."""
    model, optimizer, data = _setup(OPTIMIZERS["adam"])
    before = _state(model, optimizer)
    save = torch.save

    def interrupted(obj: Any, path: Any) -> None:
        save(obj, path)
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted)
    finder = LRFinder(
        model, optimizer, nn.CrossEntropyLoss(), memory_cache=False, cache_dir=tmp_path
    )
    with pytest.raises(KeyboardInterrupt):
        finder.range_test(data, num_iter=10)
    assert list(tmp_path.iterdir()) == []
    _assert_equal(before, _state(model, optimizer))


def test_a_cache_dir_it_cannot_write_to_is_a_config_error(tmp_path: Path) -> None:
    folder = tmp_path / "gone"
    folder.mkdir()
    model, optimizer, _ = _setup(OPTIMIZERS["adam"])
    before = _state(model, optimizer)
    finder = LRFinder(model, optimizer, nn.CrossEntropyLoss(), memory_cache=False, cache_dir=folder)
    folder.rmdir()  # between the finder and its test
    with pytest.raises(ConfigError, match=r"^cache_dir must be a folder the range test can "):
        finder.range_test(DataLoader(blobs(), batch_size=32), num_iter=10)
    _assert_equal(before, _state(model, optimizer))


def test_a_fresh_optimizer_stays_fresh_and_lazy_scaler_stays_lazy() -> None:
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    scaler = torch.amp.GradScaler("cpu")
    scaler_before = dict(vars(scaler))
    finder = LRFinder(model, optimizer, nn.CrossEntropyLoss())
    finder.range_test(DataLoader(blobs(), batch_size=32), end_lr=1, num_iter=10, scaler=scaler)
    assert len(optimizer.state) == 0  # no momentum buffer left behind
    assert all(p.grad is None for p in model.parameters())
    assert scaler._scale is None and vars(scaler).keys() == scaler_before.keys()


def test_a_used_scaler_is_restored() -> None:
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10, growth_interval=3)
    data = DataLoader(blobs(), batch_size=32)
    train_steps(model, optimizer, data, 4, scaler=scaler)  # grows the scale once, tracker at 1
    before = scaler.state_dict()
    LRFinder(model, optimizer, nn.CrossEntropyLoss()).range_test(
        data, end_lr=1, num_iter=12, scaler=scaler
    )
    assert scaler.state_dict() == before


def test_snapshot_restores_a_replaced_buffer_and_removed_group_keys() -> None:
    model = mlp(norm=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    snap = Snapshot(model, optimizer)
    norm = model[1]
    saved_mean = norm.running_mean.clone()  # type: ignore[union-attr]
    norm.running_mean = torch.ones(16, dtype=torch.float64)  # replaced by another kind of tensor
    optimizer.param_groups[0]["extra"] = 1
    del optimizer.param_groups[0]["momentum"]
    snap.restore()
    assert torch.equal(norm.running_mean, saved_mean)  # type: ignore[arg-type]
    assert "extra" not in optimizer.param_groups[0]
    assert optimizer.param_groups[0]["momentum"] == 0


def test_snapshot_is_kept_on_the_cpu() -> None:
    model = mlp()
    optimizer = torch.optim.Adam(model.parameters())
    train_steps(model, optimizer, DataLoader(blobs(), batch_size=32), 1)
    snap = Snapshot(model, optimizer)
    saved = snap.saved_tensors()
    assert len(saved) == 4 + 4 + 3 * 4  # weights, their grads, Adam's step and moments of each
    assert all(s.device.type == "cpu" for s in saved)


@pytest.mark.parametrize("gauss_pending", [False, True], ids=["plain", "gauss_pending"])
def test_numpy_rng_used_by_the_sweep_is_restored(gauss_pending: bool) -> None:
    """The snapshot puts NumPy's RNG back only when it moved: it must see every way it moves,
    a cached Gaussian drawn without touching the Mersenne Twister's key included."""
    np.random.seed(5)
    if gauss_pending:
        np.random.standard_normal()  # leaves the second Gaussian of the pair cached
    before = np.random.get_state()
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)

    def step_fn(model: nn.Module, batch: Any) -> torch.Tensor:
        np.random.standard_normal()  # the first draw may only consume the cached Gaussian
        x, y = batch
        return nn.functional.cross_entropy(model(x), y)

    LRFinder(model, optimizer).range_test(
        DataLoader(blobs(), batch_size=32), end_lr=1, num_iter=10, step_fn=step_fn
    )
    after = np.random.get_state()
    assert after[0] == before[0] and np.array_equal(after[1], before[1])
    assert after[2:] == before[2:]  # position and the cached Gaussian


def test_numpy_rng_is_restored_when_only_a_cached_gaussian_was_drawn() -> None:
    np.random.seed(6)
    np.random.standard_normal()  # a second Gaussian is cached now
    before = np.random.get_state()
    model = mlp()
    snap = Snapshot(model, torch.optim.SGD(model.parameters(), lr=0.1))
    np.random.standard_normal()  # drawn from the cache: the key does not move
    snap.restore()
    after = np.random.get_state()
    assert np.array_equal(after[1], before[1]) and after[2:] == before[2:]


def test_a_replaced_parameter_is_put_back() -> None:
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    weight = model[0].weight  # type: ignore[index]
    saved = weight.detach().clone()
    snap = Snapshot(model, optimizer)
    model[0].weight = nn.Parameter(torch.zeros_like(weight))  # type: ignore[index]
    with torch.no_grad():
        weight.add_(1.0)
    snap.restore()
    assert model[0].weight is weight and torch.equal(weight, saved)  # type: ignore[index]


def test_parameters_frozen_or_unfrozen_during_the_sweep_are_put_back() -> None:
    """Gradual unfreezing in an ``on_step`` callback: each parameter's ``requires_grad`` is
    restored with its values and its module's mode."""
    model = mlp(norm=True)
    model[0].requires_grad_(False)  # type: ignore[index]
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-5, momentum=0.9)
    before = {name: p.requires_grad for name, p in model.named_parameters()}

    def on_step(step: int) -> None:
        if step == 5:
            model[0].requires_grad_(True)  # type: ignore[index]
            model[1].eval().requires_grad_(False)  # type: ignore[index]

    LRFinder(model, optimizer, nn.CrossEntropyLoss()).range_test(
        DataLoader(blobs(), batch_size=32), num_iter=20, on_step=on_step
    )
    assert {name: p.requires_grad for name, p in model.named_parameters()} == before
    assert model[1].training  # type: ignore[index]


def test_a_param_group_added_during_the_sweep_is_removed() -> None:
    """Progressive unfreezing that adds the frozen layer as a new param group at step 5 (and
    one more parameter to the first group): the optimizer comes back with its own groups, each
    with its own parameters, and its state_dict as it was."""
    model = mlp(norm=True)
    head, body = list(model[-1].parameters()), list(model[0].parameters())  # type: ignore[index]
    optimizer = torch.optim.SGD(head, lr=1e-5, momentum=0.9)
    train_steps(model, optimizer, DataLoader(blobs(), batch_size=32), 2)
    before = _state(model, optimizer)
    groups = [list(g["params"]) for g in optimizer.param_groups]

    def on_step(step: int) -> None:
        if step == 5:
            optimizer.add_param_group({"params": body[:1], "lr": 1e-3})
            optimizer.param_groups[0]["params"].append(body[1])

    # each step's gradient of an added parameter is that step's own, never a running sum
    fresh: list[torch.Tensor] = []
    stepped: list[torch.Tensor] = []
    hooks = [
        body[0].register_hook(lambda grad: fresh.append(grad.clone())),
        optimizer.register_step_pre_hook(
            lambda *_: stepped.append(body[0].grad.clone()) if body[0].grad is not None else None
        ),
    ]
    LRFinder(model, optimizer, nn.CrossEntropyLoss()).range_test(
        DataLoader(blobs(), batch_size=32), num_iter=20, on_step=on_step
    )
    for hook in hooks:
        hook.remove()
    assert len(stepped) == len(fresh) == 20  # (not the optimizer's before step 5: they add up)
    for got, own in zip(stepped[5:], fresh[5:]):
        assert torch.equal(got, own)
    assert [list(g["params"]) for g in optimizer.param_groups] == groups
    _assert_equal(before, _state(model, optimizer))


def test_param_groups_removed_reordered_or_replaced_during_the_sweep_come_back() -> None:
    model = mlp(norm=True)
    first, last = list(model[0].parameters()), list(model[-1].parameters())  # type: ignore[index]
    optimizer = torch.optim.SGD([{"params": first}, {"params": last, "lr": 2e-5}], lr=1e-5)
    groups = list(optimizer.param_groups)
    lists = [g["params"] for g in groups]
    before = _state(model, optimizer)

    def on_step(step: int) -> None:
        if step == 3:
            optimizer.param_groups.reverse()
            optimizer.param_groups[0]["params"] = tuple(optimizer.param_groups[0]["params"])
        if step == 6:
            optimizer.param_groups.pop()

    LRFinder(model, optimizer, nn.CrossEntropyLoss()).range_test(
        DataLoader(blobs(), batch_size=32), num_iter=20, on_step=on_step
    )
    assert all(a is b for a, b in zip(optimizer.param_groups, groups, strict=True))
    assert all(g["params"] is held for g, held in zip(groups, lists))  # the same lists
    _assert_equal(before, _state(model, optimizer))


@pytest.mark.parametrize("lazy", ["parameters", "buffers"])
def test_lazy_modules_not_yet_materialised_are_a_clear_error(lazy: str) -> None:
    if lazy == "parameters":
        model = nn.Sequential(nn.LazyLinear(16), nn.ReLU(), nn.Linear(16, 3))
    else:  # a BatchNorm without weights: lazy running stats, no lazy parameter
        model = nn.Sequential(nn.LazyBatchNorm1d(affine=False), nn.Linear(8, 3))
    optimizer = torch.optim.SGD(model[-1].parameters(), lr=1e-5)
    finder = LRFinder(model, optimizer, nn.CrossEntropyLoss())
    with pytest.raises(ConfigError, match=r"a lazy module not yet materialised \(Lazy"):
        finder.range_test(DataLoader(blobs(), batch_size=32), num_iter=20)
    model(torch.zeros(2, 8))  # one forward pass materialises them: then the test runs
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-5)
    result = LRFinder(model, optimizer, nn.CrossEntropyLoss()).range_test(
        DataLoader(blobs(), batch_size=32), num_iter=20
    )
    assert len(result.lrs) > 0


class _TemperatureLoss(nn.Module):
    """A loss with a learnable temperature and a running buffer: state outside the model."""

    def __init__(self) -> None:
        super().__init__()
        self.t = nn.Parameter(torch.ones(1))
        self.register_buffer("seen", torch.zeros(()))

    def forward(self, output: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        self.seen += 1
        return nn.functional.cross_entropy(output * self.t, labels)


@pytest.mark.parametrize("error", [None, _Boom], ids=["finished", "raised"])
def test_what_the_optimizer_trains_outside_the_model_is_restored(
    error: type[BaseException] | None,
) -> None:
    model, loss = mlp(), _TemperatureLoss()
    loose = torch.zeros(3, requires_grad=True)  # a tensor handed to the optimizer directly
    optimizer = torch.optim.SGD(
        [{"params": model.parameters()}, {"params": [*loss.parameters(), loose], "lr": 1e-3}],
        lr=1e-4,
        momentum=0.9,
    )
    data = DataLoader(blobs(), batch_size=16)

    def train(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return loss(model(x), y) + (loose - 1).pow(2).sum()

    def maybe_raise(done: int) -> None:
        if error is not None and done == 12:
            raise error

    finder = LRFinder(model, optimizer, loss)
    with pytest.raises(error) if error is not None else contextlib.nullcontext():
        finder.range_test(
            data,
            end_lr=10,
            num_iter=20,
            step_fn=lambda _, batch: train(*batch),
            on_step=maybe_raise,
        )
    assert torch.equal(loss.t, torch.ones(1)) and loss.t.grad is None
    assert torch.equal(loose, torch.zeros(3)) and loose.grad is None
    assert float(loss.seen) == 0.0
    assert len(optimizer.state) == 0


def test_a_second_ctrl_c_while_restoring_waits_until_all_is_put_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os
    import signal

    # pytest-xdist's workers ignore SIGINT: a terminal's handler, for this test
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    model, optimizer, data = _setup(OPTIMIZERS["sgd_momentum"])
    train_steps(model, optimizer, data, 3)
    before = _state(model, optimizer)
    restore_optimizer = Snapshot._restore_optimizer

    def pressed_again(self: Snapshot) -> None:  # Ctrl-C as the optimizer is put back
        os.kill(os.getpid(), signal.SIGINT)
        restore_optimizer(self)

    monkeypatch.setattr(Snapshot, "_restore_optimizer", pressed_again)
    try:
        with pytest.raises(KeyboardInterrupt):
            LRFinder(model, optimizer, nn.CrossEntropyLoss()).range_test(data, num_iter=20)
    finally:
        signal.signal(signal.SIGINT, previous)
    _assert_equal(before, _state(model, optimizer))


class _Augmented(torch.utils.data.Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Random augmentation in the loader's worker processes."""

    def __len__(self) -> int:
        return 32

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.randn(4), torch.tensor(i % 2)


def _persistent() -> DataLoader[tuple[torch.Tensor, torch.Tensor]]:
    return DataLoader(
        _Augmented(),
        batch_size=8,
        shuffle=True,
        num_workers=2,
        persistent_workers=True,
        multiprocessing_context="fork",
        generator=torch.Generator().manual_seed(5),
    )


def _epoch(loader: DataLoader[tuple[torch.Tensor, torch.Tensor]]) -> list[list[float]]:
    return [[*labels.tolist(), inputs.sum().item()] for inputs, labels in loader]


def test_a_persistent_workers_loader_s_next_epoch_is_as_without_the_range_test() -> None:
    """QA 127: the iterator the test made stayed in the loader, its workers seeded during the
    test and drawn from since: the next epoch was shuffled and augmented otherwise, and a
    second range_test(seed=7) on it swept another curve."""
    torch.manual_seed(1)
    without = _epoch(_persistent())
    model = nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-5)
    finder = LRFinder(model, optimizer, nn.CrossEntropyLoss())
    torch.manual_seed(1)
    loader = _persistent()
    first = finder.range_test(loader, num_iter=12, seed=7, progress=False).losses
    assert _epoch(loader) == without
    twice = _persistent()
    assert finder.range_test(twice, num_iter=12, seed=7, progress=False).losses == first
    assert finder.range_test(twice, num_iter=12, seed=7, progress=False).losses == first
    again = _persistent()
    _epoch(again)  # a loader in use keeps its iterator, and its workers, through a test
    kept = again._iterator
    finder.range_test(again, num_iter=12, seed=7, progress=False)
    assert again._iterator is kept


def test_a_cache_dir_whose_files_cannot_be_removed_keeps_the_named_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review 129: where removing the name failed at once (a folder of some network mounts),
    the range test was refused as if it could not write there, its descriptor left open."""
    import lrkit.finder.snapshot

    remove, refused = os.remove, []

    def remove_later(path: Any) -> None:
        if not refused:  # the first removal, at once after the file is written: refused
            refused.append(path)
            raise PermissionError(1, "Operation not permitted", path)
        remove(path)

    monkeypatch.setattr(lrkit.finder.snapshot.os, "remove", remove_later)
    model, optimizer, data = _setup(OPTIMIZERS["adam"])
    before = _state(model, optimizer)
    names: list[list[str]] = []
    finder = LRFinder(
        model, optimizer, nn.CrossEntropyLoss(), memory_cache=False, cache_dir=tmp_path
    )
    finder.range_test(data, num_iter=10, on_step=lambda done: names.append(os.listdir(tmp_path)))
    assert len(refused) == 1 and all(n == [Path(refused[0]).name] for n in names)
    assert _held(tmp_path) == []  # no descriptor left open
    assert list(tmp_path.iterdir()) == []  # removed after, as it is where names stay
    _assert_equal(before, _state(model, optimizer))
