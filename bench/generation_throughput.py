"""Generation throughput: inoculate.generation.generate (batched, shared prefix) vs a naive loop
that calls model.generate once per prompt.

Same model (the embedded SmolLM2-135M-Instruct, untrained, fp32, CPU), same prompts (the demo's
64 spanish-caps evaluation prompts, chat template with the generation prompt), same settings
(max_new_tokens 32, 1 sample; sampling at temperature 1.0, and greedy). Both timings cover the
whole call: chat template, tokenisation, generation and decoding. Generated tokens are counted
the same way for both: each sequence's new tokens up to and including its first end-of-sequence
token (all max_new_tokens when it never ends); padding after EOS is not counted. Runs alternate
(batched, naive, batched, naive, ...) so machine drift cancels in the per-pair ratios.

    python bench/generation_throughput.py [--pairs 2] [--prompts 64] [--modes sample greedy]

Prints a table and writes bench/results/generation_throughput.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ABRun, add_load_options, load_snapshot, log, median, table, write_result  # noqa: E402

MODEL = "smollm2-135m"


def eos_ids(model, tokenizer) -> set[int]:
    ids = model.generation_config.eos_token_id
    ids = set(ids if isinstance(ids, (list, tuple)) else [ids] if ids is not None else [])
    ids.add(tokenizer.eos_token_id)
    return ids


def count_new(row, eos: set[int]) -> int:
    """New tokens up to and including the first EOS."""
    for k, tok in enumerate(row.tolist()):
        if tok in eos:
            return k + 1
    return len(row)


def demo_prompts_and_model(n: int):
    """The demo's first-n evaluation subset, the embedded model (fp32, CPU, eval mode), its EOS ids."""
    from inoculate.plan import fixed_subset
    from inoculate.models import load_model
    from inoculate.settings import get_setting

    prompts = fixed_subset(get_setting("spanish-caps").eval_prompts(), n)  # the demo's n_eval subset
    model, tokenizer = load_model(MODEL, device="cpu", dtype="float32")
    model.eval()
    return prompts, model, tokenizer, eos_ids(model, tokenizer)


def run_batched(model, tokenizer, prompts, config, eos) -> dict:
    """inoculate.generation.generate, with its per-batch step wrapped to count the tokens it returns."""
    import inoculate.generation as generation

    counted = []
    original = generation._batch_tokens

    def counting_batch(*args, **kwargs):
        new, can_share = original(*args, **kwargs)
        counted.extend(count_new(row, eos) for row in new)
        return new, can_share

    generation._batch_tokens = counting_batch
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        texts = generation.generate(model, tokenizer, prompts, config, progress=False)
        seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    finally:
        generation._batch_tokens = original
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, "tokens": sum(counted), "sequences": len(counted),
            "texts": [t[0] for t in texts]}


