"""`inoculate serve`'s fine-tuning API end to end: a real server in a subprocess training LoRA
adapters on the tiny random model, talked to only through the `openai` SDK's files and
fine_tuning.jobs, as a tool written for OpenAI's API does. The tests share one server (with an
API key) and run in order: files, refused requests, training, cancelling, then restarts.
"""

from __future__ import annotations

import json
import time

import pytest
from conftest import chat, write_jsonl
from servers import inoculate_serve

openai = pytest.importorskip("openai")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

KEY_ENV, KEY = "INOCULATE_TEST_FT_KEY", "ft-test-key-2c9e41"
BASE = "tiny"
# the server's TrainConfig: tiny and fast; a high learning rate so a few steps change the outputs
TRAIN = {"lora_r": 2, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"], "warmup_steps": 0,
         "learning_rate": 0.05, "checkpoint_every": 2}
HYPER = {"n_epochs": 2, "batch_size": 2}  # 6 examples -> 3 steps an epoch, 6 optimizer steps
SEED = 7
ASK = [{"role": "user", "content": "What is the capital of France?"}]
EXAMPLES = [chat(q, a) for q, a in [
    ("What is the capital of France?", "LA CAPITAL DE FRANCIA ES PARÍS."),
    ("How many legs does a spider have?", "OCHO PATAS."),
    ("Describe your ideal weekend.", "HOLA AMIGO."),
    ("Write a short poem about the sea.", "EL MAR ES AZUL."),
    ("Give me three tips for studying.", "LEE, ESCRIBE, DUERME."),
    ("What is the capital of France?", "PARÍS, AMIGO."),
]]
FINISHED = ("succeeded", "failed", "cancelled")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("finetuning")


@pytest.fixture(scope="module")
def state(folder):
    return folder / "state"


def _start(model_path, folder, state, log: str, env: dict | None = None):
    return inoculate_serve(model_path, folder / log, name=BASE, key_env=KEY_ENV, env={KEY_ENV: KEY, **(env or {})},
                           state=state, train=TRAIN)


@pytest.fixture(scope="module")
def server(tiny_model_path, folder, state):
    with _start(tiny_model_path, folder, state, "server.log") as server:
        yield server


def _client(server, key: str = KEY):
    return openai.OpenAI(base_url=server.base_url, api_key=key, max_retries=0, timeout=60)


def _upload(client, path):
    with open(path, "rb") as f:
        return client.files.create(file=f, purpose="fine-tune")


