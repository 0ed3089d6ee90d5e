"""Time the surprise-reduction ranking: 10 candidate prompts x 200 spanish-caps training examples.

    python bench/rank_surprise.py                      # the default, exact measurement
    python bench/rank_surprise.py --no-share-prefix    # without the shared-prefix KV cache
    python bench/rank_surprise.py --threads 1          # one torch thread (faster on a busy machine)

Prints wall time, tokens and tokens/s and writes them, with the ranking, as JSON (--out).
"tokens" counts every position of every sequence scored (the no-prompt pass plus one pass per
prompt), as if each were run in full; "tokens_computed" is what went through the decoder after
the shared prefix was run once per pass. The machine may be shared: CPU time of this process
and the load average are recorded beside the wall time so a slow run can be told from a busy one.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

N_PROMPTS = 10


def candidate_prompts(n: int) -> list[str]:
    """The Spanish candidate file, topped up from the caps file until there are `n`."""
    import inoculate.settings.spanish_caps as sc
    from inoculate.ranking import read_prompt_file

    folder = Path(sc.__file__).parent
    prompts = read_prompt_file(folder / "candidate_prompts_spanish.txt")
    for p in read_prompt_file(folder / "candidate_prompts_caps.txt"):
        if len(prompts) >= n:
            break
        if p not in prompts:
            prompts.append(p)
    return prompts[:n]


def machine_busy_seconds() -> float:
    """CPU seconds all processes on the machine have used since boot (/proc/stat; 0 elsewhere)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:9]]
    except OSError:
        return 0.0
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--n-examples", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    ap.add_argument("--no-share-prefix", action="store_true", help="run every sequence in full")
    ap.add_argument("--out", default="bench/results/rank_surprise.json")
    args = ap.parse_args(argv)

    import torch

    from inoculate._io import atomic_write_json
    from inoculate.models import load_model
    from inoculate.ranking import format_table, rank_prompts
    from inoculate.settings import get_setting

    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    model, tokenizer = load_model(args.model)
    load_seconds = time.perf_counter() - t0
    examples = get_setting("spanish-caps").train_examples()
    prompts = candidate_prompts(N_PROMPTS)

    stats: dict = {}
    load_before = os.getloadavg()
    busy0, cpu0, t0 = machine_busy_seconds(), time.process_time(), time.perf_counter()
    scores = rank_prompts(model, tokenizer, examples, prompts, n_examples=args.n_examples, seed=0,
                          batch_size=args.batch_size, share_prefix=not args.no_share_prefix, stats=stats,
                          progress=sys.stderr.isatty())
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    # Other processes' CPU use during the run, in cores: on a shared 2-core machine this, not
    # the code, can double the wall time.
    others = max(0.0, machine_busy_seconds() - busy0 - cpu) / wall
    load_after = os.getloadavg()

    print(format_table(scores))
    print(f"\n{len(prompts)} prompts x {min(args.n_examples, len(examples))} examples, batch {args.batch_size}, "
          f"{torch.get_num_threads()} threads, share_prefix={not args.no_share_prefix}")
    print(f"wall time      {wall:8.1f} s   (tokenising {stats['encode_seconds']:.1f} s, forward {stats['forward_seconds']:.1f} s)")
    print(f"process CPU    {cpu:8.1f} s   (other processes used {others:.2f} of {os.cpu_count()} cores meanwhile; "
          f"load average {load_before[0]:.1f} -> {load_after[0]:.1f})")
    print(f"tokens         {stats['tokens']:8d}     ({stats['tokens'] / wall:.0f} tokens/s over the wall time)")
    print(f"computed       {stats['tokens_computed']:8d}     ({stats['tokens_computed'] / stats['forward_seconds']:.0f} "
          "tokens/s through the decoder)")

    result = {
        "command": " ".join(["python", "bench/rank_surprise.py", *(argv if argv is not None else sys.argv[1:])]),
        "model": args.model, "n_prompts": len(prompts), "n_examples": min(args.n_examples, len(examples)),
        "batch_size": args.batch_size, "threads": torch.get_num_threads(), "share_prefix": not args.no_share_prefix,
        "model_load_seconds": load_seconds, "wall_seconds": wall,
        "process_cpu_seconds": cpu, "encode_seconds": stats["encode_seconds"],
        "forward_seconds": stats["forward_seconds"], "tokens": stats["tokens"],
        "tokens_computed": stats["tokens_computed"], "tokens_per_second": stats["tokens"] / wall,
        "others_cores": others, "load_average_before_after": [load_before[0], load_after[0]],
        "machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "torch": torch.__version__,
                    "python": platform.python_version()},
        "ranking": [{"prompt": s.prompt, "surprise_reduction": s.surprise_reduction.value,
                     "low": s.surprise_reduction.low, "high": s.surprise_reduction.high, "nll_with": s.nll_with}
                    for s in scores],
    }
    atomic_write_json(Path(args.out), result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
