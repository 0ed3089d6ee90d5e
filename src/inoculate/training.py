"""LoRA supervised fine-tuning with the loss on assistant tokens only.

A plain PyTorch loop over a PEFT model (nanoGPT-style: data -> step -> log -> save). We keep
our own loop rather than TRL's SFTTrainer so that batching and masking stay visible and cheap
on a 2-core CPU; bench/ compares the two.
"""

from __future__ import annotations

import math
import random
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inoculate._config import finite, positive
from inoculate._faults import crash_point
from inoculate._io import atomic_write_bytes, atomic_write_dir, atomic_write_json
from inoculate.chat import IGNORE, collate, encode_examples
from inoculate.data import Example
from inoculate.errors import InoculateError
from inoculate.logprobs import labelled_logits, row_nll

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

    def __post_init__(self):
        finite("train", learning_rate=self.learning_rate, lora_dropout=self.lora_dropout,
               weight_decay=self.weight_decay, max_grad_norm=self.max_grad_norm)
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


def response_loss(model, ids, mask, labels, n_labelled: int | None = None):
    """Next-token cross-entropy summed over the labelled positions and divided by `n_labelled`
    (default: their count, which is the mean HF's `labels=` loss gives). Passing the whole batch's
    count lets the micro-batches of one batch add up to exactly the batch's mean loss."""
    import torch.nn.functional as F

    logits, targets, _ = labelled_logits(model, ids, mask, labels)
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


FEW_STEPS = 10  # fewer optimizer steps than this per run is worth a warning


def _scheduler(config: TrainConfig, optimizer, total_steps: int):
    from transformers import get_scheduler

    return get_scheduler(config.lr_schedule if config.lr_schedule != "constant" else "constant_with_warmup",
                         optimizer, num_warmup_steps=config.warmup_steps, num_training_steps=total_steps)


def applied_learning_rates(config: TrainConfig, n_examples: int) -> list[float]:
    """The learning rate each optimizer step of a run on `n_examples` uses, from the real scheduler."""
    import torch

    steps = math.ceil(n_examples / config.batch_size) * config.epochs
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=config.learning_rate)
    scheduler, rates = _scheduler(config, optimizer, steps), []
    for _ in range(steps):
        rates.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    return rates


def schedule_notes(config: TrainConfig, n_examples: int) -> list[str]:
    """Warnings about a run too short for its schedule, before any training: a warmup that is not
    shorter than the run never lets the learning rate reach its peak."""
    rates = applied_learning_rates(config, n_examples)
    size = (f"{n_examples} examples, batch_size {config.batch_size}, {config.epochs} epoch"
            f"{'s' * (config.epochs > 1)}")
    notes = []
    if config.warmup_steps >= len(rates):
        notes.append(f"train: warmup_steps {config.warmup_steps} is not shorter than the {len(rates)} optimizer steps "
                     f"of a run ({size}): the learning rate peaks at {max(rates):.2g}, "
                     f"{max(rates) / config.learning_rate:.0%} of learning_rate {config.learning_rate:g}; lower "
                     "warmup_steps or add examples or epochs")
    elif len(rates) < FEW_STEPS:
        notes.append(f"train: only {len(rates)} optimizer steps per run ({size}); a trait may not be learned in so few")
    return notes


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class TrainResult:
    losses: list[dict[str, float]]  # one row per optimizer step: step, epoch, loss, lr (the step's), tokens
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
            ids, mask, labels = (t.to(next(model.parameters()).device) for t in collate(encoded, pad_id))
            sums, counts = row_nll(model, ids, mask, labels)
            out[name] = -float((sums / counts.clamp(min=1)).mean())
    return out


