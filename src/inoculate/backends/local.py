"""Training and generation in this process: LoRA with our own loop (training.py) and batched
sampling (generation.py) on the CPU or a local GPU."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from inoculate.backends import ModelRef, Trained
from inoculate.data import Example
from inoculate.errors import InoculateError
from inoculate.generation import GenerationConfig, generate
from inoculate.logprobs import answer_logprobs
from inoculate.models import context_limit, load_adapter, load_model
from inoculate.steering import Steering
from inoculate.training import TrainConfig, train_lora

RESUME_ONLY = ("checkpoint_every",)  # TrainConfig fields that change how a run resumes, not what it learns


@dataclass(frozen=True)
class LocalTrainer:
    config: TrainConfig = TrainConfig()
    device: str = "auto"  # auto | cpu | cuda[:N]: where it trains, not part of the key
    dtype: str = "auto"  # auto (fp32 on CPU, bf16 on GPU) | float32 | bfloat16 | float16
    steers = True  # trains steering arms (a forward hook in this process)

    def key(self) -> dict[str, Any]:
        config = {k: v for k, v in asdict(self.config).items() if k not in RESUME_ONLY}
        return {"trainer": "local-lora", "config": config, "dtype": self.dtype}

    def trained(self, base: ModelRef, run_dir: Path) -> ModelRef | None:
        # losses.json is written after the adapter: its presence marks the run finished
        return ModelRef(base.base, str(run_dir / "adapter")) if (run_dir / "losses.json").is_file() else None

    def cost(self, examples: list[Example], run_dir: Path) -> str | None:
        return None  # this machine's time only

    def train(self, base: ModelRef, examples: list[Example], seed: int, run_dir: Path,
              probes: dict[str, list[Example]] | None = None, probe_every: int = 0, progress: bool = True,
              name: str = "", steering: Steering | None = None) -> Trained:
        if base.adapter is not None:
            raise InoculateError("training on top of an adapter is not supported; merge it into a checkpoint first",
                                 base.adapter)
        model, tokenizer = load_model(base.base, self.device, self.dtype)
        # the vector is read from the untrained model: before the adapter exists
        hook = steering.hook((model, tokenizer)) if steering is not None else None
        _, result = train_lora(model, tokenizer, examples, self.config, seed, run_dir, progress, probes, probe_every,
                               steering=hook)
        return Trained(ModelRef(base.base, str(run_dir / "adapter")),
                       f"trained in {result.seconds:.0f}s ({result.tokens_per_second:.0f} tokens/s, "
                       f"final loss {result.losses[-1]['loss']:.3f})")


@dataclass
class LocalSampler:
    """Generates with the model loaded here, keeping the last one loaded (a run's eval contexts
    share it). Pickles without it, so it can be sent to another process."""

    device: str = "auto"
    dtype: str = "auto"
    answers_logprobs = True  # scores given answers (choice traits)
    _held: tuple | None = field(default=None, init=False, repr=False, compare=False)

    def key(self) -> dict[str, Any]:
        return {"sampler": "local", "dtype": self.dtype}

    def hold(self, model, tokenizer) -> ModelRef:
        """Use a model already in memory; returns the reference to pass to generate."""
        ref = ModelRef(f"in-memory:{id(model)}")
        self._held = (ref, model, tokenizer)
        return ref

    def generate(self, model: ModelRef, prompts: list[Example], config: GenerationConfig, progress: bool = True,
                 desc: str = "generate", partial: Path | None = None) -> list[list[str]]:
        loaded, tokenizer = self._load(model)
        return generate(loaded, tokenizer, prompts, config, progress, desc, partial)

    def answer_logprobs(self, model: ModelRef, prompt: Example, answers: list[str]) -> list[float]:
        loaded, tokenizer = self._load(model)
        return answer_logprobs(loaded, tokenizer, prompt, answers, context_limit(loaded, tokenizer))

    def planned_requests(self, prompts: int, config: GenerationConfig) -> dict[Any, int]:
        return {}

    def release(self) -> None:
        self._held = None

    def steered(self, steering: Steering) -> "SteeredSampler":
        """This sampler with `steering` on while it generates: the steering-at-test-time eval context."""
        return SteeredSampler(self, steering)

    def _load(self, ref: ModelRef):
        if self._held is None or self._held[0] != ref:
            self._held = None  # let the previous model go before loading the next
            model, tokenizer = load_model(ref.base, self.device, self.dtype)
            self._held = (ref, load_adapter(model, ref.adapter) if ref.adapter else model, tokenizer)
        return self._held[1], self._held[2]

    def __getstate__(self):
        return {**self.__dict__, "_held": None}


@dataclass
class SteeredSampler:
    """The local sampler with a steering hook on the held model during each call and off after it;
    the model is the parent's, so a run's contexts still share one load. generation.py is untouched:
    the hook sits on the model it is given."""

    parent: LocalSampler
    steering: Steering
    answers_logprobs = True

    def key(self) -> dict[str, Any]:
        return {**self.parent.key(), "steering": self.steering.key()}

    def generate(self, model: ModelRef, prompts: list[Example], config: GenerationConfig, progress: bool = True,
                 desc: str = "generate", partial: Path | None = None) -> list[list[str]]:
        loaded, tokenizer = self.parent._load(model)
        with self._hook().on(loaded):
            return generate(loaded, tokenizer, prompts, config, progress, desc, partial)

    def answer_logprobs(self, model: ModelRef, prompt: Example, answers: list[str]) -> list[float]:
        loaded, tokenizer = self.parent._load(model)
        with self._hook().on(loaded):
            return answer_logprobs(loaded, tokenizer, prompt, answers, context_limit(loaded, tokenizer))

    def planned_requests(self, prompts: int, config: GenerationConfig) -> dict[Any, int]:
        return {}

    def release(self) -> None:
        self.parent.release()

    def _hook(self):
        return self.steering.hook(device=self.parent.device, dtype=self.parent.dtype)
