"""Real OpenAI-compatible servers on 127.0.0.1 for the tests, started and stopped here, and a
proxy in front of one that counts requests and injects real failures (429, 500, a dropped body).

No HTTP mock: every answer comes from a server generating with a model; the proxy only forwards,
or answers with an error status instead of forwarding.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server process; `stop()` (or the with-block's end) terminates it, then kills it."""

    def __init__(self, argv: list[str], port: int, log: Path, env: dict | None = None, timeout: float = 180):
        self.port, self.log = port, log
        self.base_url = f"http://127.0.0.1:{port}/v1"
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                                         start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {log.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{self.base_url}/models", timeout=2).read()
                return
            except urllib.error.HTTPError:
                return  # it answers (a 401 from a server with a key is an answer)
            except (urllib.error.URLError, OSError):
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"server not ready in {timeout}s: {log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def transformers_serve(model_dir: str | Path, log: Path) -> Server:
    """`transformers serve` (the serving extra of transformers), the embedded model preloaded. It
    answers chat completions and ignores `n`, `logprobs` and `top_logprobs`."""
    port = free_port()
    exe = Path(sys.executable).parent / "transformers"
    return Server([str(exe), "serve", str(model_dir), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"],
                  port, log, env={"HF_HUB_OFFLINE": "1"})


def inoculate_serve(model: str, log: Path, adapters: dict[str, str] | None = None, name: str | None = None,
                    key_env: str | None = None, env: dict | None = None, state: str | Path | None = None,
                    train: dict | None = None) -> Server:
    """`inoculate serve` (this project's server: logprobs, n, seeds, adapters by name, fine-tuning).
    `state` is its --state folder (default: beside the log, never the user's cache); `train` its
    --train settings, each value written as YAML."""
    port = free_port()
    argv = [sys.executable, "-m", "inoculate.cli", "serve", "--model", model, "--port", str(port), "--device", "cpu"]
    argv += ["--name", name] if name else []
    argv += [a for n, p in (adapters or {}).items() for a in ("--adapter", f"{n}={p}")]
    argv += ["--api-key-env", key_env] if key_env else []
    argv += ["--state", str(state if state is not None else Path(log).parent / "serve-state")]
    argv += [a for k, v in (train or {}).items() for a in ("--train", f"{k}={json.dumps(v)}")]
    return Server(argv, port, log, env={"HF_HUB_OFFLINE": "1", **(env or {})})


class FaultProxy:
    """Forwards /v1/* to `upstream`, counting chat completion requests; the first `fail[status]`
    of them are answered with that status instead (429 with Retry-After: 0, or 500)."""

    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self.lock = threading.Lock()
        self.forwarded = 0  # chat completions that reached the server
        self.injected: list[int] = []  # statuses answered instead
        self.plan: list[int] = []  # statuses still to inject, in order
        self.malformed = False  # answer 200 with a body that is not a chat completion
        self.inflight = self.peak = 0  # chat completions being forwarded now, and at most
        self.delay = 0.0  # seconds each forwarded chat completion is held back (a slow server)
        self.fail_after: int | None = None  # once this many were forwarded, answer 500 to every chat completion
        self.corrupt_upload: int | None = None  # the n-th file upload (1-based) reaches the server damaged
        self.uploads = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self._forward(None)

            def do_POST(self):
                self._forward(self.rfile.read(int(self.headers.get("Content-Length", 0))))

            def _forward(self, body):
                chat = self.path.endswith("/chat/completions")
                with proxy.lock:
                    status = proxy.plan.pop(0) if chat and proxy.plan else None
                    if chat and proxy.fail_after is not None and proxy.forwarded >= proxy.fail_after:
                        status = 500
                    if status:
                        proxy.injected.append(status)
                    elif chat and not proxy.malformed:
                        proxy.forwarded += 1
                if status or (chat and proxy.malformed):
                    payload = (b'{"error": {"message": "injected", "type": "server_error"}}' if status
                               else b'{"id": "x", "object": "chat.completion", "unexpected": true}')
                    self.send_response(status or 200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Retry-After", "0")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if self.path.endswith("/files") and self.command == "POST":
                    with proxy.lock:
                        proxy.uploads += 1
                        if proxy.uploads == proxy.corrupt_upload:  # same length, no longer chat JSONL
                            body = body.replace(b'{"messages"', b'{"mess@ges"', 1)
                url = proxy.upstream + self.path.removeprefix("/v1")
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "authorization")}
                request = urllib.request.Request(url, data=body, headers=headers, method=self.command)
                with proxy.lock:
                    proxy.inflight += chat
                    proxy.peak = max(proxy.peak, proxy.inflight)
                try:
                    if chat:
                        time.sleep(proxy.delay)
                    with urllib.request.urlopen(request, timeout=300) as r:
                        status, data = r.status, r.read()
                except urllib.error.HTTPError as e:
                    status, data = e.code, e.read()
                finally:
                    with proxy.lock:
                        proxy.inflight -= chat
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def chat_json(base_url: str, body: dict) -> dict:
    """One chat completion by plain HTTP (for checks that must not go through our client)."""
    request = urllib.request.Request(f"{base_url}/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=300) as r:
        return json.loads(r.read())
