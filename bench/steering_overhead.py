"""What preventative steering costs: training with the steering hook vs without, alternating, and
the trait vector's one-off computation; plus how many vectors a steering grid computes.

The spanish-caps demo's training job (128 examples, batch 8, lr 1e-3, 16 steps, no probes, no
checkpoints) on the embedded model, plain then steered (the Spanish vector at layer 18,
coefficient 8, as in examples/spanish_caps_steering.yaml) in each round, in one process so drift
cancels across rounds. The vector is computed once, timed, before the rounds; the steered runs
read it from its file, as every steering run of a grid does.

    python bench/steering_overhead.py [--rounds 2] [--layer 18] [--coefficient 8] [--n-examples 128]
"""

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CpuMonitor, load_snapshot, log, machine, now, table, write_result  # noqa: E402

from inoculate.experiment import build_plan, load_spec  # noqa: E402
from inoculate.models import EMBEDDED_MODEL, load_model  # noqa: E402
from inoculate.steering import Steer, Steering  # noqa: E402
from inoculate.training import train_lora  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "spanish_caps_steering.yaml"

ap = argparse.ArgumentParser()
ap.add_argument("--rounds", type=int, default=2)
ap.add_argument("--layer", type=int, default=18)
ap.add_argument("--coefficient", type=float, default=8.0)
ap.add_argument("--n-examples", type=int, default=128, help="train on the first N of the demo's 128 examples")
ap.add_argument("--name", default="steering_overhead")
opts = ap.parse_args()

started, load_before = now(), load_snapshot()
plan = build_plan(load_spec({"setting": "spanish-caps"}))  # the demo's own training subset and settings
config = replace(plan.spec.train, checkpoint_every=0)
train = plan.train_examples[:opts.n_examples]
steer = Steer("You always speak in Spanish.", "You always speak in English.", opts.layer, opts.coefficient)
root = Path(tempfile.mkdtemp(prefix="steering-bench-"))
(root / "train.jsonl").write_text("".join(json.dumps(ex.to_json()) + "\n" for ex in plan.train_examples))
steering = Steering(steer, EMBEDDED_MODEL, "train.jsonl", config.max_length, "vectors/v.pt").under(root)

model, tok = load_model(EMBEDDED_MODEL, "cpu", "float32")
with CpuMonitor() as mon:
    t0 = time.perf_counter()
    steering.vector((model, tok))
    vector_s = time.perf_counter() - t0
vector = {"seconds": round(vector_s, 2), "examples": min(steer.examples, len(plan.train_examples)),
          "others_cores": mon.result["others_cores"]}
log(f"vector: {vector_s:.1f} s over {vector['examples']} examples x 2 prompts")
del model

runs = []
for r in range(opts.rounds):
    for arm in ("plain", "steered"):
        model, tok = load_model(EMBEDDED_MODEL, "cpu", "float32")
        hook = steering.hook((model, tok)) if arm == "steered" else None  # read from the file: no recompute
        with CpuMonitor() as mon:
            _, res = train_lora(model, tok, train, config, seed=0, progress=False, steering=hook)
        runs.append({"round": r + 1, "arm": arm, "seconds": round(res.seconds, 2), "tokens": res.tokens,
                     "final_loss": res.losses[-1]["loss"], "others_cores": mon.result["others_cores"]})
        log(f"round {r + 1} {arm}: {res.seconds:.1f} s, final loss {res.losses[-1]['loss']:.4f}, "
            f"others {mon.result['others_cores']:.2f} cores")

plain = sum(x["seconds"] for x in runs if x["arm"] == "plain")
steered = sum(x["seconds"] for x in runs if x["arm"] == "steered")
per_run = plain / opts.rounds

# a steering grid: the example's arms over 3 seeds; every steering run names the same vector file
grid = build_plan(load_spec(EXAMPLE, ["seeds=[0,1,2]"]))
files = [r.source.steering.vector_file for r in grid.runs if getattr(r.source, "steering", None)]
steer_contexts = [c.steering.vector_file for r in grid.runs for c in r.contexts if c.steering]
result = {"benchmark": "steering_overhead", "started": started, "finished": now(),
          "command": "python " + " ".join([f"bench/{Path(sys.argv[0]).name}", *sys.argv[1:]]),
          "machine": machine(), "load_before": load_before, "load_after": load_snapshot(),
          "steer": {"layer": opts.layer, "coefficient": opts.coefficient}, "runs": runs, "vector": vector,
          "training_overhead": steered / plain - 1, "vector_share_of_one_run": vector_s / per_run,
          "grid": {"spec": str(EXAMPLE.relative_to(EXAMPLE.parents[1])), "seeds": 3, "steering_runs": len(files),
                   "steered_eval_contexts": len(steer_contexts), "vector_files": len(set(files + steer_contexts))}}
print(table(["round", "arm", "train s", "final loss", "others cores"],
            [[x["round"], x["arm"], x["seconds"], f"{x['final_loss']:.5f}", x["others_cores"]] for x in runs]))
print(f"steering adds {100 * result['training_overhead']:+.1f}% to training time; the vector took {vector_s:.1f} s "
      f"({100 * result['vector_share_of_one_run']:.0f}% of one plain run), once per grid: "
      f"{result['grid']['steering_runs']} steering runs and {result['grid']['steered_eval_contexts']} steered eval "
      f"contexts of the example over 3 seeds share {result['grid']['vector_files']} vector file")
print(write_result(opts.name, result))