def train_lora(model, tokenizer, examples: list[Example], config: TrainConfig, seed: int,
               out_dir: str | Path | None = None, progress: bool = True,
               probes: dict[str, list[Example]] | None = None, probe_every: int = 0, steering=None):
    """Fine-tune `model` with a fresh LoRA adapter; return (peft_model, TrainResult).

    With `out_dir`, the adapter is saved in PEFT format to out_dir/adapter and the loss log to
    out_dir/losses.json (both written atomically), and a killed run resumes from its last
    checkpoint there. With `probes` and `probe_every`, the probe sets' log-probabilities are
    recorded before training, every `probe_every` steps and at the end. With `steering` (a
    steering.SteeringHook), its hook is on for the optimizer steps only: off for the probes, and
    gone from the model returned and the adapter saved.
    """
    import torch
    from tqdm.auto import tqdm

    if not examples:
        raise InoculateError("no training examples")
    seed_everything(seed)
    encoded = encode_examples(tokenizer, examples, config.max_length)
    peft_model = _with_lora(model, config)
    params = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(encoded) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    scheduler = _scheduler(config, optimizer, total_steps)
    order_rng = torch.Generator().manual_seed(seed)
    checkpoint = Path(out_dir) / "checkpoint.pt" if out_dir is not None and config.checkpoint_every else None
    losses, tokens, probe_rows = _resume(checkpoint, peft_model, optimizer, scheduler)
    encoded_probes = {k: encode_examples(tokenizer, v, config.max_length) for k, v in (probes or {}).items()}

    def record_probes(step: int) -> None:
        if encoded_probes and probe_every and not any(r["step"] == step for r in probe_rows):
            with steering.paused() if steering is not None else nullcontext():
                probe_rows.append({"step": step, **probe_logprobs(peft_model, encoded_probes, tokenizer.pad_token_id)})

    record_probes(len(losses))
    start = time.perf_counter()
    bar = tqdm(total=total_steps, initial=len(losses), desc="train", disable=not progress, leave=False)
    # the steering hook is on for the optimizer steps only, and removed however the loop ends
    with steering.on(peft_model) if steering is not None else nullcontext():
        for epoch in range(config.epochs):
            # drawn every epoch, also when resuming, so the data order replays exactly
            order = torch.randperm(len(encoded), generator=order_rng).tolist()
            for step_in_epoch in range(steps_per_epoch):
                if epoch * steps_per_epoch + step_in_epoch < len(losses):
                    continue  # done before the checkpoint we resumed from
                at = step_in_epoch * config.batch_size
                batch = [encoded[i] for i in order[at:at + config.batch_size]]
                loss, batch_tokens = _backward(peft_model, batch, tokenizer.pad_token_id)
                tokens += batch_tokens
                if config.max_grad_norm:
                    torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
                lr = scheduler.get_last_lr()[0]  # the rate this step uses (after it, the scheduler moves on)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                losses.append({"step": len(losses) + 1, "epoch": epoch, "loss": loss.item(), "lr": lr,
                               "tokens": tokens})
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
        _save_run(Path(out_dir), peft_model, result, checkpoint)
    return peft_model, result


def _with_lora(model, config: TrainConfig):
    """`model` wrapped with a fresh LoRA adapter, in training mode."""
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=list(config.target_modules), task_type="CAUSAL_LM")
    try:
        peft_model = get_peft_model(model, lora)
    except ValueError as e:
        raise InoculateError(f"LoRA target modules not found in the model ({e})", "train.target_modules") from e
    peft_model.train()
    return peft_model


def _backward(peft_model, batch: list[dict[str, Any]], pad_id: int):
    """Forward and backward passes over one batch; return (its mean loss, tokens processed).

    On CPU, padding is paid for in full, so the batch is split into micro-batches of similar
    length; a GPU runs a padded batch in parallel at little extra cost, so there it stays whole."""
    device = next(peft_model.parameters()).device
    overhead = CPU_CALL_OVERHEAD_TOKENS if device.type == "cpu" else math.inf
    n_labelled = sum(lab != IGNORE for b in batch for lab in b["labels"][1:])
    loss, tokens = 0.0, 0
    for group in micro_batches([len(b["input_ids"]) for b in batch], overhead):
        ids, mask, labels = (t.to(device) for t in collate([batch[i] for i in group], pad_id))
        part = response_loss(peft_model, ids, mask, labels, n_labelled)
        part.backward()
        loss += part.detach()
        tokens += int(mask.sum())
    return loss, tokens


def _save_run(out_dir: Path, peft_model, result: TrainResult, checkpoint: Path | None) -> None:
    save_adapter(peft_model, out_dir / "adapter")
    # written last: its presence marks the run finished
    atomic_write_json(out_dir / "losses.json", {"losses": result.losses, "seconds": result.seconds,
                                                "tokens": result.tokens, "truncated": result.truncated,
                                                "probes": result.probes})
    if checkpoint:
        checkpoint.unlink(missing_ok=True)


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
    """Save a PEFT adapter into `target` atomically (temporary folder, then rename)."""
    atomic_write_dir(target, peft_model.save_pretrained)
