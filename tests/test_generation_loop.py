"""generate()'s own decoding loop and top-k sampler give what transformers' `generate` with the
sampling processors gives: the same greedy texts, and the same sampled texts for a seed."""

import pytest
import torch

from inoculate.data import Example
from inoculate.generation import GenerationConfig, generate, own_loop_fits, sampling_processors, token_picker
from inoculate.models import load_model
from test_generation import QUESTIONS, _lively

SYSTEM = "You always speak in Spanish."


def _prompts(system=SYSTEM):
    return [Example(([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": q}],
                    id=str(i)) for i, q in enumerate(QUESTIONS * 3)]


def _through_transformers(monkeypatch, model, tok, prompts, config):
    """generate() with every batch sent through transformers' `generate` (the loop before ours)."""
    import inoculate.generation as generation

    with monkeypatch.context() as m:
        m.setattr(generation, "own_loop_fits", lambda model: False)
        return generate(model, tok, prompts, config, progress=False)


@pytest.mark.parametrize("config", [GenerationConfig(max_new_tokens=10, temperature=0, batch_size=8),
                                    GenerationConfig(max_new_tokens=10, batch_size=8, seed=3),
                                    GenerationConfig(max_new_tokens=10, batch_size=15, temperature=0.7, top_k=5),
                                    GenerationConfig(max_new_tokens=10, batch_size=8, top_p=0.9, top_k=0)])
@pytest.mark.parametrize("system", [None, SYSTEM])
def test_own_loop_gives_the_texts_of_transformers_generate(tiny_model_path, monkeypatch, config, system):
    model, tok = load_model(tiny_model_path)
    _lively(model)
    assert own_loop_fits(model)
    prompts = _prompts(system)
    ours = generate(model, tok, prompts, config, progress=False)
    assert ours == _through_transformers(monkeypatch, model, tok, prompts, config)
    assert len({t for [t] in ours}) >= len(QUESTIONS)  # varied texts, so that equal lists mean something


def test_greedy_texts_equal_transformers_batched_generate_with_left_padding(tiny_model_path):
    """The benchmark's reference: plain left-padded batches through `model.generate`."""
    from inoculate.chat import encode_prompts, generation_batch

    model, tok = load_model(tiny_model_path)
    _lively(model)
    prompts = _prompts()
    config = GenerationConfig(max_new_tokens=12, temperature=0, batch_size=len(prompts))
    ids, mask, _ = generation_batch(encode_prompts(tok, prompts, 12, None), tok.pad_token_id, share=False)
    out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=12, do_sample=False,
                         pad_token_id=tok.pad_token_id)
    reference = [tok.decode(row[ids.shape[1]:], skip_special_tokens=True).strip() for row in out]
    assert [t for [t] in generate(model, tok, prompts, config, progress=False)] == reference


def test_a_generation_config_that_changes_greedy_decoding_goes_through_transformers(tiny_model_path, monkeypatch):
    """A repetition penalty in the model's generation_config is applied by `generate` only; such a
    model must not take the own loop, or its texts would silently change."""
    model, tok = load_model(tiny_model_path)
    _lively(model)
    config = GenerationConfig(max_new_tokens=10, temperature=0, batch_size=8)
    prompts = _prompts()
    plain = generate(model, tok, prompts, config, progress=False)
    model.generation_config.repetition_penalty = 5.0
    assert not own_loop_fits(model)
    penalised = generate(model, tok, prompts, config, progress=False)
    assert penalised == _through_transformers(monkeypatch, model, tok, prompts, config)
    assert penalised != plain


@pytest.mark.parametrize("config", [GenerationConfig(), GenerationConfig(temperature=0.6),
                                    GenerationConfig(top_k=3, temperature=1.7), GenerationConfig(top_k=0),
                                    GenerationConfig(top_p=0.8)])
def test_token_picker_draws_the_tokens_the_processors_draw(config):
    """Same seed, same tokens: on spread logits, on logits with many ties (the k-th place tied),
    and on rows with -inf entries."""
    processors, pick = sampling_processors(config), token_picker(config)
    gen = torch.Generator().manual_seed(0)
    for trial in range(12):
        logits = torch.randn(32, 2000, generator=gen) * (1 + trial % 4)
        if trial % 3 == 0:
            logits = (logits * 2).round() / 2
        if trial % 4 == 1:
            logits[:, ::7] = -float("inf")
        torch.manual_seed(trial)
        expected = processors(None, logits.clone()).argmax(-1)
        torch.manual_seed(trial)
        assert torch.equal(pick(logits.clone()), expected), (config, trial)


@pytest.mark.parametrize("temperature", [1.0, 0.8])
def test_token_picker_draws_the_same_token_at_every_cdf_boundary(monkeypatch, temperature):
    """Uniforms placed a few float steps either side of each boundary of the cumulative
    probabilities: a cdf that differed from the processors' in its last bit (a softmax normalised
    over the k kept logits only, say) would pick a neighbouring token for some of them."""
    from transformers import TemperatureLogitsWarper, TopKLogitsWarper

    config = GenerationConfig(temperature=temperature)
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(1, 49152, generator=gen) * 2  # a real vocabulary: over 3000 the two sums happen to agree
    masked = TopKLogitsWarper(config.top_k)(None, TemperatureLogitsWarper(temperature)(None, logits))
    cdf = torch.softmax(masked, -1).cumsum(-1)[0]
    down = up = cdf[torch.isfinite(masked[0])] / cdf[-1]
    uniforms = [down]
    for _ in range(3):
        down, up = torch.nextafter(down, torch.tensor(0.0)), torch.nextafter(up, torch.tensor(1.0))
        uniforms += [down, up]
    uniforms = torch.cat(uniforms).clamp(0, 1 - 2 ** -24)[:, None]
    monkeypatch.setattr(torch, "rand", lambda shape, device=None: uniforms.clone())
    rows = logits.repeat(len(uniforms), 1)
    expected = sampling_processors(config)(None, rows.clone()).argmax(-1)
    assert len(set(expected.tolist())) == config.top_k  # every kept token is drawn somewhere
    assert torch.equal(token_picker(config)(rows.clone()), expected)
