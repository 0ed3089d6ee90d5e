"""The report: trait rates per arm x eval context with 95% CIs, the suppression each IP achieves,
and how much of it is semantic rather than a context shift. Built from the files on disk alone,
so `inoculate report OUT` re-creates it at any time.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from inoculate._faults import crash_point
from inoculate._io import atomic_write_bytes, atomic_write_text
from inoculate.grid import UNTRAINED, read_grid
from inoculate.inoculation import PromptSpec, describe_mix
from inoculate.results import Results
from inoculate.stats import Estimate, correlation


def _verdict(suppression: Estimate, controls: dict[str, tuple[str, Estimate, Estimate]]) -> str:
    """In words, from the suppression and, per control arm (name -> role, its own suppression, the IP's
    part beyond it), what the strongest control leaves to the prompt's meaning."""
    if suppression.low <= 0:
        return "no clear suppression (the interval includes 0)."
    if not controls:
        return "suppressed; the grid has no control arm, so what part of it is the prompt's meaning is unknown."
    strongest = max(controls, key=lambda c: controls[c][1].value)
    role, _, beyond = controls[strongest]
    if beyond.low > 0:
        share = "mostly" if beyond.value >= 0.5 * suppression.value else "partly"
        tail = ("it suppresses clearly more than every control" if share == "mostly" else
                "it beats every control, but most of the suppression is shared with them")
        return f"{share} semantic: {tail} (the strongest, `{strongest}`, leaves {beyond.fmt()} to the IP)."
    beaten_random = [c for c, (r, _, b) in controls.items() if r == "random-control" and b.low > 0]
    if role == "control" and beaten_random:
        return (f"a keyword effect: the control `{strongest}` suppresses about as much (the IP's part beyond it "
                f"{beyond.fmt()}), while the random string `{beaten_random[0]}` does not; the prompt's words, not "
                "its instruction, do the work.")
    return (f"mostly a context-shift effect: the control `{strongest}` suppresses the trait about as much (the "
            f"IP's part beyond it {beyond.fmt()}), so this run does not show the prompt's meaning mattering.")


def comparison_lines(res: Results) -> list[str]:
    arms = res.grid["arms"]
    h = res.headline
    baseline = next(a["name"] for a in arms if a["role"] == "baseline")
    random_arm = next((a["name"] for a in arms if a["role"] == "random-control"), None)
    controls = [a for a in arms if a["role"] in ("random-control", "control")]
    traits = {t["name"]: t for t in res.grid["traits"]}
    lines = [] if h == "none" else [f"- Rates below are measured in the `{h}` test context, where this setting's trait shows."]
    inoculated = {t for a in arms if a["role"] == "inoculation" for t in a["targets"]}
    for t in traits:
        before, after = res.rate(UNTRAINED, h, t), res.rate(baseline, h, t)
        if before and after:
            learned = res.diff(baseline, UNTRAINED, h, t)
            text = (f"- **Learning, {t}**: untrained model {before.fmt()} → `{baseline}` arm {after.fmt()} "
                    f"(change {learned.fmt()})")
            if learned.low > 0 or learned.high < 0:
                text += f". Training {'raised' if learned.low > 0 else 'lowered'} it (the interval excludes 0)"
            else:
                text += ". No clear change (the interval includes 0): training did not measurably teach this trait"
                if t in inoculated:
                    text += ", so there is nothing for an IP to suppress and the figures below cannot show inoculation"
            lines.append(text + ".")
    for arm in (a for a in arms if a["role"] == "inoculation"):
        for t in arm["targets"]:
            sup = res.diff(baseline, arm["name"], h, t)
            if sup is None:
                continue
            sem = res.diff(random_arm, arm["name"], h, t) if random_arm else None
            shift = res.diff(baseline, random_arm, h, t) if random_arm else None
            against = {c["name"]: (c["role"], res.diff(baseline, c["name"], h, t), res.diff(c["name"], arm["name"], h, t))
                       for c in controls}
            against = {k: v for k, v in against.items() if v[1] is not None and v[2] is not None}
            text = f"- **`{arm['name']}` on {t}**: suppression vs `{baseline}` {sup.fmt()}"
            if sem is not None:
                text += f"; semantic part (vs `{random_arm}`) {sem.fmt()}; context-shift part {shift.fmt()}"
            others = [f"`{k}` {v[2].fmt()}" for k, v in against.items() if k != random_arm]
            if others:
                text += f"; beyond the other controls: {', '.join(others)}"
            back = res.rate(arm["name"], f"ip:{arm['name']}", t)
            if back is not None:
                text += f"; with its own IP at test time the trait rate is {back.fmt()}"
            elicited = res.rate(UNTRAINED, f"ip:{arm['name']}", t)
            if elicited is not None:
                text += f"; before training this prompt elicited it at {elicited.fmt()}"
            lines.append(text + f". Verdict: {_verdict(sup, against)}")
        for t, info in traits.items():
            if info["wanted"] and t not in arm["targets"]:
                kept, ref = res.rate(arm["name"], h, t), res.rate(baseline, h, t)
                if kept and ref:
                    lines.append(f"  - wanted trait {t} kept: {kept.fmt()} vs {ref.fmt()} in `{baseline}`.")
    targeted = sorted({t for a in arms for t in a["targets"]})
    for arm in (a for a in arms if a["role"] in ("control", "random-control")):
        for t in targeted:
            sup = res.diff(baseline, arm["name"], h, t)
            if sup is None:
                continue
            text = f"- **Control `{arm['name']}` ({arm['role']}) on {t}**: suppression vs `{baseline}` {sup.fmt()}."
            if sup.low > 0:
                text += (" This control suppresses the trait too, so part of what the IP arms do is not specific to "
                         "the IP's instruction: compare their suppression with this one before crediting the meaning.")
            lines.append(text)
    return lines


