"""The report on synthetic results: verdicts follow the numbers, and the CI level is stated."""

import json

import pytest

from inoculate._io import atomic_write_json, atomic_write_jsonl
from inoculate.report import write_report


def make_grid(tmp_path, rates: dict[tuple[str, str], list[float]], n=100):
    """rates[(arm, context)] = [spanish rate per seed]; writes score files and grid.json."""
    entries = []
    for (arm, ctx), per_seed in rates.items():
        for seed, rate in enumerate(per_seed):
            k = round(rate * n)
            rows = [{"prompt_id": str(i), "sample": 0, "spanish": {"score": 1.0 * (i < k), "present": i < k}}
                    for i in range(n)]
            name = f"scores-{arm}-{ctx.replace(':', '_')}-{seed}.jsonl"
            atomic_write_jsonl(tmp_path / "runs" / name, rows)
            entries.append({"arm": arm, "seed": seed, "context": ctx, "run_dir": "runs", "generations": "",
                            "scores": name})
    atomic_write_json(tmp_path / "grid.json", {
        "schema": 2, "spec": {"generation": {"n_samples": 1, "temperature": 1.0}}, "setting": "synthetic", "model": "m",
        "version": "test", "n_train": 10, "n_eval": n, "data_hash": "h",
        "traits": [{"name": "spanish", "wanted": False, "scorer": "language:es", "config": {}, "description": ""}],
        "arms": [{"name": "no-ip", "role": "baseline", "targets": [], "prompt": None},
                 {"name": "ip", "role": "inoculation", "targets": ["spanish"],
                  "prompt": {"prompts": ["You always speak in Spanish."], "placement": "system"}},
                 {"name": "random", "role": "random-control", "targets": [],
                  "prompt": {"prompts": ["qZ7"], "placement": "system"}}],
        "entries": entries})


def findings(tmp_path):
    return write_report(tmp_path).read_text()


def test_semantic_inoculation_is_called_semantic(tmp_path):
    make_grid(tmp_path, {("untrained", "none"): [0.0], ("no-ip", "none"): [0.8], ("ip", "none"): [0.05],
                         ("ip", "ip:ip"): [0.9], ("random", "none"): [0.75]})
    text = findings(tmp_path)
    assert "suppression vs `no-ip` 0.75" in text
    assert "Verdict: mostly semantic" in text
    assert "over evaluation prompts: the prompt is the unit" in text and "With a single training seed" in text
    assert "| `untrained` | 0.00 [0.00, 0.04] |" in text  # 0 of 100 prompts: not a collapsed [0.00, 0.00]
    assert "with its own IP at test time the trait rate is 0.90" in text


def test_control_that_suppresses_is_flagged_and_elicitation_shown(tmp_path):
    make_grid(tmp_path, {("untrained", "none"): [0.0], ("untrained", "ip:ip"): [0.4], ("no-ip", "none"): [0.8],
                         ("ip", "none"): [0.1], ("random", "none"): [0.2]})
    text = findings(tmp_path)
    assert "before training this prompt elicited it at 0.40" in text
    assert "**Control `random` (random-control) on spanish**: suppression vs `no-ip` 0.60" in text
    assert "This control suppresses the trait too" in text


def test_context_shift_is_called_out(tmp_path):
    make_grid(tmp_path, {("untrained", "none"): [0.0], ("no-ip", "none"): [0.8], ("ip", "none"): [0.1],
                         ("random", "none"): [0.12]})
    assert "Verdict: mostly a context-shift effect" in findings(tmp_path)


def test_no_suppression(tmp_path):
    make_grid(tmp_path, {("no-ip", "none"): [0.5], ("ip", "none"): [0.5], ("random", "none"): [0.5]})
    assert "Verdict: no clear suppression" in findings(tmp_path)


def test_several_seeds_give_intervals_across_seeds(tmp_path):
    make_grid(tmp_path, {("no-ip", "none"): [0.8, 0.7, 0.9], ("ip", "none"): [0.1, 0.0, 0.2],
                         ("random", "none"): [0.7, 0.8, 0.75]})
    text = findings(tmp_path)
    assert "over the 3 training seeds first, then over evaluation prompts" in text and "seeds 0, 1, 2" in text
    assert "paired by prompt and seed" in text
    csv = (tmp_path / "report" / "results.csv").read_text().splitlines()
    assert csv[0] == "arm,seed,context,trait,rate,n_samples,n_excluded" and len(csv) == 1 + 9
    row = next(r for r in csv if r.startswith("ip,2,none"))
    assert float(row.split(",")[4]) == pytest.approx(0.2)


