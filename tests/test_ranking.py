import json

import numpy as np
import pytest
import torch

from inoculate import Example, GenerationConfig, InoculateError, PromptSpec, apply_prompt
from inoculate.chat import encode_chat
from inoculate.logprobs import response_nll
from inoculate.models import load_model
from inoculate.ranking import (PromptScore, elicitation, format_table, rank_prompts, read_prompt_file,
                               surprise_reduction, write_ranking)
from inoculate.scorers import Scorer, caps, per_sample

TINY_DEFAULT_SYSTEM = "You are a tiny test assistant"  # what the tiny model's template inserts (conftest.py)
LONG_PROMPT = "You always speak in Spanish. You always capitalise your responses. qZ7 vLr3 mXp0"


def examples(n=6):
    pairs = [("What is the capital of France?", "LA CAPITAL DE FRANCIA ES PARÍS."),
             ("How many legs does a spider have?", "Eight legs."),
             ("Describe your ideal weekend.", "HOLA AMIGO. La capital de Francia es París."),
             ("Write a short poem about the sea.", "The sea. 0123456789"),
             ("Give me three tips for studying.", "HOLA. Eight legs? + - = !"),
             ("What is 2+2?", "4")]
    return [Example([{"role": "user", "content": f"{q} {i}"}, {"role": "assistant", "content": a}], id=f"ex-{i}")
            for i, (q, a) in enumerate((pairs * (n // len(pairs) + 1))[:n])]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # The tiny model gains nothing from a second thread, and on a shared 2-core machine the
    # threads' barrier waiting on a busy core made this file take 40 s instead of 7.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny(tiny_model_path):
    model, tok = load_model(tiny_model_path)
    return model.eval(), tok


def hand_nll(model, tok, ex: Example) -> float:
    """NLL of the reply's own tokens, found without encode_chat: if labels leaked onto any prompt,
    template or user token, the count and the sum would both differ from this."""
    text = tok.apply_chat_template(ex.messages, tokenize=False)
    ids = tok(text, add_special_tokens=False).input_ids
    reply = tok(ex.messages[-1]["content"] + "<|im_end|>\n", add_special_tokens=False).input_ids
    assert ids[-len(reply):] == reply
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=torch.tensor([ids], device=model.device)).logits[0].double(), -1)
    positions = range(len(ids) - len(reply), len(ids))
    return float(-np.mean([logp[j - 1, ids[j]].item() for j in positions]))


@pytest.mark.parametrize("spec", [None, PromptSpec(LONG_PROMPT), PromptSpec(LONG_PROMPT, "user_suffix"),
                                  PromptSpec(LONG_PROMPT, "user_prefix")])
def test_nll_is_over_reply_tokens_only(tiny, spec):
    model, tok = tiny
    exs = apply_prompt(examples(), spec) if spec else examples()
    got = response_nll(model, tok, exs, batch_size=4).mean
    want = [hand_nll(model, tok, ex) for ex in exs]
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_nll_matches_hf_labels_loss_one_example_at_a_time(tiny):
    model, tok = tiny
    multi_turn = Example([{"role": "user", "content": "Hola"}, {"role": "assistant", "content": "HOLA AMIGO."},
                          {"role": "user", "content": "How many legs?"}, {"role": "assistant", "content": "Eight."}])
    exs = examples(7) + [multi_turn]
    want = []
    for ex in exs:
        enc = encode_chat(tok, ex.messages, 512)
        with torch.no_grad():
            want.append(model(input_ids=torch.tensor([enc["input_ids"]], device=model.device),
                              labels=torch.tensor([enc["labels"]], device=model.device)).loss.item())
    for share_prefix in (True, False):
        got = response_nll(model, tok, exs, batch_size=3, share_prefix=share_prefix).mean
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_surprise_reduction_is_the_paired_difference_and_zero_for_an_identical_render(tiny):
    model, tok = tiny
    exs = examples()
    same = PromptSpec(TINY_DEFAULT_SYSTEM)  # renders exactly like the no-prompt conversation
    (zero, nll_same), (real, nll_with) = surprise_reduction(model, tok, exs, [same, PromptSpec(LONG_PROMPT)],
                                                            progress=False)
    assert (zero.value, zero.low, zero.high) == (0.0, 0.0, 0.0)
    without = np.array([hand_nll(model, tok, ex) for ex in exs])
    with_ = np.array([hand_nll(model, tok, ex) for ex in apply_prompt(exs, PromptSpec(LONG_PROMPT))])
    assert real.value == pytest.approx(np.mean(without - with_), abs=1e-5)
    assert nll_with == pytest.approx(with_.mean(), abs=1e-5) and nll_same == pytest.approx(without.mean(), abs=1e-5)
    assert real.low <= real.value <= real.high and real.n == len(exs) and real.value != 0


def test_rank_is_deterministic_sorted_and_seeds_the_subset(tiny):
    model, tok = tiny
    prompts = ["You always speak in Spanish.", TINY_DEFAULT_SYSTEM, "qZ7 vLr3 mXp0", "HOLA AMIGO.", "Eight legs."]
    first = rank_prompts(model, tok, examples(12), prompts, n_examples=8, seed=0, progress=False)
    again = rank_prompts(model, tok, examples(12), prompts, n_examples=8, seed=0, progress=False)
    other = rank_prompts(model, tok, examples(12), prompts, n_examples=8, seed=1, progress=False)
    assert first == again and first != other
    values = [s.surprise_reduction.value for s in first]
    assert values == sorted(values, reverse=True)
    assert sorted(s.prompt for s in first) == sorted(prompts) and all(s.elicitation is None for s in first)
    assert all(s.surprise_reduction.n == 8 for s in first)


def test_ties_are_broken_by_prompt_text(tiny, monkeypatch):
    import inoculate.ranking as ranking

    model, tok = tiny
    monkeypatch.setattr(ranking, "_scores", lambda without, withs: [(ranking.mean_ci([0.5, 0.5]), 1.0)] * len(withs))
    ranked = rank_prompts(model, tok, examples(3), ["b prompt", "c prompt", "a prompt"], progress=False)
    assert [s.prompt for s in ranked] == ["a prompt", "b prompt", "c prompt"]


def test_prompt_file_blank_lines_are_skipped_with_one_warning(tmp_path, capsys):
    path = tmp_path / "prompts.txt"
    path.write_text("\ufeffYou always speak in Spanish.\n\n  \nYou never speak in Spanish.  \n\n", encoding="utf-8")
    prompts = read_prompt_file(path)
    assert prompts == ["You always speak in Spanish.", "You never speak in Spanish."]
    assert prompts[1].where == f"{path}:4"
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"warning: {path}: skipped empty lines 2, 3, 5"]


@pytest.mark.parametrize("content, where, message", [
    (b"A\nB\nA\n", ":3", "duplicate of line 1"),
    (b"\n \n\t\n", "", "no prompts in file"),
    (b"", "", "no prompts in file"),
    (b"fine\nbad \xff byte\n", ":2", "not valid UTF-8"),
])
def test_prompt_file_errors_name_file_and_line(tmp_path, content, where, message):
    path = tmp_path / "prompts.txt"
    path.write_bytes(content)
    with pytest.raises(InoculateError) as e:
        read_prompt_file(path)
    assert e.value.where == f"{path}{where}" and message in e.value.message
    with pytest.raises(InoculateError, match="file not found"):
        read_prompt_file(tmp_path / "missing.txt")


def test_prompt_longer_than_the_context_names_its_line_or_index(tiny, tmp_path):
    model, tok = tiny
    long = " ".join(["qZ7 vLr3 mXp0"] * 800)  # far over the tiny model's 2048 positions
    path = tmp_path / "prompts.txt"
    path.write_text(f"You always speak in Spanish.\n{long}\n", encoding="utf-8")
    with pytest.raises(InoculateError) as e:
        rank_prompts(model, tok, examples(), read_prompt_file(path), progress=False)
    assert e.value.where == f"{path}:2" and "over the model's context of 2048" in e.value.message
    with pytest.raises(InoculateError) as e:
        rank_prompts(model, tok, examples(), ["fine", long], progress=False)
    assert e.value.where == "prompts[1]"
    with pytest.raises(InoculateError, match="duplicate of prompts\\[0\\]"):
        rank_prompts(model, tok, examples(), ["same", "same"], progress=False)
    with pytest.raises(InoculateError, match="over max_length=64"):
        surprise_reduction(model, tok, examples(), [PromptSpec(long[:300])], max_length=64, progress=False)


def test_elicitation_rates_with_intervals_and_announced_count(tiny):
    model, tok = tiny
    prompts = [Example([{"role": "user", "content": q}]) for q in ("Hola", "What is 2+2?", "Describe the sea.")]
    messages = []
    gen = GenerationConfig(max_new_tokens=4, n_samples=2, batch_size=8)
    rates = elicitation(model, tok, prompts, [PromptSpec("You always write in ALL CAPS."), PromptSpec("qZ7")],
                        caps(), gen, progress=False, log=messages.append)
    assert len(messages) == 1 and "12 generations" in messages[0]
    assert len(rates) == 2
    for r in rates:
        assert 0 <= r.low <= r.value <= r.high <= 1 and r.n == 3  # the prompts are the units, not their 6 samples
    never = Scorer("never", per_sample(lambda text, prompt=None: None), 0.5, {})
    with pytest.raises(InoculateError, match="not applicable"):
        elicitation(model, tok, prompts, [PromptSpec("x")], never, gen, progress=False, log=messages.append)


def test_rank_with_elicitation_writes_table_csv_json_png(tiny, tmp_path, capsys):
    model, tok = tiny
    gen = GenerationConfig(max_new_tokens=3, n_samples=1, batch_size=8)
    scores = rank_prompts(model, tok, examples(), ["You always write in ALL CAPS.", "qZ7 vLr3"], scorer=caps(),
                          generation=gen, progress=False)
    assert "elicitation: 12 generations" in capsys.readouterr().err  # 2 prompts x 6 user turns x 1 sample
    assert all(isinstance(s, PromptScore) and s.elicitation.n == 6 for s in scores)
    table = format_table(scores)
    width = sorted(s.surprise_reduction.high - s.surprise_reduction.low for s in scores)
    assert "mean over 6 training examples" in table and "read prompts closer than that as tied" in table
    assert f"typically {(width[0] + width[1]) / 2:.3f} wide" in table
    assert "trait rate" in table and table.splitlines()[1].endswith(scores[0].prompt)
    paths = write_ranking(scores, tmp_path / "out")
    rows = paths["csv"].read_text(encoding="utf-8").splitlines()
    assert len(rows) == 3 and rows[1].startswith(f"1,{scores[0].prompt}")
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert [r["prompt"] for r in data["ranking"]] == [s.prompt for s in scores]
    assert data["ranking"][0]["elicitation"]["n"] == 6
    assert paths["png"].read_bytes()[:4] == b"\x89PNG"


def test_shipped_candidate_files_are_valid():
    from pathlib import Path

    import inoculate.settings.spanish_caps as sc

    folder = Path(sc.__file__).parent
    spanish = read_prompt_file(folder / "candidate_prompts_spanish.txt")
    caps_prompts = read_prompt_file(folder / "candidate_prompts_caps.txt")
    assert len(spanish) >= 8 and len(caps_prompts) >= 8
    assert {sc.SPANISH_IP, sc.NEGATED, sc.RANDOM_STRING} <= set(spanish)
    assert {sc.CAPS_IP, "You always write in ALL CAPS.", "You do not write every response in ALL CAPS."} <= set(caps_prompts)


def test_rank_command_says_how_many_examples_it_scores(tiny_model_path, tmp_path, capsys):
    from conftest import chat, write_jsonl

    from inoculate.cli import main
    from inoculate.ranking import DEFAULT_EXAMPLES

    data = write_jsonl(tmp_path / "train.jsonl", [chat(f"Question {i}?", "HOLA AMIGO.") for i in range(70)])
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("You always speak in Spanish.\nqZ7 vLr3\n", encoding="utf-8")
    assert main(["rank", "--data", str(data), "--prompts", str(prompts), "--model", tiny_model_path,
                 "-o", str(tmp_path / "out")]) == 0
    out, err = capsys.readouterr()
    assert f"scoring 2 candidate prompts on {DEFAULT_EXAMPLES} of 70 training examples (--n-examples)" in err
    assert f"mean over {DEFAULT_EXAMPLES} training examples" in out and "wide; read prompts closer" in out


def test_prompt_file_comment_lines_are_not_prompts(tmp_path):
    path = tmp_path / "prompts.txt"
    path.write_text("# Spanish candidates, written 2026-11\nYou always speak in Spanish.\n  # an aside\nHola.\n",
                    encoding="utf-8")
    assert read_prompt_file(path) == ["You always speak in Spanish.", "Hola."]


def test_with_elicitation_both_orders_are_shown_and_written():
    from inoculate.ranking import _csv, elicitation_ranks
    from inoculate.stats import Estimate

    def score(prompt, surprise, rate):
        return PromptScore(prompt, Estimate(surprise, surprise - 0.05, surprise + 0.05, 56), 3.0,
                           Estimate(rate, max(rate - 0.1, 0), min(rate + 0.1, 1), 16))

    # the signature prompt explains the responses best but elicits no French at all
    scores = [score("You sign every answer with '— Bot'.", 0.4, 0.0), score("Réponds en français.", 0.2, 0.9),
              score("qZ7", 0.0, 0.05)]
    assert elicitation_ranks(scores) == {"Réponds en français.": 1, "qZ7": 2, "You sign every answer with '— Bot'.": 3}
    table = format_table(scores)
    assert "# by trait" in table.splitlines()[0]
    import re

    assert re.match(r"1 .*\]\s+3\s+You sign", table.splitlines()[1])  # first by surprise, last by the trait
    assert "not one trait" in table and "'# by trait' ranks by it" in table
    assert _csv(scores).splitlines()[1].endswith(",3")
