"""Seed 000's three examples with their placeholders filled by a real model, data and loop,
and each one's equivalent in lrkit.search.

The seed's code is kept as written (comments included), but for its import of torch's LambdaLR,
which is lrkit's drop-in here; "Define model, data loaders etc.", ``YourModel``,
``evaluate_model`` and "your training loop here" are filled with a small MLP on scikit-learn's
digits, trained for two epochs per trial.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lrkit.search import search


def _data() -> tuple[DataLoader[Any], DataLoader[Any]]:
    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target)
    generator = torch.Generator().manual_seed(0)
    order = torch.randperm(len(x), generator=generator)
    train, val = order[:1400], order[1400:]
    train_loader = DataLoader(TensorDataset(x[train], y[train]), batch_size=64, shuffle=True,
                              generator=generator)
    return train_loader, DataLoader(TensorDataset(x[val], y[val]), batch_size=256)


train_loader, val_loader = _data()


class YourModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def evaluate_model(model: nn.Module, loader: DataLoader[Any]) -> float:
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for inputs, targets in loader:
            total += float(nn.functional.cross_entropy(model(inputs), targets)) * len(targets)
            count += len(targets)
    model.train()
    return total / count


def training_loop(model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any = None,
                  epochs: int = 2) -> None:
    criterion = nn.CrossEntropyLoss()
    for _ in range(epochs):
        for inputs, targets in train_loader:
            optimizer.zero_grad()
            criterion(model(inputs), targets).backward()
            optimizer.step()
        if scheduler is not None:
            scheduler.step()


def example_1() -> dict[str, Any]:
    import numpy as np
    import torch.optim as optim

    # Define model, data loaders etc. (omitted for brevity)

    # Define the range for the logarithm of the learning rate
    min_log_lr = -5  # Equivalent to 10^-5
    max_log_lr = 0   # Equivalent to 10^0

    num_trials = 10

    best_lr = None
    best_val_loss = float('inf')

    for i in range(num_trials):
        # Sample from log-uniform distribution
        log_lr = np.random.uniform(min_log_lr, max_log_lr)
        lr = 10**log_lr

        model = YourModel()  # Instantiate your model
        optimizer = optim.Adam(model.parameters(), lr=lr)
        training_loop(model, optimizer)  # ... (your training loop here) ...
        val_loss = evaluate_model(model, val_loader) # Assume this function exists.

        print(f"Trial {i+1}: LR = {lr:.6f}, Validation Loss = {val_loss:.4f}")

        if val_loss < best_val_loss:
            best_val_loss = val_loss
            best_lr = lr

    print(f"Best learning rate found: {best_lr:.6f} with validation loss: {best_val_loss:.4f}")
    return locals()


def example_2() -> dict[str, Any]:
    import torch.distributions as dist
    import torch.optim as optim

    # Define model, data loaders etc. (omitted for brevity)

    min_log_lr = -5
    max_log_lr = 0
    num_trials = 10

    best_lr = None
    best_val_loss = float('inf')

    for i in range(num_trials):
        # Sample from log-uniform distribution using PyTorch's distributions module.
        log_lr_dist = dist.Uniform(min_log_lr, max_log_lr)
        log_lr = log_lr_dist.sample()
        lr = 10**log_lr

        model = YourModel()
        optimizer = optim.Adam(model.parameters(), lr=lr)
        training_loop(model, optimizer)  # ... (your training loop here) ...
        val_loss = evaluate_model(model, val_loader) # Assume this function exists

        print(f"Trial {i+1}: LR = {lr:.6f}, Validation Loss = {val_loss:.4f}")

        if val_loss < best_val_loss:
            best_val_loss = val_loss
            best_lr = lr

    print(f"Best learning rate found: {best_lr:.6f} with validation loss: {best_val_loss:.4f}")
    return locals()


def example_3() -> dict[str, Any]:
    import numpy as np
    import torch.optim as optim

    from lrkit.schedules import LambdaLR  # was: from torch.optim.lr_scheduler

    # Define model, data loaders etc. (omitted for brevity)

    min_log_lr = -5
    max_log_lr = 0
    num_trials = 10

    best_lr = None
    best_val_loss = float('inf')

    for i in range(num_trials):
        # Sample from log-uniform distribution
        log_lr = np.random.uniform(min_log_lr, max_log_lr)
        initial_lr = 10**log_lr

        model = YourModel()
        optimizer = optim.Adam(model.parameters(), lr=initial_lr)

        # Constant learning rate for simplicity
        scheduler = LambdaLR(optimizer, lr_lambda = lambda epoch: 1.0)

        # ... (your training loop here, using scheduler.step() at the end of each epoch) ...
        training_loop(model, optimizer, scheduler)
        val_loss = evaluate_model(model, val_loader)

        print(f"Trial {i+1}: Initial LR = {initial_lr:.6f}, Validation Loss = {val_loss:.4f}")

        if val_loss < best_val_loss:
            best_val_loss = val_loss
            best_lr = initial_lr

    print(f"Best initial learning rate found: {best_lr:.6f} with validation loss: {best_val_loss:.4f}")  # noqa: E501
    return locals()


def _printed(out: str) -> list[tuple[float, float]]:
    pattern = r"LR = ([\d.]+), Validation Loss = ([\d.]+)"
    return [(float(a), float(b)) for a, b in re.findall(pattern, out)]


@pytest.mark.parametrize(
    "example", [example_1, example_2, example_3], ids=["numpy", "torch", "scheduler"]
)
def test_seed_example_runs_and_keeps_the_best(
    example: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.manual_seed(0)
    import numpy as np

    np.random.seed(0)
    found = example()
    trials = _printed(capsys.readouterr().out)
    assert len(trials) == 10
    best = min(trials, key=lambda t: t[1])
    assert found["best_val_loss"] == pytest.approx(best[1], abs=1e-4)
    assert all(1e-5 <= lr <= 1.0 for lr, _ in trials)
    assert best[1] < 1.0  # a real training: some LR learns digits


def _objective(lr: float, trial: Any, with_scheduler: bool = False) -> float:
    from torch.optim.lr_scheduler import LambdaLR

    model = YourModel()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = LambdaLR(optimizer, lr_lambda=lambda epoch: 1.0) if with_scheduler else None
    training_loop(model, optimizer, scheduler)
    return evaluate_model(model, val_loader)


@pytest.mark.parametrize("sampler", ["random", "random-torch", "stratified"])
def test_the_same_search_in_lrkit(sampler: str) -> None:
    result = search(_objective, 1e-5, 1.0, n_trials=10, sampler=sampler, seed=0,
                    storage=":memory:", progress=False)
    assert result.count("complete") == 10
    values = [t.value for t in result.trials if t.value is not None]
    assert result.best_value == min(values)
    assert result.best_value is not None and result.best_value < 1.0
    assert all(1e-5 <= t.lr <= 1.0 for t in result.trials)


def test_example_3_in_lrkit_with_a_scheduler_inside_each_trial() -> None:
    result = search(lambda lr, trial: _objective(lr, trial, with_scheduler=True), 1e-5, 1.0,
                    n_trials=6, storage=":memory:", progress=False)
    assert result.count("complete") == 6 and result.best_lr is not None
    assert math.isfinite(result.best_value or math.nan)


def test_example_3_as_a_task_search_with_a_torch_scheduler() -> None:
    from torch.optim.lr_scheduler import LambdaLR

    result = search("digits", 1e-3, 0.3, n_trials=3, epochs=2, storage=":memory:",
                    schedule=lambda opt: LambdaLR(opt, lr_lambda=lambda epoch: 1.0),
                    progress=False)
    assert result.count("complete") == 3
    assert all(t.epochs_run == 2 for t in result.trials)
