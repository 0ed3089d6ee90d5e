"""The report: trait rates per arm x eval context with 95% CIs, the suppression each IP achieves,
and how much of it is semantic rather than a context shift. Built from the files on disk alone,
so `inoculate report OUT` re-creates it at any time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inoculate._faults import crash_point
from inoculate._io import atomic_write_bytes, atomic_write_text
from inoculate.grid import read_grid
from inoculate.inoculation import PromptSpec, describe_mix
from inoculate.report.arm_kinds import recontext_section, training_words
from inoculate.report.figures import rate_figure
from inoculate.report.findings import comparison_lines, leakage_section, selection_section, transfer_section
from inoculate.report.results import Results
from inoculate.report.tables import elicitation_table, exclusion_table, rate_table, results_csv, sample_answers
from inoculate.report.training import probe_section, training_section


def _provenance_lines(prov: dict[str, Any] | None) -> list[str]:
    if not prov:
        return []
    versions = ", ".join(f"{k} {v}" for k, v in prov["versions"].items())
    return ["## Provenance", "", f"- source revision: `{prov['git']}`", f"- model checksum: `{prov['model_checksum']}`",
            f"- versions: {versions}", f"- machine: {prov['machine']}"]


def _interval_note(seeds: int) -> str:
    """How every interval of the report was computed, and over which units."""
    unit = (f"over the {seeds} training seeds first, then over evaluation prompts (a seeds x prompts variance)"
            if seeds > 1 else "over evaluation prompts")
    return ("Intervals are 95% confidence intervals. A trait rate's is a Wilson score interval on the effective "
            f"sample size implied by its spread {unit}: the prompt is the unit, as samples of one prompt are "
            "correlated, and the interval stays honest at 0 and 1. Differences between arms (learning, "
            f"suppression, semantic and context-shift parts) are paired by prompt{' and seed' * (seeds > 1)}, "
            "each arm's score interval combined by the MOVER method. "
            + ("" if seeds > 1 else "With a single training seed they describe this run's evaluation noise only, "
               "not seed-to-seed variation: add seeds for that."))


def _mix_lines(spec: dict[str, Any], n_train: int) -> list[str]:
    """The training data's mix (impure data, anti-constitutional pairs), when the spec asked for one."""
    clean = spec.get("clean_prompt")
    clean_prompt = PromptSpec.from_dict(clean) if clean is not None else None
    line = describe_mix(spec.get("trait_fraction"), spec.get("ip_on", "all"), clean_prompt, n_train)
    return [f"Training data: {line}.", ""] if line else []


def _sampling(gen: dict) -> str:
    """How the evaluation samples were drawn, e.g. "temperature 1.0, top-k 50"."""
    if not gen["temperature"]:
        return "greedy"
    if "top_k" in gen:
        top_k = f"top-k {gen['top_k']}" if gen["top_k"] else None
    else:  # grids from before the key: transformers applied the model's own top_k, or 50
        top_k = "top-k from the model's generation config (50 if it set none)"
    limits = [top_k, f"top-p {gen['top_p']}" if gen.get("top_p", 1) < 1 else None]
    return ", ".join([f"temperature {gen['temperature']}", *filter(None, limits)])


def write_report(out_dir: str | Path) -> Path:
    """Write report/report.md, one PNG per trait and results.csv; return the Markdown path."""
    out_dir = Path(out_dir)
    grid = read_grid(out_dir)
    res = Results(grid, out_dir)
    report_dir = out_dir / "report"
    spec = grid["spec"]
    md = [f"# Inoculation report: {grid['setting']}", "",
          f"Model `{grid['model']}`; {grid['n_train']} training examples; {grid['n_eval']} evaluation prompts × "
          f"{spec['generation']['n_samples']} sample(s) ({_sampling(spec['generation'])}); "
          f"seeds {', '.join(map(str, res.seeds))}; inoculate {grid['version']}.", "",
          _interval_note(len(res.seeds)), "",
          *_mix_lines(spec, grid["n_train"]), *[f"Note: {note}." for note in grid["notes"]], *[""] * bool(grid["notes"]),
          "## Findings", "", *comparison_lines(res), "", "## Arms", "",
          "| arm | role | training-time prompt | targets |", "|---|---|---|---|"]
    for a in grid["arms"]:
        md.append(f"| `{a['name']}` | {a['role']} | {training_words(a)} | {', '.join(a['targets']) or '–'} |")
    for t in grid["traits"]:
        name = t["name"]
        atomic_write_bytes(report_dir / f"{name}.png", rate_figure(res, name))
        how = (f"log-probability of `{t['choices']['target']}` among {len(t['choices']['options'])} answers"
               if t.get("choices") else f"scorer `{t['scorer']}`")
        md += ["", f"## Trait: {name} ({'wanted' if t['wanted'] else 'unwanted'}; {how}"
               f"{': ' + t['description'] if t['description'] else ''})", "", rate_table(res, name), "",
               f"![{name}]({name}.png)"]
        excluded = exclusion_table(res, name)
        if excluded:
            md += ["", "Samples without a score are left out of the rates above; how many, and why:", "", excluded]
        elicit = elicitation_table(res, name)
        if elicit:
            md += ["", "Untrained model under each prompt (how strongly the prompt elicits the trait before training):",
                   "", elicit]
    md += leakage_section(res) + transfer_section(res) + recontext_section(grid, out_dir)
    md += selection_section(res, report_dir)
    md += training_section(grid, out_dir, report_dir) + probe_section(grid, out_dir, report_dir)
    md += sample_answers(grid, out_dir)
    md += ["", "Per-run rates: `results.csv`. Per-sample generations and scores: `runs/*/generations-*.jsonl`, "
           "`runs/*/scores-*.jsonl`.", "", *_provenance_lines(grid.get("provenance")), ""]
    atomic_write_text(report_dir / "results.csv", results_csv(res))
    crash_point("report-write")
    path = report_dir / "report.md"
    atomic_write_text(path, "\n".join(md))
    return path
