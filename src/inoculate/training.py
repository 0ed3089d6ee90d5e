"""LoRA supervised fine-tuning with the loss on assistant tokens only.

A plain PyTorch loop over a PEFT model (nanoGPT-style: data -> step -> log -> save). We keep
our own loop rather than TRL's SFTTrainer so that batching and masking stay visible and cheap
on a 2-core CPU; bench/ compares the two.
"""

from __future__ import annotations

import math
import random
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inoculate._config import positive
from inoculate._faults import crash_point
from inoculate._io import atomic_write_bytes, atomic_write_json
from inoculate.data import Example
from inoculate.errors import InoculateError

IGNORE = -100  # label value that the loss skips
CPU_CALL_OVERHEAD_TOKENS = 64  # fixed cost of one forward+backward call, in token positions (see micro_batches)

# peft calls a transformers method that v5 deprecates; the warning is theirs and not actionable here.
warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)


@dataclass(frozen=True)
class TrainConfig:
    """LoRA SFT hyperparameters. Unknown keys and wrong types are rejected when loading a spec."""

    lora_r: int = 16  # LoRA rank
    lora_alpha: int = 32  # LoRA scale numerator (effective scale alpha / r)
    lora_dropout: float = 0.0  # 0 keeps training deterministic for a seed
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    learning_rate: float = 2e-4  # peak AdamW learning rate
    lr_schedule: str = "cosine"  # cosine | linear | constant (after warmup)
    warmup_steps: int = 5  # optimizer steps of linear warmup
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0  # gradient clipping; 0 disables
    epochs: int = 1  # passes over the training data
    batch_size: int = 8  # examples per optimizer step
    max_length: int = 256  # tokens per example; longer ones are truncated (and counted)
    checkpoint_every: int = 10  # optimizer steps between resumable checkpoints; 0 disables
    device: str = "auto"  # auto | cpu | cuda[:N]
    dtype: str = "auto"  # auto (fp32 on CPU, bf16 on GPU) | float32 | bfloat16 | float16

    def __post_init__(self):
        positive("train", lora_r=self.lora_r, lora_alpha=self.lora_alpha, learning_rate=self.learning_rate,
                 epochs=self.epochs, batch_size=self.batch_size, max_length=self.max_length)
        if self.lr_schedule not in ("cosine", "linear", "constant"):
            raise InoculateError(f"lr_schedule {self.lr_schedule!r} is not one of cosine, linear, constant", "train")
        if not 0 <= self.lora_dropout < 1:
            raise InoculateError("lora_dropout must be in [0, 1)", "train")
        if min(self.warmup_steps, self.weight_decay, self.max_grad_norm, self.checkpoint_every) < 0:
            raise InoculateError("warmup_steps, weight_decay, max_grad_norm and checkpoint_every must be >= 0", "train")
        if not self.target_modules:
            raise InoculateError("target_modules must name at least one module", "train")


def _render(tokenizer, messages: list[dict[str, str]], add_generation_prompt: bool) -> list[int]:
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    return tokenizer(text, add_special_tokens=False).input_ids


def encode_chat(tokenizer, messages: list[dict[str, str]], max_length: int) -> dict[str, Any]:
    """Token ids of the whole conversation, with labels only on assistant turns.

    Each assistant turn's tokens are found by rendering the conversation up to it (with the
    generation prompt) and through it; the difference is the turn, end-of-turn token included,
    so the model also learns where to stop.
    """
    input_ids = _render(tokenizer, messages, add_generation_prompt=False)
    labels = [IGNORE] * len(input_ids)
    for i, msg in enumerate(messages):
        if msg["role"] != "assistant":
            continue
        prefix = _render(tokenizer, messages[:i], add_generation_prompt=True)
        start, end = len(prefix), len(_render(tokenizer, messages[: i + 1], add_generation_prompt=False))
        if input_ids[:start] != prefix:
            raise InoculateError("the chat template does not render conversations as prefixes of each other; "
                                 "cannot locate assistant tokens")
        labels[start:end] = input_ids[start:end]
    truncated = len(input_ids) > max_length
    return {"input_ids": input_ids[:max_length], "labels": labels[:max_length], "truncated": truncated}


