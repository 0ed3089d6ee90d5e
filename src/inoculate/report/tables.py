"""The report's tables of trait rates, and results.csv."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from inoculate.grid import UNTRAINED
from inoculate.report.arm_kinds import own_context
from inoculate.report.results import Results


def rate_table(res: Results, trait: str) -> str:
    own = {UNTRAINED: None} | {a["name"]: own_context(a) for a in res.grid["arms"]}
    extra = sorted({c for a in own for c in res.contexts(a)} - {"none"} - set(own.values()))
    steered = any(c.startswith("steer:") for c in own.values() if c)
    head = ["arm", "no IP (default system prompt)", f"own IP{' or steering' * steered} at test time", *extra]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for arm, own_ctx in own.items():
        if not res.contexts(arm):
            continue
        cells = [res.rate(arm, "none", trait), res.rate(arm, own_ctx, trait) if own_ctx else None,
                 *(res.rate(arm, c, trait) for c in extra)]
        rows.append("| " + " | ".join([f"`{arm}`"] + [c.fmt() if c else "–" for c in cells]) + " |")
    return "\n".join(rows)


def exclusion_table(res: Results, trait: str) -> str | None:
    """Samples the trait's scorer gave no score, and why, per arm and context (None when there are none)."""
    found = {(arm, ctx): res.excluded_counts(arm, ctx, trait) for (arm, ctx, t) in res.excluded if t == trait}
    found = {k: v for k, v in found.items() if v}
    if not found:
        return None
    rows = ["| arm | eval context | samples without a score | why |", "|---|---|---|---|"]
    for (arm, ctx), counts in sorted(found.items()):
        scored = sum(len(v) for cells in res.outcomes[(arm, ctx, trait)].values() for v in cells.values())
        total = sum(counts.values())
        why = ", ".join(f"{reason} {n}" for reason, n in counts.most_common())
        rows.append(f"| `{arm}` | {ctx} | {total} of {total + scored} | {why} |")
    return "\n".join(rows)


def elicitation_table(res: Results, trait: str) -> str | None:
    ctxs = [c for c in res.contexts(UNTRAINED) if c != "none"]
    if not ctxs:
        return None
    rows = ["| prompt at test time | trait rate |", "|---|---|"]
    for c in ["none", *ctxs]:
        est = res.rate(UNTRAINED, c, trait)
        name = ('no IP' if c == 'none' else '`' + c[3:] + '` prompt' if c.startswith('ip:') else
                '`' + c[6:] + '` steering' if c.startswith('steer:') else c)
        rows.append(f"| {name} | {est.fmt() if est else '–'} |")
    return "\n".join(rows)


def results_csv(res: Results) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["arm", "seed", "context", "trait", "rate", "n_samples", "n_excluded"])
    for (arm, ctx, trait), by_seed in sorted(res.outcomes.items()):
        for seed in sorted(by_seed):
            found = res.run_rate(arm, ctx, trait, seed)
            w.writerow([arm, seed, ctx, trait, f"{found[0]:.4f}" if found else "", found[1] if found else 0,
                        sum(res.excluded_counts(arm, ctx, trait, seed).values())])
    return buf.getvalue()



SAMPLES_SHOWN, SAMPLE_CHARS = 3, 160


def _cell(text: str) -> str:
    """A generated text as one Markdown table cell: escaped, line breaks shown, cut at SAMPLE_CHARS."""
    text = text if len(text) <= SAMPLE_CHARS else text[:SAMPLE_CHARS] + "…"
    text = text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`").replace("<", "&lt;")
    return text.replace("\r", "").replace("\n", " ⏎ ") or "(empty)"


def sample_answers(grid: dict[str, Any], out_dir: Path) -> list[str]:
    """The first few answers of each arm under each context (first seed), so that broken or
    off-language text is seen, not only counted."""
    first = {}
    for e in grid["entries"]:
        if e.get("generations") and (e["arm"], e["context"]) not in first:
            first[(e["arm"], e["context"])] = out_dir / e["run_dir"] / e["generations"]
    rows = []
    for (arm, context), path in first.items():
        with path.open(encoding="utf-8") as f:
            samples = [json.loads(line) for _, line in zip(range(SAMPLES_SHOWN), f)]
        rows += [f"| `{arm}` | {context} | {s['prompt_id']} | {_cell(s['text'])} |" for s in samples]
    if not rows:
        return []
    return ["", "## Sample answers", "",
            f"The first {SAMPLES_SHOWN} answers of each arm under each context (first seed; cut at {SAMPLE_CHARS} "
            "characters, line breaks shown as ⏎). All of them are in `runs/*/generations-*.jsonl`.", "",
            "| arm | context | prompt | answer |", "|---|---|---|---|", *rows]