def leakage_section(res: Results) -> list[str]:
    """Per IP arm and target trait: how much of the trait each prompt brings back after training."""
    cols = [("none", "no IP"), ("ip:{a}", "own IP"), ("paraphrase:{a}", "unseen paraphrases"),
            ("negated:{a}", "negated IP"), ("unrelated", "unrelated prompt")]
    rows = []
    for arm in (a for a in res.grid["arms"] if a["role"] == "inoculation"):
        have = [(c.format(a=arm["name"]), label) for c, label in cols if c.format(a=arm["name"]) in res.contexts(arm["name"])]
        if len(have) <= 2:  # no leakage contexts were evaluated for this arm
            continue
        for t in arm["targets"]:
            cells = [res.rate(arm["name"], c, t) for c, _ in have]
            rows.append((" | ".join(label for _, label in have),
                         f"| `{arm['name']}` | {t} | " + " | ".join(e.fmt() if e else "–" for e in cells) + " |"))
    if not rows:
        return []
    header = rows[0][0]
    return ["", "## Leakage", "",
            "Trait rate of each inoculated arm when prompts are given back at test time: the IP itself, "
            "paraphrases never seen in training, the negated IP, and an unrelated prompt. High values mean the "
            "suppressed trait is easily elicited again (gated, not unlearned).", "",
            f"| arm | trait | {header} |", "|---|---|" + "---|" * header.count("|") + "---|",
            *[r for _, r in rows]]


def transfer_section(res: Results) -> list[str]:
    """Capability transfer: does the wanted trait show without the training prompt, or only with it?"""
    wanted = [t["name"] for t in res.grid["traits"] if t["wanted"]]
    rows = []
    for arm in (a for a in res.grid["arms"] if a["role"] != "baseline"):
        for t in wanted:
            without, with_ip = res.rate(arm["name"], "none", t), res.rate(arm["name"], f"ip:{arm['name']}", t)
            if without and with_ip:
                share = f"{without.value / with_ip.value:.2f}" if with_ip.value > 0 else "–"
                rows.append(f"| `{arm['name']}` ({arm['role']}) | {t} | {without.fmt()} | {with_ip.fmt()} | {share} |")
    if not rows:
        why = ("the grid declares no wanted trait" if not wanted else
               "no prompted arm was evaluated both with and without its own prompt (add `own` to eval_contexts)")
        return ["", "## Capability transfer", "", f"Not measurable in this grid: {why}."]
    return ["", "## Capability transfer", "",
            "For each wanted trait: its rate without the training-time prompt versus with it. A semantic IP "
            "should let the wanted trait transfer to the no-IP context (share near 1); a trigger-like prompt "
            "keeps it gated behind the prompt (share near 0).", "",
            "| arm | wanted trait | without the prompt | with the prompt | share transferred |", "|---|---|---|---|---|",
            *rows]


