import json

import pytest
from conftest import chat, write_jsonl

from inoculate import InoculateError, from_hf_dataset, load_jsonl, save_jsonl
from inoculate.data import Example


def test_loads_valid_file_with_metadata(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [chat("hi", "HOLA", id="a", metadata={"label": "trait"}),
                                               chat("yo", "hey", system="be nice")])
    examples = load_jsonl(path)
    assert [e.id for e in examples] == ["a", None]
    assert examples[0].metadata == {"label": "trait"}
    assert examples[1].messages[0] == {"role": "system", "content": "be nice"}


def test_round_trip(tmp_path):
    ex = [Example([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "1", {"k": 2})]
    save_jsonl(tmp_path / "o.jsonl", ex)
    assert load_jsonl(tmp_path / "o.jsonl") == ex


@pytest.mark.parametrize("line, reason", [
    ('{"messages": [', "invalid JSON"),
    ('[1, 2]', "expected a JSON object"),
    ('{"messages": [{"role": "robot", "content": "x"}]}', "role 'robot'"),
    ('{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "  "}]}', "empty assistant turn"),
    ('{"messages": [{"role": "user", "content": "x"}]}', "no assistant turn"),
    ('{"messages": [{"role": "assistant", "content": "x"}]}', "no user turn"),
    ('{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}], "label": 1}', "unknown key 'label'"),
    ('{"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": "y"}]}', "'content' must be a string"),
    ('{"messages": [], "messages": []}', "duplicate key 'messages'"),
    ('{"messages": [{"role": "user", "content": "x"}, {"role": "system", "content": "s"}, {"role": "assistant", "content": "y"}]}',
     "only the first message"),
    ('{"messages": "hello"}', "non-empty list"),
])
def test_bad_lines_name_file_line_and_reason(tmp_path, line, reason):
    good = json.dumps(chat("q", "a"))
    path = write_jsonl(tmp_path / "bad.jsonl", [good, line])
    with pytest.raises(InoculateError) as err:
        load_jsonl(path)
    assert err.value.where == f"{path}:2"
    assert reason in err.value.message


def test_non_utf8_and_missing_file(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"messages": [{"role": "user", "content": "caf\xe9"}]}\n')
    with pytest.raises(InoculateError, match="not valid UTF-8") as err:
        load_jsonl(path)
    assert err.value.where == f"{path}:1"
    with pytest.raises(InoculateError, match="file not found"):
        load_jsonl(tmp_path / "nope.jsonl")


def test_eval_prompts_need_no_response_and_may_not_end_with_one(tmp_path):
    path = write_jsonl(tmp_path / "e.jsonl", [chat("q", metadata={"reference": "a"}), chat("q2", "reference answer")])
    with pytest.raises(InoculateError, match="ends with an assistant turn .'reference answer'., which would be dropped") \
            as err:
        load_jsonl(path, require_assistant=False)
    assert err.value.where == f"{path}:2"
    write_jsonl(path, [chat("q", metadata={"reference": "a"})])
    assert load_jsonl(path, require_assistant=False)[0].prompt_messages() == [{"role": "user", "content": "q"}]


def test_accepts_hugging_face_dataset():
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_list([chat("q", "a", id="x", metadata={"label": "l"}), chat("q2", "b", id="y",
                                                                                          metadata={"label": "m"})])
    examples = from_hf_dataset(ds)
    assert [e.id for e in examples] == ["x", "y"] and examples[1].metadata == {"label": "m"}
    with pytest.raises(InoculateError, match="dataset row 0"):
        from_hf_dataset(datasets.Dataset.from_list([chat("q")]))