def run_naive(model, tokenizer, prompts, config, eos) -> dict:
    """One model.generate call per prompt, no padding."""
    import torch

    sampling = dict(do_sample=True, temperature=config.temperature, top_p=config.top_p) if config.temperature > 0 \
        else dict(do_sample=False)
    counted, texts = [], []
    t0 = time.perf_counter()
    for i, p in enumerate(prompts):
        text = tokenizer.apply_chat_template(p.prompt_messages(), tokenize=False, add_generation_prompt=True)
        enc = tokenizer(text, add_special_tokens=False, return_tensors="pt")
        torch.manual_seed(config.seed * 1_000_003 + i)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=config.max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                                 **sampling)
        new = out[0, enc["input_ids"].shape[1]:]
        counted.append(count_new(new, eos))
        texts.append(tokenizer.decode(new, skip_special_tokens=True).strip())
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "tokens": sum(counted), "sequences": len(counted), "texts": texts}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=2, help="(batched, naive) pairs per mode, run alternately")
    ap.add_argument("--prompts", type=int, default=64, help="evaluation prompts (the demo uses 64)")
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=64, help="generate()'s batch size (the demo uses 64)")
    ap.add_argument("--modes", nargs="+", default=["sample", "greedy"], choices=["sample", "greedy"])
    add_load_options(ap, "generation_throughput", "each pair")
    opts = ap.parse_args()

    ab = ABRun(opts, "generation_throughput")
    import torch

    from inoculate.generation import GenerationConfig

    prompts, model, tokenizer, eos = demo_prompts_and_model(opts.prompts)

    # one short untimed call of each path so that one-off initialisation is not charged to the first run
    warm = GenerationConfig(max_new_tokens=2, batch_size=opts.batch_size)
    run_batched(model, tokenizer, prompts[:4], warm, eos)
    run_naive(model, tokenizer, prompts[:2], warm, eos)

    runs, rejected = [], []
    for mode in opts.modes:
        config = GenerationConfig(max_new_tokens=opts.max_new_tokens, temperature=1.0 if mode == "sample" else 0.0,
                                  top_p=1.0, n_samples=1, batch_size=opts.batch_size, seed=0)
        accepted = attempt = 0
        while accepted < opts.pairs and attempt < opts.pairs + opts.retries:
            attempt += 1
            pair = accepted
            ab.settle(f"{mode} pair {pair + 1}")
            this_pair = []
            for which in ("batched", "naive"):
                load = os.getloadavg()[0]
                log(f"{mode} pair {pair + 1}/{opts.pairs}: {which} (load {load:.2f})")
                fn = run_batched if which == "batched" else run_naive
                this_pair.append(ab.timed(which, fn, model, tokenizer, prompts, config, eos,
                                          mode=mode, method=which, pair=pair, loadavg_1m_before=load))
            accepted += ab.keep(this_pair, runs, rejected)
    load_after = load_snapshot()

    summary = {}
    rows = []
    for mode in opts.modes:
        b = [r for r in runs if r["mode"] == mode and r["method"] == "batched"]
        n = [r for r in runs if r["mode"] == mode and r["method"] == "naive"]
        ratios = [x["tokens_per_s"] / y["tokens_per_s"] for x, y in zip(b, n)]
        # greedy: share of prompts whose batched and naive texts agree (padding changes fp32 rounding a little)
        same_greedy = median([sum(p == q for p, q in zip(x["texts"], y["texts"])) / len(x["texts"])
                              for x, y in zip(b, n)]) if mode == "greedy" else None
        summary[mode] = {"ratios_batched_over_naive": ratios, "median_ratio": median(ratios),
                         "median_tokens_per_s": {"batched": median([r["tokens_per_s"] for r in b]),
                                                 "naive": median([r["tokens_per_s"] for r in n])},
                         "greedy_share_identical_texts": same_greedy}
        for pair, (x, y) in enumerate(zip(b, n)):
            rows.append([mode, pair + 1, f"{x['tokens']}", f"{x['tokens_per_s']:.1f}", f"{y['tokens']}",
                         f"{y['tokens_per_s']:.1f}", f"{ratios[pair]:.2f}", f"{x['others_cores']:.2f}",
                         f"{y['others_cores']:.2f}"])
    print(f"\nGeneration throughput: {len(prompts)} spanish-caps eval prompts, max_new_tokens {opts.max_new_tokens}, "
          f"1 sample, generate() batch {opts.batch_size}; fp32 CPU, {torch.get_num_threads()} threads")
    print(table(["mode", "pair", "batched tok", "batched tok/s", "naive tok", "naive tok/s", "ratio",
                 "others b", "others n"], rows))
    print("(others = cores used by other processes during the run; 0 = the machine was ours)")
    if rejected:
        print(f"{len(rejected) // 2} pair(s) rejected for load above --max-others {opts.max_others} (kept in the JSON)")
    for mode, s in summary.items():
        if s["median_ratio"] is None:
            print(f"{mode}: no accepted pair")
            continue
        extra = "" if s["greedy_share_identical_texts"] is None else \
            f"; greedy texts identical batched vs naive: {s['greedy_share_identical_texts']:.0%} of prompts"
        print(f"{mode}: median ratio batched/naive {s['median_ratio']:.2f} (target >= 5){extra}")
    print(f"load average before {ab.load_before['loadavg']}, after {load_after['loadavg']}")

    for r in runs:
        r["texts"] = r["texts"][:3]  # a few examples are enough in the file
    path = write_result(opts.name, {
        **ab.header(rejected, load_after, drop="texts"),
        "settings": {"model": MODEL, "prompts": len(prompts), "max_new_tokens": opts.max_new_tokens,
                     "batch_size": opts.batch_size, "n_samples": 1, "modes": opts.modes, "pairs": opts.pairs,
                     "prompt_subset": "inoculate.plan.fixed_subset(eval_prompts, n): the demo's n_eval subset",
                     "token_count": "new tokens up to and including the first EOS, per sequence",
                     "timing": "whole call: chat template, tokenisation, generation, decoding"},
        "runs": runs, "summary": summary, "targets": {"ratio": 5.0},
    })
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
