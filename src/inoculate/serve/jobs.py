"""OpenAI's fine-tuning jobs for `inoculate serve`: the create request and its checks, how its
hyperparameters become a TrainConfig, and the job records and events kept under the state folder.

state/jobs/<job id>/job.json holds the job object with what the server needs to run it again (the
base model it trains and the full TrainConfig, fixed at creation so a restart under other
`--train` settings trains the job as created), written atomically; events.jsonl holds its events,
oldest first, appended (a long job has thousands; a line cut short by a crash is dropped when the
file is read); run/ is the LocalTrainer run folder (adapter/, losses.json, checkpoint.pt).

No `from __future__ import annotations` here: pydantic reads the request models' annotations.
"""

import hashlib
import json
import math
import os
import threading
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field

from inoculate._io import atomic_write_json, atomic_write_jsonl
from inoculate.serve.api_error import ApiError
from inoculate.serve.files import FileStore, new_id
from inoculate.training import TrainConfig

MAX_EPOCHS, MAX_BATCH_SIZE = 50, 256  # OpenAI's documented limits (n_epochs 1-50, batch_size 1-256)
MAX_SEED = 2**31 - 1  # OpenAI's seeds are 0 .. 2^31-1
FINISHED = ("succeeded", "failed", "cancelled")
ORGANIZATION = "inoculate"  # the organization part of fine-tuned model names, and organization_id


class Hyperparameters(BaseModel):
    """Each value is "auto" or a number; the values are checked by `resolve`, which names the range."""

    model_config = ConfigDict(extra="forbid")

    n_epochs: Any = None
    batch_size: Any = None
    learning_rate_multiplier: Any = None


