"""Seed 001's three examples, run with only the import changed.

``from lr_finder import LRFinder`` becomes ``from lrkit import LRFinder``; everything else is the
seed's code, comments included. Example 2's "... Training steps ..." placeholder is filled with a
real epoch over example 1's data, and example 3's "(LRF and training loop as in Example 1 or 2)"
with example 1's finder calls. ``lr_finder.plot()`` must neither block nor fail headless.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

pytestmark = pytest.mark.filterwarnings("ignore::lrkit.finder.FinderWarning")


def example_1() -> dict[str, Any]:
    import torch
    import torch.nn as nn
    import torch.optim as optim
    from torch.utils.data import DataLoader, TensorDataset

    from lrkit import LRFinder  # was: from lr_finder import LRFinder

    # Define a simple CNN
    class SimpleCNN(nn.Module):
        def __init__(self):
            super(SimpleCNN, self).__init__()  # noqa: UP008 (the seed's code)
            self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
            self.relu = nn.ReLU()
            self.pool = nn.MaxPool2d(2, 2)
            self.fc1 = nn.Linear(16 * 14 * 14, 10)  # Assuming 28x28 input images

        def forward(self, x):
            x = self.pool(self.relu(self.conv1(x)))
            x = torch.flatten(x, 1)
            x = self.fc1(x)
            return x

    # Generate synthetic data (replace with your actual data)
    X = torch.randn(100, 1, 28, 28)
    y = torch.randint(0, 10, (100,))
    dataset = TensorDataset(X, y)
    dataloader = DataLoader(dataset, batch_size=32)

    # Initialize model, optimizer, and loss function
    model = SimpleCNN()
    optimizer = optim.SGD(model.parameters(), lr=1e-7)  # Initial learning rate is arbitrary for LRF
    criterion = nn.CrossEntropyLoss()

    # Run the LRFinder
    lr_finder = LRFinder(model, optimizer, criterion, device="cpu")  # Specify device accordingly
    lr_finder.range_test(dataloader, end_lr=100, num_iter=100)
    lr_finder.plot()  # Visualize the results
    return locals()


def test_example_1_basic_range_test_and_plot() -> None:
    torch.manual_seed(0)
    names = example_1()
    finder, optimizer = names["lr_finder"], names["optimizer"]
    result = finder.result
    assert result.start_lr == 1e-7 and result.steps >= 10
    assert result.stop_reason in ("completed", "diverged", "non_finite_loss")
    assert finder.history["lr"] == list(result.lrs)
    assert optimizer.param_groups[0]["lr"] == 1e-7 and not optimizer.state  # left as it was
    assert finder.plot().axes[0].get_xscale() == "log"


def test_example_2_lambda_lr_after_the_range_test() -> None:
    torch.manual_seed(0)
    names = example_1()  # "... (Data loading and model definition from Example 1) ..."
    model, dataloader, criterion = names["model"], names["dataloader"], names["criterion"]

    import torch.optim as optim

    from lrkit.schedules import LambdaLR  # was: from torch.optim.lr_scheduler

    # Identify optimal learning rate range from LRF (manually or programmatically)
    optimal_lr = 0.01  # Example value from the LRF plot

    # Define a custom learning rate scheduler
    def lr_lambda(epoch):
        if epoch < 50:  # Example schedule: Constant LR for first 50 epochs
            return 1.0
        else:
            return 0.1  # Reduce LR by a factor of 10 afterwards.

    optimizer = optim.Adam(model.parameters(), lr=optimal_lr)
    scheduler = LambdaLR(optimizer, lr_lambda)

    # Training loop
    epoch_lrs, epoch_losses = [], []
    for epoch in range(100):  # noqa: B007 (the seed's loop)
        # ... Training steps ...
        epoch_lrs.append(optimizer.param_groups[0]["lr"])
        total = 0.0
        for inputs, labels in dataloader:
            optimizer.zero_grad()
            loss = criterion(model(inputs), labels)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(labels)
        epoch_losses.append(total / len(dataloader.dataset))
        scheduler.step()

    assert epoch_lrs[:50] == [0.01] * 50 and epoch_lrs[50:] == pytest.approx([0.001] * 50)
    assert epoch_losses[-1] < 0.1 * epoch_losses[0]  # it trained (100 samples, memorised)


def test_example_3_undersampled_data_then_the_finder() -> None:
    import torch

    torch.manual_seed(0)
    names = example_1()  # "... (Data loading and model definition from Example 1) ..."
    X, y = names["X"], names["y"]
    LRFinder, model, optimizer, criterion = (
        names["LRFinder"],
        names["model"],
        names["optimizer"],
        names["criterion"],
    )

    from imblearn.under_sampling import RandomUnderSampler  # For handling class imbalance
    from torch.utils.data import DataLoader, TensorDataset

    # Handle class imbalance with RandomUnderSampler (adapt to your preferred method)
    rus = RandomUnderSampler(random_state=42)
    X_resampled, y_resampled = rus.fit_resample(
        X.reshape(100, -1), y
    )  # Reshape for RandomUnderSampler compatibility
    X_resampled = X_resampled.reshape(
        X_resampled.shape[0], 1, 28, 28
    )  # Reshape back to image dimensions
    dataset = TensorDataset(
        torch.tensor(X_resampled, dtype=torch.float32), torch.tensor(y_resampled)
    )
    dataloader = DataLoader(dataset, batch_size=32)

    # ... (LRF and training loop as in Example 1 or 2) ...
    lr_finder = LRFinder(model, optimizer, criterion, device="cpu")
    lr_finder.range_test(dataloader, end_lr=100, num_iter=100)
    lr_finder.plot()

    counts = torch.bincount(torch.tensor(y_resampled), minlength=10)
    assert len(set(counts.tolist())) == 1  # balanced: every class as often as the rarest
    assert lr_finder.result.steps >= 10
