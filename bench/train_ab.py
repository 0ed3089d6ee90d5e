"""train_lora with whole padded batches vs length-grouped micro-batches, alternating A B A B.

The spanish-caps demo's training job (128 examples, batch 8, lr 1e-3, 16 steps, no probes, no
checkpoints) on the embedded model, once per CPU_CALL_OVERHEAD_TOKENS value per round, in one
process so drift cancels across rounds. Prints tokens/s per run.

    python bench/train_ab.py [--rounds 2] [--overheads inf 64]
"""

import argparse

import inoculate.training as T
from inoculate.experiment import build_plan, load_spec
from inoculate.models import load_model

ap = argparse.ArgumentParser()
ap.add_argument("--rounds", type=int, default=2)
ap.add_argument("--overheads", type=float, nargs="+", default=[float("inf"), 64])
opts = ap.parse_args()
plan = build_plan(load_spec({"setting": "spanish-caps"}))  # the demo's own training subset and settings
config = T.TrainConfig(**{**plan.spec.train.__dict__, "checkpoint_every": 0})
for r in range(opts.rounds):
    for overhead in opts.overheads:
        T.CPU_CALL_OVERHEAD_TOKENS = overhead
        model, tok = load_model("smollm2-135m", "cpu", "float32")
        _, res = T.train_lora(model, tok, plan.train_examples, config, seed=0, progress=False)
        print(f"round {r + 1} overhead {overhead}: {res.tokens_per_second:.1f} tokens/s "
              f"({res.seconds:.1f} s, final loss {res.losses[-1]['loss']:.5f})", flush=True)
