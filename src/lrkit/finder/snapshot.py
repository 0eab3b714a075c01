"""Everything a range test changes, saved once on the CPU and put back bit for bit.

A range test trains the user's own model with the user's own optimizer at learning rates that
blow it up, so it must leave no trace: :class:`Snapshot` saves the model's parameters (with
their ``requires_grad``), gradients and buffers (and each module's train/eval mode), whatever
else the optimizer trains (a loss module's parameters, a loose tensor), the optimizer's state
and param groups, a GradScaler's state and the random number generators (torch's CPU and CUDA
generators, NumPy's and Python's global ones, and any ``torch.Generator`` a DataLoader draws its
order from), and puts them all back exactly.

The copy lives on the CPU: a model on a GPU is not duplicated there (torch-lr-finder keeps a
``deepcopy`` on the device by default). Given a ``cache_dir`` (torch-lr-finder's
``memory_cache=False``), the tensors go to a file there instead and are read back, memory-mapped,
only while they are restored: during the sweep the process holds no second copy of the weights,
gradients and the optimizer's state tensors (what an optimizer keeps in lists or other objects
is deep-copied in memory, as without a ``cache_dir``). On Linux the file's name is removed as
soon as it is written and checked, and the snapshot reads it through the descriptor it keeps
open: a process killed mid-sweep (``kill -9``, SIGTERM, out of memory) leaves no file behind,
and a cleaner of temporary folders cannot take the copy away during the sweep.

Restoring copies the saved values *into* the existing tensors, so parameters, optimizer state
tensors and param-group dicts keep their identity, and anything that holds on to them (a scheduler,
an EMA of the weights, a hook) stays valid; a parameter or buffer that the sweep replaced by
another tensor is put back. Optimizer state created during the sweep (a momentum buffer the
optimizer did not have yet) is removed again, so a fresh optimizer is fresh again afterwards; the
param groups are put back as they were (a group added during it, for progressive unfreezing, is
removed; one removed comes back), each with its own list of parameters.

What lies outside the model, the optimizer, the scaler and the RNGs is not saved: the sweep calls
the optimizer's step hooks at every step, as training does, and what a hook changes elsewhere (an
EMA model it updates, a scheduler it steps) stays changed.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import os
import random
import tempfile
import weakref
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.modules.lazy import LazyModuleMixin

from lrkit.errors import ConfigError, RunError

_MISSING = object()
_CPU = torch.device("cpu")
_OFFLOADED = torch.empty(0)  # a saved tensor's value while it is in the snapshot's file
_IMMUTABLE = (bool, int, float, complex, str, bytes, type(None))


class _Saved:
    """A tensor saved on the CPU, the device it came from and whether it required grad."""

    __slots__ = ("device", "requires_grad", "value")

    def __init__(self, tensor: Tensor, copied: bool = True) -> None:
        self.device, self.requires_grad = tensor.device, tensor.requires_grad
        detached = tensor.detach()
        # not ``copied``: written to a file before anything changes it; a view of a larger
        # storage is copied all the same (a file would hold the whole storage)
        if not copied and detached.untyped_storage().nbytes() == detached.nbytes:
            self.value = detached
        # clone() on the CPU: .to("cpu", copy=True) costs several times more per tensor
        elif tensor.is_cpu:
            self.value = detached.clone()
        else:
            self.value = detached.to(_CPU, copy=True)


def _save(value: Any, copied: bool = True) -> Any:
    if isinstance(value, Tensor):
        return _Saved(value, copied)
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
        and current.dtype == value.dtype
        and current.shape == value.shape
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
        also: More modules saved like the model (the loss, when it is a module with state).
        cache_dir: A folder to keep the saved tensors in, in a file removed with the snapshot,
            rather than in memory; ``None``: in memory.

    The optimizer's parameters that no module holds (a loose tensor, a learnable temperature
    in a loss) are saved too, with their gradients.

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
        also: Iterable[nn.Module] = (),
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self._optimizer, self._scaler = optimizer, scaler
        # Each module's own _parameters and _buffers, walked once: named_parameters() builds
        # prefixed names through nested generators, a visible cost on a small model, and the
        # saved (module, name, tensor) triples let restore() put back the very same objects.
        self._modules = _unique_modules([model, *also])
        for module in self._modules:
            if isinstance(module, LazyModuleMixin) and module.has_uninitialized_params():
                raise ConfigError(
                    f"the model has a lazy module not yet materialised ({type(module).__name__}): "
                    "run one forward pass on a batch before the range test, and build the "
                    "optimizer after it."
                )
        self._take(optimizer, scaler, generators, copied=cache_dir is None)
        self._file: str | None = None  # the path the file is read from
        self._named: str | None = None  # its name in cache_dir, for messages
        if cache_dir is not None:
            self._offload(cache_dir)

    def _take(
        self,
        optimizer: torch.optim.Optimizer,
        scaler: Any,
        generators: Iterable[torch.Generator],
        *,
        copied: bool,
    ) -> None:
        """Saves the state of the modules, ``optimizer``, ``scaler`` and RNGs; the tensors not
        copied unless ``copied`` (they are written to a file at once)."""
        self._modes = [m.training for m in self._modules]
        saved: dict[int, tuple[_Saved, _Saved | None]] = {}  # tied weights are saved once
        self._params: list[tuple[nn.Module, str, Tensor, _Saved, _Saved | None]] = []
        self._buffers: list[tuple[nn.Module, str, Tensor, _Saved]] = []
        for module in self._modules:
            for name, param in module._parameters.items():
                if param is not None:
                    if id(param) not in saved:
                        saved[id(param)] = _save_param(param, copied)
                    self._params.append((module, name, param, *saved[id(param)]))
            for name, buffer in module._buffers.items():
                if buffer is not None:
                    self._buffers.append((module, name, buffer, _Saved(buffer, copied)))
        # what the optimizer trains outside the modules (a loss's temperature, a loose tensor)
        self._loose: list[tuple[Tensor, _Saved, _Saved | None]] = []
        for group in optimizer.param_groups:
            for param in group["params"]:
                if isinstance(param, Tensor) and id(param) not in saved:
                    saved[id(param)] = _save_param(param, copied)
                    self._loose.append((param, *saved[id(param)]))
        self._groups = [(group, *_save_group(group, copied)) for group in optimizer.param_groups]
        # each group's list of parameters, and what it holds (a step_fn may append to it)
        self._group_params = [(g["params"], list(g["params"])) for g in optimizer.param_groups]
        self._state = {
            key: {k: _save(v, copied) for k, v in values.items()}
            for key, values in optimizer.state.items()
        }
        self._opt_called = optimizer.__dict__.get("_opt_called", _MISSING)
        self._scaler_state = (
            None if scaler is None else {k: _save(v, copied) for k, v in vars(scaler).items()}
        )
        self._generators = [(g, g.get_state()) for g in _unique(generators)]
        self._torch_rng = torch.get_rng_state()
        # Reading CUDA's generators would initialise CUDA; if it is not up, nothing used them.
        self._cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
        self._numpy_rng = _NumpyRng()
        self._python_rng = random.getstate()

    def restore(self) -> None:
        """Puts everything back as it was when the snapshot was taken (it can be restored again)."""
        with torch.no_grad(), self._loaded():
            self._restore_model()
            self._restore_optimizer()
            if self._scaler_state is not None:
                _restore_attrs(self._scaler, self._scaler_state)
        for generator, state in self._generators:
            generator.set_state(state)
        torch.set_rng_state(self._torch_rng)
        if self._cuda_rng is not None:
            torch.cuda.set_rng_state_all(self._cuda_rng)
        self._numpy_rng.restore()
        random.setstate(self._python_rng)

    def saved_tensors(self) -> list[Tensor]:
        """Every tensor the snapshot holds in memory (for tests: they all live on the CPU, and
        none is left in memory with a ``cache_dir``)."""
        return [saved.value for saved in self._saved() if saved.value is not _OFFLOADED]

    def _saved(self) -> list[_Saved]:
        """Every tensor saved, in an order that does not change."""
        found = [t for *_, v, g in self._params for t in (v, g) if t is not None]
        found += [t for _, v, g in self._loose for t in (v, g) if t is not None]
        found += [saved for *_, saved in self._buffers]
        values = [*(v for _, _, other in self._groups for v in other.values())]
        values += [v for state in self._state.values() for v in state.values()]
        values += [] if self._scaler_state is None else list(self._scaler_state.values())
        return found + [v for v in values if isinstance(v, _Saved)]

    def _offload(self, folder: str | os.PathLike[str]) -> None:
        """Moves the saved tensors to a file in ``folder``, read back once to be sure of it
        before anything trains. On Linux its name goes at once and the file lives on as an open
        descriptor, which the kernel lets go however the process ends; elsewhere the file is
        removed with the snapshot, by the process that made it (not by a child forked meanwhile).
        """
        saved, path = self._saved(), None
        try:
            handle, path = tempfile.mkstemp(prefix="lrkit-snapshot-", suffix=".pt", dir=folder)
            os.close(handle)
            torch.save([s.value for s in saved], path)
            _read(path, len(saved))
            self._named = path
            self._file = _held_open(path)
        except BaseException as error:  # a full disk (torch's RuntimeError), a folder gone, ...
            if path is not None:  # ... or Ctrl-C while it writes: no file left behind
                _remove(path, os.getpid())
            if not isinstance(error, Exception):
                raise
            raise ConfigError(
                f"cache_dir must be a folder the range test can write its copy of the model, "
                f"gradients and optimizer state to and read it back from, got "
                f"{str(folder)!r}: {type(error).__name__}: {error}. Free space there or give a "
                "folder you can write to, or pass memory_cache=True to keep the copy in memory."
            ) from error
        weakref.finalize(self, _remove, self._file, os.getpid())
        for s in saved:
            s.value = _OFFLOADED

    @contextlib.contextmanager
    def _loaded(self) -> Iterator[None]:
        """The saved tensors in reach: read back from the file, memory-mapped, and let go after."""
        if self._file is None:
            yield
            return
        saved = self._saved()
        try:
            values = _read(self._file, len(saved))
        except Exception as error:  # removed by a cleaner of temporary files, say
            raise RunError(
                f"the range test could not read back its copy of the model from "
                f"{self._named!r} ({type(error).__name__}: {error}): the model, its optimizer "
                "and the RNGs were NOT restored, and hold what the sweep left."
            ) from error
        for s, value in zip(saved, values, strict=True):
            s.value = value
        try:
            yield
        finally:
            for s in saved:
                s.value = _OFFLOADED

    def _restore_model(self) -> None:
        for module, name, param, value, grad in self._params:
            if module._parameters.get(name) is not param:  # replaced: put the original back
                module._parameters[name] = param  # type: ignore[assignment]
            _restore_param(param, value, grad)
        for param, value, grad in self._loose:
            _restore_param(param, value, grad)
        for module, name, buffer, saved in self._buffers:
            if module._buffers.get(name) is not buffer:
                module._buffers[name] = buffer
            restored = _load(saved, buffer)
            if restored is not buffer:  # resized or recast through .data: set the saved one
                module._buffers[name] = restored
        for module, mode in zip(self._modules, self._modes):
            if module.training != mode:
                module.training = mode

    def _restore_optimizer(self) -> None:
        optimizer = self._optimizer
        groups, now = [group for group, *_ in self._groups], optimizer.param_groups
        if len(now) != len(groups) or any(a is not b for a, b in zip(now, groups)):
            now[:] = groups  # groups added, removed or reordered: the saved dicts, in order
        for (group, *_), (held, params) in zip(self._groups, self._group_params):
            group["params"] = held
            if isinstance(held, list):
                held[:] = params
        for group, plain, other in self._groups:
            for key in [k for k in group if k != "params" and k not in plain and k not in other]:
                del group[key]
            group.update(plain)
            for key, value in other.items():
                group[key] = _load(value, group.get(key, _MISSING))
        state = optimizer.state
        if len(state) != len(self._state):
            for param in [p for p in state if p not in self._state]:
                del state[param]
        for param, saved_values in self._state.items():
            values = state[param]
            if len(values) != len(saved_values):
                for name in [n for n in values if n not in saved_values]:
                    del values[name]
            for name, saved_value in saved_values.items():
                values[name] = _load(saved_value, values.get(name, _MISSING))
        if self._opt_called is _MISSING:
            optimizer.__dict__.pop("_opt_called", None)
        else:
            optimizer.__dict__["_opt_called"] = self._opt_called


def _read(path: str, count: int) -> list[Tensor]:
    """The ``count`` tensors of a snapshot's file, memory-mapped (lrkit wrote the file, so a
    tensor subclass in it is read too)."""
    values = torch.load(path, map_location=_CPU, mmap=True, weights_only=False)
    if not isinstance(values, list) or len(values) != count:
        raise ValueError(f"the file holds {type(values).__name__}, not the {count} tensors saved")
    return values


def _held_open(path: str) -> str:
    """Where the file at ``path`` is read once its name is gone: ``/proc/self/fd/N`` on Linux,
    for a descriptor kept open (a forked child holds its own copy of it); elsewhere ``path``
    itself, left in place."""
    descriptor = os.open(path, os.O_RDONLY)
    held = f"/proc/self/fd/{descriptor}"
    try:
        if not os.path.samefile(held, path):
            raise OSError("no /proc/self/fd")
        os.remove(path)
    except OSError:  # not Linux, or no /proc; a folder whose files cannot be removed meanwhile
        os.close(descriptor)
        return path
    return held


def _remove(path: str, owner: int) -> None:
    """Removes the snapshot's file, or closes the descriptor that holds it; in ``owner``, the
    process that wrote it, only: a forked child's exit runs its copy of the finalizer too."""
    if os.getpid() != owner:
        return
    with contextlib.suppress(OSError):
        if path.startswith("/proc/self/fd/"):
            os.close(int(path.rsplit("/", 1)[1]))
        else:
            os.remove(path)


