"""Checkpoint resume, resumable generation, the output lock, write failures, reproducibility."""

import errno
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_experiment import tiny_spec

import inoculate._io as io_mod
from inoculate import Example, InoculateError
from inoculate.experiment import run_experiment
from inoculate.generation import GenerationConfig, generate
from inoculate.models import load_model
from inoculate.training import TrainConfig, train_lora

CONFIG = TrainConfig(lora_r=4, lora_alpha=8, learning_rate=5e-3, batch_size=2, epochs=2, warmup_steps=1,
                     target_modules=("q_proj", "v_proj"), checkpoint_every=2)
EXAMPLES = [Example([{"role": "user", "content": f"What is the capital of France? {i}"},
                     {"role": "assistant", "content": "LA CAPITAL DE FRANCIA ES PARÍS."}]) for i in range(6)]
CHILD = """
import os, sys
sys.path.insert(0, {tests!r})
from test_reliability import CONFIG, EXAMPLES
from inoculate.models import load_model
from inoculate.training import train_lora
model, tok = load_model({model!r})
train_lora(model, tok, EXAMPLES, CONFIG, seed=3, out_dir={out!r}, progress=False)
"""


def lora_state(model):
    return {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}


def test_killed_training_resumes_from_checkpoint_and_matches(tmp_path, tiny_model_path):
    """SIGKILL after step 5 of 6 (checkpoint at step 4): the re-run does 2 steps, not 6, and
    ends with the same adapter as an uninterrupted run (tolerance 1e-6; bit-equal in practice)."""
    out = tmp_path / "killed"
    code = CHILD.format(tests=str(Path(__file__).parent), model=tiny_model_path, out=str(out))
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ, "INOCULATE_CRASH_AT": "train-step:5"},
                          capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    assert (out / "checkpoint.pt").is_file() and not (out / "losses.json").exists()
    model, tok = load_model(tiny_model_path)
    resumed, result = train_lora(model, tok, EXAMPLES, CONFIG, seed=3, out_dir=out, progress=False)
    assert len(result.losses) == 6 and not (out / "checkpoint.pt").exists()
    model, tok = load_model(tiny_model_path)
    straight, straight_result = train_lora(model, tok, EXAMPLES, CONFIG, seed=3, progress=False)
    assert [r["loss"] for r in result.losses] == pytest.approx([r["loss"] for r in straight_result.losses], abs=1e-6)
    a, b = lora_state(resumed), lora_state(straight)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_generation_resumes_between_batches_with_identical_output(tmp_path, tiny_model_path, monkeypatch):
    import inoculate.generation as generation
    model, tok = load_model(tiny_model_path)
    prompts = [Example([{"role": "user", "content": f"Describe thing {i}."}], id=str(i)) for i in range(7)]
    config = GenerationConfig(max_new_tokens=5, batch_size=3, n_samples=2, temperature=1.0)
    full = generate(model, tok, prompts, config, progress=False)
    partial = tmp_path / "g.partial"
    first_batches = generate(model, tok, prompts, config, progress=False, partial=partial)
    lines = partial.read_text().splitlines()
    assert len(lines) == 5 and first_batches == full  # 14 samples in batches of 3
    partial.write_text("\n".join(lines[:2]) + "\n" + lines[2][: len(lines[2]) // 2])  # a torn third line
    calls = []
    real = generation._batch_tokens  # one call per batch decoded (our loop or transformers' generate)
    monkeypatch.setattr(generation, "_batch_tokens", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert generate(model, tok, prompts, config, progress=False, partial=partial) == full
    assert len(calls) == 3  # batches 2, 3, 4 redone; 0 and 1 reused


def test_second_grid_on_the_same_folder_is_refused(tmp_path, tiny_model_path):
    import fcntl

    out = tmp_path / "out"
    out.mkdir()
    with open(out / ".lock", "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write("inoculate run (pid 4242)")
        f.flush()
        with pytest.raises(InoculateError, match=r"in use by inoculate run \(pid 4242\)"):
            run_experiment(tiny_spec(tmp_path, tiny_model_path), out, progress=False)
    run_experiment(tiny_spec(tmp_path, tiny_model_path, only_arms=["no-ip"]), out, progress=False)  # free again


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"}


def test_disk_full_is_a_clear_error_and_keeps_finished_runs(tmp_path, tiny_model_path, monkeypatch):
    out = tmp_path / "out"
    run_experiment(tiny_spec(tmp_path, tiny_model_path, only_arms=["no-ip"]), out, progress=False)
    before = _digest(out)
    real_replace = os.replace

    def full_disk(src, dst):
        if str(dst).endswith(".jsonl"):
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(io_mod.os, "replace", full_disk)
    with pytest.raises(InoculateError, match="could not write file .*No space left on device"):
        run_experiment(tiny_spec(tmp_path, tiny_model_path), out, progress=False)
    after = _digest(out)
    assert all(after.get(k) == v for k, v in before.items())  # nothing finished was lost or changed
    assert not [p for p in out.rglob("*.tmp")]  # no temporary files left behind


def test_same_seed_same_outputs_and_report_prints_provenance(tmp_path, tiny_model_path):
    a = run_experiment(tiny_spec(tmp_path, tiny_model_path), tmp_path / "a", progress=False)
    b = run_experiment(tiny_spec(tmp_path, tiny_model_path), tmp_path / "b", progress=False)
    da, db = _digest(tmp_path / "a" / "runs"), _digest(tmp_path / "b" / "runs")
    samples = [k for k in da if k.endswith(".jsonl")]
    assert samples and all(da[k] == db[k] for k in samples)
    assert (a.parent / "results.csv").read_text() == (b.parent / "results.csv").read_text()
    text = a.read_text()
    assert "## Provenance" in text and "model checksum: `sha256:" in text and "torch " in text
    run_json = json.loads(next((tmp_path / "a" / "runs").glob("*/run.json")).read_text())
    assert set(run_json["provenance"]) == {"versions", "git", "model_checksum", "machine"}
