"""Where a run trains and where it generates: the Trainer and Sampler seams.

The runner talks to these two interfaces only and never asks which implementation it has.
`local.py` implements both in this process with transformers and PEFT; a served model (an
OpenAI-compatible endpoint) or a hosted fine-tuning API goes beside it as one more file. Models
cross the seams as values (`ModelRef`), so a run unit can travel to another process or machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from inoculate.data import Example
from inoculate.generation import GenerationConfig


@dataclass(frozen=True)
class ModelRef:
    """A model as a value: the base (embedded name, hub id or local checkpoint) and, once trained,
    the adapter that makes it the trained model."""

    base: str
    adapter: str | None = None


@dataclass(frozen=True)
class Trained:
    model: ModelRef
    summary: str  # one line for the log: how long it took, how fast, the final loss


class Trainer(Protocol):
    """Fine-tunes a base model on chat examples, launch-or-load: a finished run is found, never redone."""

    def key(self) -> dict[str, Any]:
        """Everything about this trainer that changes the trained model (kind, hyperparameters,
        precision), for content keys; never where it runs."""

    def trained(self, base: ModelRef, run_dir: Path) -> ModelRef | None:
        """The model this trainer finished in `run_dir` before, or None."""

    def cost(self, examples: list[Example], run_dir: Path) -> str | None:
        """What training on `examples` in `run_dir` would spend, in one line (tokens x epochs of a paid
        job), or None when it spends nothing or was launched before. Paid work waits for a yes."""

    def train(self, base: ModelRef, examples: list[Example], seed: int, run_dir: Path,
              probes: dict[str, list[Example]], probe_every: int, progress: bool, name: str = "") -> Trained:
        """Train and record the result under `run_dir` (resuming what a killed run left there).
        `name` (arm and seed) is for the provider's records, e.g. a hosted job's suffix."""


class Sampler(Protocol):
    """Generates from a model, and scores fixed answers by their log-probability (where
    `answers_logprobs` is true: a chat endpoint cannot)."""

    answers_logprobs: bool

    def key(self) -> dict[str, Any]:
        """Everything about this sampler that changes what it generates, for content keys."""

    def generate(self, model: ModelRef, prompts: list[Example], config: GenerationConfig, progress: bool = True,
                 desc: str = "generate", partial: Path | None = None) -> list[list[str]]:
        """`config.n_samples` completions per prompt, in input order; with `partial`, a killed call
        resumes where it stopped and gives the same texts."""

    def answer_logprobs(self, model: ModelRef, prompt: Example, answers: list[str]) -> list[float]:
        """log P(answer) of each answer as the whole assistant response to `prompt`."""

    def planned_requests(self, prompts: int, config: GenerationConfig) -> dict[Any, int]:
        """Requests generating `config.n_samples` per prompt sends, by endpoint (client.Endpoint);
        {} where generation costs no request."""

    def release(self) -> None:
        """Let go of any model held in memory (a run unit is done; the next one may train)."""