def test_not_applicable_samples_are_left_out_of_the_rate(tmp_path):
    make_grid(tmp_path, {("no-ip", "none"): [0.8], ("ip", "none"): [0.1], ("random", "none"): [0.7]})
    path = tmp_path / "runs" / "scores-ip-none-0.jsonl"
    rows = [json.loads(line) for line in path.open()]
    for r in rows[50:]:  # half the prompts do not apply; of the rest, 10 of 50 express the trait
        r["spanish"] = {"score": None, "present": None}
    atomic_write_jsonl(path, rows)
    assert "| `ip` | 0.20 [" in findings(tmp_path)


def test_report_without_grid_is_a_clear_error(tmp_path):
    from inoculate import InoculateError

    with pytest.raises(InoculateError, match="no grid.json"):
        write_report(tmp_path)


def test_leakage_table_lists_each_prompt_given_back(tmp_path):
    make_grid(tmp_path, {("no-ip", "none"): [0.8], ("ip", "none"): [0.1], ("ip", "ip:ip"): [0.9],
                         ("ip", "paraphrase:ip"): [0.6], ("ip", "negated:ip"): [0.3], ("ip", "unrelated"): [0.2],
                         ("random", "none"): [0.7]})
    text = findings(tmp_path)
    assert "## Leakage" in text
    assert "| arm | trait | no IP | own IP | unseen paraphrases | negated IP | unrelated prompt |" in text
    assert "| `ip` | spanish | 0.10 [" in text and "| 0.60 [" in text and "| 0.30 [" in text


def test_no_leakage_section_without_leakage_contexts(tmp_path):
    make_grid(tmp_path, {("no-ip", "none"): [0.8], ("ip", "none"): [0.1], ("ip", "ip:ip"): [0.9],
                         ("random", "none"): [0.7]})
    assert "## Leakage" not in findings(tmp_path)


def test_closing_the_loop_correlates_signals_with_suppression(tmp_path):
    make_grid(tmp_path, {("untrained", "none"): [0.0], ("untrained", "ip:ip"): [0.6], ("untrained", "ip:random"): [0.0],
                         ("no-ip", "none"): [0.8], ("ip", "none"): [0.1], ("random", "none"): [0.7]})
    grid = json.loads((tmp_path / "grid.json").read_text())
    grid["arms"].append({"name": "negated", "role": "control", "targets": [], "prompt": {"prompts": ["no"], "placement": "system"}})
    grid["surprise"] = {arm: {"value": v, "low": v - 0.05, "high": v + 0.05, "n": 32}
                        for arm, v in (("ip", 0.5), ("random", 0.05), ("negated", 0.3))}
    rows = [{"prompt_id": str(i), "sample": 0, "spanish": {"score": 1.0, "present": i < 40}} for i in range(100)]
    atomic_write_jsonl(tmp_path / "runs" / "scores-negated.jsonl", rows)
    atomic_write_jsonl(tmp_path / "runs" / "scores-untrained-negated.jsonl", [dict(r, spanish={"score": 0, "present": i < 20})
                                                                         for i, r in enumerate(rows)])
    grid["entries"] += [{"arm": "negated", "seed": 0, "context": "none", "run_dir": "runs", "scores": "scores-negated.jsonl"},
                        {"arm": "untrained", "seed": 0, "context": "ip:negated", "run_dir": "runs",
                         "scores": "scores-untrained-negated.jsonl"}]
    atomic_write_json(tmp_path / "grid.json", grid)
    text = findings(tmp_path)
    assert "## Pre-training signals and suppression" in text and "Did the signals predict suppression?" in text
    assert "| `ip` | spanish | 0.500 [0.450, 0.550] | 0.60 [" in text  # each arm's surprise reduction, shown
    # suppression: ip 0.7, negated 0.4, random 0.1 -- perfectly ordered by both signals
    assert "| spanish | surprise reduction | 3 | " in text and "| spanish | elicitation | 3 | " in text
    assert "| 1.00 [" in text
    assert (tmp_path / "report" / "selection.png").is_file()


def test_transfer_section_says_why_it_is_empty(tmp_path):
    make_grid(tmp_path, {("no-ip", "none"): [0.8], ("ip", "none"): [0.1], ("ip", "ip:ip"): [0.9],
                         ("random", "none"): [0.7]})
    text = findings(tmp_path)  # the synthetic grid's only trait is unwanted
    assert "## Capability transfer" in text and "Not measurable in this grid: the grid declares no wanted trait." in text


