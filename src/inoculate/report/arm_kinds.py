"""Arms that train other than under a prompt, in the report: preventative steering and
recontextualization. They get the measures IP arms get; this module says, per arm, which eval
context gives its own training-time change back at test time, which controls it is compared with,
and how it trained, in words. Grids from before these arm kinds have no `steer` in their arms and
read as prompt arms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inoculate._io import read_json

CONTROL_ROLES = ("random-control", "control")


def steering(arm: dict[str, Any]) -> bool:
    return arm.get("steer") is not None


def own_context(arm: dict[str, Any]) -> str:
    """The eval context that gives the arm's training-time change back: its IP, or its steering."""
    return f"steer:{arm['name']}" if steering(arm) else f"ip:{arm['name']}"


def controls_for(arm: dict[str, Any], arms: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The control arms this arm is compared with: steering controls for a steering arm (a random
    direction at the same layer), prompt controls for a prompt or recontextualized arm."""
    return [c for c in arms if c["role"] in CONTROL_ROLES and steering(c) == steering(arm)]


def random_for(arm: dict[str, Any], arms: list[dict[str, Any]]) -> str | None:
    return next((c["name"] for c in controls_for(arm, arms) if c["role"] == "random-control"), None)


def words(arm: dict[str, Any]) -> dict[str, str]:
    """What the findings call the arm's change and its random-control parts."""
    if steering(arm):
        return {"own": "its steering", "elicit": "this steering", "semantic": "part beyond the random direction",
                "shift": "random-direction part"}
    return {"own": "its own IP", "elicit": "this prompt", "semantic": "semantic part", "shift": "context-shift part"}


def _prompt_words(prompt: dict[str, Any] | None) -> str:
    return "no prompt" if prompt is None else " / ".join(prompt["prompts"]) + f" ({prompt['placement']})"


def training_words(arm: dict[str, Any]) -> str:
    """The Arms table's cell: what the arm trained under."""
    steer, recontext = arm.get("steer"), arm.get("recontextualize")
    if steer:
        vector = f"'{steer['positive']}' minus '{steer['negative']}', layer {steer['layer']}"
        direction = (f"a random direction (seed {steer['random']}) with the norm of the vector {vector}"
                     if steer["random"] is not None else f"the vector {vector}")
        if steer["mode"] == "ablate":
            return f"steering: {direction}, projected out during training"
        return f"steering: {steer['coefficient']:g} × {direction}, added during training"
    if recontext:
        keep = recontext.get("keep")
        kept = f", kept where {keep['trait']} is {'present' if keep['present'] else 'absent'}" if keep else ""
        return (f"responses regenerated under {_prompt_words(recontext['generate_with'])}{kept}; trained under "
                f"{_prompt_words(arm['prompt'])}")
    return "–" if arm["prompt"] is None else _prompt_words(arm["prompt"])


def recontext_section(grid: dict[str, Any], out_dir: Path) -> list[str]:
    """How many regenerated responses each recontextualized run kept (from its run.json)."""
    arms = {a["name"] for a in grid["arms"] if a.get("recontextualize")}
    rows, seen = [], set()
    for e in grid["entries"]:
        path = Path(out_dir) / e["run_dir"] / "run.json"
        if e["arm"] in arms and (e["arm"], e["seed"]) not in seen and path.is_file():
            seen.add((e["arm"], e["seed"]))
            counts = read_json(path).get("recontext")
            if counts:
                rows.append(f"| `{e['arm']}` | {e['seed']} | {counts['kept']} of {counts['total']} | "
                            f"`{counts['file']}` |")
    if not rows:
        return []
    return ["", "## Recontextualization", "",
            "Training responses written anew by the untrained model under the arm's generate_with prompt, "
            "filtered by its keep rule where it has one (once per grid; every seed trains on the same ones).", "",
            "| arm | seed | responses kept | file |", "|---|---|---|---|", *rows]
