"""The Ray executor on a real local Ray (2 CPUs, no dashboard, usage statistics off): a grid gives
the serial executor's bytes whether or not the workers share the output folder; a worker killed
with SIGKILL mid-training is retried; one that keeps dying fails its run in one line while the
others finish; a driver killed with SIGKILL is resumed by the same command."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from test_experiment import tiny_spec
from test_runs import _outputs

from inoculate import InoculateError
from inoculate.experiment import load_spec, run_experiment

ray = pytest.importorskip("ray")
from inoculate.ray_executor import RayExecutor  # noqa: E402  (needs ray)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray():
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    yield
    ray.shutdown()


def _losses(out: Path) -> dict[str, list]:
    return {p.parent.name: [row["loss"] for row in json.loads(p.read_text())["losses"]]
            for p in sorted(out.glob("runs/*/losses.json"))}


def test_a_grid_on_ray_is_byte_identical_to_serial_with_and_without_shared_storage(tmp_path, tiny_model_path, local_ray):
    spec = tiny_spec(tmp_path, tiny_model_path)
    run_experiment(spec, tmp_path / "serial", progress=False)
    run_experiment(spec, tmp_path / "shared", progress=False, executor=RayExecutor(shared_storage=True))
    run_experiment(spec, tmp_path / "sent", progress=False, executor=RayExecutor(shared_storage=False))
    serial = _outputs(tmp_path / "serial")
    assert len(serial) == 1 + 8 * 2
    assert _outputs(tmp_path / "shared") == serial and _outputs(tmp_path / "sent") == serial
    assert _losses(tmp_path / "sent") == _losses(tmp_path / "serial") and len(_losses(tmp_path / "serial")) == 3
    # sent back through Ray: the adapters too, and nothing of the worker's private folder
    for out in ("shared", "sent"):
        assert sorted(p.name for p in (tmp_path / out / "runs").glob("*/adapter/*")) == \
            sorted(p.name for p in (tmp_path / "serial" / "runs").glob("*/adapter/*"))
    assert "inoculate-run-" not in "".join(p.read_text() for p in (tmp_path / "sent").rglob("*.json*"))


def _kill_worker_once_training_starts(out: Path, killed: list[int]) -> threading.Thread:
    """SIGKILL the Ray worker executing a run as soon as a trained run's run.json appears."""
    def watch():
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            if any(out.glob("runs/*/run.json")):
                for pid in _ray_task_workers():
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                return
            time.sleep(0.005)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def _ray_task_workers() -> list[int]:
    """Processes that are Ray workers executing our task (Ray titles them `ray::<function>`)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cmdline").read_bytes().startswith(b"ray::_run_group"):
                pids.append(int(proc.name))
        except OSError:
            pass
    return pids


def _long_training(tmp_path, tiny_model_path, **over):
    # one trained arm with enough steps to be caught mid-training, checkpointing as it goes
    return tiny_spec(tmp_path, tiny_model_path, arms={"no-ip": None}, surprise_examples=0, **over,
                     train={"lora_r": 2, "lora_alpha": 4, "batch_size": 3, "target_modules": ["q_proj"],
                            "warmup_steps": 0, "epochs": 150, "checkpoint_every": 20})


def test_a_worker_killed_during_training_is_retried_and_the_grid_finishes(tmp_path, tiny_model_path, local_ray):
    spec = _long_training(tmp_path, tiny_model_path, evaluate_untrained=False)
    killed: list[int] = []
    watcher = _kill_worker_once_training_starts(tmp_path / "ray", killed)
    report = run_experiment(spec, tmp_path / "ray", progress=False, executor=RayExecutor(max_retries=2))
    watcher.join()
    assert killed and report.is_file()
    (losses,) = _losses(tmp_path / "ray").values()
    assert len(losses) == 300  # every step, the ones before the kill included (resumed from a checkpoint)
    run_experiment(spec, tmp_path / "serial", progress=False)
    assert _outputs(tmp_path / "ray") == _outputs(tmp_path / "serial")


def test_a_run_whose_worker_keeps_dying_fails_in_one_line_and_the_others_finish(tmp_path, tiny_model_path, local_ray):
    spec = _long_training(tmp_path, tiny_model_path)  # the untrained model's run, then the trained arm's
    killed: list[int] = []
    watcher = _kill_worker_once_training_starts(tmp_path / "ray", killed)
    with pytest.raises(InoculateError) as e:  # 2 CPUs a task: one at a time, the untrained run first
        run_experiment(spec, tmp_path / "ray", progress=False, executor=RayExecutor(num_cpus=2, max_retries=0))
    watcher.join()
    assert killed and "1 of 2 runs failed" in str(e.value) and "worker died 1 times" in str(e.value)
    assert "\n" not in str(e.value)
    untrained_scores = list((tmp_path / "ray" / "runs").glob("*/scores-*.jsonl"))
    assert len(untrained_scores) == 1  # the untrained model's eval context, kept


def _spec_file(tmp_path, spec) -> Path:
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump({k: v for k, v in _plain(spec).items() if k in (
        "setting", "model", "train_data", "eval_data", "traits", "arms", "train", "generation")}))
    return spec_file


def test_a_killed_driver_is_resumed_by_the_same_command(tmp_path, tiny_model_path, local_ray):
    spec = tiny_spec(tmp_path, tiny_model_path)
    spec_file = _spec_file(tmp_path, spec)
    command = [sys.executable, "-m", "inoculate.cli", "run", str(spec_file), "--out", str(tmp_path / "out"),
               "--executor", "ray", "--quiet"]
    # the driver joins the running cluster through RAY_ADDRESS, as on a cluster's head node
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "INOCULATE_CRASH_AT": "ray-run-finished:2",
           "RAY_ADDRESS": ray.get_runtime_context().gcs_address}
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == -signal.SIGKILL and not (tmp_path / "out" / "grid.json").exists()
    env.pop("INOCULATE_CRASH_AT")
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    trained_first, trained_second = (p.stderr.count("training on") for p in (first, second))
    assert trained_first + trained_second == 3 and trained_second < 3  # finished runs were not redone
    run_experiment(spec, tmp_path / "serial", progress=False)
    assert _outputs(tmp_path / "out") == _outputs(tmp_path / "serial")


def _plain(spec) -> dict:
    from dataclasses import asdict

    return json.loads(json.dumps(asdict(spec), default=list))


def test_without_ray_asking_for_it_is_one_line_that_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(InoculateError, match=r"pip install 'inoculate\[ray\]'") as e:
        load_spec({"executor": {"kind": "ray"}})
    assert e.value.where == "executor"
    from inoculate.cli import main

    assert main(["run", "--executor", "ray", "--out", str(tmp_path / "out"), "--dry-run"]) == 2
    assert not (tmp_path / "out").exists()


def test_executor_keys_are_checked_by_name():
    with pytest.raises(InoculateError, match="did you mean 'num_gpus'"):
        load_spec({"executor": {"kind": "ray", "num_gpu": 1}})
    with pytest.raises(InoculateError, match="num_gpus >= 0"):
        load_spec({"executor": {"kind": "ray", "num_gpus": -1}})
    with pytest.raises(InoculateError, match="serial or ray") as e:
        load_spec({"executor": {"kind": "slurm"}})
    assert e.value.where == "executor.kind"
    assert load_spec({"executor": {"kind": "ray", "num_gpus": 0.25}}).executor["num_gpus"] == 0.25


def test_an_address_where_no_cluster_answers_is_one_line_before_anything_is_written(tmp_path, tiny_model_path, capsys):
    from inoculate.cli import main
    from servers import free_port

    spec_file = _spec_file(tmp_path, tiny_spec(tmp_path, tiny_model_path))
    start = time.perf_counter()
    assert main(["run", str(spec_file), "--out", str(tmp_path / "out"), "--ray-address", f"127.0.0.1:{free_port()}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: executor.address 127.0.0.1:") and "no Ray cluster answers" in err[-1]
    assert time.perf_counter() - start < 30 and not (tmp_path / "out").exists()


def test_steering_and_recontextualized_arms_travel_without_shared_storage(tmp_path, tiny_model_path, local_ray):
    from test_steering import ARMS

    arms = {k: ARMS[k] for k in ("no-ip", "steer", "steer-random", "recontext")}
    spec = tiny_spec(tmp_path, tiny_model_path, arms=arms, eval_contexts=["none", "own"])
    run_experiment(spec, tmp_path / "serial", progress=False)
    run_experiment(spec, tmp_path / "sent", progress=False, executor=RayExecutor(shared_storage=False))
    assert _outputs(tmp_path / "sent") == _outputs(tmp_path / "serial")
    for folder in ("vectors", "recontext"):  # the grid-level files came back to the driver's folder
        assert sorted(p.name for p in (tmp_path / "sent" / folder).iterdir()) == \
            sorted(p.name for p in (tmp_path / "serial" / folder).iterdir()) != []
