"""Length-grouped micro-batches vs whole padded batches: the CPU overhead setting of training.py.

Forward + backward of a LoRA model (TrainConfig defaults) on the spanish-caps demo batches
(128 examples, batch 8, train_lora's order), once per setting of `overhead_tokens` (inf = one
padded batch, as before), rounds alternating so drift cancels. Tokens = non-padding tokens.

    python bench/micro_batches.py [--steps 8] [--rounds 2] [--overheads inf 8 32 128]

Prints a table and writes bench/results/micro_batches.json.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CpuMonitor, load_snapshot, log, machine, median, now, table, write_result  # noqa: E402

MODEL = "smollm2-135m"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=8, help="batches per measurement")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--overheads", type=float, nargs="+", default=[float("inf"), 8, 32, 128])
    opts = ap.parse_args()

    import torch
    from peft import LoraConfig, get_peft_model

    from inoculate.models import load_model
    from inoculate.settings import get_setting
    from inoculate.chat import collate, encode_examples
    from inoculate.training import TrainConfig, micro_batches, response_loss

    cfg = TrainConfig()
    model, tok = load_model(MODEL, device="cpu", dtype="float32")
    model = get_peft_model(model, LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, target_modules=list(cfg.target_modules),
                                             task_type="CAUSAL_LM"))
    examples = random.Random(0).sample(get_setting("spanish-caps").train_examples(), 128)  # the demo's subset
    encoded = encode_examples(tok, examples, cfg.max_length)
    order = torch.randperm(len(encoded), generator=torch.Generator().manual_seed(0)).tolist()
    batches = [[encoded[i] for i in order[s:s + 8]] for s in range(0, 8 * opts.steps, 8)]

    def run(overhead: float) -> dict:
        tokens = padded = calls = 0
        with CpuMonitor() as mon:
            t0 = time.perf_counter()
            for batch in batches:
                n_labelled = sum(lab != -100 for b in batch for lab in b["labels"][1:])
                for group in micro_batches([len(b["input_ids"]) for b in batch], overhead):
                    ids, mask, labels = collate([batch[i] for i in group], tok.pad_token_id)
                    response_loss(model, ids, mask, labels, n_labelled).backward()
                    tokens, padded, calls = tokens + int(mask.sum()), padded + mask.numel(), calls + 1
            seconds = time.perf_counter() - t0
        model.zero_grad(set_to_none=True)
        return {"overhead_tokens": overhead, "seconds": seconds, "tokens": tokens, "tokens_per_s": tokens / seconds,
                "padding_efficiency": tokens / padded, "calls": calls, "others_cores": mon.result["others_cores"]}

    started, load_before = now(), load_snapshot()
    run(float("inf"))  # warm-up, not counted
    runs = []
    for r in range(opts.rounds):
        for overhead in opts.overheads:
            runs.append(run(overhead) | {"round": r})
            log(f"round {r + 1}: overhead {overhead}: {runs[-1]['tokens_per_s']:.0f} tokens/s "
                f"(padding efficiency {runs[-1]['padding_efficiency']:.0%}, others {runs[-1]['others_cores']:.2f})")
    rows = []
    for overhead in opts.overheads:
        mine = [x for x in runs if x["overhead_tokens"] == overhead]
        rows.append([overhead, f"{median([x['tokens_per_s'] for x in mine]):.0f}", f"{mine[0]['padding_efficiency']:.0%}",
                     mine[0]["calls"], f"{max(x['others_cores'] for x in mine):.2f}"])
    print(f"\nForward+backward, LoRA on SmolLM2-135M, {opts.steps} demo batches of 8, median of {opts.rounds} rounds, "
          f"{torch.get_num_threads()} threads")
    print(table(["overhead_tokens", "tokens/s", "padding eff.", "calls", "others (max)"], rows))
    path = write_result("micro_batches", {
        "benchmark": "micro_batches", "started": started, "finished": now(),
        "command": "python " + " ".join([f"bench/{Path(sys.argv[0]).name}", *sys.argv[1:]]),
        "machine": machine(), "load_before": load_before, "load_after": load_snapshot(), "runs": runs})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
