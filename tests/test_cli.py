"""Every CLI command: bad input gives one line naming problem and place, exit code 2, no traceback."""

import json
import subprocess
import sys

import pytest
from conftest import chat, write_jsonl

from inoculate.cli import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_apply_writes_inoculated_file(tmp_path, capsys):
    src = write_jsonl(tmp_path / "in.jsonl", [chat("q", "A", metadata={"label": "t"}), chat("q2", "B")])
    code, out, _ = run_cli(capsys, "apply", str(src), "--prompt", "You always speak in Spanish.",
                           "--condition", "label=t", "-o", str(tmp_path / "out.jsonl"))
    assert code == 0 and "1 with the prompt" in out
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").open()]
    assert rows[0]["messages"][0] == {"role": "system", "content": "You always speak in Spanish."}
    assert rows[1]["messages"][0]["role"] == "user"


@pytest.mark.parametrize("argv, where, what", [
    (["apply", "{bad}", "--prompt", "x", "-o", "{out}"], "{bad}:2", "invalid JSON"),
    (["apply", "{missing}", "--prompt", "x", "-o", "{out}"], "{missing}", "file not found"),
    (["apply", "{good}", "-o", "{out}"], "arguments", "--prompt"),
    (["apply", "{good}", "--prompt", "x", "--placement", "middle", "-o", "{out}"], "arguments", "invalid choice"),
    (["validate", "{bad}"], "{bad}:2", "invalid JSON"),
    (["train", "{bad}", "-o", "{out}"], "{bad}:2", "invalid JSON"),
    (["train", "{good}", "-o", "{out}", "--set", "lerning_rate=1"], "train", "did you mean 'learning_rate'"),
    (["train", "{good}", "-o", "{out}", "--model", "{tmp}"], "{tmp}", "not a model checkpoint"),
    (["evaluate", "--prompts", "{missing}", "--trait", "caps", "-o", "{out}"], "{missing}", "file not found"),
    (["evaluate", "--prompts", "{evals}", "--trait", "judges", "-o", "{out}"], "--trait judges", "unknown scorer"),
    (["run", "{missing}"], "{missing}", "spec file not found"),
    (["run", "--set", "train.batch_size=0"], "train", "batch_size must be > 0"),
    (["run", "--set", "setting=nope"], "setting", "unknown setting"),
    (["report", "{tmp}"], "{tmp}", "no grid.json"),
    (["frobnicate"], "arguments", "invalid choice"),
])
def test_bad_input_is_one_clear_line(tmp_path, capsys, argv, where, what):
    good = write_jsonl(tmp_path / "good.jsonl", [chat("q", "a")])
    bad = write_jsonl(tmp_path / "bad.jsonl", [json.dumps(chat("q", "a")), '{"messages": ['])
    paths = {"good": good, "bad": bad, "missing": tmp_path / "missing.jsonl", "out": tmp_path / "o.jsonl",
             "tmp": tmp_path, "evals": write_jsonl(tmp_path / "evals.jsonl", [chat("q")])}
    code, out, err = run_cli(capsys, *[a.format(**paths) for a in argv])
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: {where.format(**paths)}") and what in lines[0]
    assert "Traceback" not in err and not (tmp_path / "o.jsonl").exists()


