"""Everything a range test changes, saved once on the CPU and put back bit for bit.

A range test trains the user's own model with the user's own optimizer at learning rates that
blow it up, so it must leave no trace: :class:`Snapshot` saves the model's parameters, gradients
and buffers (and each module's train/eval mode), the optimizer's state and param groups, a
GradScaler's state and the random number generators (torch's CPU and CUDA generators, NumPy's
and Python's global ones, and any ``torch.Generator`` a DataLoader draws its order from), and
puts them all back exactly.

The copy lives on the CPU: a model on a GPU is not duplicated there (torch-lr-finder keeps a
``deepcopy`` on the device by default). Restoring copies the saved values *into* the existing
tensors, so parameters, optimizer state tensors and param-group dicts keep their identity, and
anything that holds on to them (a scheduler, an EMA of the weights, a hook) stays valid.
Optimizer state created during the sweep (a momentum buffer the optimizer did not have yet) is
removed again, so a fresh optimizer is fresh again afterwards.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

_MISSING = object()


@dataclass(frozen=True)
class _Saved:
    """A tensor saved on the CPU, and where it came from."""

    value: Tensor
    device: torch.device


_IMMUTABLE = (bool, int, float, complex, str, bytes, type(None))


def _save(value: Any) -> Any:
    if isinstance(value, Tensor):
        return _Saved(value.detach().to("cpu", copy=True), value.device)
    return value if type(value) in _IMMUTABLE else copy.deepcopy(value)


def _load(saved: Any, current: Any = _MISSING) -> Any:
    """The saved value, copied into ``current`` when that is a tensor of the same kind.

    Called under ``torch.no_grad()`` (a parameter cannot be written in place otherwise).
    """
    if not isinstance(saved, _Saved):
        return saved if type(saved) in _IMMUTABLE else copy.deepcopy(saved)
    value = saved.value
    if (
        isinstance(current, Tensor)
        and current.device == saved.device
        and current.shape == value.shape
        and current.dtype == value.dtype
    ):
        current.copy_(value)
        return current
    return value.to(saved.device, copy=True)


class Snapshot:
    """The state of a model, its optimizer, a GradScaler and the RNGs, kept on the CPU.

    Args:
        model: The model; its parameters (with their ``.grad``), buffers and module modes.
        optimizer: The optimizer; its ``state`` and every key of every param group.
        scaler: A ``torch.amp.GradScaler``, or ``None``.
        generators: ``torch.Generator`` objects to save besides the global ones (a DataLoader's).

    Example:
        >>> model = torch.nn.Linear(2, 1)
        >>> opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        >>> before = model.weight.clone()
        >>> snap = Snapshot(model, opt)
        >>> model(torch.ones(4, 2)).sum().backward(); opt.step(); opt.param_groups[0]["lr"] = 5.0
        >>> snap.restore()
        >>> torch.equal(model.weight, before), opt.param_groups[0]["lr"], len(opt.state)
        (True, 0.1, 0)
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scaler: Any = None,
        generators: Iterable[torch.Generator] = (),
    ) -> None:
        self._model, self._optimizer, self._scaler = model, optimizer, scaler
        self._params = {
            name: (_save(p), None if p.grad is None else _save(p.grad))
            for name, p in model.named_parameters()
        }
        self._buffers = {name: _save(b) for name, b in model.named_buffers()}
        self._modes = [m.training for m in model.modules()]
        self._groups = [
            {k: _save(v) for k, v in group.items() if k != "params"}
            for group in optimizer.param_groups
        ]
        self._state = {
            key: {k: _save(v) for k, v in values.items()} for key, values in optimizer.state.items()
        }
        self._opt_called = optimizer.__dict__.get("_opt_called", _MISSING)
        self._scaler_state = (
            None if scaler is None else {k: _save(v) for k, v in vars(scaler).items()}
        )
        self._generators = [(g, g.get_state()) for g in _unique(generators)]
        self._torch_rng = torch.get_rng_state()
        # Reading CUDA's generators would initialise CUDA; if it is not up, nothing used them.
        self._cuda_rng = (
            torch.cuda.get_rng_state_all()
            if torch.cuda.is_available() and torch.cuda.is_initialized()
            else None
        )
        self._numpy_rng = np.random.get_state()
        self._python_rng = random.getstate()

    def restore(self) -> None:
        """Puts everything back as it was when the snapshot was taken (it can be restored again)."""
        with torch.no_grad():
            self._restore_model()
            self._restore_optimizer()
            if self._scaler_state is not None:
                _restore_attrs(self._scaler, self._scaler_state)
        for generator, state in self._generators:
            generator.set_state(state)
        torch.set_rng_state(self._torch_rng)
        if self._cuda_rng is not None:
            torch.cuda.set_rng_state_all(self._cuda_rng)
        np.random.set_state(self._numpy_rng)
        random.setstate(self._python_rng)

    def _restore_model(self) -> None:
        params = dict(self._model.named_parameters())
        for name, (value, grad) in self._params.items():
            param = params[name]
            _load(value, param)
            param.grad = None if grad is None else _load(grad, param.grad)
        buffers = dict(self._model.named_buffers())
        for name, saved in self._buffers.items():
            if _load(saved, buffers.get(name)) is not buffers.get(name):
                # The buffer was replaced by a tensor of another kind: set the saved one back.
                module_name, _, attr = name.rpartition(".")
                module = self._model.get_submodule(module_name)
                setattr(module, attr, _load(saved))
        for module, mode in zip(self._model.modules(), self._modes):
            if module.training != mode:
                module.training = mode

    def _restore_optimizer(self) -> None:
        optimizer = self._optimizer
        for group, saved in zip(optimizer.param_groups, self._groups):
            for key in [k for k in group if k != "params" and k not in saved]:
                del group[key]
            for key, value in saved.items():
                group[key] = _load(value, group.get(key, _MISSING))
        state = optimizer.state
        for param in [p for p in state if p not in self._state]:
            del state[param]
        for param, saved_values in self._state.items():
            values = state[param]
            for name in [n for n in values if n not in saved_values]:
                del values[name]
            for name, saved_value in saved_values.items():
                values[name] = _load(saved_value, values.get(name, _MISSING))
        if self._opt_called is _MISSING:
            optimizer.__dict__.pop("_opt_called", None)
        else:
            optimizer.__dict__["_opt_called"] = self._opt_called


def _restore_attrs(obj: Any, saved: dict[str, Any]) -> None:
    # A GradScaler keeps its state in plain attributes (some created lazily, on first use), so
    # its whole __dict__ is saved: state_dict() would not tell a lazy scale from a set one.
    attrs = vars(obj)
    for key in [k for k in attrs if k not in saved]:
        del attrs[key]
    for key, value in saved.items():
        attrs[key] = _load(value, attrs.get(key, _MISSING))


def _unique(generators: Iterable[torch.Generator]) -> list[torch.Generator]:
    seen: dict[int, torch.Generator] = {}
    for g in generators:
        seen.setdefault(id(g), g)
    return list(seen.values())
