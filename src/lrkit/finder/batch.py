"""From a batch to a loss: ``(inputs, labels)`` pairs, dict batches, Hugging Face models, or a
user's ``step_fn``; and moving batches to the model's device.

What a batch means, in order:

1. With ``step_fn(model, batch) -> loss``, whatever it returns (the batch is on the device first).
2. A tuple or list ``(inputs, labels)``: ``criterion(model(inputs), labels)``; items after the
   first two (a sample's index or weight) are left out, as torch-lr-finder leaves them.
3. A dict with an input key (``"input"``, ``"inputs"``, ``"x"``) and a label key (``"label"``,
   ``"labels"``, ``"target"``, ``"targets"``, ``"y"``): ``criterion(model(input), label)``.
4. Any other dict (a Hugging Face batch of ``input_ids``, ``attention_mask``, ``labels``...):
   ``model(**batch)``, whose output's ``.loss`` (or ``["loss"]``) is the loss.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from lrkit.errors import ConfigError, add_note
from lrkit.stacklevel import caller_level

StepFn = Callable[[nn.Module, Any], Tensor]
Criterion = Callable[[Any, Any], Tensor]

INPUT_KEYS: tuple[str, ...] = ("input", "inputs", "x")
LABEL_KEYS: tuple[str, ...] = ("label", "labels", "target", "targets", "y")


def to_device(batch: Any, device: torch.device, non_blocking: bool = True) -> Any:
    """``batch`` with every tensor in it (through tuples, lists and dicts) on ``device``.

    Example:
        >>> b = to_device({"x": torch.ones(2), "meta": [torch.zeros(1), "id"]}, torch.device("cpu"))
        >>> sorted(b), b["meta"][1]
        (['meta', 'x'], 'id')
    """
    if isinstance(batch, Tensor):
        return batch if batch.device == device else batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, (tuple, list)):
        # The common case, every step: all there already, nothing to rebuild. `is_cpu` is a
        # much cheaper test than building and comparing a torch.device.
        cpu = device.type == "cpu"
        for item in batch:
            if not isinstance(item, Tensor) or not (item.is_cpu if cpu else item.device == device):
                break
        else:
            return batch
        moved = [to_device(item, device, non_blocking) for item in batch]
        if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # a namedtuple
            return type(batch)(*moved)
        return type(batch)(moved) if isinstance(batch, tuple) else moved
    if isinstance(batch, Mapping):
        items = {k: to_device(v, device, non_blocking) for k, v in batch.items()}
        kind: Any = type(batch)
        try:
            return kind(items)  # keeps a transformers BatchEncoding a BatchEncoding
        except Exception:
            return items
    return batch


def dict_keys(batch: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """A dict batch's input key and label key (the first of :data:`INPUT_KEYS` and of
    :data:`LABEL_KEYS` it holds; None where it holds none). With both, the criterion scores
    ``model(batch[input])``; else the model scores itself, ``model(**batch).loss``.

    Example:
        >>> dict_keys({"input": 1, "label": 2}), dict_keys({"input_ids": 1, "labels": 2})
        (('input', 'label'), (None, 'labels'))
    """
    inputs = next((k for k in INPUT_KEYS if k in batch), None)
    return inputs, next((k for k in LABEL_KEYS if k in batch), None)


def batch_loss(
    model: nn.Module,
    criterion: Criterion | None,
    step_fn: StepFn | None,
    batch: Any,
    source: str = "train_loader",
) -> Tensor:
    """The loss of one batch (see the module docstring for how a batch is read); ``source``
    names the loader it came from in errors.

    Raises:
        TypeError: The batch cannot be read, or the model returned no loss; the message says
            what to pass instead. An error of the criterion's keeps its type, with a note
            where the output or the batch was the likely cause (:func:`criterion_loss`).

    Example:
        >>> model = torch.nn.Linear(3, 2)
        >>> batch = {"input": torch.ones(4, 3), "label": torch.tensor([0, 1, 0, 1])}
        >>> batch_loss(model, torch.nn.CrossEntropyLoss(), None, batch).shape
        torch.Size([])
    """
    if step_fn is not None:
        return step_fn(model, batch)
    if isinstance(batch, (tuple, list)) and len(batch) >= 2:
        return criterion_loss(_criterion(criterion), model(batch[0]), batch[1], len(batch))
    if isinstance(batch, Mapping):
        inputs, labels = dict_keys(batch)
        if inputs is not None and labels is not None:
            return _criterion(criterion)(model(batch[inputs]), batch[labels])
        try:
            output = model(**batch)
        except TypeError as error:
            if labels is None:
                raise
            others = [k for k in batch if k != labels]
            raise TypeError(
                f"a dict batch with the label key {labels!r} and no input key "
                f"({', '.join(map(repr, INPUT_KEYS))}) is passed as model(**batch), which "
                f"failed: {error}. Name its input 'input', or pass step_fn=lambda model, batch: "
                f"criterion(model(batch[{(others or ['...'])[0]!r}]), batch[{labels!r}])."
            ) from error
        return _output_loss(output)
    got = type(batch).__name__
    if isinstance(batch, (tuple, list)):
        got = f"a {got} of {len(batch)} item{'' if len(batch) == 1 else 's'}"
    else:
        got = f"a batch of type {got}"
    raise TypeError(
        f"{source} must yield (inputs, labels) pairs or dicts, got {got}; for anything else "
        "pass step_fn=lambda model, batch: loss."
    )


def warn_if_criterion_unused(
    criterion: Criterion | None, step_fn: StepFn | None, batch: Any
) -> None:
    """Warns (at the user's line) where ``criterion`` was given but ``batch`` is one whose loss
    is the model's own (``model(**batch).loss``, a Hugging Face batch): torch-lr-finder requires
    a criterion, and one passed out of habit was ignored without a word (QA 146). Called on a
    range test's first batch, so said once a test."""
    if criterion is None or step_fn is not None or not isinstance(batch, Mapping):
        return
    if None not in dict_keys(batch):  # scored by the criterion
        return
    warnings.warn(
        "criterion is not used for a dict batch without an input key: the model is called as "
        "model(**batch), and the loss is its output's .loss (a Hugging Face model's, given "
        "'labels'). Pass criterion=None to say so, or step_fn=lambda model, batch: "
        "criterion(...) to use it.",
        UserWarning,
        stacklevel=caller_level(),
    )


def criterion_loss(criterion: Criterion, output: Any, labels: Any, items: int = 2) -> Tensor:
    """``criterion(output, labels)``. Where it fails on a model output that is not a tensor (an
    RNN's ``(output, hidden)``, a dict of heads), or on a batch of more than two ``items``, the
    error keeps its type and gains a note (Python 3.11+) that says how the batch was read and
    what to pass.

    Example:
        >>> try:
        ...     criterion_loss(torch.nn.MSELoss(), (torch.zeros(2), torch.zeros(1)), torch.ones(2))
        ... except AttributeError as error:
        ...     print(error.__notes__[0][:60])
        The model's output, a tuple of 2 items (a tensor of shape (2
    """
    try:
        return criterion(output, labels)
    except Exception as error:
        if isinstance(error, (MemoryError, torch.OutOfMemoryError)):
            raise
        if not isinstance(output, Tensor) and isinstance(error, (TypeError, AttributeError)):
            pick = _prediction_in(output)
            add_note(
                error,
                f"The model's output, {_described(output)}, went to the criterion as it is: "
                f"pass a criterion that picks the prediction (criterion=lambda output, labels: "
                f"loss({pick}, labels)) or step_fn=lambda model, batch: loss.",
            )
        if items > 2:
            add_note(
                error,
                f"The batch has {items} items: the first was read as the inputs and the second "
                "as the labels, the rest left out. For a model of several inputs, pass "
                "step_fn=lambda model, batch: criterion(model(*batch[:-1]), batch[-1]); or "
                "yield (inputs, labels) pairs.",
            )
        raise


def batch_size(batch: Any) -> int:
    """How many samples a batch holds, to weigh its validation loss: the first dimension of its
    labels (1 for a single sample's); of its inputs where the labels are no tensor; else of a
    list of tensors that share it (one per head or input); else the length of a list (one
    target per sample: a ``collate_fn`` for detection, as torch-lr-finder counts them); at
    least 1.

    Example:
        >>> x = torch.zeros(8, 3)
        >>> batch_size((x, torch.zeros(8))), batch_size({"ids": torch.zeros(2, 7)})
        (8, 2)
        >>> batch_size(([torch.zeros(3, 4)] * 3, [{"boxes": torch.zeros(1, 4)}] * 3))
        3
        >>> batch_size(([x, x], [torch.zeros(8), torch.zeros(8)]))  # two inputs, two heads
        8
        >>> batch_size((torch.zeros(4), torch.tensor(3)))  # one sample (batch_size=None)
        1
    """
    if isinstance(batch, (tuple, list)) and batch:
        parts = (batch[-1], batch[0]) if len(batch) == 2 else (batch[0],)
    elif isinstance(batch, Mapping):
        label = dict_keys(batch)[1]
        labels = () if label is None else (batch[label],)
        parts = (*labels, *(v for v in batch.values() if isinstance(v, Tensor)))
    else:
        parts = (batch,)
    for part in parts:  # a tensor says it: the labels', else the inputs'
        if isinstance(part, Tensor):
            return int(part.shape[0]) if part.dim() else 1
    for part in parts:  # lists
        if isinstance(part, (list, tuple)) and part:
            firsts = {int(t.shape[0]) if isinstance(t, Tensor) and t.dim() else -1 for t in part}
            return firsts.pop() if len(firsts) == 1 and -1 not in firsts else len(part)
    return 1


def check_loss(loss: object, source: str) -> Tensor:
    """The loss if it is a one-element tensor that carries a gradient, else a clear TypeError."""
    if not isinstance(loss, Tensor) or loss.numel() != 1:
        shape = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
        raise TypeError(f"{source} must return a scalar loss tensor, got {shape}.")
    if not loss.requires_grad:
        raise TypeError(
            f"{source} must return a loss that depends on the model's parameters (requires_grad), "
            "got one without a gradient: was it computed under torch.no_grad() or detached?"
        )
    return loss


def _criterion(criterion: Criterion | None) -> Criterion:
    if criterion is None:
        raise ConfigError(
            "criterion must be given for (inputs, labels) batches, got None; pass a loss such as "
            "torch.nn.CrossEntropyLoss(), or step_fn=lambda model, batch: loss."
        )
    return criterion


def _output_loss(output: Any) -> Tensor:
    """The loss a ``model(**batch)`` returned: its ``.loss`` or ``"loss"``, or, for a tuple (a
    Hugging Face model with ``return_dict=False``), its first item, as Hugging Face's Trainer
    reads it."""
    loss = getattr(output, "loss", None)
    if loss is None and isinstance(output, Mapping):
        loss = output.get("loss")
    if loss is None and isinstance(output, (tuple, list)):
        first = output[0] if output else None
        if isinstance(first, Tensor) and first.ndim == 0:  # a loss; (1, 1) logits are not
            return first
        raise TypeError(
            "a dict batch without 'input' and 'label' keys is passed as model(**batch), whose "
            f"output must carry the loss; got a {type(output).__name__} whose first item is "
            f"not a scalar loss ({_described(first)}). A Hugging Face model returns the loss "
            "first when the batch has 'labels'; else pass step_fn=lambda model, batch: loss."
        )
    if loss is None:
        raise TypeError(
            "a dict batch without 'input' and 'label' keys is passed as model(**batch), whose "
            f"output must carry a .loss (Hugging Face models do when the batch has 'labels'), got "
            f"{type(output).__name__} without one; add 'labels' to the batch or pass step_fn."
        )
    return loss


PREDICTION_KEYS = ("logits", "prediction", "predictions", "output", "scores", "out")
"""Where a model that returns a dict or a dataclass usually keeps its prediction."""


def _prediction_in(output: Any) -> str:
    """How a criterion would pick the prediction from ``output``: ``output['logits']``,
    ``output.logits``, ``output[0]``.

    Example:
        >>> _prediction_in({"aux": 1, "logits": 2}), _prediction_in((1, 2))
        ("output['logits']", 'output[0]')
    """
    if isinstance(output, Mapping) and output:
        key = next((k for k in PREDICTION_KEYS if k in output), next(iter(output)))
        return f"output[{key!r}]"
    if isinstance(output, (tuple, list)):
        return "output[0]"
    if dataclasses.is_dataclass(output):
        names = [f.name for f in dataclasses.fields(output)]
    else:  # an object of attributes (a Hugging Face ModelOutput is a mapping, above)
        names = [n for n in getattr(output, "__dict__", {}) if not n.startswith("_")]
    if names:
        return f"output.{next((n for n in PREDICTION_KEYS if n in names), names[0])}"
    return "output[0]"


def _described(item: Any, depth: int = 0) -> str:
    """``a tensor of shape (8, 2)``, ``nothing``, a tuple or dict with what it holds, or the
    item's type."""
    if isinstance(item, Tensor):
        return f"a tensor of shape {tuple(item.shape)}"
    if isinstance(item, (tuple, list)) and depth == 0:
        inside = ", ".join(_described(i, 1) for i in item[:4]) + (", ..." if len(item) > 4 else "")
        return (
            f"a {type(item).__name__} of {len(item)} item{'' if len(item) == 1 else 's'} ({inside})"
        )
    if isinstance(item, Mapping) and depth == 0:
        keys = ", ".join(map(repr, list(item)[:6])) + (", ..." if len(item) > 6 else "")
        return f"a {type(item).__name__} with keys {keys}"
    return "nothing" if item is None else type(item).__name__
