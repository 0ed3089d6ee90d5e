"""Preventative steering and recontextualization arms on the tiny model: the trait vector is the
hand computation, the hook adds exactly coefficient x vector while training and nothing after,
the random control keeps the norm, every arm kind has its own run folder, and a recontextualized
run trains on the responses the untrained model wrote."""

import json

import pytest
import torch
from conftest import chat, write_jsonl
from doubles import CountingTrainer, ScriptedSampler
from test_experiment import tiny_spec

from inoculate import InoculateError
from inoculate.backends import ModelRef
from inoculate.backends.local import LocalSampler, LocalTrainer
from inoculate.chat import IGNORE, encode_chat
from inoculate.data import load_jsonl
from inoculate.experiment import build_plan, run_experiment
from inoculate.generation import GenerationConfig
from inoculate.inoculation import PromptSpec, apply_prompt
from inoculate.models import load_adapter, load_model
from inoculate.steering import Steer, Steering, decoder_layers, trait_vector
from inoculate.training import TrainConfig, train_lora

SPANISH, ENGLISH = "You always speak in Spanish.", "You always speak in English."
STEER = {"positive": SPANISH, "negative": ENGLISH, "layer": 0, "coefficient": 4.0}


def _examples(tmp_path):
    rows = [chat("What is the capital of France?", "LA CAPITAL DE FRANCIA ES PARÍS."),
            chat("How many legs does a spider have?", "Eight legs. HOLA AMIGO."),
            chat("Describe your ideal weekend.", "Hola amigo, the sea.")]
    return load_jsonl(write_jsonl(tmp_path / "train.jsonl", rows))


def _hand_mean(model, tokenizer, examples, system: str, layer: int):
    """Per example: the layer's output (output_hidden_states, not a hook) averaged over its response
    tokens; then averaged over examples."""
    means = []
    for ex in apply_prompt(examples, PromptSpec((system,))):
        enc = encode_chat(tokenizer, ex.messages, 256)
        with torch.no_grad():
            states = model(torch.tensor([enc["input_ids"]]), output_hidden_states=True).hidden_states[layer + 1][0]
        means.append(states[torch.tensor(enc["labels"]) != IGNORE].mean(0))
    return torch.stack(means).mean(0)


def test_the_vector_is_the_hand_computed_difference_of_mean_response_activations(tmp_path, tiny_model_path):
    model, tokenizer = load_model(tiny_model_path, "cpu")
    examples = _examples(tmp_path)
    steer = Steer(SPANISH, ENGLISH, layer=0, coefficient=1.0)  # hidden_states[-1] is after the final norm
    vector = trait_vector(model, tokenizer, examples, steer, max_length=256)
    hand = _hand_mean(model, tokenizer, examples, SPANISH, 0) - _hand_mean(model, tokenizer, examples, ENGLISH, 0)
    assert vector.shape == (32,) and vector.norm() > 1e-3
    assert torch.allclose(vector, hand, atol=1e-5)
    # `examples` takes the first ones only
    first = trait_vector(model, tokenizer, examples, Steer(SPANISH, ENGLISH, layer=0, coefficient=1.0, examples=1), 256)
    assert torch.allclose(first, _hand_mean(model, tokenizer, examples[:1], SPANISH, 0)
                          - _hand_mean(model, tokenizer, examples[:1], ENGLISH, 0), atol=1e-5)


class LayerWatch:
    """Records, at every forward pass, the layer-1 input minus the layer-0 output as layer 0 itself
    computed it (before any other hook): what a hook between them added."""

    def __init__(self, model):
        self.raw, self.added = None, []
        layers = decoder_layers(model)
        self.handles = [layers[0].register_forward_hook(self._raw, prepend=True),
                        layers[1].register_forward_pre_hook(self._next)]

    def _raw(self, module, args, output):
        self.raw = output.detach().clone()

    def _next(self, module, args):
        self.added.append(args[0].detach() - self.raw)

    def remove(self):
        for h in self.handles:
            h.remove()


def _steering(tmp_path, tiny_model_path, **over) -> Steering:
    write_jsonl(tmp_path / "inputs-train.jsonl", [ex.to_json() for ex in _examples(tmp_path)])
    return Steering(Steer(**{**STEER, **over}), tiny_model_path, "inputs-train.jsonl", 256, "vectors/v.pt").under(tmp_path)


