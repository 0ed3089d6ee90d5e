"""A judge pass with concurrency against the same pass one request at a time, on a real local server.

Two servers, each started here on 127.0.0.1:
- `latency`: `transformers serve` on a tiny random model behind a proxy that holds each request
  for --latency seconds, as a hosted API or a busy vLLM does. Waiting dominates, which is what
  concurrency is for: the client should overlap the waits (target: 4x at concurrency 8).
- `compute`: `inoculate serve` on the embedded SmolLM2-135M, no added latency. On this 2-core CPU
  the server computes one request at a time, so no client can go faster; the figure is here so
  nobody expects concurrency to speed up a CPU-bound local judge.

    python bench/judge_concurrency.py [--answers 32] [--latency 0.25] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _common import load_snapshot, machine, now, table, write_result  # noqa: E402
from conftest import build_tiny_model  # noqa: E402
from servers import FaultProxy, inoculate_serve, transformers_serve  # noqa: E402

from inoculate.client import Endpoint  # noqa: E402
from inoculate.data import Example  # noqa: E402
from inoculate.judges import judge  # noqa: E402
from inoculate.models import EMBEDDED_MODEL  # noqa: E402

RUBRIC = "Question: {question}\nAnswer: {answer}\nRate the answer from 0 to 100. Reply with the number only."


def judge_pass(base_url: str, model: str, answers: int, concurrency: int, tag: str) -> float:
    endpoint = Endpoint(base_url, model, concurrency=concurrency)
    scorer = judge(RUBRIC, endpoint, logprobs=False)
    texts = [f"({tag} {i}) Take a walk in the park, then read a chapter of a good book." for i in range(answers)]
    prompts = [Example([{"role": "user", "content": "What should I do this afternoon?"}], id=str(i))
               for i in range(answers)]
    start = time.perf_counter()
    scorer(texts, prompts)  # every request is new: the tag makes each pass's answers its own
    return time.perf_counter() - start


def measure(base_url: str, model: str, args) -> dict:
    judge_pass(base_url, model, 2, 1, "warm-up")
    serial = judge_pass(base_url, model, args.answers, 1, "serial")
    concurrent = judge_pass(base_url, model, args.answers, args.concurrency, "concurrent")
    return {"serial_s": round(serial, 2), "concurrent_s": round(concurrent, 2), "speedup": round(serial / concurrent, 2)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--answers", type=int, default=32)
    p.add_argument("--latency", type=float, default=0.25, help="seconds the proxy holds each request (latency case)")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--only", choices=("latency", "compute"))
    args = p.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="judge-bench-"))
    os.environ["INOCULATE_CACHE"] = str(folder / "cache")
    results, before = {}, load_snapshot()
    if args.only in (None, "latency"):
        tiny = str(build_tiny_model(folder / "tiny"))
        with transformers_serve(tiny, folder / "tserve.log") as server:
            proxy = FaultProxy(server.base_url)
            proxy.delay = args.latency
            results["latency"] = measure(proxy.base_url, tiny, args)
            proxy.close()
    if args.only in (None, "compute"):
        with inoculate_serve(EMBEDDED_MODEL, folder / "iserve.log") as server:
            results["compute"] = measure(server.base_url, EMBEDDED_MODEL, args)
    rows = [[case, args.answers, f"{r['serial_s']:.1f} s", f"{r['concurrent_s']:.1f} s ({args.concurrency})",
             f"{r['speedup']:.2f}x"] for case, r in results.items()]
    print(table(["case", "answers", "one at a time", "concurrent", "speed-up"], rows))
    path = write_result("judge_concurrency", {"date": now(), "args": vars(args), "results": results,
                                              "machine": machine(), "load_before": before, "load_after": load_snapshot()})
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
