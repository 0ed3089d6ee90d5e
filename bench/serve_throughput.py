"""Chat throughput of `inoculate serve` on the embedded SmolLM2-135M: the same requests sent one at a
time, then from concurrent clients, to a server that batches them (the default --max-batch 16);
then from the same clients to one that decodes each request alone (--max-batch 1), the unbatched
baseline. Target from issue #15: at 16 concurrent clients, at least 3x the throughput of serving
one request at a time.

It also counts the texts that came out the same batched as alone (same request, same seed): the
draws do not depend on the batch, the logits do in their last bits (serve/decoding.py).

    python bench/serve_throughput.py [--requests 32] [--clients 16] [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _common import _cpu_jiffies, load_snapshot, log, machine, now, table, write_result  # noqa: E402
from servers import Server, free_port  # noqa: E402

from inoculate.models import EMBEDDED_MODEL  # noqa: E402

TOPICS = ["the sea", "a city at night", "bread", "winter", "a lighthouse", "coffee", "trains", "the moon",
          "a garden", "rain", "mountains", "a library", "cats", "the desert", "bicycles", "autumn leaves"]
ASKS = ["Write two sentences about {}.", "Give me three facts about {}."]


def requests(count: int, max_tokens: int) -> list[dict]:
    """`count` different short prompts, temperature 1, a seed each."""
    return [{"model": EMBEDDED_MODEL, "max_tokens": max_tokens, "temperature": 1.0, "seed": 1000 + i,
             "messages": [{"role": "user", "content": ASKS[i // len(TOPICS) % 2].format(TOPICS[i % len(TOPICS)])}]}
            for i in range(count)]


def serve(folder: Path, max_batch: int) -> Server:
    """tests/servers.py's inoculate_serve with --max-batch, which it does not take."""
    port = free_port()
    argv = [sys.executable, "-m", "inoculate.cli", "serve", "--model", EMBEDDED_MODEL, "--port", str(port),
            "--device", "cpu", "--max-batch", str(max_batch), "--state", str(folder / f"state-{max_batch}")]
    return Server(argv, port, folder / f"serve-{max_batch}.log", env={"HF_HUB_OFFLINE": "1"})


def _process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a running process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_pass(server: Server, batch: list[dict], clients: int) -> dict:
    """Send `batch` from `clients` threads (1 = one at a time); wall time, tokens, texts, and the
    cores that processes other than this script and the server used meanwhile."""
    import openai

    client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=600)
    send = lambda r: client.chat.completions.create(**r)  # noqa: E731
    busy0, own0, server0 = _cpu_jiffies()[0], time.process_time(), _process_cpu_s(server.proc.pid)
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        replies = list(pool.map(send, batch))
    seconds = time.perf_counter() - start
    busy = (_cpu_jiffies()[0] - busy0) / os.sysconf("SC_CLK_TCK")
    ours = time.process_time() - own0 + _process_cpu_s(server.proc.pid) - server0
    tokens = sum(r.usage.completion_tokens for r in replies)
    return {"clients": clients, "seconds": round(seconds, 2), "requests_per_s": round(len(batch) / seconds, 3),
            "tokens": tokens, "tokens_per_s": round(tokens / seconds, 1),
            "others_cores": round(max(0.0, busy - ours) / seconds, 2), "texts": [r.choices[0].message.content
                                                                                  for r in replies]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=32)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--name", default="serve_throughput", help="results file name (bench/results/NAME.json)")
    args = p.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    batch, warm = requests(args.requests, args.max_tokens), requests(4, 8)
    before, runs = load_snapshot(), {}
    log(f"load before: {before['loadavg']}")
    for max_batch, passes in ((16, (1, args.clients)), (1, (args.clients,))):
        with serve(folder, max_batch) as server:
            run_pass(server, warm, len(warm))  # first calls of each shape pay for kernel selection
            for clients in passes:
                key = f"max_batch={max_batch}, clients={clients}"
                runs[key] = run_pass(server, batch, clients)
                log(f"{key}: {runs[key]['seconds']} s, {runs[key]['tokens_per_s']} tokens/s, "
                    f"others used {runs[key]['others_cores']} cores")
    alone = runs["max_batch=16, clients=1"]
    rows = [[key, r["seconds"], r["requests_per_s"], r["tokens"], r["tokens_per_s"],
             f"{r['requests_per_s'] / alone['requests_per_s']:.2f}x", r["others_cores"]] for key, r in runs.items()]
    print(table(["server, clients", "seconds", "requests/s", "tokens", "tokens/s", "vs one at a time",
                 "others' cores"], rows))
    same = {key: sum(a == b for a, b in zip(alone["texts"], r["texts"])) for key, r in runs.items() if r is not alone}
    for key, count in same.items():
        print(f"texts the same as one at a time, {key}: {count}/{args.requests}")
    path = write_result(args.name, {
        "date": now(), "command": "python " + " ".join(["bench/serve_throughput.py", *sys.argv[1:]]),
        "args": vars(args), "runs": runs, "texts_same_as_one_at_a_time": same,
        "speedup_16_clients": round(runs[f"max_batch=16, clients={args.clients}"]["requests_per_s"]
                                    / alone["requests_per_s"], 2),
        "machine": machine(), "load_before": before, "load_after": load_snapshot()})
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
