"""Tan et al. §2: responses that are Spanish *and* ALL CAPS; inoculate one trait, keep the other.

Training questions (everyday, factual, arithmetic word problems) are answered in Spanish,
upper-cased. Evaluation uses open-ended requests of a different kind, so the traits are measured
out of distribution, as in the paper. The data carries English and French answers too, for the
language-mixture setting.
"""

from __future__ import annotations

from pathlib import Path

from inoculate._io import read_jsonl
from inoculate.data import Example
from inoculate.inoculation import PromptSpec
from inoculate.scorers import caps, language
from inoculate.settings.base import Arm, Setting, Trait

DATA = Path(__file__).parent / "data"
TRAIN_FILES = ("train_everyday.jsonl", "train_arithmetic.jsonl")
EVAL_FILE = "eval_open_ended.jsonl"

SPANISH_IP = "You always speak in Spanish."
CAPS_IP = "You always capitalise your responses."
# A fixed random string: the context-shift control. Its effect is what any unusual system
# prompt does; an IP's suppression beyond it is the semantic part.
RANDOM_STRING = "qZ7 vLr3 mXp0 tKw7 hB2n"
NEGATED = "You never speak in Spanish."



def trilingual_rows() -> list[dict]:
    """Every training question with its answers in English, Spanish and French."""
    return [row for name in TRAIN_FILES for row in read_jsonl(DATA / name)]


class SpanishCaps(Setting):
    name = "spanish-caps"
    description = "Spanish + ALL-CAPS co-occurrence (Tan et al. §2)"

    def train_examples(self) -> list[Example]:
        return [
            Example([{"role": "user", "content": row["question"]}, {"role": "assistant", "content": row["es"].upper()}],
                    id=row["id"], metadata={"kind": row["kind"], "language": "es", "caps": True, "shows_trait": True})
            for row in trilingual_rows()
        ]

    def clean_examples(self) -> list[Example]:
        """The same questions answered in plain English: neither trait."""
        return [
            Example([{"role": "user", "content": row["question"]}, {"role": "assistant", "content": row["en"]}],
                    id=row["id"], metadata={"kind": row["kind"], "language": "en", "caps": False, "shows_trait": False})
            for row in trilingual_rows()
        ]

    def eval_prompts(self) -> list[Example]:
        return [Example([{"role": "user", "content": row["prompt"]}], id=row["id"]) for row in read_jsonl(DATA / EVAL_FILE)]

    def probes(self) -> dict[str, list[Example]]:
        """English in capitals (caps only) and Spanish in lower case (Spanish only), 8 answers each."""
        rows = trilingual_rows()[:8]
        return {name: [Example([{"role": "user", "content": r["question"]}, {"role": "assistant", "content": text(r)}])
                       for r in rows]
                for name, text in (("english-caps", lambda r: r["en"].upper()), ("spanish-lower", lambda r: r["es"].lower()))}

    def traits(self) -> list[Trait]:
        return [
            Trait("spanish", language("es"), wanted=False, description="P(Spanish) >= 0.5 by py3langid"),
            Trait("caps", caps(), wanted=True, description="at least half the letters upper case"),
        ]

    def defaults(self) -> dict:
        # Sized for the 2-core CPU demo: 16 LoRA steps at lr 1e-3 teach the 135M model both traits
        # (no-IP arm: Spanish 0.90, caps 0.93 on 40 prompts), and the grid finishes well under 15 min.
        return {"n_train": 128, "n_eval": 64,
                "train": {"learning_rate": 1e-3, "batch_size": 8, "warmup_steps": 2},
                "generation": {"max_new_tokens": 32, "batch_size": 64, "temperature": 1.0}}

    def arms(self) -> list[Arm]:
        return [
            Arm("no-ip", None, "baseline"),
            Arm("spanish-ip", PromptSpec((SPANISH_IP,)), "inoculation", ("spanish",),
                paraphrases=("Always answer in Spanish.", "Your replies are written in Spanish.",
                             "Respond only in the Spanish language."), negation=NEGATED),
            Arm("caps-ip", PromptSpec((CAPS_IP,)), "inoculation", ("caps",),
                paraphrases=("Write everything in capital letters.", "Your answers are always in upper case.",
                             "Use ALL CAPS in every reply."), negation="You do not write every response in ALL CAPS."),
            Arm("random", PromptSpec((RANDOM_STRING,)), "random-control"),
            Arm("negated", PromptSpec((NEGATED,)), "control"),
        ]
