"""Tiny models and data for the range-test tests: each sweep runs in milliseconds."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def blobs(n: int = 256, features: int = 8, seed: int = 0) -> TensorDataset:
    """Two classes separated along the first two features."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)
    return TensorDataset(x, (x[:, 0] + x[:, 1] > 0).long())


def loader(n: int = 256, batch_size: int = 32, seed: int = 0, **options: Any) -> DataLoader[Any]:
    return DataLoader(blobs(n, seed=seed), batch_size=batch_size, **options)


def mlp(features: int = 8, hidden: int = 16, seed: int = 0, norm: bool = False) -> nn.Module:
    """A small MLP; ``norm`` adds a BatchNorm (buffers) and a Dropout (RNG) to restore."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers: list[nn.Module] = [nn.Linear(features, hidden)]
        if norm:
            layers += [nn.BatchNorm1d(hidden), nn.Dropout(0.2)]
        layers += [nn.ReLU(), nn.Linear(hidden, 2)]
        return nn.Sequential(*layers)


def train_steps(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: Iterable[Any],
    steps: int,
    scaler: Any = None,
) -> list[float]:
    """``steps`` plain training steps (cycling the loader); the losses."""
    criterion = nn.CrossEntropyLoss()
    losses: list[float] = []
    while len(losses) < steps:
        for x, y in data:
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            if scaler is None:
                loss.backward()
                optimizer.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            losses.append(loss.item())
            if len(losses) == steps:
                break
    return losses
