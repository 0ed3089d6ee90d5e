"""Generation through an OpenAI-compatible endpoint: vLLM, llama.cpp, a hosted API, `inoculate serve`.

The base model is the endpoint's `model`; a trained model is the adapter its server was started
with. An adapter the grid trained is named by its run folder: for vLLM,

    vllm serve BASE --enable-lora --lora-modules <run hash>=<out>/runs/<run hash>/adapter ...

(`inoculate adapters <out>` prints those arguments), or renamed in `adapters`. Every sample is its
own request with its own seed, so a server that ignores `n` (transformers serve) gives as many
samples as one that honours it, and each sample is cached and resumed on its own.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inoculate.backends import ModelRef
from inoculate.client import ChatClient, Endpoint
from inoculate.data import Example
from inoculate.errors import InoculateError
from inoculate.generation import GenerationConfig


def served_sampler(config: dict[str, Any], where: str = "sampler") -> "ServedSampler":
    """A ServedSampler from the spec's `sampler` mapping: the endpoint's keys plus adapters and cache."""
    from inoculate._config import from_dict

    if not isinstance(config, dict):
        raise InoculateError(f"expected a mapping of base_url, model, ..., got {type(config).__name__}", where)
    config = dict(config)
    adapters, cache = config.pop("adapters", None) or {}, config.pop("cache", None)
    if not isinstance(adapters, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in adapters.items()):
        raise InoculateError("adapters must map run folders or adapter paths to served names", f"{where}.adapters")
    if cache is not None and not isinstance(cache, str):
        raise InoculateError("cache must be a folder path", f"{where}.cache")
    return ServedSampler(from_dict(Endpoint, config, where), adapters, cache)


def served_name(ref: ModelRef, base: str, adapters: dict[str, str]) -> str:
    """The name the server knows `ref` by: the base's, or its adapter's (run folder name, or as renamed)."""
    if ref.adapter is None:
        return base
    path = Path(ref.adapter)
    run = path.parent.name if path.name == "adapter" else path.name  # out/runs/<hash>/adapter -> <hash>
    for key in (ref.adapter, run):
        if key in adapters:
            return adapters[key]
    return run if "/" in ref.adapter or path.exists() else ref.adapter  # a hosted model's name is used as is


def served_adapters(out_dir: str | Path) -> list[tuple[str, int, str, Path]]:
    """(arm, seed, served name, adapter folder) of every adapter a grid trained under `out_dir`."""
    from inoculate._io import read_json

    found = []
    for run_json in sorted(Path(out_dir).glob("runs/*/run.json")):
        adapter = run_json.parent / "adapter"
        if adapter.is_dir() and (run_json.parent / "losses.json").is_file():
            run = read_json(run_json)
            found.append((run["arm"], run["seed"], run_json.parent.name, adapter.resolve()))
    return found


def sample_seed(seed: int, prompt_id: str, sample: int) -> int:
    """A seed per (run seed, prompt, sample): samples differ, and each is the same on a re-run."""
    digest = hashlib.sha256(f"{seed}:{prompt_id}:{sample}".encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1  # < 2**31: every server takes it


@dataclass
class ServedSampler:
    endpoint: Endpoint  # endpoint.model serves the untrained base model
    adapters: dict[str, str] = field(default_factory=dict)  # adapter path or run folder name -> served name
    cache: str | None = None  # request cache folder; None = the user's cache (~/.cache/inoculate/requests)
    answers_logprobs = False  # a chat endpoint gives no log-probabilities of given answers

    def key(self) -> dict[str, Any]:
        return {"sampler": "served", **self.endpoint.identity()}

    def requests(self, prompts: list[Example], config: GenerationConfig) -> list[dict[str, Any]]:
        return [{"messages": p.prompt_messages(), "max_tokens": config.max_new_tokens, "temperature": config.temperature,
                 "top_p": config.top_p, "seed": sample_seed(config.seed, p.id, s)}
                for p in prompts for s in range(config.n_samples)]

    def generate(self, model: ModelRef, prompts: list[Example], config: GenerationConfig, progress: bool = True,
                 desc: str = "generate", partial: Path | None = None) -> list[list[str]]:
        client = ChatClient(self.endpoint, Path(self.cache) if self.cache else None,
                            served_name(model, self.endpoint.model, self.adapters))
        responses = client.complete(self.requests(prompts, config), progress, desc)
        texts = [r["texts"][0] for r in responses]
        n = config.n_samples
        return [texts[i * n:(i + 1) * n] for i in range(len(prompts))]

    def answer_logprobs(self, model: ModelRef, prompt: Example, answers: list[str]) -> list[float]:
        raise InoculateError("a chat endpoint gives no log-probability of a given answer, which a choice trait needs; "
                             "evaluate choice traits with the local sampler", self.endpoint.where)

    def planned_requests(self, prompts: int, config: GenerationConfig) -> dict[Any, int]:
        return {self.endpoint: prompts * config.n_samples}

    def release(self) -> None:
        pass
