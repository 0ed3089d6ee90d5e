"""`inoculate serve` end to end: a real server in a subprocess, serving the tiny random model and a
LoRA adapter on it, talked to only through the `openai` SDK, as users' clients do."""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from servers import inoculate_serve

openai = pytest.importorskip("openai")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

KEY_ENV = "INOCULATE_TEST_SERVE_KEY"
KEY = "test-key-5f0c1d"  # a value that cannot appear in a message by chance
BASE, ADAPTER = "tiny", "tiny-adapter"
ASK = [{"role": "user", "content": "What is the capital of France?"}]


def _lora_adapter(model_path: str, folder) -> str:
    """A LoRA adapter on the tiny model with random (not zero) B matrices, so it changes the outputs."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_pretrained(model_path)
    lora = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False,
                      task_type="CAUSAL_LM")
    get_peft_model(model, lora).save_pretrained(folder)
    return str(folder)


def _client(port: int, key: str = KEY):
    return openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0, timeout=60)


@pytest.fixture(scope="module")
def port(tiny_model_path, tmp_path_factory):
    """A server for the module (with an API key, so one start covers auth too); stopped at the end."""
    adapter = _lora_adapter(tiny_model_path, tmp_path_factory.mktemp("adapter"))
    log = tmp_path_factory.mktemp("server") / "server.log"
    with inoculate_serve(tiny_model_path, log, {ADAPTER: adapter}, BASE, KEY_ENV, {KEY_ENV: KEY}) as server:
        yield server.port


def _chat(port, **kwargs):
    return _client(port).chat.completions.create(**{"model": BASE, "messages": ASK, "max_tokens": 8, **kwargs})


def test_models_are_listed(port):
    models = _client(port).models.list()
    assert [m.id for m in models.data] == [BASE, ADAPTER]
    assert all(m.object == "model" and m.owned_by and isinstance(m.created, int) for m in models.data)


def test_a_chat_completion_returns_text(port):
    r = _chat(port)
    assert r.object == "chat.completion" and r.model == BASE and r.id
    (choice,) = r.choices
    assert choice.message.role == "assistant" and isinstance(choice.message.content, str) and choice.message.content
    assert choice.finish_reason in ("stop", "length") and choice.logprobs is None
    assert 1 <= r.usage.completion_tokens <= 8 and r.usage.prompt_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_n_gives_that_many_choices(port):
    r = _chat(port, n=3, temperature=1.0)
    assert [c.index for c in r.choices] == [0, 1, 2]


def test_the_seed_decides_the_sample(port):
    def texts(seed):
        return [c.message.content for c in _chat(port, n=2, seed=seed, temperature=1.0, max_tokens=24).choices]

    assert texts(7) == texts(7)
    assert texts(7) != texts(8)


def test_greedy_decoding_repeats(port):
    first, again = (_chat(port, temperature=0).choices[0].message.content for _ in range(2))
    assert first == again


def test_concurrent_requests_get_the_answers_they_get_alone(port):
    alone = {seed: _chat(port, seed=seed).choices[0].message.content for seed in range(4)}
    with ThreadPoolExecutor(16) as pool:
        together = list(pool.map(lambda i: (i % 4, _chat(port, seed=i % 4).choices[0].message.content), range(16)))
    assert all(alone[seed] == text for seed, text in together)


@pytest.fixture(scope="module")
def first_token_logprobs(tiny_model_path):
    """The tiny model's raw log-probabilities for the first reply token to ASK, computed in-process."""
    import torch

    from inoculate.chat import render
    from inoculate.models import load_model

    model, tokenizer = load_model(tiny_model_path, "cpu")
    ids = render(tokenizer, ASK, add_generation_prompt=True)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0, -1]
    return torch.log_softmax(logits.float(), dim=-1), tokenizer


def test_logprobs_are_the_raw_distribution(port, first_token_logprobs):
    reference, tokenizer = first_token_logprobs
    greedy = _chat(port, temperature=0, max_tokens=4, logprobs=True, top_logprobs=5).choices[0].logprobs.content
    assert greedy, "the greedy reply ended at once; pick another prompt"
    for entry in greedy:
        alternatives = [a.logprob for a in entry.top_logprobs]
        assert len(alternatives) == 5 and alternatives == sorted(alternatives, reverse=True)
        assert sum(math.exp(lp) for lp in alternatives) <= 1 + 1e-6
        assert entry.logprob == pytest.approx(alternatives[0], abs=1e-6)  # greedy picks the likeliest
        assert entry.bytes == list(entry.token.encode("utf-8"))
    best = int(reference.argmax())
    assert greedy[0].token == tokenizer.decode([best])
    assert greedy[0].logprob == pytest.approx(float(reference[best]), abs=1e-4)
    # sampled hot, the reported logprob is still the raw one, before temperature
    hot = _chat(port, temperature=1.8, seed=3, max_tokens=1, logprobs=True).choices[0].logprobs.content
    same_text = [i for i in range(len(reference)) if tokenizer.decode([i]) == hot[0].token]
    assert any(abs(float(reference[i]) - hot[0].logprob) < 1e-4 for i in same_text)
    assert hot[0].top_logprobs == []


def test_the_adapter_serves_another_distribution(port):
    def first(model):
        reply = _chat(port, model=model, temperature=0, max_tokens=1, logprobs=True, top_logprobs=5)
        return reply.choices[0].logprobs.content[0].top_logprobs

    base, adapted = first(BASE), first(ADAPTER)
    assert max(abs(a.logprob - b.logprob) for a, b in zip(base, adapted)) > 1e-3


def test_an_unknown_model_is_not_found(port):
    with pytest.raises(openai.NotFoundError) as caught:
        _chat(port, model="gpt-4o")
    assert BASE in caught.value.message and ADAPTER in caught.value.message
    assert caught.value.code == "model_not_found"


@pytest.mark.parametrize("bad", [dict(n=0), dict(n=17), dict(top_logprobs=3), dict(stream=True),
                                 dict(temperature=2.5), dict(messages=[]), dict(stop=["\n"]),
                                 dict(extra_body={"frequency_penalty": 0.5}), dict(max_tokens=5000)])
def test_a_bad_request_is_refused(port, bad):
    with pytest.raises(openai.BadRequestError) as caught:
        _chat(port, **bad)
    assert caught.value.body["type"] == "invalid_request_error" and caught.value.body["message"]


def test_a_wrong_key_is_refused_without_echoing_the_key(port):
    with pytest.raises(openai.AuthenticationError) as caught:
        _client(port, key="not-the-key-9a7b").chat.completions.create(model=BASE, messages=ASK, max_tokens=2)
    assert KEY not in str(caught.value) and KEY not in caught.value.response.text
    assert "not-the-key-9a7b" not in caught.value.response.text


def test_a_nan_temperature_is_refused():
    """The SDK cannot send NaN (it writes strict JSON), but other clients can; the body model refuses it."""
    from pydantic import ValidationError

    from inoculate.serve.app import ChatRequest

    with pytest.raises(ValidationError):
        ChatRequest.model_validate({"model": BASE, "messages": ASK, "temperature": float("nan")})
