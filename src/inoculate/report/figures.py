"""The report's figures, each returned as PNG bytes. Every bar and point carries its 95% interval;
a rate that is 0 is drawn as a bar of height 0 with its interval, one that was not measured is
written "n/a", so the two never look alike."""

from __future__ import annotations

import io

import numpy as np

from inoculate.grid import UNTRAINED
from inoculate.report.results import Results
from inoculate.stats import Estimate

# context kinds drawn for every arm, in order: (context name for an arm, legend label)
SERIES = (("none", "no IP"), ("ip:{a}", "own IP"), ("paraphrase:{a}", "unseen paraphrases"),
          ("negated:{a}", "negated IP"), ("unrelated", "unrelated prompt"))


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    _pyplot().close(fig)
    return buf.getvalue()


def _bars(ax, groups: list[str], series: list[tuple[str, list[Estimate | None]]]) -> None:
    """Grouped bars with 95% error bars; a missing estimate is written n/a at its place."""
    width = 0.8 / max(len(series), 1)
    for k, (label, estimates) in enumerate(series):
        xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(groups))]
        have = [(x, e) for x, e in zip(xs, estimates) if e is not None]
        if have:
            ax.bar([x for x, _ in have], [e.value for _, e in have], width=width, label=label, capsize=3,
                   yerr=np.array([[e.value - e.low, e.high - e.value] for _, e in have]).T)
        for x, e in zip(xs, estimates):
            if e is None:
                ax.text(x, 0.02, "n/a", ha="center", va="bottom", fontsize=6, rotation=90, color="grey")
    ax.set_xticks(range(len(groups)), groups, rotation=20)
    ax.set_ylim(0, 1.25)  # room above 1 for the legend
    ax.set_yticks(np.linspace(0, 1, 6))


def rate_figure(res: Results, trait: str) -> bytes:
    """Left: each trained arm under no IP, the headline context, its own IP and the leakage contexts
    the grid has. Right: the untrained model under no IP and under each arm's prompt."""
    plt = _pyplot()
    arms = [a["name"] for a in res.grid["arms"] if res.contexts(a["name"])]
    kinds = [(c, label) for c, label in SERIES if any(c.format(a=a) in res.contexts(a) for a in arms)]
    if res.headline != "none":
        kinds.insert(1, (res.headline, res.headline))
    before = [c for c in res.contexts(UNTRAINED)]
    fig, axes = plt.subplots(1, 2, figsize=(1.4 * len(arms) + 0.5 * len(before) + 5, 3.8), squeeze=False,
                             gridspec_kw={"width_ratios": [max(len(arms), 1), max(len(before), 1)]})
    _bars(axes[0][0], arms, [(label, [res.rate(a, c.format(a=a), trait) if c.format(a=a) in res.contexts(a) else None
                                      for a in arms]) for c, label in kinds])
    axes[0][0].set_ylabel(f"{trait} rate")
    axes[0][0].set_title("trained arms, by test-time context")
    axes[0][0].legend(fontsize=7, loc="upper center", ncol=min(len(kinds), 3), frameon=False)
    _bars(axes[0][1], ["no IP" if c == "none" else c.removeprefix("ip:") for c in before],
          [("untrained", [res.rate(UNTRAINED, c, trait) for c in before])])
    axes[0][1].set_title("untrained model, by prompt")
    units = "seeds, then prompts" if len(res.seeds) > 1 else "prompts"
    fig.suptitle(f"{trait}: trait rate (95% CI over {units})")
    return _png(fig)


def signal_figure(panels: list[tuple[str, str, str, list[tuple[str, Estimate, Estimate]]]]) -> bytes:
    """Per (trait, signal): each arm's pre-training signal against its measured suppression, both with
    their 95% intervals. panels: (trait, signal name, unit, [(arm, signal, suppression)])."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 3.6), squeeze=False)
    for ax, (trait, label, unit, points) in zip(axes[0], panels):
        for name, x, y in points:
            ax.errorbar(x.value, y.value, xerr=[[x.value - x.low], [x.high - x.value]],
                        yerr=[[y.value - y.low], [y.high - y.value]], fmt="o", capsize=3)
            ax.annotate(name, (x.value, y.value), fontsize=8, xytext=(4, 4), textcoords="offset points")
        ax.axhline(0, color="grey", linewidth=0.6)
        ax.set_xlabel(f"{label} before training ({unit})")
        ax.set_ylabel(f"{trait} suppression after training (rate)")
        ax.set_title(f"{trait}: {label}")
    return _png(fig)


def curves_figure(panels: list[tuple[str, str, dict[str, tuple[list[int], list[float]]]]]) -> bytes:
    """Line plots over optimizer steps: panels of (title, y label, arm -> (steps, values))."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.4), squeeze=False)
    for ax, (title, ylabel, lines) in zip(axes[0], panels):
        for arm, (steps, values) in lines.items():
            ax.plot(steps, values, marker="o" if len(steps) < 30 else None, markersize=3, label=arm)
        ax.set_title(title)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(ylabel)
    axes[0][-1].legend(fontsize=8)
    return _png(fig)
