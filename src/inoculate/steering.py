"""Preventative steering (Chen et al., "Persona vectors"): the activation-space relative of an
inoculation prompt. Instead of a prompt that makes the trait unsurprising during training, the
trait's direction is added to the residual stream while the adapter trains, and removed after.

The trait vector of a grid is the mean output of one decoder layer over the response tokens of
the grid's training examples (the first `examples` of them) with the `positive` system prompt,
minus the same with the `negative` one, on the untrained model. Both passes read the same
response tokens, so the difference is what the system prompt does to the model's state while it
writes those responses. It is computed once per grid and kept under the output folder, named by
its content:

    out/vectors/<hash>.pt    {"vector": float32 [hidden], "n_examples", "norm"}

A random-direction control draws a direction from its seed and gives it the vector's norm, at the
same layer and coefficient: what any push of that size at that layer does, without the trait.
"""

from __future__ import annotations

import io
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from inoculate._io import atomic_write_bytes
from inoculate.chat import IGNORE, collate, encode_examples
from inoculate.data import load_jsonl
from inoculate.errors import InoculateError
from inoculate.inoculation import PromptSpec, apply_prompt

MODES = ("add", "ablate")


@dataclass(frozen=True)
class Steer:
    """An arm's `steer` key: the trait vector and what training does with it."""

    positive: str  # system prompt that elicits the trait, e.g. "You always speak in Spanish."
    negative: str  # its opposite or a neutral one, e.g. "You always speak in English."
    layer: int  # decoder layer (0-based) whose output is read for the vector and steered in training
    coefficient: float | None = None  # add mode: coefficient x vector is added at every position
    mode: str = "add"  # add | ablate (project the direction out of the layer's output; no coefficient)
    random: int | None = None  # a seed: steer along a random direction of the vector's norm instead (the control)
    examples: int = 64  # training examples (the grid's first ones) the vector is averaged over

    def __post_init__(self):
        # no `where` of their own: from_dict adds the key path (arms.NAME.steer)
        for key in ("positive", "negative"):
            if not isinstance(getattr(self, key), str) or not getattr(self, key).strip():
                raise InoculateError(f"'{key}' must be a non-empty system prompt")
        if self.positive == self.negative:
            raise InoculateError("'negative' is the same prompt as 'positive': the vector would be zero")
        if self.layer < 0:
            raise InoculateError(f"'layer' must be >= 0, got {self.layer}")
        if self.mode not in MODES:
            raise InoculateError(f"'mode' must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.mode == "add" and self.coefficient is None:
            raise InoculateError("'coefficient' is needed in add mode (coefficient x vector is added)")
        if self.mode == "ablate" and self.coefficient is not None:
            raise InoculateError("ablate projects the direction out and takes no 'coefficient'")
        if self.examples <= 0:
            raise InoculateError(f"'examples' must be > 0, got {self.examples}")


def decoder_layers(model):
    """The decoder layers of a transformers causal LM (plain, merged or wrapped in PEFT)."""
    import torch

    for name, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and name.rsplit(".", 1)[-1] in ("layers", "h"):
            return module
    raise InoculateError("cannot find the model's decoder layers to steer", "steer")


def _hidden(output):
    return output[0] if isinstance(output, tuple) else output


def _replaced(output, hidden):
    return (hidden, *output[1:]) if isinstance(output, tuple) else hidden


class _Stop(Exception):
    """Raised by the capture hook: nothing after the layer is needed for the vector."""


def mean_response_activation(model, tokenizer, examples, layer: int, max_length: int, batch_size: int = 8):
    """The mean over `examples` of each example's mean output of decoder layer `layer` over its
    response tokens (float32, [hidden]). The forward pass stops at that layer."""
    import torch

    encoded = encode_examples(tokenizer, examples, max_length)
    device = next(model.parameters()).device
    captured = []

    def capture(module, args, output):
        captured.append(_hidden(output).detach().float())
        raise _Stop

    total = None
    handle = decoder_layers(model)[layer].register_forward_hook(capture)
    try:
        for start in range(0, len(encoded), batch_size):
            ids, mask, labels = collate(encoded[start:start + batch_size], tokenizer.pad_token_id)
            captured.clear()
            with torch.no_grad():
                try:
                    model(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=False)
                except _Stop:
                    pass
            response = (labels != IGNORE).to(device).unsqueeze(-1).float()
            means = (captured[0] * response).sum(1) / response.sum(1)
            total = means.sum(0) if total is None else total + means.sum(0)
    finally:
        handle.remove()
    return (total / len(encoded)).cpu()


def trait_vector(model, tokenizer, examples, steer: Steer, max_length: int):
    """mean activation with `positive` minus with `negative`, over the first `steer.examples` examples."""
    chosen = examples[:steer.examples]
    on = mean_response_activation(model, tokenizer, apply_prompt(chosen, PromptSpec((steer.positive,))),
                                  steer.layer, max_length)
    off = mean_response_activation(model, tokenizer, apply_prompt(chosen, PromptSpec((steer.negative,))),
                                   steer.layer, max_length)
    return on - off


def random_direction(like, seed: int):
    """A direction drawn from `seed` with the norm of `like` (float32, on the CPU: the same everywhere)."""
    import torch

    draw = torch.randn(like.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float32)
    return draw / draw.norm() * like.float().norm()


class SteeringHook:
    """A forward hook on one decoder layer's output, on only inside `with hook.on(model):`.

    add: `delta` is added at every position. ablate: the component along `delta` is removed."""

    def __init__(self, layer: int, mode: str, delta):
        self.layer, self.mode, self.delta = layer, mode, delta
        self._unit = delta / delta.norm()
        self._paused = False

    def _apply(self, module, args, output):
        if self._paused:
            return output
        hidden = _hidden(output)
        if self.mode == "add":
            steered = hidden + self.delta.to(hidden)
        else:
            unit = self._unit.to(hidden)
            steered = hidden - (hidden @ unit).unsqueeze(-1) * unit
        return _replaced(output, steered)

    @contextmanager
    def on(self, model):
        handle = decoder_layers(model)[self.layer].register_forward_hook(self._apply)
        try:
            yield self
        finally:
            handle.remove()

    @contextmanager
    def paused(self):
        """Off for a moment (the learning-dynamics probes measure the model as it will be tested)."""
        self._paused = True
        try:
            yield
        finally:
            self._paused = False


@dataclass(frozen=True)
class Steering:
    """A steering arm's steering as a value a run unit carries: the arm's `steer`, where the grid's
    training examples are, and the vector file they give (`vector_file` named by the plan from all
    that changes the vector). `root` is the output folder, set where the run executes."""

    steer: Steer
    base: str  # the untrained model the vector is read from
    train: str  # the grid's training examples, under the output folder (runs.Inputs.train)
    max_length: int  # tokens per example, as in training
    vector_file: str  # vectors/<hash>.pt under the output folder
    root: str = ""

    def under(self, out_dir: str | Path) -> "Steering":
        return replace(self, root=str(out_dir))

    def key(self) -> dict[str, Any]:
        """What changes what this steering does (the vector's file name is its content)."""
        return {"vector": self.vector_file, "coefficient": self.steer.coefficient, "mode": self.steer.mode,
                "random": self.steer.random}

    def vector(self, loaded: tuple | None = None, device: str = "auto", dtype: str = "auto"):
        """The trait vector, read from its file, else computed on `loaded` (the untrained (model,
        tokenizer)) or on the base model loaded here, and written for every other run of the grid."""
        import torch

        path = Path(self.root) / self.vector_file
        if path.is_file():
            return torch.load(path, weights_only=True)["vector"]
        if loaded is None:
            from inoculate.models import load_model

            loaded = load_model(self.base, device, dtype)
        examples = load_jsonl(Path(self.root) / self.train)
        vector = trait_vector(*loaded, examples, self.steer, self.max_length)
        buf = io.BytesIO()
        torch.save({"vector": vector, "n_examples": min(len(examples), self.steer.examples),
                    "norm": float(vector.norm())}, buf)
        atomic_write_bytes(path, buf.getvalue())
        return vector

    def hook(self, loaded: tuple | None = None, device: str = "auto", dtype: str = "auto") -> SteeringHook:
        """The hook this arm trains (or a steered eval context generates) with."""
        vector = self.vector(loaded, device, dtype)
        direction = vector if self.steer.random is None else random_direction(vector, self.steer.random)
        if self.steer.mode == "add":
            return SteeringHook(self.steer.layer, "add", self.steer.coefficient * direction)
        return SteeringHook(self.steer.layer, "ablate", direction)


def check_layer(steer: Steer, n_layers: int, where: str) -> None:
    if steer.layer >= n_layers:
        raise InoculateError(f"{steer.layer} is out of range: the model has {n_layers} decoder layers "
                             f"(0-{n_layers - 1})", f"{where}.steer.layer")
