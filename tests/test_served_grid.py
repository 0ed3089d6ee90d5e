"""A grid evaluated through a served model and judged by one: `inoculate serve` (a real server on
127.0.0.1, behind an API key) serves the tiny model and the adapters the grid trained."""

from __future__ import annotations

import json

import openai
import pytest
from servers import FaultProxy, inoculate_serve
from test_experiment import tiny_spec

from doubles import CountingSampler, CountingTrainer, ScriptedSampler

from inoculate import InoculateError
from inoculate.backends.local import LocalTrainer
from inoculate.backends import ModelRef
from inoculate.backends.served import sample_seed, served_adapters, served_sampler
from inoculate.client import ChatClient, Endpoint, requests_sent
from inoculate.data import Example
from inoculate.experiment import run_experiment
from inoculate.generation import GenerationConfig

KEY_ENV, KEY = "INOCULATE_TEST_JUDGE_KEY", "sk-judge-7f3a9c2e51"
RUBRIC = "Question: {question}\nAnswer: {answer}\nRate the answer from 0 to 9. Reply with one digit."


def test_grid_with_a_served_sampler_and_a_judge_never_writes_the_key(tmp_path, tiny_model_path, monkeypatch, capfd):
    monkeypatch.setenv("INOCULATE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(KEY_ENV, KEY)
    out = tmp_path / "out"
    arms = {"no-ip": None, "spanish-ip": {"prompt": "You always speak in Spanish.", "targets": ["spanish"]}}
    run_experiment(tiny_spec(tmp_path, tiny_model_path, arms=arms), out, progress=False, train_only=True)
    adapters = {name: str(path) for _, _, name, path in served_adapters(out)}
    assert len(adapters) == 2 and not (out / "grid.json").exists()
    assert not list(out.glob("runs/*/generations-*"))  # trained, nothing evaluated

    with inoculate_serve(tiny_model_path, tmp_path / "server.log", adapters, "tiny", KEY_ENV) as server:
        endpoint = {"base_url": server.base_url, "model": "tiny", "api_key_env": KEY_ENV, "concurrency": 4}
        traits = {"caps": {"scorer": "caps", "wanted": True},
                  "spanish": {"scorer": "language", "lang": "es", "wanted": False},
                  "rated": {"scorer": "judge", "rubric": RUBRIC, "high": 9, "threshold": 5, "logprobs": False,
                            "wanted": True},
                  "rated-lp": {"scorer": "judge", "rubric": RUBRIC, "high": 9, "threshold": 5, "wanted": True}}
        spec = tiny_spec(tmp_path, tiny_model_path, arms=arms, traits=traits, sampler=endpoint, judge=endpoint)
        before = requests_sent(Endpoint(server.base_url, "tiny"))
        report = run_experiment(spec, out, progress=False, trainer=CountingTrainer(LocalTrainer(spec.train), refuse=True))
        sent = requests_sent(Endpoint(server.base_url, "tiny")) - before

        grid = json.loads((out / "grid.json").read_text())
        # 3 prompts x 2 samples per (model, context): 5 pairs; generation + two judge traits = 3 requests a sample
        assert any("at most 90 requests" in note for note in grid["notes"]), grid["notes"]
        assert 0 < sent <= 90
        entry = next(e for e in grid["entries"] if e["arm"] == "spanish-ip" and e["context"] == "none")
        row = json.loads((out / entry["run_dir"] / entry["generations"]).read_text().splitlines()[0])
        # the arm's samples came from its adapter, served under the run folder's name, with the sample's seed
        direct = openai.OpenAI(base_url=server.base_url, api_key=KEY).chat.completions.create(
            model=entry["run_dir"].split("/")[-1], messages=row["messages"], max_tokens=4, temperature=1.0, top_p=1.0,
            seed=sample_seed(spec.generation.seed + entry["seed"], row["prompt_id"], row["sample"]))
        assert direct.choices[0].message.content == row["text"]
        scores = [json.loads(line) for line in (out / entry["run_dir"] / entry["scores"]).read_text().splitlines()]
        assert all("raw" in r["rated"] and "raw" in r["rated-lp"] for r in scores)  # the judge's reply is kept beside each score
        assert all((r["rated"]["score"] is None) == ("excluded" in r["rated"]) for r in scores)
        text = report.read_text()
        assert "samples without a score" in text.lower() and ("unparseable" in text or "low number mass" in text)

        again = requests_sent(Endpoint(server.base_url, "tiny"))
        run_experiment(spec, out, progress=False, trainer=CountingTrainer(LocalTrainer(spec.train), refuse=True))
        assert requests_sent(Endpoint(server.base_url, "tiny")) == again  # a finished grid asks nothing again

        monkeypatch.setenv(KEY_ENV, "sk-wrong-0000")
        with pytest.raises(InoculateError, match="refused the API key from \\$INOCULATE_TEST_JUDGE_KEY") as err:
            ChatClient(Endpoint(server.base_url, "tiny", api_key_env=KEY_ENV), tmp_path / "c").complete(
                [{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}])
        assert "sk-wrong" not in str(err.value)

    captured = capfd.readouterr()
    for path in [*out.rglob("*"), *(tmp_path / "cache").rglob("*")]:
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
    assert KEY not in captured.out + captured.err


def test_a_grid_that_fails_midway_through_a_judge_pass_keeps_its_samples_and_judgements(
        tmp_path, tiny_model_path, transformers_server, monkeypatch):
    monkeypatch.setenv("INOCULATE_CACHE", str(tmp_path / "cache"))
    proxy = FaultProxy(transformers_server.base_url)
    judge = {"base_url": proxy.base_url, "model": tiny_model_path, "max_retries": 0, "concurrency": 1}
    traits = {"caps": {"scorer": "caps", "wanted": True},
              "rated": {"scorer": "judge", "rubric": RUBRIC, "high": 9, "logprobs": False, "threshold": 5}}
    spec = tiny_spec(tmp_path, tiny_model_path, arms={"no-ip": None}, traits=traits, judge=judge)
    # a prompt's two samples are one answer, judged once: 3 distinct answers per model
    answers = ScriptedSampler(lambda prompt, call, i: f"Answer {call} to {prompt.id}.")
    proxy.fail_after = 4  # the untrained model's 3 answers are judged, then 1 of no-ip's
    with pytest.raises(InoculateError, match="answered 500"):
        run_experiment(spec, tmp_path / "out", progress=False, sampler=answers)
    assert proxy.forwarded == 4
    proxy.fail_after = None
    run_experiment(spec, tmp_path / "out", progress=False, sampler=CountingSampler(answers, refuse=True),
                   trainer=CountingTrainer(LocalTrainer(spec.train), refuse=True))
    assert proxy.forwarded == 6  # only the 2 judgements the failed pass had not made; no sample made again
    proxy.close()


def test_an_adapter_the_server_does_not_serve_is_named_in_one_line(tmp_path, tiny_model_path):
    with inoculate_serve(tiny_model_path, tmp_path / "server.log", name="tiny") as server:
        sampler = served_sampler({"base_url": server.base_url, "model": "tiny"})
        prompts = [Example([{"role": "user", "content": "hi"}], id="p")]
        assert len(sampler.generate(ModelRef("tiny"), prompts, GenerationConfig(max_new_tokens=3, n_samples=2))[0]) == 2
        with pytest.raises(InoculateError, match="does not serve model 'abc123'") as err:
            sampler.generate(ModelRef("base", str(tmp_path / "runs" / "abc123" / "adapter")), prompts, GenerationConfig())
        assert "\n" not in str(err.value) and server.base_url in str(err.value)


def test_choice_traits_need_a_sampler_that_scores_answers(tmp_path, tiny_model_path):
    from inoculate.experiment import build_plan

    spec = tiny_spec(tmp_path, tiny_model_path, setting="subliminal", train_data=None, eval_data=None, traits=None,
                     arms=None, sampler={"base_url": "http://127.0.0.1:9/v1", "model": "m"})
    with pytest.raises(InoculateError, match="log-probabilities over fixed answers"):
        build_plan(spec)
