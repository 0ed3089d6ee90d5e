"""SIGKILL a grid at several points; the re-run must finish it, redo only unfinished work, and give
the same per-sample outputs and metrics as an uninterrupted run with the same seeds."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import chat, write_jsonl

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory, tiny_model_path):
    d = tmp_path_factory.mktemp("crash")
    train = write_jsonl(d / "train.jsonl", [chat(f"Question {i}?", "HOLA AMIGO.") for i in range(6)])
    evals = write_jsonl(d / "eval.jsonl", [chat(f"Describe thing {i}.", id=f"e{i}") for i in range(3)])
    spec = {"setting": None, "model": tiny_model_path, "train_data": str(train), "eval_data": str(evals),
            "traits": {"caps": {"scorer": "caps", "wanted": True},
                       "spanish": {"scorer": "language", "lang": "es"}},
            "arms": {"no-ip": None, "spanish-ip": {"prompt": "You always speak in Spanish.", "targets": ["spanish"]},
                     "random": {"prompt": "qZ7 vLr3", "role": "random-control"}},
            "train": {"lora_r": 2, "batch_size": 2, "target_modules": ["q_proj"], "checkpoint_every": 1},
            "generation": {"max_new_tokens": 4, "n_samples": 2, "batch_size": 4}}
    path = d / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def run(spec_file, out, crash_at=None):
    env = {k: v for k, v in os.environ.items() if k != "INOCULATE_CRASH_AT"}
    if crash_at:
        env["INOCULATE_CRASH_AT"] = crash_at
    return subprocess.run([sys.executable, "-m", "inoculate.cli", "run", str(spec_file), "--out", str(out), "--quiet"],
                          env=env, capture_output=True, text=True, timeout=600)


def outputs(out: Path) -> dict[str, str]:
    files = sorted(out.glob("runs/*/generations-*.jsonl")) + sorted(out.glob("runs/*/scores-*.jsonl"))
    return {str(p.relative_to(out)): p.read_text() for p in files} | {"results": (out / "report/results.csv").read_text()}


@pytest.fixture(scope="module")
def reference(spec_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    proc = run(spec_file, out)
    assert proc.returncode == 0, proc.stderr
    return outputs(out)


# Order of work: base model eval (3 contexts x 2 batches), then no-ip, spanish-ip, random; each arm
# trains 3 steps (6 examples, batch 2) and evaluates 2 batches per context (6 samples, batch 4).
@pytest.mark.parametrize("point, finished_arm, redone_arms", [
    ("train-step:5", "no-ip", ["spanish-ip", "random"]),      # spanish-ip's 2nd step, after its checkpoint
    ("generation-batch:9", "no-ip", ["random"]),              # between the batches of spanish-ip's first eval
    ("report-write", None, []),                               # everything done but the report
])
def test_kill_and_resume(spec_file, reference, tmp_path, point, finished_arm, redone_arms):
    out = tmp_path / "out"
    killed = run(spec_file, out, crash_at=point)
    assert killed.returncode == -9, killed.stderr
    assert not (out / "report" / "report.md").exists()  # nothing looks finished that is not
    resumed = run(spec_file, out)
    assert resumed.returncode == 0, resumed.stderr
    trained = [line for line in resumed.stderr.splitlines() if "training on" in line]
    assert [t.split("] ")[2].split(" seed")[0] for t in trained] == redone_arms
    if finished_arm:
        assert f"{finished_arm} seed 0: generating" not in resumed.stderr
    assert outputs(out) == reference
    assert not list(out.rglob("*.partial")) and not list(out.rglob("checkpoint.pt")) and not list(out.rglob("*.tmp"))