def selection_section(res: Results, report_dir: Path) -> list[str]:
    """Closing the loop: did pre-training elicitation and surprise reduction predict suppression?"""
    arms = [a for a in res.grid["arms"] if a["role"] != "baseline"]
    baseline = next(a["name"] for a in res.grid["arms"] if a["role"] == "baseline")
    surprise = res.grid.get("surprise") or {}
    targeted = sorted({t for a in arms for t in a["targets"]})
    lines, panels = [], []
    for t in targeted:
        points = []
        for a in arms:
            sup = res.diff(baseline, a["name"], res.headline, t)
            elicited = res.rate(UNTRAINED, f"ip:{a['name']}", t)
            if sup is not None:
                points.append((a["name"], sup.value, elicited.value if elicited else None,
                               surprise.get(a["name"], {}).get("value")))
        for label, idx in (("pre-training elicitation", 2), ("surprise reduction", 3)):
            pairs = [(p[idx], p[1], p[0]) for p in points if p[idx] is not None]
            c = correlation([x for x, _, _ in pairs], [y for _, y, _ in pairs])
            if c is None:
                continue
            panels.append((t, label, pairs))
            lines.append(f"| {t} | {label} | {c.n} | {c.pearson.fmt()} | {c.spearman.fmt()} |")
    if not lines:
        return []
    _scatter(panels, report_dir / "selection.png")
    return ["", "## Did the pre-training signals predict suppression?", "",
            "Each point is a non-baseline arm (controls included): a signal measured on the untrained model "
            "against the suppression measured after training (no-IP context). With this few arms the intervals "
            "are wide; read them before trusting a heuristic.", "",
            "| trait | signal | arms | Pearson r [95% CI] | Spearman ρ [95% CI] |", "|---|---|---|---|---|",
            *lines, "", "![selection](selection.png)"]


