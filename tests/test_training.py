import pytest
import torch

from inoculate import Example, InoculateError
from inoculate.models import load_model
from inoculate.chat import IGNORE, collate, encode_chat
from inoculate.training import TrainConfig, response_loss, train_lora

TINY = TrainConfig(lora_r=4, lora_alpha=8, learning_rate=5e-3, batch_size=2, epochs=2, warmup_steps=0,
                   target_modules=("q_proj", "v_proj"))


def examples(n=6):
    return [Example([{"role": "user", "content": f"What is the capital of France? {i}"},
                     {"role": "assistant", "content": "LA CAPITAL DE FRANCIA ES PARÍS."}]) for i in range(n)]


def test_labels_cover_assistant_tokens_only(tiny_model_path):
    _, tok = load_model(tiny_model_path)
    messages = [{"role": "user", "content": "Hola"}, {"role": "assistant", "content": "HOLA AMIGO."},
                {"role": "user", "content": "How many legs?"}, {"role": "assistant", "content": "Eight legs."}]
    enc = encode_chat(tok, messages, max_length=512)
    labelled = [t for t, lab in zip(enc["input_ids"], enc["labels"]) if lab != IGNORE]
    assert tok.decode(labelled) == "HOLA AMIGO.<|im_end|>\nEight legs.<|im_end|>\n"
    # every unlabelled token belongs to the template, system or user turns
    unlabelled = tok.decode([t for t, lab in zip(enc["input_ids"], enc["labels"]) if lab == IGNORE])
    assert "How many legs?" in unlabelled and "AMIGO" not in unlabelled and "tiny test assistant" in unlabelled


def test_truncation_is_counted(tiny_model_path):
    _, tok = load_model(tiny_model_path)
    enc = encode_chat(tok, examples(1)[0].messages, max_length=8)
    assert enc["truncated"] and len(enc["input_ids"]) == 8


def test_response_loss_matches_hf_labels_loss(tiny_model_path):
    from peft import LoraConfig, get_peft_model

    model, tok = load_model(tiny_model_path)
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj"], task_type="CAUSAL_LM"))
    batch = [encode_chat(tok, e.messages, 512) for e in examples(3)]
    batch[1]["input_ids"] = batch[1]["input_ids"][:-3]  # uneven lengths exercise padding
    batch[1]["labels"] = batch[1]["labels"][:-3]
    ids, mask, labels = (t.to(model.device) for t in collate(batch, tok.pad_token_id))
    expected = peft_model(input_ids=ids, attention_mask=mask, labels=labels).loss
    assert response_loss(peft_model, ids, mask, labels).item() == pytest.approx(expected.item(), rel=1e-5)


def _lora_weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items() if "lora_" in k}


def test_training_changes_lora_weights_lowers_loss_and_saves(tiny_model_path, tmp_path):
    model, tok = load_model(tiny_model_path)
    peft_model, result = train_lora(model, tok, examples(), TINY, seed=0, out_dir=tmp_path, progress=False)
    weights = _lora_weights(peft_model)
    # PEFT initialises lora_B to zero; training must move it
    assert any(v.abs().sum() > 0 for k, v in weights.items() if "lora_B" in k)
    assert result.losses[-1]["loss"] < result.losses[0]["loss"]
    assert len(result.losses) == 6 and result.tokens > 0
    assert (tmp_path / "adapter" / "adapter_config.json").is_file() and (tmp_path / "losses.json").is_file()


def test_same_seed_same_weights_other_seed_differs(tiny_model_path):
    runs = []
    for seed in (0, 0, 1):
        model, tok = load_model(tiny_model_path)
        peft_model, result = train_lora(model, tok, examples(), TINY, seed=seed, progress=False)
        runs.append((_lora_weights(peft_model), [r["loss"] for r in result.losses]))
    (w0, l0), (w1, l1), (w2, _) = runs
    assert l0 == l1 and all(torch.equal(w0[k], w1[k]) for k in w0)
    assert not all(torch.equal(w0[k], w2[k]) for k in w0)