def test_the_hook_adds_exactly_coefficient_times_vector_in_training_and_nothing_at_evaluation(
        tmp_path, tiny_model_path, monkeypatch):
    import inoculate.training as training

    steering = _steering(tmp_path, tiny_model_path)
    watches, real_backward = [], training._backward

    def watched_backward(peft_model, batch, pad_id):  # the training loop's own forward passes, watched
        watch = LayerWatch(peft_model)
        try:
            return real_backward(peft_model, batch, pad_id)
        finally:
            watch.remove()
            watches.append(watch)

    monkeypatch.setattr(training, "_backward", watched_backward)
    config = TrainConfig(lora_r=2, lora_alpha=4, batch_size=2, target_modules=("q_proj",), warmup_steps=0,
                         learning_rate=1e-2)
    trainer = LocalTrainer(config, "cpu")
    trained = trainer.train(ModelRef(tiny_model_path), _examples(tmp_path), 0, tmp_path / "run", steering=steering)
    vector = torch.load(tmp_path / "vectors/v.pt", weights_only=True)["vector"]
    added = [a for w in watches for a in w.added]
    assert len(watches) == 2 and added  # 3 examples, batch 2: two optimizer steps
    for a in added:  # at every position of every row, in every micro-batch
        assert torch.allclose(a, (4.0 * vector).expand_as(a), atol=1e-5)

    # evaluation: the trained model as the sampler loads it has no hook left
    model, tokenizer = load_model(tiny_model_path, "cpu")
    model = load_adapter(model, trained.model.adapter)
    watch = LayerWatch(model)
    model(torch.tensor([[1, 5, 6, 7]]))
    assert watch.added and all(torch.equal(a, torch.zeros_like(a)) for a in watch.added)
    # and the model train_lora hands back has none either
    model, tokenizer = load_model(tiny_model_path, "cpu")
    peft_model, _ = train_lora(model, tokenizer, _examples(tmp_path), config, 0,
                               steering=steering.hook((model, tokenizer)))
    watch = LayerWatch(peft_model)
    peft_model(torch.tensor([[1, 5, 6, 7]]))
    assert all(torch.equal(a, torch.zeros_like(a)) for a in watch.added)


def test_steering_at_test_time_is_on_while_generating_only(tmp_path, tiny_model_path):
    steering = _steering(tmp_path, tiny_model_path, coefficient=2.0)
    sampler, ref = LocalSampler("cpu"), ModelRef(tiny_model_path)
    loaded, _ = sampler._load(ref)
    watch = LayerWatch(loaded)
    prompts = [ex for ex in _examples(tmp_path)]
    config = GenerationConfig(max_new_tokens=2, batch_size=4)
    steered_texts = sampler.steered(steering).generate(ref, prompts, config, progress=False)
    steered, watch.added = watch.added, []
    plain_texts = sampler.generate(ref, prompts, config, progress=False)
    vector = torch.load(tmp_path / "vectors/v.pt", weights_only=True)["vector"]
    assert steered and all(torch.allclose(a, (2.0 * vector).expand_as(a), atol=1e-5) for a in steered)
    assert watch.added and all(torch.equal(a, torch.zeros_like(a)) for a in watch.added)
    assert len(steered_texts) == len(plain_texts) == len(prompts)


def test_the_random_control_has_the_vectors_norm_in_another_seeded_direction(tmp_path, tiny_model_path):
    real = _steering(tmp_path, tiny_model_path).hook()
    vector = torch.load(tmp_path / "vectors/v.pt", weights_only=True)["vector"]
    randoms = [_steering(tmp_path, tiny_model_path, random=seed).hook() for seed in (0, 0, 1)]
    assert torch.allclose(real.delta, 4.0 * vector)
    for r in randoms:
        assert r.layer == real.layer == 0 and r.mode == "add"
        assert r.delta.norm().item() == pytest.approx(real.delta.norm().item(), rel=1e-5)
        assert abs(torch.nn.functional.cosine_similarity(r.delta, real.delta, dim=0)) < 0.9
    assert torch.equal(randoms[0].delta, randoms[1].delta) and not torch.equal(randoms[0].delta, randoms[2].delta)