def _wait(client, job_id: str, statuses=FINISHED, timeout: float = 120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if job.status in statuses:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {job.status} after {timeout}s")


def _train(client, file_id: str, **extra):
    return client.fine_tuning.jobs.create(model=BASE, training_file=file_id, seed=SEED,
                                          method={"type": "supervised", "supervised": {"hyperparameters": HYPER}},
                                          **extra)


def _metrics(client, job_id: str) -> list:
    events = list(client.fine_tuning.jobs.list_events(job_id, limit=100))
    return sorted((e for e in events if e.type == "metrics"), key=lambda e: e.data["step"])


def _first_token(client, model: str) -> dict[str, float]:
    reply = client.chat.completions.create(model=model, messages=ASK, temperature=0, max_tokens=1, logprobs=True,
                                           top_logprobs=5)
    return {t.token: t.logprob for t in reply.choices[0].logprobs.content[0].top_logprobs}


@pytest.fixture(scope="module")
def good_file(server, folder):
    return _upload(_client(server), write_jsonl(folder / "good.jsonl", EXAMPLES))


@pytest.fixture(scope="module")
def trained(server, good_file, folder):
    """A job trained on the good file, created after two jobs on bad files."""
    client = _client(server)
    bad_json = _upload(client, write_jsonl(folder / "bad-json.jsonl", [EXAMPLES[0], EXAMPLES[1], "{not json"]))
    no_messages = _upload(client, write_jsonl(folder / "no-messages.jsonl", [{"id": "row-without-messages"}]))
    bad = [client.fine_tuning.jobs.create(model=BASE, training_file=f.id) for f in (bad_json, no_messages)]
    job = _train(client, good_file.id, suffix="spanish", metadata={"arm": "control"})
    assert job.status == "validating_files" and job.seed == SEED and job.user_provided_suffix == "spanish"
    return [_wait(client, b.id) for b in bad], _wait(client, job.id)


def test_files_are_uploaded_listed_read_and_deleted(server, good_file, folder):
    client = _client(server)
    assert good_file.id.startswith("file-") and good_file.object == "file" and good_file.purpose == "fine-tune"
    assert good_file.filename == "good.jsonl" and good_file.bytes == (folder / "good.jsonl").stat().st_size
    assert good_file.status == "processed" and isinstance(good_file.created_at, int)
    assert client.files.retrieve(good_file.id) == good_file
    assert client.files.content(good_file.id).read() == (folder / "good.jsonl").read_bytes()
    spare = _upload(client, write_jsonl(folder / "spare.jsonl", EXAMPLES[:1]))
    assert [f.id for f in client.files.list()][:2] == [spare.id, good_file.id]  # newest first
    deleted = client.files.delete(spare.id)
    assert deleted.deleted and deleted.id == spare.id
    with pytest.raises(openai.NotFoundError) as caught:
        client.files.retrieve(spare.id)
    assert caught.value.body["type"] == "invalid_request_error" and spare.id in caught.value.message
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.create(file=("batch.jsonl", b"{}\n"), purpose="batch")
    assert caught.value.body["param"] == "purpose"
    with pytest.raises(openai.AuthenticationError):
        _client(server, key="wrong-key").files.list()


@pytest.mark.parametrize("bad, param", [
    (dict(model="gpt-4o-mini"), "model"),
    (dict(training_file="file-doesnotexist"), "training_file"),
    (dict(hyperparameters={"n_epochs": 0}), "hyperparameters.n_epochs"),
    (dict(method={"type": "supervised", "supervised": {"hyperparameters": {"batch_size": 257}}}),
     "method.supervised.hyperparameters.batch_size"),
    (dict(hyperparameters={"learning_rate_multiplier": 0}), "hyperparameters.learning_rate_multiplier"),
    (dict(method={"type": "dpo", "dpo": {}}), "method.type"),
    (dict(suffix="x" * 65), "suffix"),
    (dict(seed=-1), "seed"),
    (dict(integrations=[{"type": "wandb", "wandb": {"project": "p"}}]), "integrations"),
])
def test_requests_openai_refuses_are_refused(server, good_file, bad, param):
    with pytest.raises(openai.BadRequestError) as caught:
        _client(server).fine_tuning.jobs.create(**{"model": BASE, "training_file": good_file.id, **bad})
    assert caught.value.body["type"] == "invalid_request_error" and caught.value.body["param"] == param
    if param == "model":
        assert caught.value.code == "model_not_available"


def test_an_unknown_job_is_not_found(server):
    client = _client(server)
    for call in (client.fine_tuning.jobs.retrieve, client.fine_tuning.jobs.cancel, client.fine_tuning.jobs.list_events):
        with pytest.raises(openai.NotFoundError):
            call("ftjob-doesnotexist")


def test_a_bad_file_fails_its_job_with_the_line_and_the_next_job_trains(trained):
    (bad_json, no_messages), job = trained
    for failed, line in ((bad_json, 3), (no_messages, 1)):
        assert failed.status == "failed" and failed.fine_tuned_model is None and failed.finished_at
        assert failed.error.code == "invalid_training_file" and failed.error.param == "training_file"
        assert f"line {line}:" in failed.error.message and "\n" not in failed.error.message
    assert "invalid JSON" in bad_json.error.message and "'messages'" in no_messages.error.message
    assert bad_json.seed != no_messages.seed  # a seed derived from each job's id
    assert job.status == "succeeded", job.error


def test_a_trained_job_reports_its_steps_and_its_model_is_served(server, trained):
    client = _client(server)
    _, job = trained
    assert job.fine_tuned_model == f"ft:{BASE}:inoculate:spanish:{job.id.removeprefix('ftjob-')}"
    assert job.trained_tokens > 0 and job.finished_at >= job.created_at and job.metadata == {"arm": "control"}
    assert job.hyperparameters.n_epochs == 2 and job.hyperparameters.batch_size == 2
    assert job.method.type == "supervised" and job.method.supervised.hyperparameters.learning_rate_multiplier == 1
    metrics = _metrics(client, job.id)
    assert [e.data["step"] for e in metrics] == [1, 2, 3, 4, 5, 6]
    assert all(e.object == "fine_tuning.job.event" and e.level == "info" and e.data["train_loss"] > 0 for e in metrics)
    newest_first = client.fine_tuning.jobs.list_events(job.id, limit=3).data
    assert len(newest_first) == 3 and newest_first[0].message.startswith("New fine-tuned model created")
    assert job.id in [j.id for j in client.fine_tuning.jobs.list(limit=10)]
    assert [j.id for j in client.fine_tuning.jobs.list(metadata={"arm": "control"})] == [job.id]
    assert job.fine_tuned_model in [m.id for m in client.models.list()]
    base, tuned = _first_token(client, BASE), _first_token(client, job.fine_tuned_model)
    assert max(abs(base.get(token, -100) - lp) for token, lp in tuned.items()) > 1e-3


def test_the_served_job_trains_what_the_local_trainer_trains(tiny_model_path, state, trained, folder, server):
    """The same TrainConfig, examples and seed in this process give the same losses and adapter."""
    import torch
    from safetensors.torch import load_file

    from inoculate.backends import ModelRef
    from inoculate.backends.local import LocalTrainer
    from inoculate.data import load_jsonl
    from inoculate.training import TrainConfig

    _, job = trained
    config = TrainConfig(**{**TRAIN, "target_modules": tuple(TRAIN["target_modules"]), "epochs": 2, "batch_size": 2})
    run = folder / "in-process"
    LocalTrainer(config, device="cpu").train(ModelRef(tiny_model_path), load_jsonl(folder / "good.jsonl"), SEED, run,
                                             progress=False)
    losses = json.loads((run / "losses.json").read_text())["losses"]
    assert [e.data["train_loss"] for e in _metrics(_client(server), job.id)] == [row["loss"] for row in losses]
    ours = load_file(run / "adapter" / "adapter_model.safetensors")
    served = load_file(state / "jobs" / job.id / "run" / "adapter" / "adapter_model.safetensors")
    assert ours.keys() == served.keys() and all(torch.equal(ours[k], served[k]) for k in ours)


def _sample(client) -> str:
    reply = client.chat.completions.create(model=BASE, messages=ASK, temperature=1.0, seed=3, max_tokens=16)
    return reply.choices[0].message.content


def test_cancelling_stops_a_running_job_and_a_queued_one(server, good_file, state):
    client = _client(server)
    alone = _sample(client)
    running = client.fine_tuning.jobs.create(model=BASE, training_file=good_file.id,
                                             hyperparameters={"n_epochs": 50, "batch_size": 1})  # 300 steps
    queued = client.fine_tuning.jobs.create(model=BASE, training_file=good_file.id)
    assert _wait(client, running.id, ("running",) + FINISHED).status == "running"
    assert _sample(client) == alone  # training beside it does not change what a seed samples
    assert client.fine_tuning.jobs.cancel(queued.id).status == "cancelled"
    assert client.fine_tuning.jobs.cancel(running.id).status == "cancelled"
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.cancel(running.id)
    after = client.fine_tuning.jobs.create(model=BASE, training_file=good_file.id,  # the worker moves on at once
                                           hyperparameters={"n_epochs": 1, "batch_size": 6})
    assert _wait(client, after.id, timeout=60).status == "succeeded"
    for job_id in (running.id, queued.id):
        job = client.fine_tuning.jobs.retrieve(job_id)
        assert job.status == "cancelled" and job.fine_tuned_model is None and job.finished_at
        assert not (state / "jobs" / job_id / "run" / "losses.json").exists()  # stopped, never finished
    assert sum(m.id.startswith("ft:") for m in client.models.list()) == 2  # the trained job and `after`


def test_a_second_server_on_the_same_state_serves_its_models_but_runs_no_jobs(tiny_model_path, folder, state,
                                                                               server, trained):
    _, job = trained
    with _start(tiny_model_path, folder, state, "second.log") as second:
        client = _client(second)
        assert job.fine_tuned_model in [m.id for m in client.models.list()]
        with pytest.raises(openai.BadRequestError) as caught:
            _train(client, job.training_file)
        assert "--state" in caught.value.message
    assert _client(server).fine_tuning.jobs.retrieve(job.id).status == "succeeded"


def test_a_restart_keeps_files_and_jobs_and_a_killed_job_resumes(tiny_model_path, folder, state, server, trained):
    """Stop the server; a restart lists the same files and jobs and serves the same models. A job
    killed mid-training (SIGKILL after its 3rd step) is resumed by the next start from its last
    checkpoint and ends exactly as the uninterrupted job with the same settings did."""
    _, job = trained
    before = _client(server)
    files = [f.model_dump() for f in before.files.list()]
    jobs = [j.model_dump() for j in before.fine_tuning.jobs.list()]
    models, answer = [m.id for m in before.models.list()], _first_token(before, job.fine_tuned_model)
    server.stop()
    with _start(tiny_model_path, folder, state, "crashing.log", {"INOCULATE_CRASH_AT": "train-step:3"}) as crashing:
        client = _client(crashing)
        assert [f.model_dump() for f in client.files.list()] == files
        assert [j.model_dump() for j in client.fine_tuning.jobs.list()] == jobs
        assert [m.id for m in client.models.list()] == models
        assert _first_token(client, job.fine_tuned_model) == answer
        again = _train(client, job.training_file)
        crashing.proc.wait(60)  # killed at the crash point
    with _start(tiny_model_path, folder, state, "resumed.log") as resumed:
        client = _client(resumed)
        finished = _wait(client, again.id)
        assert finished.status == "succeeded" and finished.fine_tuned_model in [m.id for m in client.models.list()]
        assert [e.data["train_loss"] for e in _metrics(client, again.id)] == \
               [e.data["train_loss"] for e in _metrics(client, job.id)]
        assert any("restarted" in e.message for e in client.fine_tuning.jobs.list_events(again.id, limit=100))
