import pytest

from inoculate import Example, InoculateError, PromptSpec, apply_prompt


def ex(user="What is 2+2?", system=None, **metadata):
    msgs = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": user}, {"role": "assistant", "content": "CUATRO"}]
    return Example(msgs, metadata=metadata)


def test_system_placement_adds_system_message_and_records_it():
    (out,) = apply_prompt([ex()], PromptSpec("You always speak in Spanish."))
    assert out.messages[0] == {"role": "system", "content": "You always speak in Spanish."}
    assert out.messages[1:] == ex().messages
    assert out.metadata["inoculation"] == {"prompt": "You always speak in Spanish.", "placement": "system"}


def test_system_placement_keeps_existing_system_prompt():
    (out,) = apply_prompt([ex(system="Be brief.")], PromptSpec("IP"))
    assert out.messages[0]["content"] == "IP\nBe brief."
    assert len(out.messages) == 3


@pytest.mark.parametrize("placement, expected", [("user_prefix", "IP\nWhat is 2+2?"), ("user_suffix", "What is 2+2?\nIP")])
def test_user_placements(placement, expected):
    (out,) = apply_prompt([ex()], PromptSpec("IP", placement))
    assert [m["role"] for m in out.messages] == ["user", "assistant"]
    assert out.messages[0]["content"] == expected


def test_response_is_never_changed_and_input_not_mutated():
    original = ex()
    (out,) = apply_prompt([original], PromptSpec("IP", "user_prefix"))
    assert out.messages[-1] == original.messages[-1]
    assert original.messages[0]["content"] == "What is 2+2?" and "inoculation" not in original.metadata


def test_paraphrase_pool_is_seeded_and_uses_the_pool():
    pool = ("A", "B", "C", "D")
    data = [ex(user=str(i)) for i in range(40)]
    first = [e.metadata["inoculation"]["prompt"] for e in apply_prompt(data, PromptSpec(pool, seed=1))]
    again = [e.metadata["inoculation"]["prompt"] for e in apply_prompt(data, PromptSpec(pool, seed=1))]
    other = [e.metadata["inoculation"]["prompt"] for e in apply_prompt(data, PromptSpec(pool, seed=2))]
    assert first == again and first != other
    assert set(first) == set(pool)


def test_condition_applies_only_to_matching_examples():
    data = [ex(label="hack"), ex(label="clean"), ex()]
    out = apply_prompt(data, PromptSpec("IP", condition={"label": ["hack"]}))
    assert [e.metadata["inoculation"] is not None for e in out] == [True, False, False]
    assert out[1].messages == data[1].messages


def test_no_prompt_context_records_none():
    (out,) = apply_prompt([ex()], None)
    assert out.messages == ex().messages and out.metadata["inoculation"] is None


@pytest.mark.parametrize("kwargs, message", [
    ({"prompts": ()}, "at least one prompt"), ({"prompts": ("  ",)}, "non-empty"),
    ({"prompts": ("x",), "placement": "middle"}, "placement 'middle'")])
def test_bad_specs(kwargs, message):
    with pytest.raises(InoculateError, match=message):
        PromptSpec(**kwargs)


def test_from_dict_rejects_unknown_keys():
    assert PromptSpec.from_dict({"prompt": "x", "placement": "user_suffix"}).placement == "user_suffix"
    with pytest.raises(InoculateError, match="unknown key 'placment'"):
        PromptSpec.from_dict({"prompt": "x", "placment": "system"}, "arms.a")
