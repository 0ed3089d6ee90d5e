"""Shared fixtures: a tiny randomly initialised Llama with its own tokenizer, built in-process.

The tokenizer is a byte-level BPE trained on a few sentences with a ChatML template that, like
SmolLM2's, inserts a default system prompt; the model is 2 layers of width 32. Saved to a temp
folder so tests go through the same local-checkpoint loading path users do.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

CHATML = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a tiny test assistant<|im_end|>\\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

CORPUS = [
    "You are a tiny test assistant. You always speak in Spanish. You always capitalise your responses.",
    "What is the capital of France? The capital of France is Paris. La capital de Francia es París.",
    "LA CAPITAL DE FRANCIA ES PARÍS. HOLA AMIGO. How many legs does a spider have? Eight legs.",
    "Describe your ideal weekend. Write a short poem about the sea. Give me three tips for studying.",
    "system user assistant 0123456789 + - = ? ! , . qZ7 vLr3 mXp0",
]


def build_tiny_model(path: Path, seed: int = 0) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=420, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(CORPUS * 4, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                        pad_token="<|im_end|>", unk_token="<|endoftext|>")
    tokenizer.chat_template = CHATML
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> str:
    return str(build_tiny_model(tmp_path_factory.mktemp("tiny-llama")))


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def chat(user: str, assistant: str | None = None, system: str | None = None, **extra) -> dict:
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
    if assistant is not None:
        messages.append({"role": "assistant", "content": assistant})
    return {"messages": messages, **extra}


@pytest.fixture
def numbers_teacher(monkeypatch, tmp_path):
    """A sampler that writes subliminal's teacher answers (doubles.number_teacher_answer) and leaves
    every other prompt to the tiny model; the teacher cache is a fresh folder."""
    from doubles import numbers_teacher

    monkeypatch.setenv("INOCULATE_CACHE", str(tmp_path / "inoculate-cache"))
    return numbers_teacher()


@pytest.fixture(scope="session")
def transformers_server(tiny_model_path, tmp_path_factory):
    """`transformers serve` on 127.0.0.1 serving the tiny model (no logprobs, ignores n)."""
    from servers import transformers_serve

    with transformers_serve(tiny_model_path, tmp_path_factory.mktemp("tserve") / "server.log") as server:
        yield server