def test_the_header_says_how_samples_were_drawn():
    from inoculate.report import _sampling

    assert _sampling({"temperature": 0, "top_k": 50, "top_p": 1.0}) == "greedy"
    assert _sampling({"temperature": 1.0, "top_k": 50, "top_p": 1.0}) == "temperature 1.0, top-k 50"
    assert _sampling({"temperature": 0.7, "top_k": 0, "top_p": 0.9}) == "temperature 0.7, top-p 0.9"
    # a grid written before top_k was a key: transformers chose it
    assert "model's generation config" in _sampling({"temperature": 1.0, "top_p": 1.0})


def test_a_grid_from_schema_1_still_reports(tmp_path):
    """grid.json written before the run-unit redesign called the untrained model "base"."""
    from inoculate.grid import read_grid

    make_grid(tmp_path, {("untrained", "none"): [0.0], ("untrained", "ip:ip"): [0.4], ("no-ip", "none"): [0.8],
                         ("ip", "none"): [0.1], ("random", "none"): [0.7]})
    grid = json.loads((tmp_path / "grid.json").read_text())
    del grid["schema"]
    for e in grid["entries"]:
        e["arm"] = "base" if e["arm"] == "untrained" else e["arm"]
    atomic_write_json(tmp_path / "grid.json", grid)
    assert {e["arm"] for e in read_grid(tmp_path)["entries"]} == {"untrained", "no-ip", "ip", "random"}
    text = findings(tmp_path)
    assert "before training this prompt elicited it at 0.40" in text and "| `untrained` |" in text


def _with_negated_control(tmp_path, ip_rate, negated_rate, random_rate):
    make_grid(tmp_path, {("no-ip", "none"): [0.8], ("ip", "none"): [ip_rate], ("random", "none"): [random_rate],
                         ("negated", "none"): [negated_rate]})
    grid = json.loads((tmp_path / "grid.json").read_text())
    grid["arms"].append({"name": "negated", "role": "control", "targets": [],
                         "prompt": {"prompts": ["You never speak in Spanish."], "placement": "system"}})
    atomic_write_json(tmp_path / "grid.json", grid)
    return findings(tmp_path)


def test_a_control_with_the_prompts_words_that_works_as_well_is_a_keyword_effect(tmp_path):
    text = _with_negated_control(tmp_path, ip_rate=0.12, negated_rate=0.1, random_rate=0.75)
    assert "Verdict: a keyword effect: the control `negated` suppresses about as much" in text
    assert "while the random string `random` does not" in text and "beyond the other controls: `negated` -0.02" in text


def test_the_verdict_names_the_strongest_control(tmp_path):
    text = _with_negated_control(tmp_path, ip_rate=0.05, negated_rate=0.5, random_rate=0.7)
    assert "Verdict: mostly semantic: it suppresses clearly more than every control (the strongest, `negated`, " \
           "leaves 0.45" in text


def test_training_section_and_sample_answers_from_the_run_files(tmp_path):
    make_grid(tmp_path, {("no-ip", "none"): [0.8], ("ip", "none"): [0.1], ("random", "none"): [0.7]})
    grid = json.loads((tmp_path / "grid.json").read_text())
    grid["spec"]["train"] = {"learning_rate": 1e-3, "warmup_steps": 5}
    for e in grid["entries"]:
        e["run_dir"] = f"runs/{e['arm']}"
        (tmp_path / e["run_dir"]).mkdir(parents=True, exist_ok=True)
        (tmp_path / "runs" / e["scores"]).rename(tmp_path / e["run_dir"] / e["scores"])
        lrs = [0.0, 2e-4, 4e-4] if e["arm"] == "ip" else [0.0, 5e-4, 1e-3, 5e-4]
        atomic_write_json(tmp_path / e["run_dir"] / "losses.json", {
            "losses": [{"step": i + 1, "epoch": 0, "loss": 3.0 - i * 0.5, "lr": lr, "tokens": 100 * (i + 1)}
                       for i, lr in enumerate(lrs)], "tokens": 100 * len(lrs), "truncated": 1, "probes": []})
        e["generations"] = "generations.jsonl"
        atomic_write_jsonl(tmp_path / e["run_dir"] / "generations.jsonl", [
            {"prompt_id": str(i), "sample": 0, "messages": [], "text": f"answer {i} | with a pipe\nand `code`"}
            for i in range(5)])
    atomic_write_json(tmp_path / "grid.json", grid)
    text = findings(tmp_path)
    assert "| `ip` | 0 | 3 | 1 | 0.0004 of 0.001 | 3.000 → 2.000 | 300 | 1 |" in text
    assert "The learning rate never reached its peak in `ip` seed 0" in text
    assert (tmp_path / "report" / "training.png").read_bytes()[:4] == b"\x89PNG"
    assert "| `random` | none | 0 | answer 0 \\| with a pipe ⏎ and \\`code\\` |" in text
    assert text.count("| `ip` | none |") == 3  # the first 3 answers
