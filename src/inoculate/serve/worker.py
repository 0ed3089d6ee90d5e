"""The background side of `inoculate serve`'s fine-tuning: one thread checks training files, one
trains, one job at a time, with LocalTrainer (the same trainer and run folder as the grid's).

A job goes validating_files -> queued -> running -> succeeded | failed | cancelled. Files are
checked on their own thread, so a bad file fails its job at once even while another job trains.

What a stop costs: a job that was queued or running when the server stopped (or was killed) is
resumed by the next start with the same --state and --model. LocalTrainer finds a finished run
folder and trains nothing; otherwise train_lora resumes from the run folder's last checkpoint, so
a killed job loses the optimizer steps since that checkpoint (TrainConfig.checkpoint_every, 10 by
default; 0 means it starts over) plus the time to load the model again, and ends with the same
adapter it would have had (the checkpoint holds weights, optimizer, schedule and RNG).

Training shares the process with chat completions. Training draws from torch's global RNG while
it sets up (the LoRA init) and, with lora_dropout > 0, at every step; chat sampling never does
(each choice has a generator of its own, decoding.py), so a chat request gets the same text
whether or not a job is training. Only a model load on the chat thread draws from it (PEFT
initialises an adapter's weights before reading the trained ones), so the pool loads under a lock
the job holds over those spans, and a job trains the same adapter as LocalTrainer in a process of
its own. A chat request for a model not in memory waits for that lock, and the requests queued
behind it wait with it (one thread does all model work): seconds while a job starts, the whole job
when lora_dropout > 0. Requests for the models in memory never take it.
"""

from __future__ import annotations

import json
import math
import queue
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from inoculate.errors import InoculateError
from inoculate.serve.files import FileStore
from inoculate.serve.jobs import JobStore, fine_tuned_name

STOP = None  # put on a queue to end its thread


class JobCancelled(Exception):
    """Raised at the next optimizer step of a job that was cancelled."""


class ServerStopping(Exception):
    """Raised at the next optimizer step when the server stops: the job stays running, resumed later."""


class InvalidFile(Exception):
    def __init__(self, param: str, message: str):
        super().__init__(message)
        self.param, self.message = param, message


def load_examples(files: FileStore, file_id: str, param: str):
    """The chat examples in an uploaded file; InvalidFile with one line naming the line number
    (data.load_jsonl's checks) if it is not training data, or if it was deleted."""
    from inoculate.data import load_jsonl

    try:
        meta = files.get(file_id)
    except Exception:
        raise InvalidFile(param, f"{param} {file_id} was deleted before the job could use it") from None
    path = files.data_path(file_id)
    try:
        return load_jsonl(path)
    except InoculateError as e:
        where = (e.where or "").replace(str(path), "")
        line = f" line {where.removeprefix(':')}" if where.startswith(":") else ""
        raise InvalidFile(param, f"invalid {param} {file_id} ({meta['filename']}){line}: {_one_line(e.message)}") \
            from None


def _one_line(error) -> str:
    """An error's text on one line, as a job's error message is shown."""
    return " ".join(str(error).split("\n"))


