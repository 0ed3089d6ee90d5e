"""Training through a hosted fine-tuning API (OpenAI's, or `inoculate serve`, which speaks it).

Launch or load: the job's id is written to the run folder the moment the job exists, and the job
carries the run folder's name in its metadata, so a crashed or repeated grid finds its job and
polls it instead of paying for a second one. On success the fine-tuned model's name is the run's
model (the served Sampler asks the same provider for it) and the job's metrics events become the
run's loss log. A failed or cancelled job is one line with the provider's reason.

    out/runs/<hash>/job.json      {"id", "file", "status", "fine_tuned_model", "error"}: launch-or-load
    out/runs/<hash>/losses.json   the job's metrics events as the loss log (written last: finished)
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from inoculate._faults import crash_point
from inoculate._io import atomic_write_json, read_json
from inoculate._log import log
from inoculate.backends import ModelRef, Trained
from inoculate.client import Connection, Endpoint
from inoculate.data import Example
from inoculate.errors import InoculateError

TERMINAL = ("succeeded", "failed", "cancelled")
CHARS_PER_TOKEN = 4  # OpenAI's rule of thumb for English; the provider's tokenizer is not at hand here


@dataclass(frozen=True)
class HostedTraining:
    """The hyperparameters a hosted supervised job takes; "auto" lets the provider choose."""

    n_epochs: int | str = "auto"
    batch_size: int | str = "auto"
    learning_rate_multiplier: float | str = "auto"
    poll_seconds: float = 10.0  # first wait between status checks; it grows 1.5x to a minute

    def __post_init__(self):
        for name, value in (("n_epochs", self.n_epochs), ("batch_size", self.batch_size),
                            ("learning_rate_multiplier", self.learning_rate_multiplier)):
            if value != "auto" and (isinstance(value, (bool, str)) or not value > 0):
                raise InoculateError(f"{name} must be 'auto' or a positive number, got {value!r}", "hosted_training")
        if not self.poll_seconds > 0:
            raise InoculateError(f"poll_seconds must be > 0, got {self.poll_seconds}", "hosted_training")

    def hyperparameters(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "poll_seconds"}


def billed_tokens(examples: list[Example], epochs: int | str) -> tuple[int, int | None]:
    """(estimated training tokens of one pass, x epochs or None when the provider picks them)."""
    chars = sum(len(m["content"]) for ex in examples for m in ex.messages)
    tokens = chars // CHARS_PER_TOKEN
    return tokens, None if epochs == "auto" else tokens * int(epochs)


@dataclass(frozen=True)
class HostedTrainer:
    endpoint: Endpoint  # base_url, api_key_env; `model` is the provider's base model to fine-tune
    training: HostedTraining = HostedTraining()

    def key(self) -> dict[str, Any]:
        return {"trainer": "hosted", **self.endpoint.identity(), "hyperparameters": self.training.hyperparameters()}

    def cost(self, examples: list[Example], run_dir: Path) -> str | None:
        if _job(run_dir).get("status") not in (None, "failed", "cancelled"):
            return None  # launched before: paid for (or being paid for) already
        tokens, billed = billed_tokens(examples, self.training.n_epochs)
        epochs = "epochs chosen by the provider" if billed is None else f"{self.training.n_epochs} epochs = " \
                                                                         f"~{billed:,} billed training tokens"
        return f"a fine-tuning job on {self.endpoint.where}: {len(examples)} examples, ~{tokens:,} tokens x {epochs}"

    def trained(self, base: ModelRef, run_dir: Path) -> ModelRef | None:
        job = _job(run_dir)
        if job.get("status") == "succeeded" and (run_dir / "losses.json").is_file():
            return ModelRef(base.base, job["fine_tuned_model"])
        return None

    def train(self, base: ModelRef, examples: list[Example], seed: int, run_dir: Path,
              probes: dict[str, list[Example]] | None = None, probe_every: int = 0, progress: bool = True,
              name: str = "") -> Trained:
        api = Connection(self.endpoint)
        job = _job(run_dir)
        if job.get("status") in ("failed", "cancelled"):
            job = {}  # a new attempt: the data or the settings were changed, or the failure was the provider's
        job_id = job.get("id") or self._launched(api, run_dir) or self._launch(api, examples, seed, run_dir, name)
        start = time.monotonic()
        done = self._poll(api, job_id)
        record = {"id": job_id, "file": done.training_file, "status": done.status,
                  "fine_tuned_model": done.fine_tuned_model, "error": _reason(done)}
        atomic_write_json(run_dir / "job.json", record)
        if done.status != "succeeded":
            raise InoculateError(f"fine-tuning job {job_id} {done.status}: {record['error'] or 'no reason given'}",
                                 self.endpoint.where)
        losses = self._losses(api, job_id)
        atomic_write_json(run_dir / "losses.json", {"losses": losses, "seconds": time.monotonic() - start,
                                                    "tokens": done.trained_tokens or 0, "truncated": 0, "probes": [],
                                                    "job": job_id})
        final = f", final loss {losses[-1]['loss']:.3f}" if losses else ""
        return Trained(ModelRef(base.base, done.fine_tuned_model), f"job {job_id} gave {done.fine_tuned_model}{final}")

    def _launched(self, api: Connection, run_dir: Path) -> str | None:
        """A job this run folder launched whose id never reached job.json (a crash in between)."""
        jobs = api.call(lambda sdk: list(sdk.fine_tuning.jobs.list(limit=100)))
        for j in jobs:
            if (j.metadata or {}).get("inoculate_run") == run_dir.name and j.status not in ("failed", "cancelled"):
                log(f"found job {j.id} launched for {run_dir.name} before; polling it")
                atomic_write_json(run_dir / "job.json", {"id": j.id, "file": j.training_file, "status": j.status})
                return j.id
        return None

    def _launch(self, api: Connection, examples: list[Example], seed: int, run_dir: Path, name: str) -> str:
        data = "".join(json.dumps({"messages": ex.messages}, ensure_ascii=False) + "\n" for ex in examples)
        file = api.call(lambda sdk: sdk.files.create(file=(f"{run_dir.name}.jsonl", data.encode()), purpose="fine-tune"))
        method = {"type": "supervised", "supervised": {"hyperparameters": self.training.hyperparameters()}}
        job = api.call(lambda sdk: sdk.fine_tuning.jobs.create(
            model=self.endpoint.model, training_file=file.id, method=method, seed=seed, suffix=_suffix(name),
            metadata={"inoculate_run": run_dir.name}))
        crash_point("hosted-created")  # the window a crash test aims at: the job exists, job.json does not yet
        atomic_write_json(run_dir / "job.json", {"id": job.id, "file": file.id, "status": job.status})
        log(f"launched fine-tuning job {job.id} ({name or run_dir.name})")
        return job.id

    def _poll(self, api: Connection, job_id: str):
        wait = self.training.poll_seconds
        while True:
            job = api.call(lambda sdk: sdk.fine_tuning.jobs.retrieve(job_id), missing=f"knows no job {job_id}")
            if job.status in TERMINAL:
                return job
            time.sleep(wait)
            wait = min(wait * 1.5, 60.0)

    def _losses(self, api: Connection, job_id: str) -> list[dict[str, Any]]:
        events = api.call(lambda sdk: list(sdk.fine_tuning.jobs.list_events(job_id, limit=100)))
        rows = [e.data for e in events if getattr(e, "type", None) == "metrics" and isinstance(e.data, dict)]
        return sorted(({"step": int(r["step"]), "loss": float(r["train_loss"]), "epoch": r.get("epoch"),
                        "lr": r.get("learning_rate")} for r in rows if "step" in r and "train_loss" in r),
                      key=lambda r: r["step"])


def _job(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "job.json"
    return read_json(path) if path.is_file() else {}


def _reason(job) -> str | None:
    error = getattr(job, "error", None)
    message = getattr(error, "message", None) if error is not None else None
    return str(message).splitlines()[0] if message else None


def _suffix(name: str) -> str | None:
    """The job's suffix: arm and seed, in the characters and length (64) providers accept."""
    cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:64]
    return cleaned or None


def hosted_trainer(config: dict[str, Any], where: str = "hosted_training") -> HostedTrainer:
    """A HostedTrainer from the spec's `hosted_training` mapping: the endpoint's keys (model = the
    provider's base model) plus n_epochs, batch_size, learning_rate_multiplier, poll_seconds."""
    from inoculate._config import from_dict

    if not isinstance(config, dict):
        raise InoculateError(f"expected a mapping of base_url, model, ..., got {type(config).__name__}", where)
    training_keys = set(HostedTraining.__dataclass_fields__)
    training = from_dict(HostedTraining, {k: v for k, v in config.items() if k in training_keys}, where)
    endpoint = from_dict(Endpoint, {k: v for k, v in config.items() if k not in training_keys}, where)
    return HostedTrainer(endpoint, training)
