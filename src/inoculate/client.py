"""Chat completions from an OpenAI-compatible endpoint (vLLM, llama.cpp, a hosted API, `inoculate
serve`), for judges and for the served Sampler.

Through the `openai` SDK, which already retries 408/409/429/5xx answers, dropped connections and
timeouts with exponential backoff (honouring Retry-After); we add what a grid needs on top:

- a disk cache with one file per request, named by the hash of the endpoint and the whole request
  (never the key), written atomically as each answer arrives: a killed pass resumes call by call,
  a re-run makes no request, and concurrent writers cannot corrupt it (a known trap of judge caches);
- bounded concurrency (a thread pool: requests wait on the network, not on Python);
- a cap on the requests this process sends to one endpoint, stated by the grid before the first call;
- one-line errors naming the endpoint and never the key, which is read from the environment
  variable the spec names and kept only in memory.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inoculate._config import positive
from inoculate._io import atomic_write_json, content_hash, read_json
from inoculate.errors import InoculateError

Request = dict[str, Any]  # the body of a chat completion request, without the model
# {"texts": [...], "finish": [...], "logprobs": None | per choice [[token, logprob, [[alternative, logprob], ...]], ...]}
Response = dict[str, Any]


@dataclass(frozen=True)
class Endpoint:
    """Where chat completions come from, as a value that can travel to another process: no key inside."""

    base_url: str  # e.g. http://127.0.0.1:8000/v1 or https://api.openai.com/v1
    model: str  # the served model's name
    api_key_env: str | None = None  # environment variable holding the API key; None for a server without one
    concurrency: int = 8  # requests in flight at once
    max_retries: int = 6  # retries of 429, 5xx and timeouts, with exponential backoff (the SDK's)
    timeout: float = 120.0  # seconds per request attempt
    max_requests: int = 20000  # requests this grid may send to the endpoint (cached answers are free)

    def __post_init__(self):
        if not isinstance(self.base_url, str) or not self.base_url.startswith(("http://", "https://")):
            raise InoculateError(f"base_url must be an http(s) URL, got {self.base_url!r}")
        if not isinstance(self.model, str) or not self.model.strip():
            raise InoculateError("model must name the served model")
        if self.api_key_env is not None and not (isinstance(self.api_key_env, str) and self.api_key_env.isidentifier()):
            raise InoculateError(f"api_key_env must be the NAME of an environment variable, got {self.api_key_env!r}")
        positive("", concurrency=self.concurrency, timeout=self.timeout, max_requests=self.max_requests)  # where: the key
        if self.max_retries < 0:
            raise InoculateError(f"max_retries must be >= 0, got {self.max_retries}")

    @property
    def where(self) -> str:
        return f"{self.base_url.rstrip('/')} (model {self.model})"

    def identity(self) -> dict[str, str]:
        """What decides the answers, for content keys and cache names: not the key, not the limits."""
        return {"base_url": self.base_url.rstrip("/"), "model": self.model}


_sent: dict[tuple[str, str], int] = {}  # (base_url, model) -> requests sent by this process
_sent_lock = threading.Lock()


def requests_sent(endpoint: Endpoint) -> int:
    """Requests this process has sent to the endpoint (cache hits excluded)."""
    return _sent.get(tuple(endpoint.identity().values()), 0)


def default_cache() -> Path:
    from inoculate.models import cache_dir

    return cache_dir() / "requests"


class Connection:
    """The SDK client for one endpoint, and the one place its errors become one-line messages
    that name the endpoint and never the key. The key stays in this object only."""

    def __init__(self, endpoint: Endpoint, model: str | None = None):
        self.endpoint = endpoint
        self.model = model or endpoint.model  # the model the calls are about (another model at the endpoint)
        self._secret = _api_key(endpoint)
        self._sdk = None

    def sdk(self):
        if self._sdk is None:
            import openai

            self._sdk = openai.OpenAI(base_url=self.endpoint.base_url, api_key=self._secret or "none",
                                      max_retries=self.endpoint.max_retries, timeout=self.endpoint.timeout)
        return self._sdk

    def call(self, fn, *args, missing: str | None = None, **kwargs):
        """`fn(sdk, *args, **kwargs)`, with the SDK's errors as InoculateError. `missing` says what a
        404 means (default: the model is not served)."""
        import openai

        try:
            return fn(self.sdk(), *args, **kwargs)
        except openai.AuthenticationError:
            raise self.error(f"refused the API key from ${self.endpoint.api_key_env} (401)" if self.endpoint.api_key_env
                             else "needs an API key (401): name its environment variable in api_key_env") from None
        except openai.NotFoundError as e:
            raise self.error(f"{missing or f'does not serve model {self.model!r}'} (404: {_first_line(e)})") from None
        except openai.RateLimitError:
            raise self.error(f"still rate-limited (429) after {self.endpoint.max_retries} retries") from None
        except openai.APIStatusError as e:
            retried = " after retries" if e.status_code >= 500 or e.status_code in (408, 409) else ""
            raise self.error(f"answered {e.status_code}{retried}: {_first_line(e)}") from None
        except openai.APITimeoutError:
            raise self.error(f"no answer within {self.endpoint.timeout:.0f}s, {self.endpoint.max_retries} retries") from None
        except openai.APIConnectionError as e:
            raise self.error(f"cannot be reached ({_first_line(e.__cause__ or e)}): is the server running?") from None
        except openai.APIError as e:  # a body the SDK could not read
            raise self.error(f"sent a malformed response ({_first_line(e)})") from None

    def error(self, message: str) -> InoculateError:
        if self._secret:  # a server may echo what it was sent
            message = message.replace(self._secret, "***")
        where = self.endpoint.where if self.model == self.endpoint.model else f"{self.endpoint.base_url} (model {self.model})"
        return InoculateError(message, where)

    def __getstate__(self):  # travels to other processes without the key or the live SDK client
        return {"endpoint": self.endpoint, "model": self.model}

    def __setstate__(self, state):
        self.__init__(state["endpoint"], state["model"])


class ChatClient:
    """Cached, concurrent chat completions from one endpoint."""

    def __init__(self, endpoint: Endpoint, cache: Path | None = None, model: str | None = None):
        self.endpoint = endpoint
        self.connection = Connection(endpoint, model)
        self.model = self.connection.model  # another model at the endpoint (an adapter), under its cap
        self.cache = Path(cache) if cache is not None else default_cache()

    def cache_path(self, request: Request) -> Path:
        endpoint = {**self.endpoint.identity(), "model": self.model}
        name = content_hash({"endpoint": endpoint, "request": request}, length=32)
        return self.cache / name[:2] / f"{name}.json"

    def complete(self, requests: list[Request], progress: bool = False, desc: str = "requests") -> list[Response]:
        """The response to every request, in order: cached ones read, the rest sent (at most
        `concurrency` at a time) and cached as they arrive. On an error, the answers that arrived
        stay cached and the error is raised once the requests in flight are done."""
        from tqdm.auto import tqdm

        out: list[Response | None] = [None] * len(requests)
        todo: dict[Path, list[int]] = {}  # identical requests (the same answer judged twice) are sent once
        for i, request in enumerate(requests):
            path = self.cache_path(request)
            if path.is_file():
                out[i] = read_json(path)
            else:
                todo.setdefault(path, []).append(i)
        if todo:
            with tqdm(total=len(todo), desc=desc, disable=not progress, leave=False) as bar, \
                    ThreadPoolExecutor(self.endpoint.concurrency) as pool:
                futures = {pool.submit(self._send, requests[same[0]]): same for same in todo.values()}
                try:
                    for f in as_completed(futures):
                        for i in futures[f]:
                            out[i] = f.result()
                        bar.update()
                except BaseException:
                    pool.shutdown(wait=True, cancel_futures=True)  # running ones finish and are cached
                    raise
        return out  # type: ignore[return-value]

    def _send(self, request: Request) -> Response:
        key = tuple(self.endpoint.identity().values())
        with _sent_lock:
            if _sent.get(key, 0) >= self.endpoint.max_requests:
                raise InoculateError(f"the cap of {self.endpoint.max_requests} requests is reached; answers so far are "
                                     "cached: raise max_requests to go on", self.endpoint.where)
            _sent[key] = _sent.get(key, 0) + 1
        response = self._call(request)
        atomic_write_json(self.cache_path(request), response)
        return response

    def _call(self, request: Request) -> Response:
        completion = self.connection.call(lambda sdk: sdk.chat.completions.create(model=self.model, **request))
        return self._parse(completion, request)

    def _parse(self, completion: Any, request: Request) -> Response:
        choices = getattr(completion, "choices", None)
        if not isinstance(choices, list) or not choices:
            raise self.connection.error("sent a malformed response (no choices)")
        texts, finish, logprobs = [], [], []
        for choice in choices:
            content = getattr(getattr(choice, "message", None), "content", None)
            if not isinstance(content, str):
                raise self.connection.error("sent a malformed response (a choice without message content)")
            texts.append(content)
            finish.append(getattr(choice, "finish_reason", None))
            if request.get("logprobs"):
                tokens = getattr(getattr(choice, "logprobs", None), "content", None)
                if not tokens:
                    raise self.connection.error("gave no logprobs though asked (transformers serve ignores them): use a server "
                                      "that returns them (vLLM, llama.cpp, inoculate serve) or set logprobs: false")
                # alternatives as [token, logprob] pairs: two token ids may decode to the same text
                logprobs.append([[t.token, t.logprob, [[a.token, a.logprob] for a in (t.top_logprobs or [])]]
                                 for t in tokens])
        return {"texts": texts, "finish": finish, "logprobs": logprobs if request.get("logprobs") else None}

    def __getstate__(self):
        return {"endpoint": self.endpoint, "cache": self.cache, "model": self.model}

    def __setstate__(self, state):
        self.__init__(state["endpoint"], state["cache"], state["model"])


def _api_key(endpoint: Endpoint) -> str | None:
    if endpoint.api_key_env is None:
        return None
    value = os.environ.get(endpoint.api_key_env)
    if not value:
        raise InoculateError(f"the environment variable {endpoint.api_key_env} (api_key_env) is not set", endpoint.where)
    return value


def _first_line(e: BaseException) -> str:
    text = str(getattr(e, "message", None) or e).strip()
    return text.splitlines()[0][:200] if text else type(e).__name__


__all__ = ["ChatClient", "Connection", "Endpoint", "requests_sent"]