def encode_examples(tokenizer, examples: list[Example], max_length: int) -> list[dict[str, Any]]:
    """encode_chat for each example; an example whose prompt leaves no room for its response is an error."""
    encoded = [encode_chat(tokenizer, ex.messages, max_length) for ex in examples]
    for i, e in enumerate(encoded):
        if all(lab == IGNORE for lab in e["labels"]):
            raise InoculateError(f"the prompt of training example {examples[i].id or i} fills max_length="
                                 f"{max_length} tokens, leaving no response to learn; shorten it or raise "
                                 "train.max_length", "train data")
    return encoded


def _collate(batch: list[dict[str, Any]], pad_id: int):
    import torch

    width = max(len(b["input_ids"]) for b in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, b in enumerate(batch):
        n = len(b["input_ids"])
        ids[row, :n] = torch.tensor(b["input_ids"])
        labels[row, :n] = torch.tensor(b["labels"])
        mask[row, :n] = 1
    return ids, mask, labels


def lm_parts(model):
    """(decoder, LM head, config) of a causal LM (PEFT-wrapped or not), so that logits can be computed
    at chosen positions only; None where logits need the full forward (soft-capping, logit
    scaling: the head alone would give wrong log-probabilities)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    special = any(getattr(base.config, k, None) for k in ("final_logit_softcapping", "logit_scale", "output_multiplier"))
    if special or not hasattr(base, "get_decoder") or base.get_output_embeddings() is None:
        return None
    return base.get_decoder(), base.get_output_embeddings(), base.config


def _labelled_logits(model, ids, mask, labels):
    """Next-token logits at labelled positions only, their targets, and each one's row.

    With a 49k-token vocabulary the LM head is about a fifth of the model's FLOPs, and most
    positions (system and user turns) need none.
    """
    targets = labels[:, 1:]
    keep = targets != IGNORE
    parts = lm_parts(model)
    if parts is None:
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1][keep]
    else:
        hidden = parts[0](input_ids=ids, attention_mask=mask).last_hidden_state
        logits = parts[1](hidden[:, :-1][keep])
    return logits.float(), targets[keep], keep.nonzero()[:, 0]


def response_loss(model, ids, mask, labels, n_labelled: int | None = None):
    """Next-token cross-entropy summed over the labelled positions and divided by `n_labelled`
    (default: their count, which is the mean HF's `labels=` loss gives). Passing the whole batch's
    count lets the micro-batches of one batch add up to exactly the batch's mean loss."""
    import torch.nn.functional as F

    logits, targets, _ = _labelled_logits(model, ids, mask, labels)
    return F.cross_entropy(logits, targets, reduction="sum") / (n_labelled or len(targets))


def micro_batches(lengths: list[int], overhead_tokens: float) -> list[list[int]]:
    """Split one batch into groups of similar length that waste little padding.

    A padded batch costs (rows x longest row) token positions; each extra group costs about
    `overhead_tokens` positions of fixed per-call work. Over the lengths in sorted order, dynamic
    programming picks the contiguous groups of least total cost. Gradients are summed over the
    groups, so the optimizer step is the same as for the padded batch (the golden-loss test pins
    this). Measured on this CPU (bench/README.md): on the short spanish-caps batches speed is
    unchanged within noise and peak memory drops from 4.3 to 3.2 GB; on code-reward-hacking's long
    ones (batch 8, up to 640 tokens) 77 -> 131 tokens/s and 15.9 -> 6.9 GB. Smaller overheads
    split too finely and lose speed (one sequence per call: -20%). Returns index lists into `lengths`.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    best = [0.0] + [math.inf] * len(order)  # best[j]: least cost of the first j sorted rows
    cut = [0] * (len(order) + 1)
    for j in range(1, len(order) + 1):
        for i in range(j):
            cost = best[i] + (j - i) * lengths[order[j - 1]] + overhead_tokens
            if cost < best[j]:
                best[j], cut[j] = cost, i
    groups, j = [], len(order)
    while j:
        groups.append(order[cut[j]:j])
        j = cut[j]
    return groups[::-1]


def response_nll(model, ids, mask, labels):
    """Per-example mean negative log-likelihood of the labelled (response) tokens, shape [batch]."""
    import torch
    import torch.nn.functional as F

    logits, targets, rows = _labelled_logits(model, ids, mask, labels)
    nll = F.cross_entropy(logits, targets, reduction="none")
    sums = torch.zeros(ids.shape[0], dtype=nll.dtype, device=nll.device).index_add_(0, rows, nll)
    counts = torch.bincount(rows, minlength=ids.shape[0]).clamp(min=1)
    return sums / counts


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class TrainResult:
    losses: list[dict[str, float]]  # one row per optimizer step: step, epoch, loss, lr, tokens
    seconds: float
    tokens: int  # tokens processed (all positions, padding excluded)
    truncated: int  # examples cut at max_length
    probes: list[dict[str, float]] = field(default_factory=list)  # step + mean log-prob per probe set

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


def probe_logprobs(model, probes: dict[str, list[dict[str, Any]]], pad_id: int) -> dict[str, float]:
    """Mean per-token log-probability of each probe set's reference responses (Tan et al. §4.2).

    `probes` maps a name to encoded conversations (encode_chat) whose assistant turn expresses one
    trait only; tracking these over training shows which trait the model is absorbing.
    """
    import torch

    out = {}
    with torch.no_grad():
        for name, encoded in probes.items():
            ids, mask, labels = (t.to(next(model.parameters()).device) for t in _collate(encoded, pad_id))
            out[name] = -float(response_nll(model, ids, mask, labels).mean())
    return out


def train_lora(model, tokenizer, examples: list[Example], config: TrainConfig, seed: int,
               out_dir: str | Path | None = None, progress: bool = True,
               probes: dict[str, list[Example]] | None = None, probe_every: int = 0):
    """Fine-tune `model` with a fresh LoRA adapter; return (peft_model, TrainResult).

    With `out_dir`, the adapter is saved in PEFT format to out_dir/adapter and the loss log to
    out_dir/losses.json (both written atomically). With `probes` and `probe_every`, the probe
    sets' log-probabilities are recorded before training, every `probe_every` steps and at the end.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from tqdm.auto import tqdm
    from transformers import get_scheduler

    if not examples:
        raise InoculateError("no training examples")
    seed_everything(seed)
    encoded = encode_examples(tokenizer, examples, config.max_length)
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=list(config.target_modules), task_type="CAUSAL_LM")
    try:
        peft_model = get_peft_model(model, lora)
    except ValueError as e:
        raise InoculateError(f"LoRA target modules not found in the model ({e})", "train.target_modules") from e
    peft_model.train()
    params = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(encoded) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    scheduler = get_scheduler(config.lr_schedule if config.lr_schedule != "constant" else "constant_with_warmup",
                              optimizer, num_warmup_steps=config.warmup_steps, num_training_steps=total_steps)
    order_rng = torch.Generator().manual_seed(seed)
    device = next(peft_model.parameters()).device
    # On CPU, padding is paid for in full, so batches are split by length; a GPU runs a padded
    # batch in parallel at little extra cost, so there the batch stays whole.
    overhead = CPU_CALL_OVERHEAD_TOKENS if device.type == "cpu" else math.inf
    checkpoint = Path(out_dir) / "checkpoint.pt" if out_dir is not None and config.checkpoint_every else None
    losses, tokens, probe_rows = _resume(checkpoint, peft_model, optimizer, scheduler)
    encoded_probes = {k: encode_examples(tokenizer, v, config.max_length) for k, v in (probes or {}).items()}

    def record_probes(step: int) -> None:
        if encoded_probes and probe_every and not any(r["step"] == step for r in probe_rows):
            probe_rows.append({"step": step, **probe_logprobs(peft_model, encoded_probes, tokenizer.pad_token_id)})

    record_probes(len(losses))
    start = time.perf_counter()
    bar = tqdm(total=total_steps, initial=len(losses), desc="train", disable=not progress, leave=False)
    for epoch in range(config.epochs):
        # drawn every epoch, also when resuming, so the data order replays exactly
        order = torch.randperm(len(encoded), generator=order_rng).tolist()
        for step_in_epoch in range(steps_per_epoch):
            if epoch * steps_per_epoch + step_in_epoch < len(losses):
                continue  # done before the checkpoint we resumed from
            batch = [encoded[i] for i in order[step_in_epoch * config.batch_size:(step_in_epoch + 1) * config.batch_size]]
            n_labelled = sum(lab != IGNORE for b in batch for lab in b["labels"][1:])
            loss = 0.0
            for group in micro_batches([len(b["input_ids"]) for b in batch], overhead):
                ids, mask, labels = (t.to(device) for t in _collate([batch[i] for i in group], tokenizer.pad_token_id))
                part = response_loss(peft_model, ids, mask, labels, n_labelled)
                part.backward()
                loss += part.detach()
                tokens += int(mask.sum())
            if config.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append({"step": len(losses) + 1, "epoch": epoch, "loss": loss.item(),
                           "lr": scheduler.get_last_lr()[0], "tokens": tokens})
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]['loss']:.3f}")
            if probe_every and (len(losses) % probe_every == 0 or len(losses) == total_steps):
                record_probes(len(losses))
            if checkpoint and len(losses) % config.checkpoint_every == 0 and len(losses) < total_steps:
                _save_checkpoint(checkpoint, peft_model, optimizer, scheduler, losses, tokens, probe_rows)
            crash_point("train-step")
    bar.close()
    peft_model.eval()
    result = TrainResult(losses, time.perf_counter() - start, tokens, sum(e["truncated"] for e in encoded), probe_rows)
    if out_dir is not None:
        save_adapter(peft_model, Path(out_dir) / "adapter")
        # written last: its presence marks the run finished (see experiment.py)
        atomic_write_json(Path(out_dir) / "losses.json", {"losses": losses, "seconds": result.seconds,
                                                          "tokens": tokens, "truncated": result.truncated,
                                                          "probes": probe_rows})
        if checkpoint:
            checkpoint.unlink(missing_ok=True)
    return peft_model, result


