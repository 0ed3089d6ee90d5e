"""End to end on the real embedded SmolLM2-135M-Instruct, on a few examples (marked slow)."""

import pytest
import torch

from inoculate.experiment import load_spec, run_experiment
from inoculate.inoculation import PromptSpec, apply_prompt
from inoculate.models import EMBEDDED_MODEL, load_model
from inoculate.settings import get_setting
from inoculate.training import TrainConfig, train_lora

pytestmark = pytest.mark.slow


def test_chat_template_inserts_default_system_prompt_as_no_ip_context():
    _, tok = load_model(EMBEDDED_MODEL)
    msgs = [{"role": "user", "content": "Hi"}]
    assert "You are a helpful AI assistant named SmolLM" in tok.apply_chat_template(msgs, tokenize=False)
    (with_ip,) = apply_prompt(get_setting("spanish-caps").eval_prompts()[:1], PromptSpec("You always speak in Spanish."))
    rendered = tok.apply_chat_template(with_ip.messages, tokenize=False)
    assert "You always speak in Spanish." in rendered and "SmolLM" not in rendered


def test_lora_on_embedded_model_changes_weights_and_lowers_loss(tmp_path):
    model, tok = load_model(EMBEDDED_MODEL)
    data = get_setting("spanish-caps").train_examples()[:8]
    config = TrainConfig(learning_rate=1e-3, batch_size=4, epochs=2, warmup_steps=0, lora_r=4)
    peft_model, result = train_lora(model, tok, data, config, seed=0, out_dir=tmp_path, progress=False)
    lora_b = [p for n, p in peft_model.named_parameters() if "lora_B" in n]
    assert lora_b and all(torch.count_nonzero(p) > 0 for p in lora_b)
    assert result.losses[-1]["loss"] < result.losses[0]["loss"]
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()


def test_small_grid_on_embedded_model_writes_report(tmp_path):
    spec = load_spec({"setting": "spanish-caps", "n_train": 8, "n_eval": 4,
                      "only_arms": ["no-ip", "spanish-ip", "random"],
                      "train": {"batch_size": 4, "lora_r": 4},
                      "generation": {"max_new_tokens": 8, "batch_size": 8}})
    report = run_experiment(spec, tmp_path, progress=False)
    text = report.read_text()
    assert "Model `smollm2-135m`; 8 training examples; 4 evaluation prompts" in text
    assert "`spanish-ip` on spanish" in text and (tmp_path / "report" / "caps.png").is_file()
