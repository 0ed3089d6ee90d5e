"""A finished grid's per-sample trait outcomes, as the statistics need them: for each arm, eval
context and trait, a seeds x prompts table of cell means (stats.py says why the prompt and the seed
are the units); trait rates and paired differences between arms with their intervals."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from inoculate._io import read_jsonl
from inoculate.evaluation import prompt_cells
from inoculate.grid import UNTRAINED
from inoculate.stats import Estimate, paired_diff_ci, rate_ci


class Results:
    """outcomes[(arm, context, trait)][seed][prompt_id] -> the applicable samples' values (1/0, or for
    a trait measured by answer log-probabilities, the prompt's probability of the target answer)."""

    def __init__(self, grid: dict[str, Any], out_dir: Path):
        self.grid = grid
        self.outcomes: dict[tuple[str, str, str], dict[int, dict[str, list[float]]]] = defaultdict(dict)
        # (arm, context, trait) -> why samples got no score (a judge's unparseable or refused reply, an
        # incoherent answer...) -> how many; such samples are left out of the rate, and counted here
        self.excluded: dict[tuple[str, str, str], dict[int, Counter]] = defaultdict(dict)
        for e in grid["entries"]:
            rows = read_jsonl(Path(out_dir) / e["run_dir"] / e["scores"])
            for t in grid["traits"]:
                self.outcomes[(e["arm"], e["context"], t["name"])][e["seed"]] = prompt_cells(rows, t["name"])
                self.excluded[(e["arm"], e["context"], t["name"])][e["seed"]] = Counter(
                    r[t["name"]]["excluded"] for r in rows if r[t["name"]].get("excluded"))
        self.seeds = sorted({e["seed"] for e in grid["entries"] if e["arm"] != UNTRAINED})
        self.headline = grid["spec"].get("headline_context", "none")  # where suppression is measured

    def table(self, arm: str, context: str, trait: str, seeds: list[int] | None = None,
              prompts: list[str] | None = None) -> tuple[np.ndarray, int] | None:
        """(seeds x prompts table of cell means, NaN where a prompt has no value; observations)."""
        by_seed = self.outcomes.get((arm, context, trait))
        if not by_seed or not any(by_seed.values()):
            return None
        seeds = sorted(by_seed) if seeds is None else seeds
        prompts = sorted({p for cells in by_seed.values() for p in cells}) if prompts is None else prompts
        table = np.array([[np.mean(by_seed[s][p]) if p in by_seed[s] else np.nan for p in prompts] for s in seeds])
        return table, sum(len(v) for s in seeds for v in by_seed[s].values())

    def rate(self, arm: str, context: str, trait: str) -> Estimate | None:
        found = self.table(arm, context, trait)
        return rate_ci(*found) if found else None

    def diff(self, a: str, b: str, context: str, trait: str) -> Estimate | None:
        """rate(a) - rate(b), paired by prompt and, where both arms have several seeds, by seed."""
        ka, kb = self.outcomes.get((a, context, trait)), self.outcomes.get((b, context, trait))
        if not ka or not kb:
            return None
        sa, sb = sorted(ka), sorted(kb)
        if len(sa) > 1 and len(sb) > 1:
            sa = sb = sorted(set(sa) & set(sb))
            if not sa:
                return None
        prompts = sorted({p for cells in [*ka.values(), *kb.values()] for p in cells})
        ta, tb = self.table(a, context, trait, sa, prompts), self.table(b, context, trait, sb, prompts)
        if ta is None or tb is None or np.isnan(ta[0]).all() or np.isnan(tb[0]).all():
            return None
        return paired_diff_ci(ta[0], tb[0], ta[1], tb[1])

    def run_rate(self, arm: str, context: str, trait: str, seed: int) -> tuple[float, int] | None:
        """One run's rate (mean over its applicable samples) and their number."""
        cells = self.outcomes.get((arm, context, trait), {}).get(seed)
        values = [v for vs in (cells or {}).values() for v in vs]
        return (float(np.mean(values)), len(values)) if values else None

    def excluded_counts(self, arm: str, context: str, trait: str, seed: int | None = None) -> Counter:
        """Samples without a score by reason, in one run (`seed`) or over all seeds."""
        by_seed = self.excluded.get((arm, context, trait), {})
        return sum((c for s, c in by_seed.items() if seed is None or s == seed), Counter())

    def contexts(self, arm: str) -> list[str]:
        return list(dict.fromkeys(e["context"] for e in self.grid["entries"] if e["arm"] == arm))
