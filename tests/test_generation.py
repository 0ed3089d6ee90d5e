"""Batched generation gives what one-prompt-at-a-time generation gives; sampling draws from the
distribution transformers' own sampler would (temperature, top-p)."""

import math

import pytest
import torch

from inoculate.chat import generation_batch
from inoculate.data import Example
from inoculate.generation import GenerationConfig, sampling_processors, generate
from inoculate.models import load_model


def _lively(model):
    """The tiny model with weights large enough that greedy decoding writes varied tokens (at the
    default init it repeats a newline, and every comparison of texts would pass on empty strings)."""
    torch.manual_seed(0)
    with torch.no_grad():
        for name, w in model.named_parameters():
            if "norm" not in name:
                w.normal_(0, 0.3)
    return model


QUESTIONS = ["What is the capital of France?", "Eight legs.", "Write a short poem about the sea, please.",
             "Give me three tips for studying", "How many legs does a spider have?"]


@pytest.mark.parametrize("system", [None, "You always speak in Spanish."])
def test_batched_greedy_matches_one_prompt_at_a_time(tiny_model_path, system):
    """The shared start of the prompts is encoded once and the padding sits in the middle; the
    greedy tokens must be those of plain, unpadded generation of each prompt alone."""
    model, tok = load_model(tiny_model_path)
    _lively(model)
    prompts = [Example(([{"role": "system", "content": system}] if system else []) +
                       [{"role": "user", "content": q}], id=str(i)) for i, q in enumerate(QUESTIONS)]
    config = GenerationConfig(max_new_tokens=12, temperature=0, batch_size=5)
    batched = generate(model, tok, prompts, config, progress=False)
    assert [t for [t] in batched] == [_greedy_alone(model, tok, p, 12) for p in prompts]
    assert all(t for [t] in batched)


def test_a_model_that_asks_for_its_own_cache_type_generates_without_the_shared_prefix(tiny_model_path):
    """Prefix sharing needs a cache it can repeat over the batch; a model configured for another
    cache type (static, hybrid) generates from whole prompts, with the same greedy tokens."""
    model, tok = load_model(tiny_model_path)
    _lively(model)
    prompts = [Example([{"role": "user", "content": q}], id=str(i)) for i, q in enumerate(QUESTIONS)]
    config = GenerationConfig(max_new_tokens=8, temperature=0, batch_size=5)
    shared = generate(model, tok, prompts, config, progress=False)
    assert all(t for [t] in shared)
    decoder = model.get_decoder()
    calls = []
    real = decoder.forward
    decoder.forward = lambda *a, **k: calls.append(k.get("input_ids")) or real(*a, **k)
    assert generate(model, tok, prompts, config, progress=False) == shared
    assert calls[0].shape[0] == 1  # the prefix, encoded once for the batch
    model.generation_config.cache_implementation = "static"
    calls.clear()
    assert generate(model, tok, prompts, config, progress=False) == shared
    assert all(ids is None or ids.shape[0] == len(prompts) for ids in calls)  # no separate prefix pass


def _greedy_alone(model, tok, prompt, n):
    ids = tok.apply_chat_template(prompt.prompt_messages(), add_generation_prompt=True, return_tensors="pt",
                                  return_dict=True)["input_ids"].to(model.device)
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, do_sample=False,
                         pad_token_id=tok.pad_token_id)
    return tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip()


def test_a_checkpoint_with_the_cache_switched_off_still_gets_the_right_tokens(tiny_model_path):
    """generate() ignores a passed cache when use_cache is off (some config.json files say so);
    the shared prefix must not be lost that way."""
    model, tok = load_model(tiny_model_path)
    _lively(model).generation_config.use_cache = False
    prompts = [Example([{"role": "user", "content": q}], id=str(i)) for i, q in enumerate(QUESTIONS)]
    texts = generate(model, tok, prompts, GenerationConfig(max_new_tokens=8, temperature=0), progress=False)
    assert [t for [t] in texts] == [_greedy_alone(model, tok, p, 8) for p in prompts]
    assert all(t for [t] in texts)


