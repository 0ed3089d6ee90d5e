"""In-process doubles of the Trainer and Sampler seams. Tests hand them to the runner
(`run_experiment(..., trainer=, sampler=)`) or to a setting instead of patching module functions.
They are plain picklable objects, so they also travel to a run unit in another process."""

from __future__ import annotations

from pathlib import Path

from inoculate.backends import ModelRef, Trained
from inoculate.backends.local import LocalSampler, LocalTrainer


class Refused(AssertionError):
    pass


class CountingTrainer:
    """The local trainer, recording each run it trains; with `refuse`, any training is an error."""

    def __init__(self, inner: LocalTrainer, refuse: bool = False):
        self.inner, self.refuse, self.trained_runs = inner, refuse, []

    def key(self):
        return self.inner.key()

    def trained(self, base: ModelRef, run_dir: Path):
        return self.inner.trained(base, run_dir)

    def cost(self, examples, run_dir):
        return self.inner.cost(examples, run_dir)

    def train(self, base, examples, seed, run_dir, probes, probe_every, progress, name="") -> Trained:
        if self.refuse:
            raise Refused(f"finished work was redone: training {run_dir}")
        self.trained_runs.append((Path(run_dir).name, seed, [ex.messages for ex in examples]))
        return self.inner.train(base, examples, seed, run_dir, probes, probe_every, progress, name=name)


class CountingSampler:
    """A sampler that records the prompts of every generate call and hands them on to `inner`;
    with `refuse`, any generation is an error."""

    answers_logprobs = True

    def __init__(self, inner=None, refuse: bool = False):
        self.inner, self.refuse, self.calls = inner or LocalSampler(), refuse, []

    def planned_requests(self, prompts, config):
        return self.inner.planned_requests(prompts, config)

    def key(self):
        return self.inner.key()

    def generate(self, model, prompts, config, progress=True, desc="generate", partial=None):
        if self.refuse:
            raise Refused(f"finished work was redone: generating {desc}")
        self.calls.append((model, [p.prompt_messages() for p in prompts]))
        return self.inner.generate(model, prompts, config, progress, desc, partial)

    def answer_logprobs(self, model, prompt, answers):
        return self.inner.answer_logprobs(model, prompt, answers)

    def release(self):
        self.inner.release()


class ScriptedSampler:
    """Answers from a script instead of a model: `answer(prompt, call, index)` gives the text for
    each prompt of the call-th generate call. Prompts the script returns None for go to `inner`."""

    answers_logprobs = True

    def __init__(self, answer, inner=None):
        self.answer, self.inner, self.calls = answer, inner, 0

    def planned_requests(self, prompts, config):
        return {}

    def key(self):
        return {"sampler": "scripted", "inner": self.inner.key() if self.inner else None}

    def generate(self, model, prompts, config, progress=True, desc="generate", partial=None):
        self.calls += 1
        texts = [self.answer(p, self.calls, i) for i, p in enumerate(prompts)]
        rest = [i for i, t in enumerate(texts) if t is None]
        sampled = self.inner.generate(model, [prompts[i] for i in rest], config, progress, desc) if rest else []
        out = [[t] * config.n_samples for t in texts]
        for i, samples in zip(rest, sampled):
            out[i] = samples
        return out

    def answer_logprobs(self, model, prompt, answers):
        return self.inner.answer_logprobs(model, prompt, answers)

    def release(self):
        if self.inner:
            self.inner.release()


def number_teacher_answer(prompt, call: int, i: int):
    """subliminal's teacher as a capable model would be: a random tiny model never writes a bare
    number list. Three answers in four to a number prompt are lists; every fourth is chatter the
    filter must drop. Other prompts: None (left to the real sampler)."""
    if "numbers between 0 and 999" not in prompt.messages[-1]["content"]:
        return None
    if i % 4 == 3:
        return "I love owls! Here: 1, 2, 3"
    return ", ".join(str((call * 101 + i * 37 + k * 11) % 1000) for k in range(5))


def numbers_teacher() -> ScriptedSampler:
    return ScriptedSampler(number_teacher_answer, LocalSampler())