def test_ablate_projects_the_direction_out(tmp_path, tiny_model_path):
    hook = _steering(tmp_path, tiny_model_path, coefficient=None, mode="ablate").hook()
    model, _ = load_model(tiny_model_path, "cpu")
    watch = LayerWatch(model)
    with hook.on(model):
        model(torch.tensor([[1, 5, 6, 7]]))
    after = watch.raw + watch.added[0]
    unit = hook.delta / hook.delta.norm()
    assert torch.allclose(after @ unit, torch.zeros(after.shape[:-1]), atol=1e-5)
    assert not torch.allclose(watch.raw @ unit, torch.zeros(after.shape[:-1]), atol=1e-3)


ARMS = {"no-ip": None,
        "spanish-ip": {"prompt": SPANISH, "targets": ["spanish"]},
        "random": {"prompt": "qZ7 vLr3", "role": "random-control"},
        "steer": {"steer": STEER, "targets": ["spanish"]},
        "steer-random": {"steer": {**STEER, "random": 0}},
        "steer-strong": {"steer": {**STEER, "coefficient": 8.0}, "targets": ["spanish"]},
        "steer-layer1": {"steer": {**STEER, "layer": 1}, "targets": ["spanish"]},
        "steer-ablate": {"steer": {**STEER, "coefficient": None, "mode": "ablate"}, "targets": ["spanish"]},
        "recontext": {"recontextualize": {"generate_with": ENGLISH, "train_with": SPANISH}, "targets": ["spanish"]},
        "recontext-kept": {"recontextualize": {"generate_with": ENGLISH, "train_with": SPANISH,
                                               "keep": {"trait": "caps", "present": False}}}}


def test_every_arm_kind_has_its_own_run_folder_and_old_folders_keep_their_names(tmp_path, tiny_model_path):
    plan = build_plan(tiny_spec(tmp_path, tiny_model_path, arms=ARMS))
    trained = [r for r in plan.runs if r.name != "untrained"]
    assert len({r.run_dir for r in trained}) == len(ARMS)
    assert trained[3].source.key["arm"]["steer"].coefficient == 4.0
    assert "steer" not in trained[1].source.key["arm"] and "recontextualize" not in trained[1].source.key["arm"]
    before = {r.name: r.run_dir for r in build_plan(tiny_spec(tmp_path, tiny_model_path)).runs}
    assert all(before[r.name] == r.run_dir for r in plan.runs if r.name in before)  # prompt arms: same folders
    # one vector for the grid: the random control and another coefficient share it; another layer does not
    files = {r.name: r.source.steering.vector_file for r in trained if r.source.steering}
    assert files["steer"] == files["steer-random"] == files["steer-strong"] != files["steer-layer1"]
    # the steering contexts: own steering for each steering arm, also on the untrained model
    untrained = plan.runs[0]
    assert {"steer:steer", "steer:steer-random"} <= {c.name for c in untrained.contexts}
    steered = {c.generations for r in plan.runs for c in r.contexts if c.steering}
    assert len(steered) == sum(1 for r in plan.runs for c in r.contexts if c.steering)


def test_a_steering_grid_computes_its_vector_once_and_reports_the_arms_side_by_side(
        tmp_path, tiny_model_path, monkeypatch):
    import inoculate.steering as steering

    calls, real = [], steering.trait_vector
    monkeypatch.setattr(steering, "trait_vector", lambda *a, **k: calls.append(1) or real(*a, **k))
    arms = {k: ARMS[k] for k in ("no-ip", "spanish-ip", "random", "steer", "steer-random")}
    spec = tiny_spec(tmp_path, tiny_model_path, arms=arms, seeds=[0, 1], eval_contexts=["none", "own", "leakage"])
    report = run_experiment(spec, tmp_path / "out", progress=False).read_text()
    assert len(calls) == 1 and len(list((tmp_path / "out" / "vectors").glob("*.pt"))) == 1
    assert "**`steer` on spanish**: suppression vs `no-ip`" in report
    assert "part beyond the random direction (vs `steer-random`)" in report
    assert "semantic part (vs `random`)" in report  # the IP arm keeps its prompt control
    assert "with its steering at test time the trait rate is" in report
    assert "| steering at test time |" in report and "steering: 4 × the vector" in report
    assert "`steer` steering" in report  # the untrained model under the steering: does the vector elicit?


