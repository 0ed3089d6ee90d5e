"""How training went, from each run's losses.json: steps, learning rate actually reached, loss and
tokens per run with a loss-curve figure, and the learning-dynamics probes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from inoculate._io import atomic_write_bytes, read_json
from inoculate.grid import UNTRAINED
from inoculate.report.figures import curves_figure


def _logs(grid: dict[str, Any], out_dir: Path) -> dict[tuple[str, int], dict[str, Any]]:
    """(arm, seed) -> that run's losses.json, for every trained run of the grid."""
    logs = {}
    for e in grid["entries"]:
        path = out_dir / e["run_dir"] / "losses.json"
        if e["arm"] != UNTRAINED and (e["arm"], e["seed"]) not in logs and path.is_file():
            logs[(e["arm"], e["seed"])] = read_json(path)
    return logs


def _mean_curve(runs: list[list[dict]], key: str) -> tuple[list[int], list[float]]:
    steps = [r["step"] for r in runs[0]]
    return steps, list(np.mean([[r[key] for r in rows] for rows in runs if len(rows) == len(steps)], axis=0))


def training_section(grid: dict[str, Any], out_dir: Path, report_dir: Path) -> list[str]:
    logs = _logs(grid, out_dir)
    if not logs:
        return []
    peak = grid["spec"]["train"]["learning_rate"]
    rows, short = [], []
    for (arm, seed), log in logs.items():
        losses = log["losses"]
        if not losses:  # a hosted job that reported no metrics
            rows.append(f"| `{arm}` | {seed} | – | – | – | – | {log['tokens']:,} | – |")
            continue
        rates = [r["lr"] for r in losses if r.get("lr") is not None]  # a hosted job's log may not give them
        reached = max(rates) if rates else None
        if reached is not None and reached < 0.999 * peak:
            short.append(f"`{arm}` seed {seed}")
        epochs = "–" if losses[-1].get("epoch") is None else losses[-1]["epoch"] + 1
        rate = "–" if reached is None else f"{reached:.2g} of {peak:.2g}"
        rows.append(f"| `{arm}` | {seed} | {len(losses)} | {epochs} | {rate} | "
                    f"{losses[0]['loss']:.3f} → {losses[-1]['loss']:.3f} | {log['tokens']:,} | {log['truncated']} |")
    by_arm: dict[str, list[list[dict]]] = {}
    for (arm, _), log in logs.items():
        if log["losses"]:
            by_arm.setdefault(arm, []).append(log["losses"])
    atomic_write_bytes(report_dir / "training.png", curves_figure(
        [("training loss (mean over seeds)", "loss on assistant tokens", {a: _mean_curve(r, "loss") for a, r in by_arm.items()})]))
    note = ([f"The learning rate never reached its peak in {', '.join(short)}: the warmup "
             f"({grid['spec']['train']['warmup_steps']} steps) is not shorter than the run, so those arms trained "
             "at a fraction of the rate asked for; a trait that was not learned may only mean too little training."]
            if short else [])
    return ["", "## Training", "",
            "Per run: optimizer steps, epochs, the highest learning rate any step used against the one asked for, "
            "the loss on the first and the last step, tokens processed and training examples cut at max_length.",
            "", "| arm | seed | steps | epochs | peak learning rate | loss first → last | tokens | truncated |",
            "|---|---|---|---|---|---|---|---|", *rows, "", *note, *[""] * bool(note), "![training](training.png)"]


def probe_section(grid: dict[str, Any], out_dir: Path, report_dir: Path) -> list[str]:
    runs: dict[str, list[list[dict]]] = {}
    for (arm, _), log in _logs(grid, out_dir).items():
        if log.get("probes"):
            runs.setdefault(arm, []).append(log["probes"])
    if not runs:
        return []
    names = [k for k in next(iter(runs.values()))[0][0] if k != "step"]
    curves = {name: {arm: _mean_curve(r, name) for arm, r in runs.items()} for name in names}
    table = ["| arm | " + " | ".join(f"{n}: before → after" for n in names) + " |", "|---" * (len(names) + 1) + "|"]
    table += [f"| `{arm}` | " + " | ".join(f"{curves[n][arm][1][0]:.2f} → {curves[n][arm][1][-1]:.2f}" for n in names)
              + " |" for arm in runs]
    atomic_write_bytes(report_dir / "probes.png", curves_figure(
        [(name, "mean log-prob per token (no-IP context)", curves[name]) for name in names]))
    return ["", "## Learning dynamics (probes)", "",
            "Mean per-token log-probability of reference responses that express one trait only, under the "
            "no-IP context, during training (mean over seeds). A rising curve means the model is absorbing "
            "that trait globally; IP should keep its trait's curve flatter.", "", *table, "", "![probes](probes.png)"]