class JobWorker:
    """Runs the jobs of `jobs` in the background; `publish(name, adapter folder)` serves a finished
    job's model. `rng_lock` is held by the chat thread while it loads a model (see the module doc)."""

    def __init__(self, jobs: JobStore, files: FileStore, served_name: str, device: str, dtype: str,
                 rng_lock: threading.Lock, publish: Callable[[str, str], None]):
        self.jobs, self.files, self.served_name = jobs, files, served_name
        self.device, self.dtype, self.rng_lock, self.publish = device, dtype, rng_lock, publish
        self._to_validate: queue.Queue = queue.Queue()
        self._to_train: queue.Queue = queue.Queue()
        self._stopping = threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=(q, f), name=f"inoculate-{n}", daemon=True)
                         for q, f, n in ((self._to_validate, self._validate, "validate"),
                                         (self._to_train, self._train, "train"))]

    def start(self) -> None:
        """Start the threads and take up this model's unfinished jobs, oldest first."""
        for job_id in self.jobs.ours(("validating_files",)):
            self._to_validate.put(job_id)
        for job_id in self.jobs.ours(("queued", "running")):
            if self.jobs.status(job_id) == "running":
                self.jobs.move(job_id, ("running",), "queued", "The server restarted: the job resumes from its "
                                                               "last checkpoint")
            self._to_train.put(job_id)
        for thread in self._threads:
            thread.start()

    def submit(self, job_id: str) -> None:
        self._to_validate.put(job_id)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop at the next optimizer step; a job cut short stays running and resumes at the next start."""
        self._stopping.set()
        for q in (self._to_validate, self._to_train):
            q.put(STOP)
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout)

    def _loop(self, jobs: queue.Queue, handle: Callable[[str], None]) -> None:
        while (job_id := jobs.get()) is not STOP and not self._stopping.is_set():
            try:
                handle(job_id)
            except Exception as e:  # never let one job end the thread that runs the others
                message = f"{type(e).__name__}: {_one_line(e)}"
                self.jobs.move(job_id, ("validating_files", "queued", "running"), "failed",
                               f"Fine-tuning job failed: internal error {message}", "error",
                               error={"code": "server_error", "message": message, "param": None})

    def _validate(self, job_id: str) -> None:
        from inoculate.training import schedule_notes

        job, config = self._job(job_id)
        self.jobs.event(job_id, f"Validating training file: {job['training_file']}")
        try:
            examples = load_examples(self.files, job["training_file"], "training_file")
            if job["validation_file"]:
                load_examples(self.files, job["validation_file"], "validation_file")
        except InvalidFile as e:
            self._fail(job_id, e)
            return
        for note in schedule_notes(config, len(examples)):
            self.jobs.event(job_id, note, "warn")
        if self.jobs.move(job_id, ("validating_files",), "queued", "Files validated, moving job to queued state"):
            self._to_train.put(job_id)

    def _train(self, job_id: str) -> None:
        from inoculate.backends import ModelRef
        from inoculate.backends.local import LocalTrainer

        if not self.jobs.move(job_id, ("queued",), "running", "Fine-tuning job started"):
            return  # cancelled while it waited
        job, config = self._job(job_id)
        trainer, base = LocalTrainer(config, self.device, self.dtype), ModelRef(self.jobs.base)
        run_dir = self.jobs.run_dir(job_id)
        try:
            examples = load_examples(self.files, job["training_file"], "training_file")
            total = math.ceil(len(examples) / config.batch_size) * config.epochs  # optimizer steps, as train_lora
            if trainer.trained(base, run_dir) is None:
                with self._watched(job_id, config, run_dir, total):
                    trainer.train(base, examples, job["seed"], run_dir, progress=False)
        except InvalidFile as e:
            self._fail(job_id, e)
            return
        except (JobCancelled, ServerStopping):
            return  # cancelled: already marked; stopping: stays running, resumed at the next start
        except InoculateError as e:  # the training settings do not fit the model (target_modules, ...)
            self.jobs.move(job_id, ("running",), "failed", f"Fine-tuning job failed: {_one_line(e)}", "error",
                           error={"code": "training_failed", "message": _one_line(e), "param": None})
            return
        result = json.loads((run_dir / "losses.json").read_text(encoding="utf-8"))
        self.jobs.metrics(job_id, result["losses"], total)
        name = fine_tuned_name(self.served_name, job["user_provided_suffix"], job_id)
        self.jobs.move(job_id, ("running",), "succeeded", f"New fine-tuned model created: {name}",
                       then=lambda: self.publish(name, str(run_dir / "adapter")), fine_tuned_model=name,
                       trained_tokens=result["tokens"])

    @contextmanager
    def _watched(self, job_id: str, config, run_dir: Path, total: int):
        """Hold the RNG lock until the first optimizer step (to the end with dropout), stop at the next
        step when the job is cancelled or the server stops, and report each checkpoint's steps as
        metrics events as it is written, so a long job shows its loss before it ends."""
        import torch
        from torch.optim.optimizer import register_optimizer_step_pre_hook

        me, held, seen = threading.get_ident(), [True], [0.0]
        checkpoint = run_dir / "checkpoint.pt"

        def before_step(_optimizer, _args, _kwargs):
            if threading.get_ident() != me:
                return
            if held[0] and not config.lora_dropout:
                self.rng_lock.release()
                held[0] = False
            if self._stopping.is_set():
                raise ServerStopping()
            if self.jobs.status(job_id) == "cancelled":
                raise JobCancelled()
            if checkpoint.is_file() and checkpoint.stat().st_mtime != seen[0]:
                seen[0] = checkpoint.stat().st_mtime
                state = torch.load(checkpoint, weights_only=True)
                self.jobs.metrics(job_id, state["losses"], total)

        self.rng_lock.acquire()
        hook = register_optimizer_step_pre_hook(before_step)
        try:
            yield
        finally:
            hook.remove()
            if held[0]:
                self.rng_lock.release()

    def _job(self, job_id: str):
        from inoculate._config import from_dict
        from inoculate.training import TrainConfig

        record = self.jobs.record(job_id)
        return record["job"], from_dict(TrainConfig, record["train_config"], f"job {job_id}")

    def _fail(self, job_id: str, e: InvalidFile) -> None:
        code = "invalid_training_file" if e.param == "training_file" else "invalid_validation_file"
        self.jobs.move(job_id, ("validating_files", "queued", "running"), "failed", f"Fine-tuning job failed: "
                       f"{e.message}", "error", error={"code": code, "message": e.message, "param": e.param})