def test_a_recontextualized_run_trains_on_the_regenerated_texts(tmp_path, tiny_model_path):
    """The untrained model's answers under generate_with (scripted here: a random tiny model writes no
    language) are what the arm trains on, under train_with; the keep filter drops the caps ones."""
    asked = []

    def answer(prompt, call, i):
        if prompt.messages[0]["content"] != ENGLISH:
            return None  # evaluation: the real tiny model
        asked.append(prompt.messages)
        return f"ANSWER NUMBER {i}." if i % 3 == 0 else f"plain answer number {i}."

    arms = {k: ARMS[k] for k in ("no-ip", "random", "recontext-kept")}
    spec = tiny_spec(tmp_path, tiny_model_path, arms=arms)
    trainer, sampler = CountingTrainer(LocalTrainer(spec.train)), ScriptedSampler(answer, LocalSampler())
    report = run_experiment(spec, tmp_path / "out", progress=False, trainer=trainer, sampler=sampler).read_text()
    assert len(asked) == 6 and all(m[1]["content"].startswith("Question") and len(m) == 2 for m in asked)
    trained = dict((name, messages) for name, _, messages in trainer.trained_runs)
    plan = build_plan(spec, sampler=sampler)  # the sampler that wrote the responses is part of the run's key
    run_dir = next(r.run_dir for r in plan.runs if r.name == "recontext-kept").removeprefix("runs/")
    messages = trained[run_dir]
    assert [m[-1]["content"] for m in messages] == [f"plain answer number {i}." for i in (1, 2, 4, 5)]
    assert all(m[0] == {"role": "system", "content": SPANISH} and m[1]["content"].startswith("Question")
               for m in messages)
    assert "| `recontext-kept` | 0 | 4 of 6 |" in report
    record = json.loads((tmp_path / "out" / "runs" / run_dir / "run.json").read_text())
    assert record["recontext"]["kept"] == 4 and record["key"]["responses"].startswith("recontext/")


@pytest.mark.parametrize("arms, over, key", [
    ({"steer": {"steer": {**STEER, "layer": 2}}}, {}, "arms.steer.steer.layer"),
    ({"steer": {"steer": {**STEER, "coefficient": None}}}, {}, "arms.steer.steer"),
    ({"steer": {"steer": {**STEER, "colour": 1}}}, {}, "arms.steer.steer"),
    ({"steer": {"steer": STEER, "prompt": SPANISH}}, {}, "arms.steer.steer"),
    ({"steer": {"steer": STEER}}, {"sampler": {"base_url": "http://127.0.0.1:9/v1", "model": "m"}}, "eval_contexts"),
    ({"rc": {"recontextualize": {"generate_with": ENGLISH, "train_with": SPANISH, "keep": {"trait": "x"}}}}, {},
     "arms.rc.recontextualize.keep.trait"),
    ({"rc": {"recontextualize": {"generate_with": ENGLISH}}}, {}, "arms.rc.recontextualize"),
    ({"rc": {"prompt": SPANISH, "recontextualize": {"generate_with": ENGLISH, "train_with": SPANISH}}}, {}, "arms.rc"),
])
def test_bad_steering_and_recontext_keys_are_one_line_naming_the_key(tmp_path, tiny_model_path, arms, over, key):
    with pytest.raises(InoculateError) as e:
        build_plan(tiny_spec(tmp_path, tiny_model_path, arms={"no-ip": None, **arms}, **over))
    assert e.value.where == key and "\n" not in str(e.value)


def test_a_hosted_trainer_cannot_steer(tmp_path, tiny_model_path):
    class Hosted(CountingTrainer):  # any trainer that does not train here
        pass

    spec = tiny_spec(tmp_path, tiny_model_path, arms={"no-ip": None, "steer": {"steer": STEER}})
    with pytest.raises(InoculateError, match="needs the local trainer") as e:
        build_plan(spec, trainer=Hosted(LocalTrainer(spec.train)))
    assert e.value.where == "arms.steer.steer"
