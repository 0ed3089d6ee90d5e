"""What each of generate()'s CPU optimisations buys, measured against transformers' batched generate.

Three ways to sample the same prompts (the embedded SmolLM2-135M-Instruct, untrained, fp32, CPU;
the demo's spanish-caps evaluation prompts under the model's default system prompt; one batch of
64; max_new_tokens 32; temperature 1.0, top-k 50, transformers' default and ours):

  transformers     prompts left-padded, `model.generate(do_sample=True)` (torch.multinomial):
                   what inoculate.generation did before any of this
  generate-loop    inoculate's previous generate(): the prompts' common start encoded once, the
                   inverse-CDF sampler as a logits processor, transformers' decoding loop
  own-loop         inoculate.generation.generate as shipped: our decoding loop (decode), the
                   top-k sampler (token_picker), KV buffers written in place

Rounds run the three in turn so machine drift spreads evenly; the median per variant is reported.
Then, untimed: greedy texts of transformers' batched generate (left padding, do_sample=False) vs
generate() at temperature 0, which must be identical, and whether generate-loop and own-loop
sampled the same texts (they must: same draws from the same seed). Also a micro-benchmark of the
sampling step alone at the decoding shape ([64, 49152] logits), top-k 50 in all: transformers'
(top-k warper, softmax, torch.multinomial), the inverse-CDF processors plus the argmax
transformers' loop applies to their mask, and token_picker.

    python bench/generation_ablation.py [--rounds 3] [--prompts 64] [--threads 1]

Prints a table and writes bench/results/generation_ablation.json.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ABRun, add_load_options, load_snapshot, log, median, table, write_result  # noqa: E402
from generation_throughput import MODEL, count_new, demo_prompts_and_model, run_batched  # noqa: E402

VARIANTS = ("transformers", "generate-loop", "own-loop")


def run_transformers(model, tokenizer, prompts, config, eos) -> dict:
    """transformers' batched generate: sorted by length, left-padded batches, its own sampling
    (greedy at temperature 0)."""
    import torch

    from inoculate.chat import encode_prompts, generation_batch

    encoded = encode_prompts(tokenizer, prompts, config.max_new_tokens, None)
    order = sorted(range(len(prompts)), key=lambda i: (len(encoded[i]), i))
    counted, texts = [], [""] * len(prompts)
    t0, c0 = time.perf_counter(), time.process_time()
    for b, start in enumerate(range(0, len(order), config.batch_size)):
        batch = order[start:start + config.batch_size]
        ids, mask, _ = generation_batch([encoded[i] for i in batch], tokenizer.pad_token_id, share=False)
        width = ids.shape[1]
        torch.manual_seed(config.seed * 1_000_003 + b)
        with torch.no_grad():
            sampling = dict(do_sample=True, temperature=config.temperature, top_k=config.top_k, top_p=config.top_p) \
                if config.temperature > 0 else dict(do_sample=False)
            out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=config.max_new_tokens,
                                 pad_token_id=tokenizer.pad_token_id, **sampling)
        for row, i in enumerate(batch):
            counted.append(count_new(out[row, width:], eos))
            texts[i] = tokenizer.decode(out[row, width:], skip_special_tokens=True).strip()
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0, "tokens": sum(counted),
            "sequences": len(counted), "texts": texts}


def run_variant(name: str, model, tokenizer, prompts, config, eos) -> dict:
    import inoculate.generation as generation

    if name == "transformers":
        return run_transformers(model, tokenizer, prompts, config, eos)
    if name == "own-loop":
        return run_batched(model, tokenizer, prompts, config, eos)
    fits = generation.own_loop_fits
    generation.own_loop_fits = lambda model: False  # every batch through transformers' generate, as before
    try:
        return run_batched(model, tokenizer, prompts, config, eos)
    finally:
        generation.own_loop_fits = fits


def sampler_step_ms(batch: int, vocab: int, reps: int = 20) -> dict:
    """Milliseconds per sampling step, from softmax to the chosen token ids, best of 3 blocks of reps."""
    import torch

    from inoculate.generation import GenerationConfig, sampling_processors, token_picker

    from transformers import TopKLogitsWarper

    logits = torch.randn(batch, vocab)
    config = GenerationConfig()  # temperature 1, top-k 50, top-p 1: the demo's
    processors, pick = sampling_processors(config), token_picker(config)
    top_k = TopKLogitsWarper(config.top_k)
    steps = {"top-k + torch.multinomial": lambda: torch.multinomial(torch.softmax(top_k(None, logits), -1), 1),
             "top-k + inverse-cdf processors + argmax": lambda: processors(None, logits).argmax(-1),
             "token_picker": lambda: pick(logits)}
    out = {}
    for name, step in steps.items():
        blocks = []
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(reps):
                step()
            blocks.append((time.perf_counter() - t0) / reps * 1000)
        out[name] = min(blocks)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the three variants")
    ap.add_argument("--prompts", type=int, default=64, help="evaluation prompts (one batch)")
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (default torch's: the cores); 1 is steadier on a shared machine")
    add_load_options(ap, "generation_ablation", "each round")
    opts = ap.parse_args()

    ab = ABRun(opts, "generation_ablation")
    import torch

    if opts.threads:
        torch.set_num_threads(opts.threads)

    from inoculate.generation import GenerationConfig

    prompts, model, tokenizer, eos = demo_prompts_and_model(opts.prompts)
    config = GenerationConfig(max_new_tokens=opts.max_new_tokens, temperature=1.0, batch_size=len(prompts), seed=0)
    warm = GenerationConfig(max_new_tokens=2, batch_size=4)
    for name in VARIANTS:  # one-off initialisation is not charged to the first timed run
        run_variant(name, model, tokenizer, prompts[:4], warm, eos)

    sampler = sampler_step_ms(len(prompts), model.config.vocab_size)
    log(f"sampling step, [{len(prompts)}, {model.config.vocab_size}] logits: "
        + ", ".join(f"{k} {v:.1f} ms" for k, v in sampler.items()))

    runs, rejected = [], []
    accepted = attempt = 0
    while accepted < opts.rounds and attempt < opts.rounds + opts.retries:
        attempt += 1
        ab.settle(f"round {accepted + 1}")
        this_round = []
        for name in VARIANTS:
            this_round.append(ab.timed(f"round {accepted + 1}: {name}", run_variant, name, model, tokenizer,
                                       prompts, config, eos, variant=name, round=accepted))
        accepted += ab.keep(this_round, runs, rejected)
    load_after = load_snapshot()
    greedy = replace(config, temperature=0.0)
    identical = {
        "greedy_transformers_vs_own_loop": run_variant("transformers", model, tokenizer, prompts, greedy, eos)["texts"]
        == run_variant("own-loop", model, tokenizer, prompts, greedy, eos)["texts"],
        "sampled_generate_loop_vs_own_loop": all(
            r["texts"] == runs[i + 1]["texts"] for i, r in enumerate(runs[:-1])
            if r["variant"] == "generate-loop" and runs[i + 1]["variant"] == "own-loop"),
    }
    log(f"identical texts: {identical}")

    summary = {name: {"median_seconds": median([r["seconds"] for r in runs if r["variant"] == name]),
                      "median_cpu_seconds": median([r["cpu_seconds"] for r in runs if r["variant"] == name]),
                      "median_tokens_per_s": median([r["tokens_per_s"] for r in runs if r["variant"] == name])}
               for name in VARIANTS}
    base, base_cpu = summary["transformers"]["median_seconds"], summary["transformers"]["median_cpu_seconds"]
    for s in summary.values():
        s["speed_up_over_transformers"] = base / s["median_seconds"] if base and s["median_seconds"] else None
        # CPU time the process used: with --threads 1 on a shared machine, steadier than the wall clock
        s["cpu_speed_up_over_transformers"] = base_cpu / s["median_cpu_seconds"] if base_cpu and s["median_cpu_seconds"] else None
    print(f"\nGeneration ablation: {len(prompts)} spanish-caps eval prompts in one batch, max_new_tokens "
          f"{opts.max_new_tokens}, temperature 1.0; fp32 CPU, {torch.get_num_threads()} threads")
    print(table(["variant", "median s", "median tok/s", "speed-up vs transformers", "median CPU s", "CPU speed-up"],
                [[n, f"{s['median_seconds']:.2f}", f"{s['median_tokens_per_s']:.1f}",
                  f"{s['speed_up_over_transformers']:.2f}x", f"{s['median_cpu_seconds']:.2f}",
                  f"{s['cpu_speed_up_over_transformers']:.2f}x"] for n, s in summary.items()
                 if s["median_seconds"] is not None]))
    print(f"identical texts: {identical}")
    print("sampling step alone: " + ", ".join(f"{k} {v:.1f} ms" for k, v in sampler.items()))
    print(f"load average before {ab.load_before['loadavg']}, after {load_after['loadavg']}")

    for r in runs:
        r["texts"] = r["texts"][:3]
    path = write_result(opts.name, {
        **ab.header(rejected, load_after, drop="texts"),
        "settings": {"model": MODEL, "prompts": len(prompts), "max_new_tokens": opts.max_new_tokens,
                     "batch_size": len(prompts), "temperature": 1.0, "rounds": opts.rounds,
                     "token_count": "new tokens up to and including the first EOS, per sequence"},
        "sampling_step_ms": sampler, "runs": runs, "summary": summary, "identical_texts": identical,
    })
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
