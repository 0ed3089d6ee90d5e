"""grid.json: the record of a grid that the report is made from. This module alone writes and
reads it; `read_grid` also reads the records of earlier schema versions.

    {"schema", "spec", "setting", "model", "model_fingerprint", "version", "provenance", "notes",
     "surprise", "n_train", "n_eval", "data_hash", "traits": [...], "arms": [...],
     "entries": [{"arm", "seed", "context", "run_dir", "generations", "scores"}, ...]}

An entry's "arm" is an arm's name, or UNTRAINED for the untrained model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inoculate._io import SCHEMA_VERSION, atomic_write_json, read_json
from inoculate._provenance import package_versions, provenance
from inoculate.data import dataset_hash
from inoculate.errors import InoculateError

GRID_FILE = "grid.json"
UNTRAINED = "untrained"  # the entries' name for the untrained model (schema 1 called it "base")


def grid_record(plan, entries: list[dict[str, Any]], surprise: dict[str, Any]) -> dict[str, Any]:
    """The record of a finished grid: its plan resolved to plain values, and its entries in plan order."""
    return {
        "schema": SCHEMA_VERSION, "spec": plan.spec, "setting": plan.setting.name, "model": plan.spec.model,
        "model_fingerprint": plan.model_id, "version": package_versions()["inoculate"],
        "provenance": provenance(plan.spec.model), "notes": plan.notes, "surprise": surprise,
        "n_train": len(plan.train_examples), "n_eval": len(plan.eval_prompts), "data_hash": dataset_hash(plan.train_examples),
        "traits": [{"name": t.name, "wanted": t.wanted, "scorer": t.scorer.name, "config": t.scorer.config,
                    "description": t.description, "choices": t.choices.config if t.choices else None}
                   for t in plan.traits],
        "arms": [{"name": a.name, "role": a.role, "targets": list(a.targets), "prompt": a.prompt,
                  "paraphrases": list(a.paraphrases), "negation": a.negation, "kind": a.kind, "steer": a.steer,
                  "recontextualize": a.recontextualize} for a in plan.arms],
        "entries": entries}


def write_grid(out_dir: Path, record: dict[str, Any]) -> None:
    atomic_write_json(Path(out_dir) / GRID_FILE, record)


def read_grid(out_dir: str | Path) -> dict[str, Any]:
    path = Path(out_dir) / GRID_FILE
    if not path.is_file():
        raise InoculateError(f"no {GRID_FILE} here: not a finished experiment folder (run `inoculate run` first)",
                             str(out_dir))
    grid = read_json(path)
    if grid.get("schema", 1) == 1:
        for e in grid["entries"]:
            e["arm"] = UNTRAINED if e["arm"] == "base" else e["arm"]
    grid.setdefault("notes", [])
    return grid
