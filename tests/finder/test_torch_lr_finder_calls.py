"""torch-lr-finder's calls, run with only the import changed: its mixed-precision arguments, its
loader wrappers, batches with extra items, ``reset()`` and ``plot()`` as its README uses them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import lrkit
from lrkit import LRFinder, TrainDataLoaderIter, ValDataLoaderIter
from tests.finder.helpers import blobs, loader, mlp

pytestmark = pytest.mark.filterwarnings("ignore::lrkit.finder.FinderWarning")


class DtypeSeen(nn.Module):
    """Cross-entropy that records the dtype of the outputs it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.dtypes: list[torch.dtype] = []

    def forward(self, output: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        self.dtypes.append(output.dtype)
        return nn.functional.cross_entropy(output.float(), labels)


class CountingScaler(torch.amp.GradScaler):
    """A GradScaler that counts its ``scale`` calls in a list of its own (the range test puts
    back every attribute of the scaler when it ends, so a counter there would read 0)."""

    def __init__(self, calls: list[int]) -> None:
        super().__init__("cpu")
        self.calls = calls

    def scale(self, outputs: Any) -> Any:
        self.calls.append(1)
        return super().scale(outputs)


class ScalesOnly:
    """What torch-lr-finder calls on a scaler, and no more."""

    def scale(self, loss: Any) -> Any:
        return loss

    def step(self, optimizer: Any) -> None:
        optimizer.step()

    def update(self) -> None:
        pass


def test_torch_amp_arguments_autocast_and_scale_the_sweep() -> None:
    # torch-lr-finder's README: LRFinder(..., amp_backend="torch", amp_config=..., grad_scaler=...)
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-5)
    calls: list[int] = []
    criterion, scaler = DtypeSeen(), CountingScaler(calls)
    finder = LRFinder(
        model,
        optimizer,
        criterion,
        device="cpu",
        amp_backend="torch",
        amp_config={"device_type": "cpu", "dtype": torch.bfloat16},
        grad_scaler=scaler,
    )
    result = finder.range_test(loader(), end_lr=10, num_iter=20)
    assert set(criterion.dtypes) == {torch.bfloat16}
    assert len(calls) >= result.steps
    # enabled=False: no autocast, as torch.autocast(enabled=False) does
    criterion.dtypes.clear()
    plain = LRFinder(
        model, optimizer, criterion, amp_backend="torch", amp_config={"enabled": False}
    )
    plain.range_test(loader(), end_lr=10, num_iter=20)
    assert set(criterion.dtypes) == {torch.float32}
    # ...with a scaler too: it scales, and autocast stays off
    criterion.dtypes.clear()
    calls.clear()
    scaled = LRFinder(
        model,
        optimizer,
        criterion,
        amp_backend="torch",
        amp_config={"enabled": False},
        grad_scaler=CountingScaler(calls),
    )
    result = scaled.range_test(loader(), end_lr=10, num_iter=20)
    assert set(criterion.dtypes) == {torch.float32}
    assert len(calls) >= result.steps
    # autocast for CUDA on a CPU sweep: nothing changes, as torch.autocast("cuda") on CPU
    criterion.dtypes.clear()
    cuda_only = {"device_type": "cuda", "dtype": torch.float16}
    LRFinder(model, optimizer, criterion, amp_backend="torch", amp_config=cuda_only).range_test(
        loader(), end_lr=10, num_iter=20
    )
    assert set(criterion.dtypes) == {torch.float32}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"amp_backend": "apex"}, "amp_backend='apex' .* is not supported"),
        ({"amp_backend": "cuda"}, "amp_backend must be 'torch' or None, got 'cuda'"),
        ({"amp_config": {"dtype": torch.float16}}, "amp_config is used only with amp_backend"),
        ({"amp_backend": "torch", "amp_config": "fp16"}, "amp_config must be a dict"),
        ({"amp_backend": "torch", "grad_scaler": 2.0}, "grad_scaler must be a torch.amp"),
        (
            {"amp_backend": "torch", "amp_config": {"dtype": "float16"}},
            r"amp_config\['dtype'\] must be torch.float16 or torch.bfloat16",
        ),
        (
            {"amp_backend": "torch", "amp_config": {"dtype": torch.float64}},
            r"amp_config\['dtype'\] must be .* got torch.float64",
        ),
        # all torch-lr-finder calls; the sweep reads get_scale to tell a skipped step
        ({"amp_backend": "torch", "grad_scaler": ScalesOnly()}, "grad_scaler must be a torch.amp"),
        (
            {"amp_backend": "torch", "amp_config": {"dtype": torch.float16, "bogus": 1}},
            r"amp_config must hold torch.autocast's arguments \(device_type, dtype, enabled, "
            r"cache_enabled\), got the key 'bogus'.",
        ),
    ],
)
def test_bad_amp_arguments_name_the_parameter(options: dict[str, Any], message: str) -> None:
    model = mlp()
    with pytest.raises(lrkit.ConfigError, match=message):
        LRFinder(
            model, torch.optim.SGD(model.parameters(), lr=1e-5), nn.CrossEntropyLoss(), **options
        )


