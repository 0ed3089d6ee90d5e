"""Which chat requests of `inoculate serve` decode together: one thread runs all model work; the
requests wait in one queue, in arrival order, and at every decoding step the thread takes the
waiting requests for the model it is running into its batch (decoding.Batch), up to `max_batch`
requests and `max_rows` rows (a request has n rows). A request is answered as soon as its rows
have ended, whatever the others still have to do.

Models take turns: once the oldest waiting request is for another model, nothing more joins; the
batch runs out and that model goes next, so a steady stream for one model cannot starve another.
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field

from inoculate.errors import InoculateError
from inoculate.serve.decoding import Batch, new_rows
from inoculate.serve.engine import ModelPool, end_of_turn_ids, prompt_for, to_choice


@dataclass(eq=False)
class Request:
    model: str  # served name
    messages: list[dict[str, str]]
    settings: dict  # n, temperature, top_p, seed, max_tokens, top_logprobs (app.sampling)
    future: Future = field(default_factory=Future)  # (prompt tokens, [Choice]) or the request's error
    prompt: list[int] = field(default_factory=list)
    rows: list = field(default_factory=list)  # decoding.Row, one per choice


class Batcher:
    """Runs the chat requests `submit`ted from any thread (see the module doc)."""

    def __init__(self, pool: ModelPool, max_batch: int = 16, max_rows: int = 16):
        if max_batch < 1:
            raise InoculateError(f"must be >= 1 (1 decodes each request alone), got {max_batch}", "--max-batch")
        if max_rows < 1:
            raise InoculateError(f"max_rows must be >= 1, got {max_rows}", "serve")
        self.pool, self.max_batch, self.max_rows = pool, max_batch, max_rows
        self._waiting: deque[Request] = deque()
        self._ready = threading.Condition()  # guards _waiting and _stopping
        self._stopping = False
        # the rest is the batcher thread's alone
        self._batch: Batch | None = None
        self._name = self._tokenizer = None
        self._running: list[Request] = []
        self._thread = threading.Thread(target=self._run, name="inoculate-serve", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the current step; requests not answered by then fail."""
        with self._ready:
            self._stopping = True
            self._ready.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def submit(self, model: str, messages: list[dict[str, str]], settings: dict) -> Future:
        """Queue one request for a served `model`; its future gives (prompt tokens, choices), or raises
        InoculateError when the request does not fit the model (chat template, context length)."""
        request = Request(model, messages, settings)
        with self._ready:
            if self._stopping:
                raise RuntimeError("the server is stopping")
            self._waiting.append(request)
            self._ready.notify()
        return request.future

    def _run(self) -> None:
        while (taken := self._take()) is not None:
            try:
                self._add(taken)
                if self._batch.rows:
                    self._batch.step()
            except Exception as e:  # a failed forward (out of memory, ...) fails the requests it ran, not the server
                for request in {*self._running, *taken}:
                    _fail(request, RuntimeError(f"decoding failed: {type(e).__name__}: {e}"))
                self._running, self._batch = [], None
            self._finish()
        with self._ready:
            for request in [*self._running, *self._waiting]:
                _fail(request, RuntimeError("the server stopped before this request was answered"))

    def _take(self) -> list[Request] | None:
        """The requests to add before the next step (none when nothing new fits), waiting while there is
        nothing to do at all; None when stopping. With nothing running, the oldest waiting request's
        model is loaded and becomes the batch's."""
        with self._ready:
            while not (self._stopping or self._waiting or self._running):
                self._ready.wait()
            if self._stopping:
                return None
            if self._running:
                return self._fitting([])
            first = self._waiting.popleft()
        if not first.future.set_running_or_notify_cancel():
            return []  # cancelled while it waited
        try:
            self._use(first.model)
        except Exception as e:  # the server's fault (a folder deleted since startup), a 500: not the request's
            _fail(first, RuntimeError(f"could not load {first.model}: {e}"))
            return []
        with self._ready:
            return self._fitting([first])

    def _fitting(self, taken: list[Request]) -> list[Request]:
        """`taken` and the waiting requests for the batch's model that fit beside it and the running
        ones, oldest first, up to the first request for another model."""
        rows = len(self._batch.rows) + sum(r.settings["n"] for r in taken)
        while self._waiting and self._waiting[0].model == self._name:
            if not self._batch.joinable and (self._running or taken):
                break
            n = self._waiting[0].settings["n"]
            if len(self._running) + len(taken) >= self.max_batch or rows + n > self.max_rows:
                break
            request = self._waiting.popleft()
            if request.future.set_running_or_notify_cancel():
                taken.append(request)
                rows += n
        return taken

    def _use(self, name: str) -> None:
        """Make `name` the batch's model (loading it if it is not in memory)."""
        model, tokenizer = self.pool.get(name)
        if self._batch is None or self._batch.model is not model:
            self._batch = Batch(model, end_of_turn_ids(model, tokenizer))
        self._name, self._tokenizer = name, tokenizer

    def _add(self, taken: list[Request]) -> None:
        """Prompt and rows for each taken request, then into the batch; a request that does not fit the
        model fails alone."""
        ready, model = [], self._batch.model
        for request in taken:
            s = request.settings
            try:
                request.prompt, limit = prompt_for(model, self._tokenizer, request.messages, s["max_tokens"])
            except InoculateError as e:
                _fail(request, e)
                continue
            request.rows = new_rows(request, s["n"], s["seed"], limit, s["temperature"], s["top_p"],
                                    s["top_logprobs"] or 0)
            ready.append(request)
        if ready:
            self._running += ready
            self._batch.add([(r.prompt, r.rows) for r in ready])

    def _finish(self) -> None:
        """Answer every running request whose rows have all ended."""
        running = []
        for request in self._running:
            if not all(row.done for row in request.rows):
                running.append(request)
                continue
            memo: dict[int, str] = {}
            top = request.settings["top_logprobs"]
            choices = [to_choice(self._tokenizer, r.tokens, r.chosen, r.alternatives, r.ended, top, memo)
                       for r in request.rows]
            request.future.set_result((len(request.prompt), choices))
        self._running = running


def _fail(request: Request, error: Exception) -> None:
    if not request.future.done():  # a request cancelled while it waited is done already
        request.future.set_exception(error)
