"""The plan's run units and keys: a Run is a value that carries everything it needs, so it executes
the same in another process; keys cover what changes a result and nothing else."""

import multiprocessing
import pickle
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from test_experiment import tiny_spec

from inoculate._io import SCHEMA_VERSION
from inoculate.experiment import build_plan, run_experiment
from inoculate.models import model_fingerprint
from inoculate.plan import ARM_LABELS, UNTRAINED
from inoculate.runs import Training, Untrained, execute_run
from inoculate.settings import Arm


def _execute(job):
    run, out_dir = job
    return execute_run(pickle.loads(run), out_dir, progress=False)


class SpawnExecutor:
    """Runs every unit in a fresh interpreter (multiprocessing's spawn): nothing reaches it but the
    pickled Run and the files under the output folder."""

    def check(self):
        pass

    def map(self, runs, out_dir, progress):
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            yield from zip(runs, pool.imap(_execute, [(pickle.dumps(r), out_dir) for r in runs]))


def _outputs(out: Path) -> dict[str, bytes]:
    files = sorted(out.glob("runs/*/generations-*.jsonl")) + sorted(out.glob("runs/*/scores-*.jsonl"))
    return {str(p.relative_to(out)): p.read_bytes() for p in files} | {"csv": (out / "report/results.csv").read_bytes()}


@pytest.mark.slow
def test_run_units_in_another_process_give_byte_identical_results(tmp_path, tiny_model_path):
    spec = tiny_spec(tmp_path, tiny_model_path)
    run_experiment(spec, tmp_path / "serial", progress=False)
    run_experiment(spec, tmp_path / "spawned", progress=False, executor=SpawnExecutor())
    serial, spawned = _outputs(tmp_path / "serial"), _outputs(tmp_path / "spawned")
    assert len(serial) == 1 + 8 * 2 and serial == spawned


def test_a_run_is_a_picklable_value_and_the_untrained_model_is_its_own_kind(tmp_path, tiny_model_path):
    plan = build_plan(tiny_spec(tmp_path, tiny_model_path))
    untrained, *trained = plan.runs
    assert isinstance(untrained.source, Untrained) and untrained.name == UNTRAINED
    assert all(isinstance(r.source, Training) for r in trained) and [r.name for r in trained] == [a.name for a in plan.arms]
    for run in plan.runs:
        assert pickle.loads(pickle.dumps(run)) == run
    assert [c.name for c in untrained.contexts] == ["none", "ip:spanish-ip", "ip:random"]
    assert len({c.generations for r in plan.runs for c in r.contexts}) == 8  # every (run, context) its own file


def test_the_train_key_covers_all_of_an_arm_but_its_labels(tmp_path, tiny_model_path):
    plan = build_plan(tiny_spec(tmp_path, tiny_model_path))
    run = plan.runs[2]  # spanish-ip
    key = run.source.key
    assert key["schema"] == SCHEMA_VERSION and "version" not in str(sorted(key))  # a release retrains nothing
    assert key["model"] == model_fingerprint(tiny_model_path) and key["trainer"]["trainer"] == "local-lora"
    assert "checkpoint_every" not in key["trainer"]["config"] and "device" not in str(key["trainer"])

    # an arm that differs only in what names it shares the trained model; in anything else, it does not
    renamed = tiny_spec(tmp_path, tiny_model_path, arms={
        "no-ip": None, "other-name": {"prompt": "You always speak in Spanish.", "role": "control",
                                      "paraphrases": ["x"], "negation": "y"},
        "random": {"prompt": "qZ7 vLr3", "role": "random-control"}})
    assert build_plan(renamed).runs[2].run_dir == run.run_dir
    placed = tiny_spec(tmp_path, tiny_model_path, arms={
        "no-ip": None, "spanish-ip": {"prompt": "You always speak in Spanish.", "placement": "user_suffix"},
        "random": {"prompt": "qZ7 vLr3", "role": "random-control"}})
    assert build_plan(placed).runs[2].run_dir != run.run_dir

    @dataclass(frozen=True)
    class SteeredArm(Arm):  # an arm kind of the future (inoculation adapters): a field the plan has never heard of
        absorb_adapter: str = "adapter-a"

    from inoculate.plan import _runs

    steered = replace(plan, arms=[SteeredArm(a.name, a.prompt, a.role, a.targets) for a in plan.arms])
    steered.contexts = plan.contexts
    runs = _runs(steered, run.source.trainer, run.sampler, run.traits)
    assert runs[2].source.key["arm"]["absorb_adapter"] == "adapter-a" and runs[2].run_dir != run.run_dir
    assert set(ARM_LABELS) >= {"name", "role"}


def test_a_local_checkpoint_is_known_by_its_content(tmp_path, tiny_model_path):
    copy = Path(shutil.copytree(tiny_model_path, tmp_path / "elsewhere" / "same-model"))
    assert model_fingerprint(str(copy)) == model_fingerprint(tiny_model_path)  # another path, another machine
    (copy / "config.json").touch()  # a new modification time alone changes nothing
    assert model_fingerprint(str(copy)) == model_fingerprint(tiny_model_path)
    (copy / "README.md").write_text("notes")
    assert model_fingerprint(str(copy)) == model_fingerprint(tiny_model_path)
    weights = next(copy.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-1] + b"\x00")  # retrained in place
    assert model_fingerprint(str(copy)) != model_fingerprint(tiny_model_path)


def test_asking_for_more_data_than_there_is_is_said(tmp_path, tiny_model_path, capsys):
    spec = tiny_spec(tmp_path, tiny_model_path, n_train=100_000_000, n_eval=50, only_arms=["no-ip"],
                     evaluate_untrained=False)
    plan = build_plan(spec)
    assert len(plan.train_examples) == 6 and len(plan.eval_prompts) == 3
    assert plan.notes[:2] == ["n_train: 100000000 asked for, but there are only 6; all 6 are used",
                              "n_eval: 50 asked for, but there are only 3; all 3 are used"]
    report = run_experiment(spec, tmp_path / "out", progress=False).read_text()
    assert "[inoculate] n_train: 100000000 asked for, but there are only 6" in capsys.readouterr().err
    assert "Note: n_train: 100000000 asked for, but there are only 6; all 6 are used." in report


def test_no_model_is_held_for_sampling_while_the_next_run_trains(tmp_path, tiny_model_path):
    from doubles import CountingTrainer

    from inoculate.backends.local import LocalSampler, LocalTrainer

    spec = tiny_spec(tmp_path, tiny_model_path)
    sampler = LocalSampler()

    class Watching(CountingTrainer):
        def train(self, *args, **kwargs):
            self.held.append(sampler._held)
            return super().train(*args, **kwargs)

    trainer = Watching(LocalTrainer(spec.train))
    trainer.held = []
    run_experiment(spec, tmp_path / "out", progress=False, trainer=trainer, sampler=sampler)
    assert trainer.held == [None, None, None] and sampler._held is None