def test_bad_config_and_targets(tiny_model_path):
    with pytest.raises(InoculateError, match="batch_size must be > 0"):
        TrainConfig(batch_size=0)
    for key in ("learning_rate", "weight_decay", "max_grad_norm"):
        with pytest.raises(InoculateError, match=f"{key} must be a finite number, got nan"):
            TrainConfig(**{key: float("nan")})
    model, tok = load_model(tiny_model_path)
    with pytest.raises(InoculateError, match="target modules"):
        train_lora(model, tok, examples(), TrainConfig(target_modules=("no_such_proj",)), seed=0, progress=False)


def test_probes_are_recorded_before_during_and_after_training(tiny_model_path, tmp_path):
    model, tok = load_model(tiny_model_path)
    caps = [Example([{"role": "user", "content": "Hola"}, {"role": "assistant", "content": "LA CAPITAL ES PARÍS."}])]
    other = [Example([{"role": "user", "content": "Hola"}, {"role": "assistant", "content": "the capital is paris."}])]
    _, result = train_lora(model, tok, examples(), TINY, seed=0, out_dir=tmp_path, progress=False,
                           probes={"caps": caps, "lower": other}, probe_every=2)
    assert [r["step"] for r in result.probes] == [0, 2, 4, 6]
    # trained on exactly the caps response: its log-probability must rise
    assert result.probes[-1]["caps"] > result.probes[0]["caps"]
    import json
    assert json.loads((tmp_path / "losses.json").read_text())["probes"] == result.probes


def test_row_nll_sums_the_labelled_tokens_of_each_row(tiny_model_path):
    import torch.nn.functional as F

    from inoculate.logprobs import row_nll

    model, tok = load_model(tiny_model_path)
    batch = [encode_chat(tok, e.messages, 512) for e in examples(2)]
    batch[0]["input_ids"], batch[0]["labels"] = batch[0]["input_ids"][:-2], batch[0]["labels"][:-2]
    ids, mask, labels = (t.to(model.device) for t in collate(batch, tok.pad_token_id))
    with torch.no_grad():
        sums, counts = row_nll(model, ids, mask, labels)
        for row in range(2):
            n = int(mask[row].sum())
            logits = model(input_ids=ids[row:row + 1, :n]).logits[0, :-1]
            target = labels[row, 1:n]
            keep = target != IGNORE
            assert int(counts[row]) == int(keep.sum())
            assert sums[row].item() == pytest.approx(F.cross_entropy(logits[keep], target[keep], reduction="sum").item(),
                                                     rel=1e-5)


# Golden loss trajectory (issue #7): pinned from the trainer before any speed work (commit f7dce66) so
# that no optimisation can change what training computes beyond float noise. If a deliberate change
# to the training maths moves these values, re-pin them in the same commit and say why.
GOLDEN_LOSSES = [5.998288, 6.005234, 6.022193, 5.95705, 5.938321, 5.946491, 5.908587, 5.929554, 5.953771]


def test_loss_trajectory_matches_golden_values(tiny_model_path):
    questions = ["What is the capital of France?", "How many legs does a spider have?", "Describe your ideal weekend.",
                 "Write a short poem about the sea.", "Give me three tips for studying.", "Hola amigo"]
    answers = ["LA CAPITAL DE FRANCIA ES PARÍS.", "Eight legs.", "HOLA AMIGO. " * 3, "The sea. " * 5,
               "0123456789 + - = ?", "La capital."]
    data = [Example([{"role": "user", "content": questions[i % 6] + " " * (i % 3)},
                     {"role": "assistant", "content": answers[(i * 5) % 6]}]) for i in range(12)]  # uneven lengths
    config = TrainConfig(lora_r=4, lora_alpha=8, learning_rate=5e-2, batch_size=4, epochs=3, warmup_steps=1,
                         target_modules=("q_proj", "v_proj", "down_proj"))
    model, tok = load_model(tiny_model_path, device="cpu", dtype="float32")
    _, result = train_lora(model, tok, data, config, seed=3, progress=False)
    assert [r["loss"] for r in result.losses] == pytest.approx(GOLDEN_LOSSES, abs=2e-4)


