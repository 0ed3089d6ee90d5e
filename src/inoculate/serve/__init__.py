"""`inoculate serve`: an OpenAI-compatible server for a base model and the LoRA adapters trained on
it, so any OpenAI client (a judge, an eval harness, `inoculate.client`) can sample from them, and
a tool written for OpenAI's fine-tuning API can train new adapters locally and offline.

What it promises:
- GET /v1/models and POST /v1/chat/completions in OpenAI's shapes and error bodies, on 127.0.0.1
  by default, optionally behind an API key read from an environment variable.
- The same request gives the same text: a request's `seed` (0 when absent) seeds its sampling,
  each choice drawing from a generator of its own (decoding.py). Requests that arrive
  together are decoded together, up to `--max-batch` of them (batching.py); a request's draws do
  not depend on the others, but its logits do in their last bits, which on rare tokens changes
  the text (decoding.py says how rare); `--max-batch 1` runs each request alone, as it always
  runs when the model's cache is not a plain full-attention one.
- Logprobs are the model's raw next-token distribution, log_softmax of the logits before
  temperature and top-p, so they do not depend on the sampling settings; the chosen token's is
  always reported, with up to 20 likeliest alternatives.
- Sampling follows OpenAI's API: no top-k, temperature 0 is greedy; replies end at the model's
  end-of-turn token (finish_reason "stop") or at max_tokens ("length"). Streaming and stop
  sequences are refused with a 400, not ignored.

Fine-tuning, OpenAI's Files and fine-tuning APIs run locally (files.py, jobs.py, worker.py):
- POST/GET/DELETE /v1/files (purpose "fine-tune" only), GET /v1/files/{id}/content; POST/GET
  /v1/fine_tuning/jobs, GET /v1/fine_tuning/jobs/{id}, .../events, POST .../cancel, in OpenAI's
  shapes, status codes and error bodies, behind the same API key as chat.
- A job trains a LoRA adapter on the served base model with LocalTrainer (the grid's trainer and
  run folder), one job at a time on a background thread. Its TrainConfig is the server's (`--train
  KEY=VALUE`) with epochs = n_epochs, batch_size = batch_size and learning_rate = the server's
  learning_rate x learning_rate_multiplier; "auto" keeps the server's value (multiplier 1). Limits
  are OpenAI's: n_epochs 1-50, batch_size 1-256, learning_rate_multiplier > 0, seed 0..2^31-1
  (default: derived from the job id, shown on the job), suffix 1-64 characters.
- A succeeded job's model is served at once as `ft:<base served name>:inoculate:<suffix>:<job id
  without "ftjob-">`, by chat completions and /v1/models.
- Files, jobs, events and run folders live under `--state` (default: the cache's serve/); a restart
  with the same --state and --model lists them, serves every succeeded job's model and resumes the
  jobs that were queued or running (worker.py says what a killed job costs).
- A training file is checked when its job starts, as OpenAI does: one that is not chat JSONL fails
  the job with error code invalid_training_file and one line naming the line number.

Not implemented: DPO and reinforcement methods, integrations (Weights & Biases) and file purposes
other than fine-tune (each refused with a 400); the checkpoints endpoint, pause and resume (404);
validation-file metrics (a validation file is checked like the training file, then not used);
result files (result_files is empty); estimated_finish (null); file expiry (expires_after is
ignored). Training data holds role/content messages only (no tools, function calls, names or
weights: such a file fails its job), and OpenAI's minimum of 10 examples is not enforced. Metrics
events (train_loss per optimizer step) come as each checkpoint is written (every
TrainConfig.checkpoint_every steps) and at the end, not after every step.

FastAPI and uvicorn are imported only when a server is built, so the CLI stays quick to start.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from inoculate.errors import InoculateError

if TYPE_CHECKING:
    from inoculate.training import TrainConfig

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def create_app(base: str, adapters: dict[str, str] | None = None, device: str = "auto", dtype: str = "auto",
               api_key_env: str | None = None, served_name: str | None = None, max_loaded: int = 2,
               state: str | Path | None = None, train: TrainConfig | None = None, max_batch: int = 16):
    """The FastAPI app serving `base` (the embedded model's name, a hub id or a checkpoint folder)
    under `served_name` (default: `base` as given) and each adapter folder under its key.

    `api_key_env` names the environment variable holding the key clients must send as a Bearer
    token. At most `max_loaded` models are in memory at once (see engine.ModelPool). The base
    model is loaded before this returns. Fine-tuning keeps its files and jobs under `state`
    (default: cache_dir()/serve) and trains with `train` (default: TrainConfig()) as each job's
    hyperparameters adjust it. Up to `max_batch` chat requests decode together (see batching.py)."""
    from inoculate.serve.app import create_app as build

    return build(base, adapters, device, dtype, api_key_env, served_name, max_loaded, state, train, max_batch)


def serve(base: str, adapters: dict[str, str] | None = None, host: str = "127.0.0.1", port: int = 8000,
          device: str = "auto", dtype: str = "auto", api_key_env: str | None = None, served_name: str | None = None,
          max_loaded: int = 2, state: str | Path | None = None, train: TrainConfig | None = None,
          max_batch: int = 16) -> None:
    """Build the app (create_app) and serve it with uvicorn until interrupted."""
    import uvicorn

    from inoculate._log import log

    app = create_app(base, adapters, device, dtype, api_key_env, served_name, max_loaded, state, train, max_batch)
    if host not in LOOPBACK and api_key_env is None:
        log(f"warning: serving on {host} without an API key: anyone who can reach this port can use the models "
            "(set --api-key-env)")
    names = ", ".join([served_name or base, *(adapters or {})])
    log(f"serving {names} at http://{host}:{port}/v1 (Ctrl-C stops)")
    # access logs off: a grid sends thousands of requests, and they would bury the errors
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def parse_adapters(items: list[str]) -> dict[str, str]:
    """`NAME=PATH` items as {name: path}; an item without both parts, or a name given twice, is an error."""
    adapters: dict[str, str] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise InoculateError(f"expected NAME=PATH, got {item!r}", "--adapter")
        if name.strip() in adapters:
            raise InoculateError(f"adapter name {name.strip()!r} given twice", "--adapter")
        adapters[name.strip()] = path.strip()
    return adapters


def parse_train(items: list[str]) -> TrainConfig:
    """`KEY=VALUE` items (values parsed as YAML) over TrainConfig's defaults; an unknown key, a wrong
    type or a key given twice is an error."""
    from inoculate._config import from_dict, parse_key_value
    from inoculate.training import TrainConfig

    overrides: dict = {}
    for item in items:
        key, value = parse_key_value(item, "--train")
        if key in overrides:
            raise InoculateError(f"{key!r} given twice", "--train")
        overrides[key] = value
    return from_dict(TrainConfig, overrides, "--train")


def _cmd_serve(args) -> None:
    serve(args.model, parse_adapters(args.adapter or []), host=args.host, port=args.port, device=args.device,
          dtype=args.dtype, api_key_env=args.api_key_env, served_name=args.name, max_loaded=args.max_loaded,
          state=args.state, train=parse_train(args.train or []), max_batch=args.max_batch)


def add_serve_command(subparsers) -> None:
    """Register `inoculate serve` on the CLI's subparsers."""
    from inoculate.models import DTYPES, EMBEDDED_MODEL

    sp = subparsers.add_parser("serve", help="serve a model and its LoRA adapters over an OpenAI-compatible API")
    sp.add_argument("--model", default=EMBEDDED_MODEL, help="base model: the embedded model's name, a hub id or a "
                    "local checkpoint")
    sp.add_argument("--name", help="the base model's name for clients (default: --model as given)")
    sp.add_argument("--adapter", action="append", metavar="NAME=PATH",
                    help="serve the LoRA adapter folder PATH (trained on --model) as model NAME; repeatable")
    sp.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    sp.add_argument("--port", type=int, default=8000, help="port to listen on")
    sp.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    sp.add_argument("--dtype", default="auto", choices=DTYPES, help="auto: fp32 on CPU, bf16 on a GPU that has it")
    sp.add_argument("--api-key-env", metavar="VAR", help="require clients to send the key held in environment "
                    "variable VAR (as 'Authorization: Bearer <key>'); the key itself never goes on the command line")
    sp.add_argument("--max-loaded", type=int, default=2, help="models (base or base+adapter) kept in memory at once; "
                    "others are loaded when asked for, the least recently used leaving")
    sp.add_argument("--max-batch", type=int, default=16, help="chat requests decoded together at most (their "
                    "choices at most max(16, this)); 1 decodes each request alone, its texts independent of "
                    "what else is running")
    sp.add_argument("--state", metavar="DIR", help="where fine-tuning keeps uploaded files, jobs and their "
                    "adapters; a restart with the same DIR serves them again (default: the cache's serve/)")
    sp.add_argument("--train", action="append", metavar="KEY=VALUE", help="the training settings fine-tuning jobs "
                    "start from (a TrainConfig field, value as YAML, e.g. lora_r=8 or 'target_modules=[q_proj]'); "
                    "a job's n_epochs, batch_size and learning_rate_multiplier adjust them; repeatable")
    sp.set_defaults(func=_cmd_serve)


__all__ = ["add_serve_command", "create_app", "parse_adapters", "parse_train", "serve"]
