"""Bound native schedules and drop-ins work inside Lightning and the Hugging Face Trainer."""

from __future__ import annotations

import warnings
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


def _quiet_trainer(**options: Any) -> Any:
    """A Lightning Trainer on the CPU that writes nothing and shows nothing."""
    import lightning as L

    return L.Trainer(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **options,
    )


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
    trainer = _quiet_trainer(max_steps=STEPS)
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


@pytest.mark.parametrize("configured", [False, True], ids=["bare", "reduce_on_plateau"])
def test_lightning_feeds_a_bound_plateau_only_when_told(configured: bool) -> None:
    """Lightning passes the monitored metric only to torch's ReduceLROnPlateau, or a scheduler
    configured with ``"reduce_on_plateau": True`` (QA 110): bare, a bound plateau's LR never
    drops, and lrkit warns once; configured, it drops as torch's does on a flat val_loss."""
    import lightning as L

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Linear(4, 1)
            self.lrs: list[float] = []

        def training_step(self, batch: Any, index: int) -> torch.Tensor:
            return F.mse_loss(self.net(batch[0]), batch[1])

        def validation_step(self, batch: Any, index: int) -> None:
            self.log("val_loss", torch.tensor(1.0))  # never improves

        def on_train_epoch_start(self) -> None:
            self.lrs.append(self.trainer.optimizers[0].param_groups[0]["lr"])

        def configure_optimizers(self) -> Any:
            opt = torch.optim.SGD(self.parameters(), lr=0.1)
            sched = bind(opt, "plateau:patience=1,factor=0.5", unit="epoch", verbose=False)
            config = {"scheduler": sched, "monitor": "val_loss", "interval": "epoch"}
            return {"optimizer": opt, "lr_scheduler": config | {"reduce_on_plateau": configured}}

    module = Module()
    trainer = _quiet_trainer(max_epochs=6)
    loader = DataLoader(TensorDataset(*_data()), batch_size=32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(module, loader, loader)
    unfed = [w for w in caught if "no metric has come yet" in str(w.message)]
    if configured:  # torch's ReduceLROnPlateau(patience=1) on 1.0 every epoch
        assert module.lrs == [0.1, 0.1, 0.1, 0.05, 0.05, 0.025] and not unfed
    else:
        assert module.lrs == [0.1] * 6
        assert len(unfed) == 1 and '"reduce_on_plateau": True' in str(unfed[0].message)


def test_hugging_face_trainer_feeds_a_bound_plateau_from_a_callback(tmp_path: Path) -> None:
    """As the README says: the Trainer hands eval metrics only to torch's ReduceLROnPlateau, so
    a callback's ``on_evaluate`` reports them to the bound schedule, whose LR then drops."""
    from transformers import Trainer, TrainerCallback, TrainingArguments

    class Frozen(nn.Module):  # its eval loss never improves: the optimizer steps a bystander
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(4, 1).requires_grad_(False)
            self.bystander = nn.Parameter(torch.zeros(1))

        def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
            out = self.lin(x)
            return {"loss": F.mse_loss(out, labels) + 0 * self.bystander.sum(), "logits": out}

    seen: list[float] = []

    class Feed(TrainerCallback):
        def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            seen.append(kw["optimizer"].param_groups[0]["lr"])

        def on_evaluate(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            kw["lr_scheduler"].report(kw["metrics"]["eval_loss"])

    x, y = _data()
    data = [{"x": xi, "labels": yi} for xi, yi in zip(x, y)]
    model = Frozen()
    opt = torch.optim.SGD([model.bystander], lr=0.1)
    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=12,
        per_device_train_batch_size=8,
        eval_strategy="steps",
        eval_steps=2,
        report_to=[],
        save_strategy="no",
        logging_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
        remove_unused_columns=False,
    )
    sched = bind(opt, "plateau:patience=1,factor=0.5", unit="step", verbose=False)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=data,
        eval_dataset=data[:16],
        optimizers=(opt, sched),
        callbacks=[Feed()],
    )
    trainer.train()
    # evaluations after steps 2, 4, 6, ...: the third makes two bad in a row, past patience 1
    assert seen == [0.1] * 6 + [0.05] * 4 + [0.025] * 2


def test_a_compiled_step_with_the_scheduler_inside_compiles_once() -> None:
    """torch's recipe for a compiled optimizer with a scheduler: a tensor LR, and
    ``opt.step(); sched.step()`` in one compiled function. Traced, a bound schedule's step
    fixed its position as a constant and compiled a graph again at every call (QA 151)."""
    import torch._dynamo

    graphs: list[int] = []

    def counting(gm: torch.fx.GraphModule, inputs: Any) -> Any:
        graphs.append(1)
        return gm.forward

    def lrs_of(compiled: bool) -> list[float]:
        torch._dynamo.reset()
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 1)
        opt = torch.optim.Adam(model.parameters(), lr=torch.tensor(0.01), foreach=False)
        sched = bind(opt, "warmup:2 > cosine:10")
        x, y = torch.randn(16, 4), torch.randn(16, 1)

        def both() -> None:
            opt.step()
            sched.step()

        step = torch.compile(both, backend=counting) if compiled else both
        seen = []
        for n in range(12):
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            step()
            seen.append(float(opt.param_groups[0]["lr"]))
            if n == 2:
                after_three = len(graphs)
        assert len(graphs) == after_three  # nothing compiled after the first steps
        return seen

    assert lrs_of(compiled=True) == lrs_of(compiled=False)