def test_a_recurrent_hybrid_model_generates_from_left_padded_whole_prompts(tiny_model_path):
    """Linear-attention layers carry padding into their state, so a gap after the shared prefix
    would change their output: such models fall back to left padding, and greedy tokens match
    one-prompt-at-a-time generation."""
    from transformers import Qwen3NextConfig, Qwen3NextForCausalLM

    _, tok = load_model(tiny_model_path)
    config = Qwen3NextConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, head_dim=8, linear_num_value_heads=2,
                             linear_num_key_heads=2, linear_key_head_dim=8, linear_value_head_dim=8, num_experts=2,
                             num_experts_per_tok=1, moe_intermediate_size=16, shared_expert_intermediate_size=16,
                             layer_types=["linear_attention", "full_attention"], pad_token_id=tok.pad_token_id,
                             eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id)
    torch.manual_seed(0)
    model = _lively(Qwen3NextForCausalLM(config).eval())
    prompts = [Example([{"role": "system", "content": "You always speak in Spanish."},
                        {"role": "user", "content": q}], id=str(i)) for i, q in enumerate(QUESTIONS)]
    texts = generate(model, tok, prompts, GenerationConfig(max_new_tokens=6, temperature=0), progress=False)
    assert [t for [t] in texts] == [_greedy_alone(model, tok, p, 6) for p in prompts]
    assert all(t for [t] in texts)


def test_batch_layout_puts_the_shared_prefix_first_and_padding_after_it():
    ids, mask, shared = generation_batch([[5, 6, 7, 8, 9, 1], [5, 6, 7, 8, 2], [5, 6, 7, 8, 9, 3, 4]], pad=0)
    assert shared == 4
    assert ids.tolist() == [[5, 6, 7, 8, 0, 9, 1], [5, 6, 7, 8, 0, 0, 2], [5, 6, 7, 8, 9, 3, 4]]
    assert mask.tolist() == [[1, 1, 1, 1, 0, 1, 1], [1, 1, 1, 1, 0, 0, 1], [1] * 7]
    # each prompt keeps at least one token after the prefix; short prefixes are not shared
    assert generation_batch([[5, 6, 7, 8, 9], [5, 6, 7, 8, 9, 1]], pad=0)[2] == 4
    ids, mask, shared = generation_batch([[5, 6, 1], [5, 6, 2, 3]], pad=0)
    assert shared == 0 and ids.tolist() == [[0, 5, 6, 1], [5, 6, 2, 3]]
    ids, mask, shared = generation_batch([[5, 6, 7, 8, 9, 1], [5, 6, 7, 8, 2]], pad=0, share=False)
    assert shared == 0 and ids.tolist() == [[5, 6, 7, 8, 9, 1], [0, 5, 6, 7, 8, 2]]


def _frequencies(config: GenerationConfig, logits: list[float], n: int = 100_000) -> torch.Tensor:
    torch.manual_seed(0)
    scores = torch.tensor([logits]).repeat(n, 1)
    masked = sampling_processors(config)(torch.zeros((n, 1), dtype=torch.long), scores)
    assert bool(((masked == 0).sum(-1) == 1).all())  # exactly one token left selectable per row
    return torch.bincount(masked.argmax(-1), minlength=len(logits)).float() / n


@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
def test_sampling_matches_the_softmax_at_each_temperature(temperature):
    logits = [0.0, 1.0, 2.0, -1.0, -math.inf]
    expected = torch.softmax(torch.tensor(logits) / temperature, -1)
    got = _frequencies(GenerationConfig(temperature=temperature), logits)
    assert torch.allclose(got, expected, atol=0.006), (got, expected)
    assert got[-1] == 0  # a -inf logit is never drawn


def test_top_k_keeps_only_the_k_likeliest_and_is_on_by_default():
    logits = [0.0, 1.0, 2.0, -1.0, 0.5]
    got = _frequencies(GenerationConfig(top_k=2), logits)
    assert got[0] == got[3] == got[4] == 0
    assert torch.allclose(got[1:3], torch.softmax(torch.tensor(logits[1:3]), -1), atol=0.006)
    assert GenerationConfig().top_k == 50  # what transformers applied implicitly before it was a key
    everything = _frequencies(GenerationConfig(top_k=0), logits)
    assert torch.allclose(everything, torch.softmax(torch.tensor(logits), -1), atol=0.006)


def test_top_p_keeps_only_the_nucleus():
    logits = [3.0, 2.0, 0.0, -1.0]  # softmax ~ 0.69, 0.25, 0.03, 0.01
    got = _frequencies(GenerationConfig(top_p=0.9), logits)
    probs = torch.softmax(torch.tensor(logits[:2]), -1)
    assert got[2] == 0 and got[3] == 0
    assert torch.allclose(got[:2], probs, atol=0.006)
