"""The HTTP side of `inoculate serve`: OpenAI's /v1/models and /v1/chat/completions, the request
checks and OpenAI's error bodies; chat requests go to the one thread all model work runs on
(batching.py), the fine-tuning routes (fine_tuning.py) and their background worker (worker.py) are
attached here.

No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations at run time.
"""

import asyncio
import hmac
import os
import threading
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from inoculate._log import log
from inoculate.errors import InoculateError
from inoculate.serve.api_error import ApiError
from inoculate.serve.batching import Batcher
from inoculate.serve.engine import Choice, ContextLengthExceeded, ModelPool

MAX_N = 16  # choices per request
MAX_TOP_LOGPROBS = 20  # OpenAI's limit
INT64 = 2**63  # seeds are signed 64-bit, as in OpenAI's API and torch.manual_seed


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    role: Literal["system", "user", "assistant"]
    content: str  # plain text; OpenAI's list-of-parts content is refused


class ChatRequest(BaseModel):
    """The fields served; null means the default, as in OpenAI's API. Any other field is refused:
    the OpenAI SDK sends only what its caller passes, so an unknown field is one the caller meant."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    model: str
    messages: list[Message] = Field(min_length=1)
    n: int | None = Field(None, ge=1, le=MAX_N)  # choices; default 1
    seed: int | None = Field(None, ge=-INT64, lt=INT64)  # default 0, so a repeated request repeats its answer
    temperature: float | None = Field(None, ge=0, le=2)  # default 1; 0 = greedy
    top_p: float | None = Field(None, gt=0, le=1)  # nucleus mass; default 1
    max_tokens: int | None = Field(None, ge=1)  # default: up to the end of the context
    max_completion_tokens: int | None = Field(None, ge=1)  # OpenAI's newer name for max_tokens
    logprobs: bool | None = None  # raw log-probabilities of the chosen tokens
    top_logprobs: int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)  # alternatives per token; needs logprobs
    # known fields this server does not implement: accepted only where they change nothing
    stream: bool | None = None
    stop: str | list[str] | None = None


def sampling(request: ChatRequest) -> dict:
    """A request's sampling settings, as Batcher.submit takes them; a 400 for combinations the fields cannot express."""
    if request.stream:
        raise ApiError(400, "stream=true is not supported: inoculate serve answers with whole completions; "
                            "leave stream unset or false", "stream")
    if request.stop:
        raise ApiError(400, "stop sequences are not supported; replies end at the model's end-of-turn token or "
                            "max_tokens", "stop")
    if request.top_logprobs is not None and not request.logprobs:
        raise ApiError(400, "top_logprobs requires logprobs=true", "top_logprobs")
    limits = {request.max_tokens, request.max_completion_tokens} - {None}
    if len(limits) > 1:
        raise ApiError(400, "max_tokens and max_completion_tokens disagree; give one of them", "max_tokens")
    return dict(n=request.n or 1, temperature=1.0 if request.temperature is None else request.temperature,
                top_p=request.top_p or 1.0, seed=request.seed or 0, max_tokens=limits.pop() if limits else None,
                top_logprobs=(request.top_logprobs or 0) if request.logprobs else None)


def read_api_key(api_key_env: str | None) -> str | None:
    """The key clients must send, from the environment variable named on the command line; a named
    but unset variable is an error, never an open server."""
    if api_key_env is None:
        return None
    value = os.environ.get(api_key_env)
    if not value:
        raise InoculateError(f"the environment variable {api_key_env} is not set (or empty)", "--api-key-env")
    return value


def _key_matches(header: str | None, key: str) -> bool:
    scheme, _, sent = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(sent.strip().encode(), key.encode())


def _validation_error(exc, path: str) -> ApiError:
    """A pydantic complaint as one 400 naming the field (`messages.0.role`), never the whole body."""
    first = exc.errors()[0]
    where = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    param = ".".join(where) or None
    if first.get("type") == "extra_forbidden":
        if not path.endswith("/chat/completions"):
            return ApiError(400, f"unsupported field {param!r}", param)
        known = ", ".join(ChatRequest.model_fields) if len(where) == 1 else "role, content"
        return ApiError(400, f"unsupported field {param!r} (accepted: {known})", param)
    if first.get("type") == "json_invalid":
        return ApiError(400, f"the body is not valid JSON ({first.get('msg')})")
    return ApiError(400, f"{param}: {first.get('msg')}" if param else str(first.get("msg")), param)