class SwappedPairs(TrainDataLoaderIter):
    """torch-lr-finder's README recipe: a subclass that reads batches of another shape."""

    def inputs_labels_from_batch(self, batch_data: Any) -> tuple[Any, Any]:
        labels, inputs = batch_data
        return inputs, labels


class SwappedVal(ValDataLoaderIter):
    def inputs_labels_from_batch(self, batch_data: Any) -> tuple[Any, Any]:
        labels, inputs = batch_data
        return inputs, labels


def _swapped(seed: int = 0) -> DataLoader[Any]:
    x, y = blobs(seed=seed).tensors
    return DataLoader(TensorDataset(y, x), batch_size=32)


def test_loader_wrappers_subclassed_as_in_torch_lr_finder_give_the_same_curve() -> None:
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-5)
    finder = LRFinder(model, optimizer, nn.CrossEntropyLoss())
    wrapped = finder.range_test(SwappedPairs(_swapped()), end_lr=10, num_iter=30)
    direct = finder.range_test(loader(), end_lr=10, num_iter=30)
    assert wrapped.losses == direct.losses  # 30 steps: past the 8 batches of an epoch
    # Leslie Smith's mode: a validation pass after each step, through the wrapper
    val = finder.range_test(
        loader(), SwappedVal(_swapped(seed=1)), end_lr=10, num_iter=12, step_mode="Linear"
    )
    same = finder.range_test(loader(), loader(seed=1), end_lr=10, num_iter=12, step_mode="linear")
    assert val.loss_kind == "val" and val.losses == same.losses and val.step_mode == "linear"
    with pytest.raises(lrkit.ConfigError, match=r"got a int, which cannot be iterated\.$"):
        TrainDataLoaderIter(3)  # type: ignore[arg-type]
    with pytest.raises(lrkit.ConfigError, match=r"must have a len\(\) .* got a generator"):
        ValDataLoaderIter(batch for batch in loader())
    with pytest.raises(StopIteration):  # without auto_reset an epoch is all there is
        batches = TrainDataLoaderIter(loader(n=32), auto_reset=False)
        next(batches)
        next(batches)


class DictBatches(TrainDataLoaderIter):
    def inputs_labels_from_batch(self, batch_data: Any) -> tuple[Any, Any]:
        return batch_data["image"], batch_data["target"]


def test_loader_wrappers_take_any_iterable_of_batches_as_torch_lr_finder_s_do() -> None:
    # a list, or another library's loader (DALI, ffcv): torch-lr-finder's wrappers only iterate
    # it, and its README's answer to other batches is a subclass (QA 149)
    x, y = blobs().tensors
    dicts = [{"image": x[i : i + 32], "target": y[i : i + 32]} for i in range(0, len(y), 32)]
    model = mlp()
    finder = LRFinder(model, torch.optim.SGD(model.parameters(), lr=1e-5), nn.CrossEntropyLoss())
    wrapped = finder.range_test(DictBatches(dicts), end_lr=10, num_iter=20)
    assert wrapped.losses == finder.range_test(loader(), end_lr=10, num_iter=20).losses


def test_the_validation_loss_weighs_labels_given_as_a_list_by_their_count() -> None:
    # a collate_fn that keeps one target per sample: a short last batch weighed as a full one
    # (QA 149); torch-lr-finder weighs each batch by len(labels)
    x, y = blobs().tensors
    xv, yv = x[:5], y[:5]

    def listed(samples: list[tuple[torch.Tensor, torch.Tensor]]) -> Any:
        return torch.stack([a for a, _ in samples]), [b for _, b in samples]

    def criterion(out: torch.Tensor, labels: Any) -> torch.Tensor:
        labels = torch.stack(labels) if isinstance(labels, list) else labels
        return nn.functional.cross_entropy(out, labels)

    val_losses = []
    for collate in (None, listed):
        torch.manual_seed(1)
        model = mlp()
        finder = LRFinder(model, torch.optim.SGD(model.parameters(), lr=1e-6), criterion)
        val = DataLoader(TensorDataset(xv, yv), batch_size=4, collate_fn=collate)  # 4 and 1
        found = finder.range_test(loader(), val, end_lr=1e-5, num_iter=10, smooth_f=0)
        val_losses.append(found.losses[0])
    assert val_losses[1] == pytest.approx(val_losses[0], rel=1e-6)


_X, _Y = torch.zeros(8, 3), torch.zeros(8)


@pytest.mark.parametrize(
    ("batch", "samples"),
    [
        ((_X, _Y), 8),
        (([_X, _X], [_Y, _Y]), 8),  # two inputs, two heads
        (({"a": _X}, [_Y, _Y]), 8),
        (([_X, _X], _Y, _Y), 8),
        ((_X[:5], [torch.tensor(0)] * 5), 5),  # one target per sample, as a list
        (([torch.zeros(3, 5, 5)] * 3, [{"boxes": torch.zeros(2, 4)}] * 3), 3),  # detection
        ((torch.zeros(4), torch.tensor(3)), 1),  # one sample (a DataLoader's batch_size=None)
        ({"input_ids": torch.zeros(4, 9), "labels": torch.zeros(4, 9)}, 4),
        (([], []), 1),  # never 0: a silent NaN mean
    ],
)
def test_a_batch_s_samples_weigh_its_validation_loss(batch: Any, samples: int) -> None:
    from lrkit.finder.batch import batch_size

    assert batch_size(batch) == samples


