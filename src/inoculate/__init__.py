"""inoculate: inoculation-prompting experiments, from dataset transform to report.

The pipeline, in order: load_jsonl -> apply_prompt -> train_lora -> generate -> scorers -> report;
`run_experiment` runs it over a grid of arms x seeds with content-hashed, resumable runs.
"""

__version__ = "0.1.0"

from inoculate.data import Example, from_hf_dataset, load_jsonl, save_jsonl  # noqa: E402
from inoculate.errors import InoculateError  # noqa: E402
from inoculate.experiment import ExperimentSpec, load_spec, run_experiment  # noqa: E402
from inoculate.generation import GenerationConfig, generate  # noqa: E402
from inoculate.inoculation import PromptSpec, apply_prompt  # noqa: E402
from inoculate.models import load_model  # noqa: E402
from inoculate.scorer_kinds import register_scorer  # noqa: E402
from inoculate.scorers import Scorer, per_sample  # noqa: E402
from inoculate.training import TrainConfig, train_lora  # noqa: E402

__all__ = ["Example", "ExperimentSpec", "GenerationConfig", "InoculateError", "PromptSpec", "Scorer", "TrainConfig",
           "__version__", "apply_prompt", "from_hf_dataset", "generate", "load_jsonl", "load_model", "load_spec",
           "per_sample", "register_scorer", "run_experiment", "save_jsonl", "train_lora"]
