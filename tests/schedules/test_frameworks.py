"""Bound native schedules and drop-ins work inside Lightning and the Hugging Face Trainer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from lrkit.schedules import bind, parse

SPEC = "warmup:3 > cosine:17,min_lr=1e-3"
STEPS = 20


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(160, 4, generator=g)
    return x, x.sum(dim=1, keepdim=True)


def test_lightning_steps_a_bound_schedule_per_optimizer_step() -> None:
    import lightning as L

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Linear(4, 1)
            self.seen: list[float] = []

        def training_step(self, batch: Any, index: int) -> torch.Tensor:
            self.seen.append(self.trainer.optimizers[0].param_groups[0]["lr"])
            x, y = batch
            return F.mse_loss(self.net(x), y)

        def configure_optimizers(self) -> Any:
            opt = torch.optim.SGD(self.parameters(), lr=0.1)
            sched = bind(opt, SPEC, unit="step")
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    module = Module()
    trainer = L.Trainer(
        max_steps=STEPS,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, DataLoader(TensorDataset(*_data()), batch_size=8))
    assert module.seen == pytest.approx(parse(SPEC).trace(STEPS, base_lr=0.1).tolist(), rel=1e-12)


def test_hugging_face_trainer_takes_a_bound_schedule(tmp_path: Path) -> None:
    from transformers import Trainer, TrainerCallback, TrainingArguments

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(4, 1)

        def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
            out = self.lin(x)
            return {"loss": F.mse_loss(out, labels), "logits": out}

    seen: list[float] = []

    class Record(TrainerCallback):
        def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            seen.append(kw["optimizer"].param_groups[0]["lr"])

    x, y = _data()
    data = [{"x": xi, "labels": yi} for xi, yi in zip(x, y)]
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=STEPS,
        per_device_train_batch_size=8,
        report_to=[],
        save_strategy="no",
        logging_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
        remove_unused_columns=False,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=data,
        optimizers=(opt, bind(opt, SPEC, unit="step")),
        callbacks=[Record()],
    )
    trainer.train()
    assert seen == pytest.approx(parse(SPEC).trace(STEPS, base_lr=0.1).tolist(), rel=1e-12)