def test_batches_with_extra_items_use_the_first_two() -> None:
    x, y = blobs().tensors
    index = torch.arange(len(y))
    model = mlp()
    finder = LRFinder(model, torch.optim.SGD(model.parameters(), lr=1e-5), nn.CrossEntropyLoss())
    triples = finder.range_test(
        DataLoader(TensorDataset(x, y, index), batch_size=32), end_lr=10, num_iter=20
    )
    assert triples.losses == finder.range_test(loader(), end_lr=10, num_iter=20).losses
    with pytest.raises(TypeError, match=r"train_loader must yield .* got a list of 1 item;"):
        finder.range_test([[x]], end_lr=10, num_iter=20)
    with pytest.raises(TypeError, match=r"val_loader must yield .* got a batch of type Tensor"):
        finder.range_test(loader(), [x], end_lr=10, num_iter=20)


def test_plot_goes_through_pyplot_only_where_the_caller_uses_it() -> None:
    code = (
        "import sys, torch\n"
        "from lrkit import LRFinder\n"
        "from tests.finder.helpers import loader, mlp\n"
        "model = mlp()\n"
        "finder = LRFinder(model, torch.optim.SGD(model.parameters(), lr=1e-5),\n"
        "                  torch.nn.CrossEntropyLoss())\n"
        "finder.range_test(loader(n=1024), end_lr=10, num_iter=100)\n"
        "fig = finder.plot()\n"
        "print('matplotlib.pyplot' in sys.modules, type(fig).__name__)\n"
        "import matplotlib.pyplot as plt\n"
        "finder.reset()  # torch-lr-finder's README: plot, then reset\n"
        "ax, lr = finder.plot(suggest_lr=True)\n"
        "print(plt.get_fignums() == [ax.figure.number], lr == finder.result.suggestion)\n"
        "_, best_lr = finder.plot()  # torch-lr-finder's default return, through pyplot too\n"
        "print(best_lr == lr, len(plt.get_fignums()))\n"
    )
    root = Path(__file__).parents[2]
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env={"MPLBACKEND": "Agg", "PATH": ""},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "FinderFigure", "True", "True", "True", "2"]


def test_torch_lr_finder_attributes_errors_and_indexing(tmp_path: Path) -> None:
    """Code written for torch-lr-finder read finder.device (None here), memory_cache and the
    amp arguments (missing), caught RuntimeError from plot() before a range test and ValueError
    from a dict batch (ValueError and TypeError were raised), and took plot()[1] (not
    subscriptable)."""
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-5)
    finder = LRFinder(model, optimizer, nn.CrossEntropyLoss())
    assert finder.device == finder.model_device == torch.device("cpu")
    assert (finder.memory_cache, finder.cache_dir, finder.amp_backend) == (True, None, None)
    assert finder.amp_config is None and finder.grad_scaler is None
    with pytest.raises(RuntimeError, match="plot needs a range test first"):
        finder.plot()
    with pytest.raises(lrkit.ConfigError, match="plot needs a range test first"):
        finder.plot(suggest_lr=False)
    dicts = DataLoader([{"x": x, "y": y} for x, y in zip(*blobs().tensors)], batch_size=32)
    with pytest.raises(ValueError, match="reads \\(inputs, labels\\) from tuples or lists"):
        finder.range_test(TrainDataLoaderIter(dicts), end_lr=10, num_iter=20)
    with pytest.raises(TypeError, match="got a batch of type dict"):
        next(TrainDataLoaderIter(dicts))
    finder.range_test(loader(n=1024), end_lr=10, num_iter=100)
    fig = finder.plot()
    assert fig[1] == finder.result.suggestion is not None and fig[0] is fig.axes[0]
    assert len(fig) == 2 and fig[-1] == fig[1] and fig[:1] == (fig.axes[0],)
    scaler = torch.amp.GradScaler("cpu")
    config = {"device_type": "cpu", "dtype": torch.bfloat16}
    given = LRFinder(
        model,
        optimizer,
        nn.CrossEntropyLoss(),
        device="cpu",
        memory_cache=False,
        cache_dir=tmp_path,
        amp_backend="torch",
        amp_config=config,
        grad_scaler=scaler,
    )
    assert (given.memory_cache, given.cache_dir, given.amp_backend) == (False, tmp_path, "torch")
    assert given.amp_config is config and given.grad_scaler is scaler
    assert given.device == torch.device("cpu")
    with pytest.raises(lrkit.ConfigError, match="device"):
        given.device = "nonsense"
    given.device = None  # back to the model's, as before it was a property
    assert given.device == torch.device("cpu") and given._device is None