def _save_group(group: dict[str, Any], copied: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """A param group's keys (but ``params``): immutable values, and the rest (tensors, lists)."""
    plain, other = {}, {}
    for key, value in group.items():
        if key != "params":
            if type(value) in _IMMUTABLE:
                plain[key] = value
            else:
                other[key] = _save(value, copied)
    return plain, other


class _MT19937State(ctypes.Structure):
    """NumPy's MT19937 state struct (``mt19937_state``): the key and the position in it."""

    _fields_ = (("key", ctypes.c_uint32 * 624), ("pos", ctypes.c_int))


class _NumpyRng:
    """NumPy's global RNG, saved exactly, and put back only if the sweep used it.

    ``np.random.set_state`` copies the 624-word key one Python call at a time (~45 µs, a visible
    share of a small model's range test), and most sweeps never touch NumPy's RNG. So the raw
    key is also kept (a 2.5 kB copy through the bit generator's documented ``ctypes``
    interface), and the state is set back only when the key moved, or when a cached Gaussian
    could have been drawn without moving it.
    """

    def __init__(self) -> None:
        self._state = np.random.get_state(legacy=False)
        get_bit_generator = getattr(np.random, "get_bit_generator", None)  # NumPy >= 1.25
        self._address: int | None = None
        self._raw = b""
        state = self._state
        if (
            get_bit_generator is not None
            and state["bit_generator"] == "MT19937"
            and not state["has_gauss"]
        ):
            address = get_bit_generator().ctypes.state_address
            self._address, self._raw = address, ctypes.string_at(address, _MT_SIZE)

    def restore(self) -> None:
        if self._address is None or ctypes.string_at(self._address, _MT_SIZE) != self._raw:
            np.random.set_state(self._state)


_MT_SIZE = ctypes.sizeof(_MT19937State)


def _restore_attrs(obj: Any, saved: dict[str, Any]) -> None:
    # A GradScaler keeps its state in plain attributes (some created lazily, on first use), so
    # its whole __dict__ is saved: state_dict() would not tell a lazy scale from a set one.
    attrs = vars(obj)
    for key in [k for k in attrs if k not in saved]:
        del attrs[key]
    for key, value in saved.items():
        attrs[key] = _load(value, attrs.get(key, _MISSING))


def _save_param(param: Tensor, copied: bool) -> tuple[_Saved, _Saved | None]:
    grad = param.grad
    return _Saved(param, copied), None if grad is None else _Saved(grad, copied)


def _restore_param(param: Tensor, value: _Saved, grad: _Saved | None) -> None:
    """Copies the saved values into ``param`` and its gradient (under ``torch.no_grad()``)."""
    restored = _load(value, param)
    if restored is not param:  # its .data was set to a tensor of another kind
        param.data = restored
    if param.requires_grad != value.requires_grad:  # frozen or unfrozen during the sweep
        param.requires_grad_(value.requires_grad)
    param.grad = None if grad is None else _load(grad, param.grad)


def _unique_modules(roots: Iterable[nn.Module]) -> list[nn.Module]:
    seen: dict[int, nn.Module] = {}
    for root in roots:
        for module in root.modules():
            seen.setdefault(id(module), module)
    return list(seen.values())


def _unique(generators: Iterable[torch.Generator]) -> list[torch.Generator]:
    seen: dict[int, torch.Generator] = {}
    for g in generators:
        seen.setdefault(id(g), g)
    return list(seen.values())
