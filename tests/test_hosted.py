"""Hosted fine-tuning through the OpenAI fine-tuning API, tested against `inoculate serve`, a real
server that speaks it (files, jobs, events, fine-tuned models served): the same outputs as local
training, launch-or-load across a crash, a job the provider fails, money stated before spending."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import openai
import pytest
from servers import FaultProxy, inoculate_serve
from test_experiment import tiny_spec

from inoculate import InoculateError
from inoculate.backends.served import served_adapters
from inoculate.experiment import load_spec, run_experiment

KEY_ENV, KEY = "INOCULATE_TEST_FT_KEY", "sk-ft-4c1e0b9d77"
# the server trains with these; the local grid with the same, so the two are comparable
TRAIN = {"lora_r": 2, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"], "warmup_steps": 0,
         "learning_rate": 0.05, "batch_size": 3, "epochs": 1}
ARMS = {"no-ip": None, "spanish-ip": {"prompt": "You always speak in Spanish.", "targets": ["spanish"]}}


def _hosted(server_url: str, **over) -> dict:
    return {"base_url": server_url, "model": "tiny", "api_key_env": KEY_ENV, "n_epochs": 1, "batch_size": 3,
            "learning_rate_multiplier": 1, "poll_seconds": 0.2, **over}


def _spec(tmp_path, tiny_model_path, **over):
    spec = tiny_spec(tmp_path, tiny_model_path, arms=ARMS, train=TRAIN, surprise_examples=0, **over)
    return spec


def _jobs(base_url: str) -> list:
    return list(openai.OpenAI(base_url=base_url, api_key=KEY).fine_tuning.jobs.list(limit=100))


def _samples(out: Path) -> dict:
    grid = json.loads((out / "grid.json").read_text())
    return {(e["arm"], e["context"]): [json.loads(line)["text"] for line in
                                       (out / e["run_dir"] / e["generations"]).read_text().splitlines()]
            for e in grid["entries"]}


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("INOCULATE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(KEY_ENV, KEY)


def test_hosted_grid_gives_the_local_grids_outputs_and_pays_once(tmp_path, tiny_model_path, env, capfd):
    local = tmp_path / "local"
    run_experiment(_spec(tmp_path, tiny_model_path), local, progress=False, train_only=True)
    adapters = {name: str(path) for _, _, name, path in served_adapters(local)}
    with inoculate_serve(tiny_model_path, tmp_path / "server.log", adapters, "tiny", KEY_ENV, state=tmp_path / "state",
                         train={k: v for k, v in TRAIN.items() if k not in ("batch_size", "epochs")}) as server:
        served = {"base_url": server.base_url, "model": "tiny", "api_key_env": KEY_ENV}
        hosted_spec = _spec(tmp_path, tiny_model_path, hosted_training=_hosted(server.base_url))
        with pytest.raises(InoculateError, match="2 paid fine-tuning jobs would be launched"):
            run_experiment(hosted_spec, tmp_path / "hosted", progress=False)
        assert run_experiment(hosted_spec, tmp_path / "hosted", progress=False, dry_run=True) is None
        assert not _jobs(server.base_url) and not (tmp_path / "hosted").exists()  # nothing spent, nothing written

        run_experiment(load_spec({**_raw(hosted_spec), "confirm_cost": True}), tmp_path / "hosted", progress=False)
        run_experiment(_spec(tmp_path, tiny_model_path, sampler=served), local, progress=False)
        hosted, here = _samples(tmp_path / "hosted"), _samples(local)
        assert hosted.keys() == here.keys() and hosted == here  # the same adapters, sampled with the same seeds
        assert hosted[("no-ip", "none")] != hosted[("untrained", "none")]  # and training changed the model
        assert len(_jobs(server.base_url)) == 2
        run_experiment(load_spec({**_raw(hosted_spec), "confirm_cost": True}), tmp_path / "hosted", progress=False)
        assert len(_jobs(server.base_url)) == 2  # a finished grid launches nothing again
        report = (tmp_path / "hosted" / "report" / "report.md").read_text()
        assert "## Training" in report
    for path in (tmp_path / "hosted").rglob("*"):
        assert not path.is_file() or KEY.encode() not in path.read_bytes(), path
    assert KEY not in "".join(capfd.readouterr())


def _raw(spec) -> dict:
    from dataclasses import asdict

    return {k: v for k, v in asdict(spec).items() if v is not None}


CRASHING = """
import sys
from inoculate.experiment import load_spec, run_experiment
run_experiment(load_spec(sys.argv[1]), sys.argv[2], progress=False)
"""


def test_a_grid_killed_after_launching_a_job_polls_it_instead_of_launching_another(tmp_path, tiny_model_path, env):
    with inoculate_serve(tiny_model_path, tmp_path / "server.log", name="tiny", key_env=KEY_ENV, env={KEY_ENV: KEY},
                         state=tmp_path / "state", train={"lora_r": 2, "target_modules": ["q_proj"]}) as server:
        spec = _spec(tmp_path, tiny_model_path, hosted_training=_hosted(server.base_url), confirm_cost=True,
                     only_arms=["no-ip"], evaluate_untrained=False)
        path = tmp_path / "spec.json"
        path.write_text(json.dumps(_raw(spec)))  # JSON is YAML
        killed = subprocess.run([sys.executable, "-c", CRASHING, str(path), str(tmp_path / "out")],
                                env={**os.environ, "INOCULATE_CRASH_AT": "hosted-created"}, capture_output=True)
        assert killed.returncode == -9 and len(_jobs(server.base_url)) == 1
        assert not list((tmp_path / "out").glob("runs/*/job.json"))  # killed before the id was written down
        run_experiment(spec, tmp_path / "out", progress=False)
        assert len(_jobs(server.base_url)) == 1  # found by its metadata and polled: no second job
        assert json.loads(next((tmp_path / "out").glob("runs/*/job.json")).read_text())["status"] == "succeeded"


def test_a_job_the_provider_fails_is_one_line_and_the_other_runs_finish(tmp_path, tiny_model_path, env):
    with inoculate_serve(tiny_model_path, tmp_path / "server.log", name="tiny", key_env=KEY_ENV, env={KEY_ENV: KEY},
                         state=tmp_path / "state", train={"lora_r": 2, "target_modules": ["q_proj"]}) as server:
        proxy = FaultProxy(server.base_url)
        proxy.corrupt_upload = 1  # the first arm's training file arrives damaged
        spec = _spec(tmp_path, tiny_model_path, hosted_training=_hosted(proxy.base_url), confirm_cost=True,
                     evaluate_untrained=False)
        with pytest.raises(InoculateError) as err:
            run_experiment(spec, tmp_path / "out", progress=False)
        message = str(err.value)
        assert "1 of 2 runs failed" in message and "failed: invalid training_file" in message
        assert "\n" not in message and KEY not in message
        statuses = sorted(j.status for j in _jobs(server.base_url))
        assert statuses == ["failed", "succeeded"]  # the other arm's job went on
        proxy.close()