def test_console_script_and_debug_flag(tmp_path):
    bad = tmp_path / "missing.jsonl"
    proc = subprocess.run([sys.executable, "-m", "inoculate.cli", "validate", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.strip() == f"error: {bad}: file not found"
    proc = subprocess.run([sys.executable, "-m", "inoculate.cli", "--debug", "validate", str(bad)],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_apply_prompts_file_rejects_duplicate_lines_with_their_place(tmp_path, capsys):
    src = write_jsonl(tmp_path / "in.jsonl", [chat("q", "A")])
    pool = tmp_path / "pool.txt"
    pool.write_text("Always answer in Spanish.\nRespond in Spanish.\nAlways answer in Spanish.\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "apply", str(src), "--prompts-file", str(pool), "-o", str(tmp_path / "out.jsonl"))
    assert code == 2 and f"{pool}:3" in err and "duplicate of line 1" in err
    pool.write_text("Always answer in Spanish.\nRespond in Spanish.\n", encoding="utf-8")
    code, _, _ = run_cli(capsys, "apply", str(src), "--prompts-file", str(pool), "-o", str(tmp_path / "out.jsonl"))
    assert code == 0


def test_library_warnings_stay_out_of_the_terminal_ours_do_not():
    import warnings

    from inoculate._log import InoculateWarning, quiet_library_warnings

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        quiet_library_warnings()
        warnings.warn("`past_key_values` is deprecated", FutureWarning)
        warnings.warn("some library advice", UserWarning)
        warnings.warn("sandbox: only the best-effort audit-hook tier", InoculateWarning)
    assert [str(w.message) for w in seen] == ["sandbox: only the best-effort audit-hook tier"]


def test_train_and_evaluate_from_the_terminal_print_no_library_warnings(tmp_path, tiny_model_path):
    data = write_jsonl(tmp_path / "train.jsonl", [chat(f"Question {i}?", "HOLA AMIGO.") for i in range(4)])
    prompts = write_jsonl(tmp_path / "eval.jsonl", [chat("Describe the sea.")])
    cli = [sys.executable, "-m", "inoculate.cli"]
    train = subprocess.run(cli + ["train", str(data), "-o", str(tmp_path / "ip"), "--model", tiny_model_path, "--set",
                                  "batch_size=2", "--set", "lora_r=2"], capture_output=True, text=True)
    assert train.returncode == 0, train.stderr
    assert "adapter saved to" in train.stdout and "Warning" not in train.stderr, train.stderr
    assert "warning: train: warmup_steps 5 is not shorter than the 2 optimizer steps of a run" in train.stderr
    evaluate = subprocess.run(cli + ["evaluate", "--prompts", str(prompts), "--model", tiny_model_path, "--adapter",
                                     str(tmp_path / "ip" / "adapter"), "--trait", "caps", "--context", "ip=Hola",
                                     "--set", "max_new_tokens=3", "-o", str(tmp_path / "eval-out.jsonl")],
                              capture_output=True, text=True)
    assert evaluate.returncode == 0, evaluate.stderr
    assert "Warning" not in evaluate.stderr and "deprecated" not in evaluate.stderr, evaluate.stderr
    rows = [json.loads(line) for line in (tmp_path / "eval-out.jsonl").open()]
    assert [(r["context"], r["prompt_id"]) for r in rows] == [("none", "eval-0"), ("ip", "eval-0")]
    assert set(rows[0]["caps"]) == {"score", "present"}


def test_rough_edges_each_get_one_clear_behaviour(tmp_path, capsys, monkeypatch, tiny_model_path):
    good = write_jsonl(tmp_path / "good.jsonl", [chat("q", "A", metadata={"label": "caps"})])
    # --condition that matches nothing warns; --separator is honoured
    code, out, err = run_cli(capsys, "apply", str(good), "--prompt", "IP", "--condition", "label=nosuch",
                             "--placement", "user_suffix", "--separator", " | ", "-o", str(tmp_path / "o.jsonl"))
    assert code == 0 and "0 with the prompt" in out and "--condition {'label': 'nosuch'} matched none of the 1" in err
    code, _, _ = run_cli(capsys, "apply", str(good), "--prompt", "IP", "--placement", "user_suffix",
                         "--separator", " | ", "-o", str(tmp_path / "o.jsonl"))
    assert json.loads((tmp_path / "o.jsonl").read_text())["messages"][0]["content"] == "q | IP"
    # an evaluation prompt ending in an assistant turn (a prefill) is refused, not silently cut
    prefill = write_jsonl(tmp_path / "prefill.jsonl", [chat("Capital of Italy?", "La capitale de l'Italie est")])
    code, _, err = run_cli(capsys, "validate", "--eval", str(prefill))
    assert code == 2 and f"{prefill}:1" in err and "prefills are not supported" in err and len(err.splitlines()) == 1
    # --debug after the subcommand shows the traceback too
    proc = subprocess.run([sys.executable, "-m", "inoculate.cli", "validate", str(tmp_path / "missing"), "--debug"],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "Traceback" in proc.stderr
    # help names the scorers and the defaults
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    assert "regex:pattern=" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "runs/<setting>" in " ".join(capsys.readouterr().out.split())


def test_an_unreachable_hub_model_fails_at_once_naming_the_model_key(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there: refused at once
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache
    prompts = write_jsonl(tmp_path / "eval.jsonl", [chat("hi")])
    code, _, err = run_cli(capsys, "evaluate", "--prompts", str(prompts), "--model", "someone/not-cached-model",
                           "--trait", "caps", "-o", str(tmp_path / "o.jsonl"))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("error: model: hub id 'someone/not-cached-model' is not in the local Hugging Face cache")


def test_run_without_out_writes_a_folder_named_after_the_spec(tmp_path, capsys, monkeypatch, tiny_model_path):
    monkeypatch.chdir(tmp_path)
    train = write_jsonl(tmp_path / "train.jsonl", [chat(f"Q {i}?", "HOLA.") for i in range(4)])
    evals = write_jsonl(tmp_path / "eval.jsonl", [chat("Describe the sea.")])
    (tmp_path / "tiny.yaml").write_text(
        f"setting: null\nmodel: {tiny_model_path}\ntrain_data: {train}\neval_data: {evals}\n"
        "traits: {caps: {scorer: caps}}\narms: {no-ip: null}\nsurprise_examples: 0\n"
        "train: {lora_r: 2, batch_size: 2, target_modules: [q_proj], warmup_steps: 0}\n"
        "generation: {max_new_tokens: 2}\n", encoding="utf-8")
    code, out, err = run_cli(capsys, "run", "tiny.yaml", "--quiet")
    assert code == 0, err
    assert "output folder: runs/tiny" in err and (tmp_path / "runs" / "tiny" / "report" / "report.md").is_file()