def create_app(base: str, adapters: dict[str, str] | None = None, device: str = "auto", dtype: str = "auto",
               api_key_env: str | None = None, served_name: str | None = None, max_loaded: int = 2,
               state: str | Path | None = None, train=None, max_batch: int = 16):
    """The FastAPI app (see inoculate.serve.create_app); the base model is loaded before it returns."""
    from fastapi import FastAPI

    from inoculate.serve.fine_tuning import add_fine_tuning_routes
    from inoculate.serve.worker import JobWorker
    from inoculate.training import TrainConfig

    key = read_api_key(api_key_env)
    served_name = served_name or base
    files, jobs, finished, claim = _fine_tuning_state(state, base, served_name, dict(adapters or {}))
    # chat samples with generators of its own; only loading a model draws from torch's global RNG,
    # which a starting fine-tuning job must have to itself (worker.py says when it holds rng_lock)
    rng_lock = threading.Lock()
    pool = ModelPool(base, {**(adapters or {}), **finished}, served_name, device, dtype, max_loaded, rng_lock)
    # a request's rows count against the batch's, and a request with n = MAX_N must fit alone
    batcher = Batcher(pool, max_batch, max(max_batch, MAX_N))
    pool.get(pool.served_name)  # load errors show at startup; listening means ready
    batcher.start()
    jobs_worker = JobWorker(jobs, files, served_name, device, dtype, rng_lock, pool.add_adapter)
    started = int(time.time())

    @asynccontextmanager
    async def lifespan(_app):
        if claim is not None:
            jobs_worker.start()
        yield
        if claim is not None:
            jobs_worker.stop()
            claim.close()
        batcher.stop()

    app = FastAPI(title="inoculate serve", lifespan=lifespan)
    _add_error_handlers(app, key)

    def card(name: str) -> dict:
        return {"id": name, "object": "model", "created": started, "owned_by": "inoculate"}

    def served(name: str) -> str:
        if name not in pool.names:
            raise ApiError(404, f"model {name!r} is not served here; served: {', '.join(pool.names)}", "model",
                           "model_not_found")
        return name

    @app.get("/v1/models")
    async def list_models():
        return {"object": "list", "data": [card(name) for name in pool.names]}

    @app.get("/v1/models/{name:path}")  # a path: hub ids and checkpoint folders hold slashes
    async def get_model(name: str):
        return card(served(name))

    @app.post("/v1/chat/completions")
    async def chat_completions(request: ChatRequest):
        settings = sampling(request)
        name = served(request.model)
        messages = [m.model_dump() for m in request.messages]
        created = int(time.time())
        try:
            prompt_tokens, choices = await asyncio.wrap_future(batcher.submit(name, messages, settings))
        except InoculateError as e:  # the request does not fit the model: context length, chat template
            code = "context_length_exceeded" if isinstance(e, ContextLengthExceeded) else None
            raise ApiError(400, e.message, e.where, code) from None
        return completion_body(name, created, prompt_tokens, choices)

    busy = None if claim is not None else (f"fine-tuning is off on this server: another inoculate serve uses its "
                                           f"state folder {jobs.folder.parent}; start this one with its own --state")
    add_fine_tuning_routes(app, files, jobs, jobs_worker, served_name, train or TrainConfig(), busy)
    return app


def _add_error_handlers(app, key: str | None) -> None:
    """Every error in OpenAI's shape, and the API key check on every route."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    app.add_exception_handler(ApiError, lambda _req, exc: exc.response())
    app.add_exception_handler(RequestValidationError,
                              lambda req, exc: _validation_error(exc, req.url.path).response())
    app.add_exception_handler(HTTPException, lambda _req, exc: ApiError(exc.status_code, str(exc.detail)).response())
    app.add_exception_handler(Exception, lambda _req, exc: ApiError(
        500, f"internal error {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}").response())

    @app.middleware("http")
    async def check_key(request, call_next):
        if key is not None and not _key_matches(request.headers.get("authorization"), key):
            # neither the key nor what was sent is echoed
            return ApiError(401, "missing or wrong API key (send it as 'Authorization: Bearer <key>')",
                            code="invalid_api_key").response()
        return await call_next(request)


def _fine_tuning_state(state: str | Path | None, base: str, served_name: str, adapters: dict[str, str]):
    """(FileStore, JobStore, {fine-tuned model name: adapter folder}, the state folder's lock or
    None) for the state folder (default: the cache's serve/). The succeeded jobs of this base model
    are served again; one whose adapter folder is gone is left out with a warning rather than
    stopping the server. Only the server holding the lock runs jobs and takes requests to change
    them: two running one state's jobs would train the same job twice into one run folder. The
    lock is an flock, so the system lets it go when its process ends, however it ends."""
    import fcntl

    from inoculate.models import cache_dir
    from inoculate.serve.files import FileStore
    from inoculate.serve.jobs import JobStore

    root = Path(state) if state is not None else cache_dir() / "serve"
    root.mkdir(parents=True, exist_ok=True)
    claim = open(root / "serve.lock", "a")  # held open, and locked, for the server's life
    try:
        fcntl.flock(claim, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        claim.close()
        claim = None
        log(f"warning: another inoculate serve uses {root}: this one serves its fine-tuned models but runs no "
            "fine-tuning (give it its own --state)")
    files, jobs = FileStore(root), JobStore(root, base)
    finished = {}
    for job_id in jobs.ours(("succeeded",)):
        name, adapter = jobs.get(job_id)["fine_tuned_model"], jobs.run_dir(job_id) / "adapter"
        if not (adapter / "adapter_config.json").is_file():
            log(f"warning: not serving {name}: its adapter folder {adapter} is gone")
        elif name in adapters or name == served_name:
            raise InoculateError(f"{name!r} is both a fine-tuned model in {root} and a name given on the command "
                                 "line", "--adapter")
        else:
            finished[name] = str(adapter)
    return files, jobs, finished, claim


def completion_body(model: str, created: int, prompt_tokens: int, choices: list[Choice]) -> dict:
    """OpenAI's chat.completion object. The prompt counts once however many choices there are."""
    completion_tokens = sum(c.tokens for c in choices)
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": i, "message": {"role": "assistant", "content": c.text},
                         "finish_reason": c.finish_reason,
                         "logprobs": None if c.logprobs is None else {"content": c.logprobs}}
                        for i, c in enumerate(choices)],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}