class Supervised(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hyperparameters: Hyperparameters | None = None


class Method(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str
    supervised: Supervised | None = None
    dpo: dict | None = None
    reinforcement: dict | None = None


class JobRequest(BaseModel):
    """POST /v1/fine_tuning/jobs, in OpenAI's shape; any other field is refused."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    model: str
    training_file: str
    validation_file: str | None = None  # checked like the training file; no validation metrics yet
    suffix: str | None = Field(None, min_length=1, max_length=64)
    seed: int | None = Field(None, ge=0, le=MAX_SEED)
    metadata: dict[str, str] | None = None
    hyperparameters: Hyperparameters | None = None  # OpenAI's deprecated place for them
    method: Method | None = None
    integrations: list[Any] | None = None  # only empty: no Weights & Biases here


def _number(value: Any, param: str, kind: type, low: float, high: float, low_open: bool = False):
    """`value` if it is "auto" (returned as None) or a number of `kind` in range, else a 400 naming it."""
    if value is None or value == "auto":
        return None
    ok = (isinstance(value, (int, float)) and not isinstance(value, bool) and (kind is float or isinstance(value, int))
          and math.isfinite(value) and (value > low if low_open else value >= low) and value <= high)
    if not ok:
        what = f"a number > {low}" if low_open else f"an integer from {low} to {high}"
        raise ApiError(400, f"{param.rpartition('.')[2]} must be 'auto' or {what}, got {value!r}", param)
    return kind(value)


def resolve(request: JobRequest, base: TrainConfig) -> tuple[TrainConfig, dict[str, Any]]:
    """The job's TrainConfig and its hyperparameters as the job object shows them, with "auto"
    resolved: n_epochs -> the server's epochs, batch_size -> its batch_size, learning_rate_multiplier
    -> 1; the learning rate is the server's learning_rate x the multiplier."""
    method = request.method
    if method is not None and method.type != "supervised":
        raise ApiError(400, f"method type {method.type!r} is not supported: inoculate serve trains supervised "
                            "LoRA fine-tunes only (method.type 'supervised')", "method.type")
    nested = method.supervised.hyperparameters if method and method.supervised else None
    if nested is not None and request.hyperparameters is not None:
        raise ApiError(400, "give hyperparameters in method.supervised.hyperparameters or in the deprecated "
                            "top-level hyperparameters, not both", "hyperparameters")
    given = nested or request.hyperparameters or Hyperparameters()
    at = "method.supervised.hyperparameters." if nested is not None else "hyperparameters."
    epochs = _number(given.n_epochs, at + "n_epochs", int, 1, MAX_EPOCHS)
    batch_size = _number(given.batch_size, at + "batch_size", int, 1, MAX_BATCH_SIZE)
    multiplier = _number(given.learning_rate_multiplier, at + "learning_rate_multiplier", float, 0, math.inf, True)
    config = replace(base, epochs=epochs or base.epochs, batch_size=batch_size or base.batch_size,
                     learning_rate=base.learning_rate * (multiplier or 1.0))
    return config, {"n_epochs": config.epochs, "batch_size": config.batch_size,
                    "learning_rate_multiplier": multiplier or 1.0}


def check_request(request: JobRequest, served_name: str, files: FileStore) -> None:
    """The checks OpenAI makes before it accepts a job (the file's contents are checked later)."""
    if request.model != served_name:
        raise ApiError(400, f"Model {request.model} is not available for fine-tuning or does not exist "
                            f"(this server fine-tunes {served_name})", "model", "model_not_available")
    for param in ("training_file", "validation_file"):
        file_id = getattr(request, param)
        if file_id is None:
            continue
        try:
            purpose = files.get(file_id)["purpose"]
        except ApiError:
            raise ApiError(400, f"invalid {param}: {file_id} (no such file)", param) from None
        if purpose != "fine-tune":
            raise ApiError(400, f"invalid {param}: {file_id} was uploaded with purpose {purpose!r}, not 'fine-tune'",
                           param)
    if request.suffix is not None and (":" in request.suffix or any(c.isspace() for c in request.suffix)):
        raise ApiError(400, "suffix must not hold ':' or whitespace (it becomes part of the model name)", "suffix")
    metadata = request.metadata or {}
    if len(metadata) > 16 or any(len(k) > 64 or len(v) > 512 for k, v in metadata.items()):
        raise ApiError(400, "metadata holds at most 16 pairs, keys up to 64 characters, values up to 512",
                       "metadata")
    if request.integrations:
        raise ApiError(400, "integrations are not supported by inoculate serve", "integrations")


def fine_tuned_name(served_name: str, suffix: str | None, job_id: str) -> str:
    """`ft:<base served name>:inoculate:<suffix or "">:<job id without "ftjob-">`: OpenAI's
    `ft:model:org:suffix:id` with the job's own id as the last part, so names never collide."""
    return f"ft:{served_name}:{ORGANIZATION}:{suffix or ''}:{job_id.removeprefix('ftjob-')}"


def default_seed(job_id: str) -> int:
    """The seed of a job created without one: derived from its id, so it is fixed once created."""
    return int.from_bytes(hashlib.sha256(job_id.encode()).digest()[:4], "big") & MAX_SEED


class JobStore:
    """Job records and events by job id; every change is under one lock and written at once.
    `base` is the --model the server trains, kept on each job: a restart under another model lists
    those jobs but neither runs nor serves them."""

    def __init__(self, state: Path, base: str):
        self.folder, self.base = Path(state) / "jobs", base
        self._lock = threading.RLock()
        self._records: dict[str, dict] = {}
        self._events: dict[str, list[dict]] = {}
        for path in sorted(self.folder.glob("ftjob-*/job.json")) if self.folder.is_dir() else []:
            record = json.loads(path.read_text(encoding="utf-8"))
            job_id = record["job"]["id"]
            self._records[job_id] = record
            self._events[job_id] = _read_events(path.parent / "events.jsonl")

    def run_dir(self, job_id: str) -> Path:
        return self.folder / job_id / "run"

    def create(self, request: JobRequest, served_name: str, config: TrainConfig, hyperparameters: dict) -> dict:
        job_id = new_id("ftjob-")
        seed = default_seed(job_id) if request.seed is None else request.seed
        job = {"id": job_id, "object": "fine_tuning.job", "created_at": int(time.time()), "error": None,
               "fine_tuned_model": None, "finished_at": None, "hyperparameters": hyperparameters,
               "model": served_name, "organization_id": f"org-{ORGANIZATION}", "result_files": [], "seed": seed,
               "status": "validating_files", "trained_tokens": None, "training_file": request.training_file,
               "validation_file": request.validation_file, "estimated_finish": None, "integrations": [],
               "metadata": request.metadata, "user_provided_suffix": request.suffix,
               "method": {"type": "supervised", "supervised": {"hyperparameters": hyperparameters}}}
        with self._lock:
            self._records[job_id] = {"job": job, "base": self.base, "train_config": asdict(config),
                                     "created_ns": time.time_ns()}
            self._events[job_id] = []
            self._save(job_id)
            self.event(job_id, f"Created fine-tuning job: {job_id}")
        return dict(job)

    def record(self, job_id: str) -> dict:
        with self._lock:
            if job_id not in self._records:
                raise ApiError(404, f"No such fine-tuning job: {job_id}", "fine_tuning_job_id")
            return json.loads(json.dumps(self._records[job_id]))  # a copy the caller may keep

    def get(self, job_id: str) -> dict:
        return self.record(job_id)["job"]

    def status(self, job_id: str) -> str:
        with self._lock:
            return self._records[job_id]["job"]["status"]

    def listed(self) -> list[dict]:
        """Every job, newest first."""
        with self._lock:
            records = sorted(self._records.values(), key=lambda r: r["created_ns"], reverse=True)
            return [dict(r["job"]) for r in records]

    def ours(self, statuses: tuple[str, ...]) -> list[str]:
        """Ids of this base model's jobs in those statuses, oldest first."""
        with self._lock:
            records = sorted(self._records.values(), key=lambda r: r["created_ns"])
            return [r["job"]["id"] for r in records if r["base"] == self.base and r["job"]["status"] in statuses]

    def events(self, job_id: str) -> list[dict]:
        """The job's events, newest first."""
        self.record(job_id)
        with self._lock:
            return list(reversed(self._events[job_id]))

    def event(self, job_id: str, message: str, level: str = "info", kind: str = "message",
              data: dict | None = None) -> None:
        self.events_added(job_id, [(message, level, kind, data)])

    def events_added(self, job_id: str, events: list[tuple[str, str, str, dict | None]]) -> None:
        """Append events (message, level, type, data) with one write."""
        now = int(time.time())
        added = [{"id": new_id("ftevent-"), "object": "fine_tuning.job.event", "created_at": now, "level": level,
                  "message": message, "data": data, "type": kind} for message, level, kind, data in events]
        with self._lock:
            self._events[job_id] += added
            with open(self.folder / job_id / "events.jsonl", "a", encoding="utf-8") as f:
                f.write("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in added))
                f.flush()
                os.fsync(f.fileno())

    def metrics(self, job_id: str, losses: list[dict], total_steps: int) -> None:
        """One `metrics` event per optimizer step in `losses` not reported yet (a resumed job's
        first steps were reported before the restart)."""
        with self._lock:
            done = max((e["data"]["step"] for e in self._events[job_id] if e["type"] == "metrics"), default=0)
            self.events_added(job_id, [
                (f"Step {row['step']}/{total_steps}: training loss={row['loss']:.4f}", "info", "metrics",
                 {"step": row["step"], "train_loss": row["loss"], "total_steps": total_steps, "epoch": row["epoch"],
                  "learning_rate": row["lr"], "tokens": row["tokens"]})
                for row in losses if row["step"] > done])

    def move(self, job_id: str, statuses: tuple[str, ...], status: str, message: str, level: str = "info",
             then: Callable[[], None] | None = None, **fields) -> bool:
        """Set the job's status (and `fields`) if it is now in one of `statuses`, calling `then()`
        first under the same lock; False, changing nothing, if it is not (it was cancelled meanwhile)."""
        with self._lock:
            job = self._records[job_id]["job"]
            if job["status"] not in statuses:
                return False
            if then is not None:
                then()
            job.update(status=status, **fields)
            if status in FINISHED:
                job["finished_at"] = int(time.time())
            self._save(job_id)
            self.event(job_id, message, level)
            return True

    def cancel(self, job_id: str) -> dict:
        """A job not yet finished is cancelled at once; one that is running stops at its next step."""
        status = self.get(job_id)["status"]
        if status in FINISHED or not self.move(job_id, ("validating_files", "queued", "running"), "cancelled",
                                               "Fine-tuning job cancelled"):
            raise ApiError(400, f"Fine-tuning job {job_id} has already {'been ' * (status == 'cancelled')}{status}; "
                                "only a job that has not finished can be cancelled", "fine_tuning_job_id")
        return self.get(job_id)

    def _save(self, job_id: str) -> None:
        atomic_write_json(self.folder / job_id / "job.json", self._records[job_id])


def _read_events(path: Path) -> list[dict]:
    """A job's events; a line a crash cut short (the last one written) is dropped and the file
    rewritten without it, so the next append starts on a line of its own."""
    events, torn = [], False
    for line in path.read_text(encoding="utf-8").splitlines() if path.is_file() else []:
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            torn = True
    if torn:
        atomic_write_jsonl(path, events)
    return events


def page(items: list[dict], after: str | None, limit: int, max_limit: int = 100) -> dict:
    """OpenAI's cursor page: the `limit` items that come after the one with id `after`."""
    if not 1 <= limit <= max_limit:
        raise ApiError(400, f"limit must be from 1 to {max_limit}, got {limit}", "limit")
    start = 0
    if after is not None:
        ids = [item["id"] for item in items]
        if after not in ids:
            raise ApiError(400, f"after {after!r} is not an id in this list", "after")
        start = ids.index(after) + 1
    data = items[start:start + limit]
    return {"object": "list", "data": data, "has_more": start + limit < len(items),
            "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None}
