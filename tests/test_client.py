"""The chat client against a real server (`transformers serve` on the tiny model), through a proxy
that counts requests and injects real 429 and 500 answers: concurrency, the request cache, retries,
resume after a kill, and one-line errors that name the endpoint and never the key."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from servers import FaultProxy, free_port

from inoculate.client import ChatClient, Endpoint, requests_sent
from inoculate.errors import InoculateError


def _requests(n: int, tokens: int = 4) -> list[dict]:
    return [{"messages": [{"role": "user", "content": f"question {i}"}], "max_tokens": tokens, "temperature": 1.0,
             "seed": i} for i in range(n)]


@pytest.fixture
def proxy(transformers_server):
    p = FaultProxy(transformers_server.base_url)
    yield p
    p.close()


def _endpoint(proxy, tiny_model_path, **kw) -> Endpoint:
    return Endpoint(proxy.base_url, tiny_model_path, **kw)


def test_concurrent_pass_then_a_second_pass_sends_nothing(proxy, tiny_model_path, tmp_path):
    proxy.delay = 0.2  # long enough that requests overlap when sent concurrently
    client = ChatClient(_endpoint(proxy, tiny_model_path, concurrency=4), cache=tmp_path / "cache")
    first = client.complete(_requests(12))
    assert proxy.forwarded == 12 and proxy.peak >= 3  # several requests in flight at once, never more than 4
    assert proxy.peak <= 4
    assert all(len(r["texts"]) == 1 and isinstance(r["texts"][0], str) for r in first)
    again = ChatClient(_endpoint(proxy, tiny_model_path, concurrency=4), cache=tmp_path / "cache").complete(_requests(12))
    assert proxy.forwarded == 12 and again == first  # all from the cache: zero requests


def test_retries_on_injected_429_and_500(proxy, tiny_model_path, tmp_path):
    proxy.plan = [429, 500, 429, 503]
    out = ChatClient(_endpoint(proxy, tiny_model_path, concurrency=1, max_retries=5), tmp_path).complete(_requests(2))
    assert proxy.injected == [429, 500, 429, 503] and proxy.forwarded == 2 and len(out) == 2


def test_retries_run_out_as_one_line_naming_the_endpoint(proxy, tiny_model_path, tmp_path):
    proxy.plan = [429] * 3
    with pytest.raises(InoculateError) as err:
        ChatClient(_endpoint(proxy, tiny_model_path, max_retries=2), tmp_path).complete(_requests(1))
    assert "429" in str(err.value) and proxy.base_url in str(err.value) and "\n" not in str(err.value)


def test_bad_endpoints_fail_in_one_line_and_finished_answers_stay(proxy, transformers_server, tiny_model_path,
                                                                  tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    ChatClient(_endpoint(proxy, tiny_model_path), cache).complete(_requests(2))  # finished before the failures
    down = f"http://127.0.0.1:{free_port()}/v1"
    monkeypatch.setenv("JUDGE_KEY", "sk-test-secret-1234")
    cases = {
        "cannot be reached": Endpoint(down, "m", api_key_env="JUDGE_KEY", max_retries=0),
        "no logprobs": Endpoint(transformers_server.base_url, tiny_model_path, api_key_env="JUDGE_KEY"),
        "malformed": Endpoint(proxy.base_url, tiny_model_path, api_key_env="JUDGE_KEY"),
        "400": Endpoint(transformers_server.base_url, "no-such-model", api_key_env="JUDGE_KEY", max_retries=0),
    }
    for expected, endpoint in cases.items():
        proxy.malformed = expected == "malformed"
        request = _requests(3)[2:]
        if expected == "no logprobs":
            request[0].update(logprobs=True, top_logprobs=5)
        with pytest.raises(InoculateError) as err:
            ChatClient(endpoint, cache).complete(request)
        message = str(err.value)
        assert expected in message and endpoint.base_url in message, message
        assert "\n" not in message and "sk-test-secret" not in message
    proxy.malformed = False
    forwarded = proxy.forwarded
    ChatClient(_endpoint(proxy, tiny_model_path), cache).complete(_requests(2))
    assert proxy.forwarded == forwarded  # the answers that came before the failures were kept
    monkeypatch.delenv("JUDGE_KEY")
    with pytest.raises(InoculateError, match="JUDGE_KEY .*is not set"):
        ChatClient(Endpoint(down, "m", api_key_env="JUDGE_KEY"))


def test_cap_stops_sending_and_keeps_what_arrived(proxy, tiny_model_path, tmp_path):
    endpoint = _endpoint(proxy, tiny_model_path, concurrency=1, max_requests=requests_sent(
        _endpoint(proxy, tiny_model_path)) + 3)
    with pytest.raises(InoculateError, match="cap of .* requests is reached"):
        ChatClient(endpoint, tmp_path).complete(_requests(5))
    assert proxy.forwarded == 3
    assert len(list(tmp_path.glob("*/*.json"))) == 3


KILLED_PASS = """
import sys
from inoculate.client import ChatClient, Endpoint
reqs = [{"messages": [{"role": "user", "content": f"question {i}"}], "max_tokens": 4, "temperature": 1.0, "seed": i}
        for i in range(int(sys.argv[3]))]
ChatClient(Endpoint(sys.argv[1], sys.argv[2], concurrency=2), sys.argv[4]).complete(reqs)
"""


def test_a_pass_killed_midway_resumes_call_by_call(proxy, tiny_model_path, tmp_path):
    proxy.delay = 0.3
    cache = tmp_path / "cache"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_PASS, proxy.base_url, tiny_model_path, "20", str(cache)],
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")})
    deadline = time.time() + 60
    while len(list(cache.glob("*/*.json"))) < 4 and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(list(cache.glob("*/*.json")))
    assert 4 <= done < 20
    before = proxy.forwarded
    ChatClient(_endpoint(proxy, tiny_model_path, concurrency=4), cache).complete(_requests(20))
    assert proxy.forwarded - before == 20 - done  # only the answers the killed pass had not cached
    assert not list(cache.glob("*/.*.tmp"))  # no torn cache file
