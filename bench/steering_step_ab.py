"""The steering hook's own cost, step by step: one optimizer batch of the spanish-caps demo's training
job (8 examples), forward + backward through the LoRA model, alternating without / with the hook
many times in one process, so load from other processes falls on both alike. Reports the median
of the per-pair ratios.

    python bench/steering_step_ab.py [--pairs 20] [--layer 18] [--coefficient 8]
"""

import argparse
from contextlib import nullcontext
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CpuMonitor, load_snapshot, log, machine, now, write_result  # noqa: E402

from inoculate.chat import encode_examples  # noqa: E402
from inoculate.experiment import build_plan, load_spec  # noqa: E402
from inoculate.models import EMBEDDED_MODEL, load_model  # noqa: E402
from inoculate.steering import SteeringHook  # noqa: E402
from inoculate.training import _backward, _with_lora  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--pairs", type=int, default=20)
ap.add_argument("--layer", type=int, default=18)
ap.add_argument("--coefficient", type=float, default=8.0)
opts = ap.parse_args()

started, load_before = now(), load_snapshot()
plan = build_plan(load_spec({"setting": "spanish-caps"}))
config = replace(plan.spec.train, checkpoint_every=0)
model, tok = load_model(EMBEDDED_MODEL, "cpu", "float32")
batch = encode_examples(tok, plan.train_examples[:config.batch_size], config.max_length)
peft_model = _with_lora(model, config)
# a vector of a realistic norm (the Spanish vector at layer 18 has |v| 6.8): the cost does not depend on it
hook = SteeringHook(opts.layer, "add", opts.coefficient * torch.randn(model.config.hidden_size) * 6.8 / 24)
times = {"plain": [], "steered": []}
with CpuMonitor() as mon:
    for i in range(opts.pairs + 1):  # the first pair warms up and is dropped
        for arm in (("plain", "steered") if i % 2 else ("steered", "plain")):
            with hook.on(peft_model) if arm == "steered" else nullcontext():
                t0 = time.perf_counter()
                _backward(peft_model, batch, tok.pad_token_id)
                elapsed = time.perf_counter() - t0
            peft_model.zero_grad(set_to_none=True)
            if i:
                times[arm].append(elapsed)
ratios = [s / p for p, s in zip(times["plain"], times["steered"])]
result = {"benchmark": "steering_step_ab", "started": started, "finished": now(),
          "command": "python " + " ".join([f"bench/{Path(sys.argv[0]).name}", *sys.argv[1:]]),
          "machine": machine(), "load_before": load_before, "load_after": load_snapshot(),
          "others_cores": mon.result["others_cores"], "pairs": opts.pairs,
          "median_plain_s": statistics.median(times["plain"]), "median_steered_s": statistics.median(times["steered"]),
          "median_ratio": statistics.median(ratios), "times": times}
log(f"median step: plain {result['median_plain_s']:.3f} s, steered {result['median_steered_s']:.3f} s; "
    f"median ratio {result['median_ratio']:.3f} over {opts.pairs} pairs (others used {mon.result['others_cores']:.2f} cores)")
print(write_result("steering_step_ab", result))