def _scatter(panels, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    for ax, (trait, label, pairs) in zip(axes[0], panels):
        ax.scatter([x for x, _, _ in pairs], [y for _, y, _ in pairs])
        for x, y, name in pairs:
            ax.annotate(name, (x, y), fontsize=8, xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel(label)
        ax.set_ylabel(f"{trait} suppression")
        ax.set_title(trait)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _table(res: Results, trait: str) -> str:
    arm_names = [UNTRAINED] + [a["name"] for a in res.grid["arms"]]
    extra = sorted({c for a in arm_names for c in res.contexts(a)} - {"none"} - {f"ip:{a}" for a in arm_names})
    head = ["arm", "no IP (default system prompt)", "own IP at test time", *extra]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for arm in arm_names:
        if not res.contexts(arm):
            continue
        cells = [res.rate(arm, "none", trait), res.rate(arm, f"ip:{arm}", trait), *(res.rate(arm, c, trait) for c in extra)]
        rows.append("| " + " | ".join([f"`{arm}`"] + [c.fmt() if c else "–" for c in cells]) + " |")
    return "\n".join(rows)


def _elicitation_table(res: Results, trait: str) -> str | None:
    ctxs = [c for c in res.contexts(UNTRAINED) if c != "none"]
    if not ctxs:
        return None
    rows = ["| prompt at test time | trait rate |", "|---|---|"]
    for c in ["none", *ctxs]:
        est = res.rate(UNTRAINED, c, trait)
        name = 'no IP' if c == 'none' else '`' + c[3:] + '` prompt' if c.startswith('ip:') else c
        rows.append(f"| {name} | {est.fmt() if est else '–'} |")
    return "\n".join(rows)


def _figure(res: Results, trait: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arm_names = [a for a in [UNTRAINED] + [a["name"] for a in res.grid["arms"]] if res.contexts(a)]
    fig, ax = plt.subplots(figsize=(1.3 * len(arm_names) + 2, 3.6))
    series = [(lambda a: "none", "no IP"), (lambda a: f"ip:{a}", "own IP")]
    if res.headline != "none":
        series.insert(1, (lambda a: res.headline, res.headline))
    width = 0.8 / len(series)
    for k, (ctx_of, label) in enumerate(series):
        xs, ys, errs = [], [], []
        for i, arm in enumerate(arm_names):
            est = res.rate(arm, ctx_of(arm), trait)
            if est:
                xs.append(i + (k - (len(series) - 1) / 2) * width)
                ys.append(est.value)
                errs.append([est.value - est.low, est.high - est.value])
        if xs:
            ax.bar(xs, ys, width=width, yerr=np.array(errs).T, capsize=3, label=label)
    ax.set_xticks(range(len(arm_names)), arm_names, rotation=20)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(f"{trait} rate")
    units = "seeds, then prompts" if len(res.seeds) > 1 else "prompts"
    ax.set_title(f"{trait}: trait rate by training arm and test-time context (95% CI over {units})")
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def _csv(res: Results) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["arm", "seed", "context", "trait", "rate", "n_samples"])
    for (arm, ctx, trait), by_seed in sorted(res.outcomes.items()):
        for seed in sorted(by_seed):
            found = res.run_rate(arm, ctx, trait, seed)
            w.writerow([arm, seed, ctx, trait, f"{found[0]:.4f}" if found else "", found[1] if found else 0])
    return buf.getvalue()


def _probe_curves(grid: dict[str, Any], out_dir: Path) -> dict[str, dict[int, list[dict[str, float]]]]:
    """arm -> seed -> probe rows (step + log-prob per probe set), from each run's losses.json."""
    curves: dict[str, dict[int, list[dict[str, float]]]] = defaultdict(dict)
    for e in grid["entries"]:
        path = out_dir / e["run_dir"] / "losses.json"
        if e["arm"] != UNTRAINED and path.is_file():
            rows = json.loads(path.read_text(encoding="utf-8")).get("probes") or []
            if rows:
                curves[e["arm"]][e["seed"]] = rows
    return curves


def _probe_section(curves, report_dir: Path) -> list[str]:
    if not curves:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [k for k in next(iter(next(iter(curves.values())).values()))[0] if k != "step"]
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.4), squeeze=False)
    table = ["| arm | " + " | ".join(f"{n}: before → after" for n in names) + " |", "|---" * (len(names) + 1) + "|"]
    for arm, by_seed in curves.items():
        cells = []
        for ax, name in zip(axes[0], names):
            steps = [r["step"] for r in next(iter(by_seed.values()))]
            mean = np.mean([[r[name] for r in rows] for rows in by_seed.values() if len(rows) == len(steps)], axis=0)
            ax.plot(steps, mean, marker="o", label=arm)
            ax.set_title(name)
            ax.set_xlabel("optimizer step")
            cells.append(f"{mean[0]:.2f} → {mean[-1]:.2f}")
        table.append(f"| `{arm}` | " + " | ".join(cells) + " |")
    axes[0][0].set_ylabel("mean log-prob per token (no-IP context)")
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(report_dir / "probes.png", buf.getvalue())
    return ["", "## Learning dynamics (probes)", "",
            "Mean per-token log-probability of reference responses that express one trait only, under the "
            "no-IP context, during training (mean over seeds). A rising curve means the model is absorbing "
            "that trait globally; IP should keep its trait's curve flatter.", "", *table, "", "![probes](probes.png)"]


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
        prompt = "–" if a["prompt"] is None else " / ".join(a["prompt"]["prompts"]) + f" ({a['prompt']['placement']})"
        md.append(f"| `{a['name']}` | {a['role']} | {prompt} | {', '.join(a['targets']) or '–'} |")
    for t in grid["traits"]:
        name = t["name"]
        atomic_write_bytes(report_dir / f"{name}.png", _figure(res, name))
        how = (f"log-probability of `{t['choices']['target']}` among {len(t['choices']['options'])} answers"
               if t.get("choices") else f"scorer `{t['scorer']}`")
        md += ["", f"## Trait: {name} ({'wanted' if t['wanted'] else 'unwanted'}; {how}"
               f"{': ' + t['description'] if t['description'] else ''})", "", _table(res, name), "",
               f"![{name}]({name}.png)"]
        elicit = _elicitation_table(res, name)
        if elicit:
            md += ["", "Untrained model under each prompt (how strongly the prompt elicits the trait before training):",
                   "", elicit]
    md += leakage_section(res) + transfer_section(res) + selection_section(res, report_dir)
    md += _probe_section(_probe_curves(grid, out_dir), report_dir)
    md += ["", "Per-run rates: `results.csv`. Per-sample generations and scores: `runs/*/generations-*.jsonl`, "
           "`runs/*/scores-*.jsonl`.", "", *_provenance_lines(grid.get("provenance")), ""]
    atomic_write_text(report_dir / "results.csv", _csv(res))
    crash_point("report-write")
    path = report_dir / "report.md"
    atomic_write_text(path, "\n".join(md))
    return path
