"""What the numbers say: learning, suppression and its semantic part against every control, leakage,
capability transfer, and whether the pre-training signals predicted suppression."""

from __future__ import annotations

from pathlib import Path

from inoculate._io import atomic_write_bytes
from inoculate.grid import UNTRAINED
from inoculate.report.arm_kinds import controls_for, own_context, random_for, steering, words
from inoculate.report.figures import signal_figure
from inoculate.report.results import Results
from inoculate.stats import Estimate, correlation


def _verdict(suppression: Estimate, controls: dict[str, tuple[str, Estimate, Estimate]], who: str = "the IP") -> str:
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
        return f"{share} semantic: {tail} (the strongest, `{strongest}`, leaves {beyond.fmt()} to {who})."
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
        # each arm against the controls of its own kind: a steering arm against a random direction
        random_arm, controls, say = random_for(arm, arms), controls_for(arm, arms), words(arm)
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
                text += f"; {say['semantic']} (vs `{random_arm}`) {sem.fmt()}; {say['shift']} {shift.fmt()}"
            others = [f"`{k}` {v[2].fmt()}" for k, v in against.items() if k != random_arm]
            if others:
                text += f"; beyond the other controls: {', '.join(others)}"
            back = res.rate(arm["name"], own_context(arm), t)
            if back is not None:
                text += f"; with {say['own']} at test time the trait rate is {back.fmt()}"
            elicited = res.rate(UNTRAINED, own_context(arm), t)
            if elicited is not None:
                text += f"; before training {say['elicit']} elicited it at {elicited.fmt()}"
            lines.append(text + f". Verdict: {_verdict(sup, against, 'the steering' if steering(arm) else 'the IP')}")
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
    """Per inoculated arm and target trait: how much of the trait each prompt (or the arm's
    steering) brings back after training."""
    cols = [("none", "no IP"), ("ip:{a}", "own IP"), ("steer:{a}", "steering at test time"),
            ("paraphrase:{a}", "unseen paraphrases"), ("negated:{a}", "negated IP"), ("unrelated", "unrelated prompt")]
    found = []
    for arm in (a for a in res.grid["arms"] if a["role"] == "inoculation"):
        have = {c: c.format(a=arm["name"]) for c, _ in cols if c.format(a=arm["name"]) in res.contexts(arm["name"])}
        if len(have) <= (1 if steering(arm) else 2):  # beyond none (and the own IP), nothing was given back
            continue
        found += [(arm["name"], t, have) for t in arm["targets"]]
    if not found:
        return []
    shown = [(c, label) for c, label in cols if any(c in have for _, _, have in found)]
    rows = []
    for name, t, have in found:
        cells = [res.rate(name, have[c], t) if c in have else None for c, _ in shown]
        rows.append(f"| `{name}` | {t} | " + " | ".join(e.fmt() if e else "–" for e in cells) + " |")
    return ["", "## Leakage", "",
            "Trait rate of each inoculated arm when prompts are given back at test time: the IP itself, "
            "paraphrases never seen in training, the negated IP, and an unrelated prompt; for a steering arm, its "
            "steering on while it generates. High values mean the suppressed trait is easily elicited again "
            "(gated, not unlearned).", "",
            f"| arm | trait | {' | '.join(label for _, label in shown)} |", "|---|---|" + "---|" * len(shown), *rows]


def transfer_section(res: Results) -> list[str]:
    """Capability transfer: does the wanted trait show without the training prompt, or only with it?"""
    wanted = [t["name"] for t in res.grid["traits"] if t["wanted"]]
    rows = []
    for arm in (a for a in res.grid["arms"] if a["role"] != "baseline"):
        for t in wanted:
            without, with_ip = res.rate(arm["name"], "none", t), res.rate(arm["name"], own_context(arm), t)
            if without and with_ip:
                share = f"{without.value / with_ip.value:.2f}" if with_ip.value > 0 else "–"
                rows.append(f"| `{arm['name']}` ({arm['role']}) | {t} | {without.fmt()} | {with_ip.fmt()} | {share} |")
    if not rows:
        why = ("the grid declares no wanted trait" if not wanted else
               "no prompted arm was evaluated both with and without its own prompt (add `own` to eval_contexts)")
        return ["", "## Capability transfer", "", f"Not measurable in this grid: {why}."]
    return ["", "## Capability transfer", "",
            "For each wanted trait: its rate without the training-time prompt (or steering) versus with it. A "
            "semantic IP "
            "should let the wanted trait transfer to the no-IP context (share near 1); a trigger-like prompt "
            "keeps it gated behind the prompt (share near 0).", "",
            "| arm | wanted trait | without the prompt | with the prompt | share transferred |", "|---|---|---|---|---|",
            *rows]


def selection_section(res: Results, report_dir: Path) -> list[str]:
    """Closing the loop: each arm's pre-training signals (surprise reduction, elicitation) beside the
    suppression measured after training, and whether the signals predicted it."""
    arms = [a for a in res.grid["arms"] if a["role"] != "baseline"]
    baseline = next(a["name"] for a in res.grid["arms"] if a["role"] == "baseline")
    surprise = {name: Estimate(v["value"], v["low"], v["high"], v["n"])
                for name, v in (res.grid.get("surprise") or {}).items()}
    table, lines, panels = [], [], []
    for t in sorted({t for a in arms for t in a["targets"]}):
        rows = [(a["name"], surprise.get(a["name"]), res.rate(UNTRAINED, own_context(a), t),
                 res.diff(baseline, a["name"], res.headline, t)) for a in arms]
        rows = [r for r in rows if r[3] is not None]
        table += [f"| `{name}` | {t} | {s.fmt(3) if s else '–'} | {e.fmt() if e else '–'} | {sup.fmt()} |"
                  for name, s, e, sup in rows]
        for label, unit, idx in (("elicitation", "trait rate", 2), ("surprise reduction", "nats/token", 1)):
            points = [(r[0], r[idx], r[3]) for r in rows if r[idx] is not None]
            c = correlation([x.value for _, x, _ in points], [y.value for _, _, y in points])
            if c is not None:
                panels.append((t, label, unit, points))
                lines.append(f"| {t} | {label} | {c.n} | {c.pearson.fmt()} | {c.spearman.fmt()} |")
    if not table:
        return []
    out = ["", "## Pre-training signals and suppression", "",
           "Each non-baseline arm (controls included): how much its prompt lowered the surprise of the training "
           "responses before training (mean NLL without minus with, nats/token, interval over training examples), "
           "how often it elicited the trait from the untrained model, and the suppression measured after "
           "training.", "", "| arm | trait | surprise reduction | elicitation | suppression |", "|---|---|---|---|---|",
           *table]
    if lines:
        atomic_write_bytes(report_dir / "selection.png", signal_figure(panels))
        out += ["", "Did the signals predict suppression? With this few arms the intervals are wide; read them "
                "before trusting a heuristic.", "", "| trait | signal | arms | Pearson r [95% CI] | Spearman ρ [95% CI] |",
                "|---|---|---|---|---|", *lines, "", "![selection](selection.png)"]
    return out