def _trainable_state(peft_model) -> dict[str, Any]:
    return {n: p.detach().clone() for n, p in peft_model.named_parameters() if p.requires_grad}


def _save_checkpoint(path: Path, peft_model, optimizer, scheduler, losses, tokens, probe_rows) -> None:
    """Everything needed to continue bit-for-bit: LoRA weights, optimizer, schedule, RNG, log."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save({"weights": _trainable_state(peft_model), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "rng": torch.get_rng_state(),
                "losses": losses, "tokens": tokens, "probes": probe_rows}, buf)
    atomic_write_bytes(path, buf.getvalue())


def _resume(path: Path | None, peft_model, optimizer, scheduler) -> tuple[list[dict], int, list[dict]]:
    import torch

    if path is None or not path.is_file():
        return [], 0, []
    try:
        state = torch.load(path, weights_only=True)
    except Exception:  # a checkpoint we cannot read is only lost time: start over
        return [], 0, []
    params = dict(peft_model.named_parameters())
    with torch.no_grad():
        for name, value in state["weights"].items():
            params[name].copy_(value)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"])
    return state["losses"], state["tokens"], state.get("probes", [])


def save_adapter(peft_model, target: Path) -> None:
    """Save a PEFT adapter into `target` atomically (temp folder, then rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".adapter-", dir=target.parent))
    try:
        peft_model.save_pretrained(tmp)
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_adapter(model, adapter_dir: str | Path):
    """Base model + saved adapter, merged for fast generation."""
    from peft import PeftModel

    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise InoculateError("not a PEFT adapter folder (no adapter_config.json)", str(adapter_dir))
    return PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()
