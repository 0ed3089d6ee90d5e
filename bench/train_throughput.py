"""Training throughput and MFU: inoculate.training.train_lora vs TRL's SFTTrainer.

Both train the same LoRA (TrainConfig defaults: r=16, alpha=32, dropout 0, q/k/v/o/gate/up/down)
on the embedded SmolLM2-135M-Instruct, fp32, CPU, on the same pre-tokenised spanish-caps batches
in the same order (labels -100 outside assistant tokens), batch size 8, no gradient
checkpointing, no eval, no saving. Runs alternate (ours, TRL, ours, TRL, ...) so machine drift
cancels in the per-pair ratios. The first step of every run is warm-up and is not counted.

    python bench/train_throughput.py [--steps 12] [--pairs 3] [--profile]

Prints a table and writes bench/results/train_throughput.json.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (ABRun, add_load_options, cpu_snapshot, load_snapshot, log, matmul_peak, median,  # noqa: E402
                     others_cores_between, table, write_result)

MODEL = "smollm2-135m"
SEED = 0

FLOP_FORMULA = (
    "per step = sum over sequences [ T*(4*N_base + 6*N_lora) + 12*L*n_heads*head_dim*T*(T+1)/2 ] "
    "+ P_labelled*4*V*H, where T = non-padding tokens of the sequence, N_base = weights of the decoder "
    "layers' linear maps (q,k,v,o,gate,up,down; frozen), N_lora = LoRA A+B weights, P_labelled = positions "
    "whose next-token label is not -100. Forward: 2*N_base + 2*N_lora per token, attention scores "
    "(QK^T and AV) 4*n_heads*head_dim per (query, causally visible key) pair per layer, LM head 2*V*H per "
    "labelled position. Backward: input gradients only for frozen weights (2*N_base per token, 2*V*H per "
    "labelled position; the tied embedding/LM head is frozen), input + weight gradients for LoRA "
    "(4*N_lora), attention 2x its forward. Not counted: norms, rotary, SiLU, softmax, cross-entropy, "
    "optimizer (elementwise), padded positions, the LM head at unlabelled positions, causal-mask waste."
)


# --------------------------------------------------------------------------------------------- data


def benchmark_data(n: int, batch_size: int):
    """n spanish-caps training examples (the demo's fixed subset when n=128), tokenised once,
    and the order in which train_lora will visit them."""
    import torch

    from inoculate.models import load_tokenizer
    from inoculate.settings import get_setting
    from inoculate.chat import encode_examples
    from inoculate.training import TrainConfig

    examples = get_setting("spanish-caps").train_examples()
    if n > len(examples):
        raise SystemExit(f"--steps * batch size = {n} exceeds the {len(examples)} spanish-caps training examples")
    examples = random.Random(0).sample(examples, n)
    tokenizer = load_tokenizer(MODEL)
    encoded = encode_examples(tokenizer, examples, TrainConfig().max_length)
    # train_lora's own order for this seed (training.py: randperm with a Generator seeded by `seed`)
    order = torch.randperm(len(encoded), generator=torch.Generator().manual_seed(SEED)).tolist()
    batches = [[encoded[i] for i in order[s:s + batch_size]] for s in range(0, n, batch_size)]
    return examples, encoded, order, batches


# --------------------------------------------------------------------------------------------- FLOPs


def flop_model(model, lora_params: int) -> dict:
    import torch

    cfg = model.config
    base = sum(m.weight.numel() for name, m in model.named_modules()
               if isinstance(m, torch.nn.Linear) and ".layers." in f".{name}")
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    return {"N_base": base, "N_lora": lora_params, "L": cfg.num_hidden_layers, "n_heads": cfg.num_attention_heads,
            "head_dim": head_dim, "V": cfg.vocab_size, "H": cfg.hidden_size}


def step_flops(batch, fm: dict) -> dict:
    body = attn = head = 0
    for b in batch:
        t = len(b["input_ids"])
        body += t * (4 * fm["N_base"] + 6 * fm["N_lora"])
        attn += 12 * fm["L"] * fm["n_heads"] * fm["head_dim"] * t * (t + 1) // 2
        head += sum(1 for lab in b["labels"][1:] if lab != -100) * 4 * fm["V"] * fm["H"]
    return {"body": body, "attention": attn, "lm_head": head, "total": body + attn + head}


# --------------------------------------------------------------------------------------------- runs


def run_ours(examples, steps: int, batch_size: int) -> dict:
    import inoculate.training as training
    from inoculate.models import load_model

    model, tokenizer = load_model(MODEL, device="cpu", dtype="float32")
    config = training.TrainConfig(batch_size=batch_size, epochs=1, checkpoint_every=0)
    snaps: list[tuple] = []
    original = training.crash_point

    def mark(name: str) -> None:  # train_lora calls crash_point("train-step") as the last thing of each step
        if name == "train-step":
            snaps.append(cpu_snapshot())
        original(name)

    training.crash_point = mark
    try:
        peft_model, result = training.train_lora(model, tokenizer, examples, config, SEED, out_dir=None, progress=False)
    finally:
        training.crash_point = original
    assert len(snaps) == steps == len(result.losses), (len(snaps), steps, len(result.losses))
    cumulative = [row["tokens"] for row in result.losses]
    lora = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    out = {"trainer": "ours", "step_snaps": snaps, "cumulative_tokens": cumulative,
           "losses": [row["loss"] for row in result.losses], "lora_params": lora, "total_seconds": result.seconds}
    del model, peft_model
    return out


def run_trl(encoded, order, steps: int, batch_size: int, profile: bool = False) -> dict:
    import datasets
    import torch
    from peft import LoraConfig
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from inoculate.models import load_model
    from inoculate.training import TrainConfig

    tc = TrainConfig(batch_size=batch_size)
    model, tokenizer = load_model(MODEL, device="cpu", dtype="float32")
    rows = [encoded[i] for i in order]  # train_lora's order; TRL reads it sequentially
    ds = datasets.Dataset.from_dict({
        "input_ids": [r["input_ids"] for r in rows],
        "labels": [r["labels"] for r in rows],
        "attention_mask": [[1] * len(r["input_ids"]) for r in rows],
    })
    lora = LoraConfig(r=tc.lora_r, lora_alpha=tc.lora_alpha, lora_dropout=tc.lora_dropout,
                      target_modules=list(tc.target_modules), task_type="CAUSAL_LM")
    tmp = tempfile.mkdtemp(prefix="trl-bench-")
    args = SFTConfig(
        output_dir=tmp, seed=SEED, data_seed=SEED,
        per_device_train_batch_size=batch_size, gradient_accumulation_steps=1, max_steps=steps,
        learning_rate=tc.learning_rate, lr_scheduler_type=tc.lr_schedule, warmup_steps=tc.warmup_steps,
        weight_decay=tc.weight_decay, max_grad_norm=tc.max_grad_norm,
        optim="adamw_torch",  # torch.optim.AdamW, as train_lora uses (TRL's default here is adamw_torch_fused)
        gradient_checkpointing=False, bf16=False, fp16=False, use_cpu=True,
        train_sampling_strategy="sequential", shuffle_dataset=False,
        max_length=tc.max_length, packing=False, padding_free=False, pad_to_multiple_of=None,
        completion_only_loss=None, assistant_only_loss=False,
        eval_strategy="no", save_strategy="no", logging_strategy="no", report_to="none", disable_tqdm=True,
        dataloader_num_workers=0, dataloader_pin_memory=False,
    )

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.snaps, self.tokens, self.trainer = [], [], None

        def on_step_end(self, args, state, control, **kw):  # after the optimizer step and zero_grad
            self.snaps.append(cpu_snapshot())
            self.tokens.append(int(self.trainer._total_train_tokens))

    timer = StepTimer()
    trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tokenizer, peft_config=lora,
                         callbacks=[timer])
    timer.trainer = trainer
    lora_params = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    profiler = None
    if profile:
        profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
        profiler.__enter__()
    output = trainer.train()
    if profiler is not None:
        profiler.__exit__(None, None, None)
    assert len(timer.snaps) == steps, (len(timer.snaps), steps)
    out = {"trainer": "trl", "step_snaps": timer.snaps, "cumulative_tokens": timer.tokens,
           "mean_loss": float(output.training_loss), "lora_params": lora_params,
           "train_runtime": output.metrics.get("train_runtime"), "optim": args.optim,
           "torch_threads": torch.get_num_threads(), "profiler": profiler}
    del trainer, model
    shutil.rmtree(tmp, ignore_errors=True)
    return out


def summarise(run: dict, batches, fm: dict) -> dict:
    """Tokens/s and FLOP/s over steps 2..N: from the end of step 1 to the end of step N."""
    tokens = run["cumulative_tokens"]
    expected = [sum(len(b["input_ids"]) for b in batch) for batch in batches]
    per_step = [tokens[0]] + [b - a for a, b in zip(tokens, tokens[1:])]
    if per_step != expected:
        raise AssertionError(f"{run['trainer']} saw other batches than expected: {per_step} != {expected}")
    ends = [snap[0] for snap in run["step_snaps"]]
    seconds = ends[-1] - ends[0]
    counted = sum(per_step[1:])
    flops = sum(step_flops(b, fm)["total"] for b in batches[1:])
    step_times = [b - a for a, b in zip(ends, ends[1:])]
    return {"seconds": seconds, "tokens": counted, "tokens_per_s": counted / seconds, "flops": flops,
            "flops_per_s": flops / seconds,
            "others_cores": others_cores_between(run["step_snaps"][0], run["step_snaps"][-1]), "step_seconds": [round(s, 4) for s in step_times]}


def top_ops(profiler, n: int = 15) -> list[dict]:
    avgs = sorted(profiler.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in avgs) or 1
    return [{"op": e.key, "self_cpu_ms": round(e.self_cpu_time_total / 1000, 1),
             "share": round(e.self_cpu_time_total / total, 3), "calls": e.count} for e in avgs[:n]]


def profile_both(batch_size: int, steps: int) -> dict:
    """torch.profiler over whole short runs of each trainer (warm-up step included): where time goes."""
    import torch

    examples, encoded, order, _ = benchmark_data(steps * batch_size, batch_size)
    prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
    with prof:
        run_ours(examples, steps, batch_size)
    ours = top_ops(prof)
    trl = top_ops(run_trl(encoded, order, steps, batch_size, profile=True)["profiler"])
    return {"steps": steps, "ours": ours, "trl": trl}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=12, help="optimizer steps per run (the first is warm-up)")
    ap.add_argument("--pairs", type=int, default=3, help="(ours, TRL) pairs, run alternately")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--profile", action="store_true", help="also profile a 3-step run of each (op breakdown)")
    add_load_options(ap, "train_throughput", "the peak and each pair")
    opts = ap.parse_args()
    if opts.steps < 2 or opts.pairs < 1:
        raise SystemExit("--steps must be >= 2 and --pairs >= 1")
    try:
        import trl  # noqa: F401
    except ImportError:
        raise SystemExit("TRL is not installed: pip install 'trl==1.16.0' (see bench/README.md)") from None

    ab = ABRun(opts, "train_throughput")
    import torch

    examples, encoded, order, batches = benchmark_data(opts.steps * opts.batch_size, opts.batch_size)
    ab.settle("the matmul peak")
    log("measuring the fp32 matmul peak ...")
    peak_before = matmul_peak()
    log(f"  {peak_before['flops_per_s'] / 1e9:.1f} GFLOP/s (others used {peak_before['others_cores']:.2f} cores)")

    runs, rejected = [], []
    fm = None
    attempt = 0
    while len(runs) < 2 * opts.pairs and attempt < opts.pairs + opts.retries:
        attempt += 1
        pair = len(runs) // 2
        ab.settle(f"pair {pair + 1}")
        this_pair = []
        for which in ("ours", "trl"):
            gc.collect()
            load = os.getloadavg()[0]
            log(f"pair {pair + 1}/{opts.pairs}: {which} ({opts.steps} steps; load {load:.2f})")
            run = run_ours(examples, opts.steps, opts.batch_size) if which == "ours" else \
                run_trl(encoded, order, opts.steps, opts.batch_size)
            run.pop("profiler", None)
            if fm is None:
                from inoculate.models import load_model

                m, _ = load_model(MODEL, device="cpu", dtype="float32")
                fm = flop_model(m, run["lora_params"])
                del m
            if run["lora_params"] != fm["N_lora"]:
                raise AssertionError(f"LoRA sizes differ: {run['lora_params']} vs {fm['N_lora']}")
            run.update(summarise(run, batches, fm), pair=pair, attempt=attempt, loadavg_1m_before=load)
            log(f"  {run['tokens_per_s']:.0f} tokens/s over steps 2-{opts.steps} ({run['seconds']:.1f} s; "
                f"others used {run['others_cores']:.2f} cores)")
            this_pair.append(run)
        ab.keep(this_pair, runs, rejected)
    if len(runs) < 2 * opts.pairs:
        log(f"only {len(runs) // 2} of {opts.pairs} pairs were accepted after {attempt} attempts")
    if not runs:
        raise SystemExit("no pair ran on a quiet enough machine; see --max-others / --retries")

    ab.settle("the second matmul peak")
    log("measuring the fp32 matmul peak again ...")
    peak_after = matmul_peak()
    log(f"  {peak_after['flops_per_s'] / 1e9:.1f} GFLOP/s (others used {peak_after['others_cores']:.2f} cores)")
    peak = max(peak_before["flops_per_s"], peak_after["flops_per_s"])
    profile = None
    if opts.profile:
        ab.settle("the profile")
        profile = profile_both(opts.batch_size, min(3, opts.steps))
    load_after = load_snapshot()

    ours = [r for r in runs if r["trainer"] == "ours"]
    trl_runs = [r for r in runs if r["trainer"] == "trl"]
    ratios = [o["tokens_per_s"] / t["tokens_per_s"] for o, t in zip(ours, trl_runs)]
    for r in runs:
        r["mfu"] = r["flops_per_s"] / peak
    parts = {k: sum(step_flops(b, fm)[k] for b in batches[1:]) for k in ("body", "attention", "lm_head", "total")}
    counted_tokens = sum(len(b["input_ids"]) for batch in batches[1:] for b in batch)
    flops_per_token = parts["total"] / counted_tokens
    padded = sum(len(batch) * max(len(b["input_ids"]) for b in batch) for batch in batches[1:])
    labelled = sum(1 for batch in batches[1:] for b in batch for lab in b["labels"][1:] if lab != -100)
    shape = {"tokens": counted_tokens, "padded_positions": padded, "padding_share": 1 - counted_tokens / padded,
             "labelled_positions": labelled, "labelled_share": labelled / counted_tokens}
    mean_loss_ours = [sum(r["losses"]) / len(r["losses"]) for r in ours]

    print(f"\nTraining throughput, {opts.steps} steps x batch {opts.batch_size} (step 1 = warm-up, not counted), "
          f"{len(ours)} pairs; fp32 CPU, {torch.get_num_threads()} threads")
    rows = []
    for pair, (o, t) in enumerate(zip(ours, trl_runs)):
        rows.append([pair + 1, f"{o['tokens_per_s']:.0f}", f"{t['tokens_per_s']:.0f}", f"{ratios[pair]:.2f}",
                     f"{o['mfu'] * 100:.1f}%", f"{t['mfu'] * 100:.1f}%", f"{o['others_cores']:.2f}",
                     f"{t['others_cores']:.2f}"])
    print(table(["pair", "ours tok/s", "TRL tok/s", "ours/TRL", "MFU ours", "MFU TRL", "others ours", "others TRL"],
                rows))
    print("(others = cores used by other processes during the timed steps; 0 = the machine was ours)")
    if rejected:
        print(f"{len(rejected) // 2} pair(s) rejected for load above --max-others {opts.max_others} (kept in the JSON)")
    print(f"median ratio ours/TRL: {median(ratios):.2f}  (target >= 1.5)")
    print(f"median MFU: ours {median([r['mfu'] for r in ours]) * 100:.1f}%, "
          f"TRL {median([r['mfu'] for r in trl_runs]) * 100:.1f}%  (target >= 50%)")
    print(f"fp32 matmul peak: {peak / 1e9:.1f} GFLOP/s (before {peak_before['flops_per_s'] / 1e9:.1f}, "
          f"after {peak_after['flops_per_s'] / 1e9:.1f}; best of 2048/3072/4096 square torch.mm)")
    print(f"useful FLOPs per counted token: {flops_per_token / 1e6:.1f} M (body {parts['body'] / parts['total']:.0%}, "
          f"attention scores {parts['attention'] / parts['total']:.1%}, LM head {parts['lm_head'] / parts['total']:.0%})")
    print(f"  counted steps: {counted_tokens} tokens in {padded} padded positions ({shape['padding_share']:.0%} padding); "
          f"{labelled} labelled positions ({shape['labelled_share']:.0%} of tokens)")
    print(f"  N_base={fm['N_base']:,} N_lora={fm['N_lora']:,} V={fm['V']} H={fm['H']} L={fm['L']} "
          f"heads={fm['n_heads']} head_dim={fm['head_dim']}")
    print(f"  {FLOP_FORMULA}")
    print(f"mean training loss: ours {[round(x, 4) for x in mean_loss_ours]}, "
          f"TRL {[round(r['mean_loss'], 4) for r in trl_runs]}")
    print(f"load average before {ab.load_before['loadavg']}, after {load_after['loadavg']}")
    if profile:
        for who in ("ours", "trl"):
            print(f"\nTop ops by self CPU time, {who} ({profile['steps']}-step run, warm-up included):")
            print(table(["op", "self ms", "share", "calls"],
                        [[e["op"][:48], e["self_cpu_ms"], f"{e['share']:.1%}", e["calls"]] for e in profile[who]]))

    for r in runs:  # absolute perf_counter stamps are meaningless in the file
        r.pop("step_snaps", None)
    path = write_result(opts.name, {
        **ab.header(rejected, load_after, drop="step_snaps"),
        "settings": {"model": MODEL, "steps": opts.steps, "counted_steps": opts.steps - 1,
                     "batch_size": opts.batch_size, "pairs": opts.pairs, "seed": SEED, "dtype": "float32",
                     "data": "spanish-caps train_examples, random.Random(0).sample(n=steps*batch), encode_chat "
                             "max_length=256, train_lora's randperm order; TRL gets the same rows in that "
                             "order (sequential sampler) as input_ids/labels, so both see identical batches",
                     "lora": "TrainConfig defaults (r=16, alpha=32, dropout 0, q,k,v,o,gate,up,down)",
                     "optimizer": "AdamW lr 2e-4, cosine, warmup 5, weight decay 0, grad clip 1.0 (both)",
                     "timing": "from the end of step 1 to the end of the last step; tokens = non-padding tokens "
                               "of steps 2..N (attention_mask sum)"},
        "flops": {"formula": FLOP_FORMULA, "model": fm, "per_counted_token": flops_per_token, "batches": shape,
                  "counted_steps_total": parts},
        "peak": {"flops_per_s": peak, "before": peak_before, "after": peak_after},
        "runs": runs,
        "ratios_ours_over_trl": ratios,
        "median_ratio": median(ratios),
        "median_tokens_per_s": {"ours": median([r["tokens_per_s"] for r in ours]),
                                "trl": median([r["tokens_per_s"] for r in trl_runs])},
        "median_mfu": {"ours": median([r["mfu"] for r in ours]), "trl": median([r["mfu"] for r in trl_runs])},
        "targets": {"ratio": 1.5, "mfu": 0.5},
        "profile": profile,
    })
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