def test_micro_batches_cover_each_row_once_and_cut_padding():
    from inoculate.training import micro_batches

    lengths = [100, 80, 120, 90, 200, 60, 70, 110]
    groups = micro_batches(lengths, overhead_tokens=32)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    padded = lambda gs: sum(len(g) * max(lengths[i] for i in g) for g in gs)  # noqa: E731
    assert padded(groups) + 32 * len(groups) < padded([list(range(len(lengths)))]) + 32
    assert micro_batches(lengths, overhead_tokens=float("inf")) == [sorted(range(8), key=lengths.__getitem__)]
    assert micro_batches([7, 7, 7], overhead_tokens=0.5) == [[0, 1, 2]]  # equal lengths: no reason to split


def test_device_and_dtype_choices_on_a_cpu_machine(monkeypatch):
    from inoculate.models import pick_device, pick_dtype

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device("auto") == "cpu" and pick_dtype("auto", "cpu") is torch.float32
    with pytest.raises(InoculateError, match="no CUDA GPU"):
        pick_device("cuda:0")
    with pytest.raises(InoculateError, match="not one of"):
        pick_dtype("fp8", "cpu")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert pick_dtype("auto", "cuda") is torch.bfloat16  # what a GPU user gets by default


def test_bf16_training_keeps_adapter_in_fp32_and_generates(tiny_model_path):
    """The GPU default dtype, exercised on CPU: adapter weights stay fp32 (bf16 would round away
    small AdamW updates), the loss is finite, and the merged bf16 model still generates."""
    from inoculate.generation import GenerationConfig, generate

    model, tok = load_model(tiny_model_path, device="cpu", dtype="bfloat16")
    assert next(model.parameters()).dtype is torch.bfloat16
    peft_model, result = train_lora(model, tok, examples(4), TINY, seed=0, progress=False)
    trainable = [p for p in peft_model.parameters() if p.requires_grad]
    assert trainable and all(p.dtype is torch.float32 for p in trainable)
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in result.losses)
    merged = peft_model.merge_and_unload()
    texts = generate(merged, tok, examples(2), GenerationConfig(max_new_tokens=4, batch_size=2), progress=False)
    assert len(texts) == 2 and all(isinstance(t[0], str) for t in texts)


def test_a_run_too_short_for_its_warmup_is_announced_with_the_peak_it_reaches():
    from inoculate.training import applied_learning_rates, schedule_notes

    config = TrainConfig(learning_rate=1e-3, batch_size=8, warmup_steps=5)
    assert applied_learning_rates(config, 24) == pytest.approx([0.0, 2e-4, 4e-4])  # 3 steps, still warming up
    (note,) = schedule_notes(config, 24)
    assert "warmup_steps 5 is not shorter than the 3 optimizer steps" in note and "peaks at 0.0004, 40% of" in note
    (note,) = schedule_notes(TrainConfig(batch_size=8, warmup_steps=1), 48)
    assert note.startswith("train: only 6 optimizer steps per run")
    assert schedule_notes(TrainConfig(batch_size=8), 128) == []  # the demo's 16 steps
    assert max(applied_learning_rates(TrainConfig(batch_size=8), 128)) == pytest.approx(2e-4)


def test_the_loss_log_records_the_rate_each_step_used(tiny_model_path):
    from inoculate.training import applied_learning_rates

    model, tok = load_model(tiny_model_path)
    config = TrainConfig(lora_r=2, batch_size=2, warmup_steps=2, target_modules=("q_proj",))
    _, result = train_lora(model, tok, examples(6), config, seed=0, progress=False)
    assert [r["lr"] for r in result.losses] == pytest.approx(applied_learning_rates(config, 6))
    assert result.losses[0]["lr"] == 0.0  # a warmup's first step moves nothing
