"""A corpus of bad inputs. Each must exit non-zero with one line naming the problem and where it is,
print no traceback, and leave no output behind."""

import json

import pytest

from inoculate.cli import main

OK = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}


def line(obj) -> str:
    return obj if isinstance(obj, str) else json.dumps(obj)


def msgs(*pairs, **extra):
    return {"messages": [dict(role=r, content=c) for r, c in pairs], **extra}


# name -> (raw bytes of line 2 of a data file, expected text in the error)
BAD_DATA = {
    "truncated json": (b'{"messages": [{"role": "user"', "invalid JSON"),
    "array": (b"[1, 2, 3]", "expected a JSON object"),
    "bare string": (b'"hello"', "expected a JSON object"),
    "number": (b"42", "expected a JSON object"),
    "no messages": (b'{"id": "x"}', "'messages' must be a non-empty list"),
    "messages not a list": (b'{"messages": {"role": "user"}}', "'messages' must be a non-empty list"),
    "empty messages": (b'{"messages": []}', "'messages' must be a non-empty list"),
    "message not object": (b'{"messages": ["hi"]}', "must be an object"),
    "missing role": (line({"messages": [{"content": "x"}]}).encode(), "has role None"),
    "unknown role": (line(msgs(("user", "q"), ("robot", "a"))).encode(), "role 'robot'"),
    "role wrong type": (line({"messages": [{"role": 1, "content": "x"}]}).encode(), "has role 1"),
    "missing content": (line({"messages": [{"role": "user"}]}).encode(), "'content' must be a string"),
    "content is a list": (line({"messages": [{"role": "user", "content": ["x"]}]}).encode(), "'content' must be a string"),
    "content null": (line({"messages": [{"role": "user", "content": None}]}).encode(), "'content' must be a string"),
    "unknown message key": (line({"messages": [{"role": "user", "content": "q", "name": "n"}]}).encode(),
                            "unknown key 'name'"),
    "unknown top-level key": (line({**OK, "label": "x"}).encode(), "unknown key 'label'"),
    "empty assistant": (line(msgs(("user", "q"), ("assistant", ""))).encode(), "empty assistant turn"),
    "whitespace assistant": (line(msgs(("user", "q"), ("assistant", " \n\t"))).encode(), "empty assistant turn"),
    "no assistant turn": (line(msgs(("user", "q"))).encode(), "no assistant turn"),
    "no user turn": (line(msgs(("system", "s"), ("assistant", "a"))).encode(), "no user turn"),
    "system not first": (line(msgs(("user", "q"), ("system", "s"), ("assistant", "a"))).encode(), "only the first"),
    "huge message": (line(msgs(("user", "q" * 1_000_001), ("assistant", "a"))).encode(), "limit 1,000,000"),
    "non-utf8 bytes": (b'{"messages": [{"role": "user", "content": "caf\xe9"}]}', "not valid UTF-8"),
    "duplicate top-level key": (b'{"messages": [], "messages": []}', "duplicate key 'messages'"),
    "duplicate message key": (b'{"messages": [{"role": "user", "role": "user", "content": "q"}]}', "duplicate key 'role'"),
    "metadata not object": (line({**OK, "metadata": [1]}).encode(), "'metadata' must be an object"),
    "id wrong type": (line({**OK, "id": [1]}).encode(), "'id' must be a string or an integer"),
    "nan literal": (b'{"messages": NaN}', "'messages' must be a non-empty list"),
}


@pytest.mark.parametrize("name", sorted(BAD_DATA))
@pytest.mark.parametrize("command", ["validate", "apply"])
def test_bad_data_lines(tmp_path, capsys, name, command):
    raw, what = BAD_DATA[name]
    data = tmp_path / "data.jsonl"
    data.write_bytes(line(OK).encode() + b"\n" + raw + b"\n")
    out = tmp_path / "out.jsonl"
    argv = ["validate", str(data)] if command == "validate" else ["apply", str(data), "--prompt", "IP", "-o", str(out)]
    assert_one_line_error(capsys, argv, f"{data}:2", what)
    assert not out.exists()


def assert_one_line_error(capsys, argv, where, what):
    code = main(argv)
    err = capsys.readouterr().err
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: {where}"), lines[0]
    assert what in lines[0], lines[0]
    assert "Traceback" not in err


def test_bom_empty_and_missing_files(tmp_path, capsys):
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + line(OK).encode() + b"\n")
    assert_one_line_error(capsys, ["validate", str(bom)], f"{bom}:1", "byte-order mark")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert_one_line_error(capsys, ["validate", str(empty)], str(empty), "no examples")
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n  \n\n")
    assert_one_line_error(capsys, ["validate", str(blank)], str(blank), "no examples")
    assert_one_line_error(capsys, ["validate", str(tmp_path)], str(tmp_path), "not a file")
    assert_one_line_error(capsys, ["validate", str(tmp_path / "nope.jsonl")], str(tmp_path / "nope.jsonl"),
                          "file not found")


# spec files and overrides for `inoculate run`: (YAML text or None, extra argv, where, what)
BAD_SPECS = {
    "unknown key": ("colour: blue\n", [], "{spec}", "unknown key 'colour'"),
    "misspelled nested key": ("train:\n  learning_rte: 0.001\n", [], "{spec}.train", "did you mean 'learning_rate'"),
    "seeds wrong type": ("seeds: abc\n", [], "{spec}.seeds", "expected a list"),
    "seed item wrong type": ("seeds: [0, x]\n", [], "{spec}.seeds[1]", "expected int"),
    "lr wrong type": ("train: {learning_rate: fast}\n", [], "{spec}.train.learning_rate", "expected float"),
    "bool as int": ("train: {epochs: true}\n", [], "{spec}.train.epochs", "got a boolean"),
    "zero batch": ("train: {batch_size: 0}\n", [], "train", "batch_size must be > 0"),
    "negative epochs": ("train: {epochs: -1}\n", [], "train", "epochs must be > 0"),
    "negative lr": ("train: {learning_rate: -0.1}\n", [], "train", "learning_rate must be > 0"),
    "zero n_train": ("n_train: 0\n", [], "n_train", "must be > 0"),
    "zero samples": ("generation: {n_samples: 0}\n", [], "generation", "n_samples must be > 0"),
    "not a mapping": ("- a\n- b\n", [], "{spec}", "must be a mapping"),
    "invalid yaml": ("train: [unclosed\n", [], "{spec}", "not valid YAML"),
    "missing train data": ("setting: null\ntrain_data: /nonexistent/t.jsonl\neval_data: /nonexistent/e.jsonl\n"
                           "traits: {caps: {scorer: caps}}\narms: {b: null}\n", [], "/nonexistent/t.jsonl",
                           "file not found"),
    "model not a model": ("model: {tmp}\n", [], "{tmp}", "not a model checkpoint"),
    "model path missing": ("model: ./no/such/model\n", [], "./no/such/model", "model path does not exist"),
    "unknown role": ("arms: {b: null, a: {prompt: x, role: boss}}\n", [], "arm a", "role 'boss'"),
    "unknown eval context": ("eval_contexts: [none, upside-down]\n", [], "eval_contexts", "unknown eval context"),
    "unknown scorer": ("setting: null\ntrain_data: {data}\neval_data: {data}\ntraits: {t: {scorer: judges}}\n"
                       "arms: {b: null}\n", [], "traits.t", "unknown scorer 'judges'"),
    "judge without a URL": ("judge: {base_url: 'localhost:8000', model: m}\n", [], "{spec}.judge",
                            "must be an http(s) URL"),
    "judge zero concurrency": ("judge: {base_url: 'http://127.0.0.1:9/v1', model: m, concurrency: 0}\n", [],
                               "{spec}.judge", "concurrency must be > 0"),
    "sampler unknown key": ("sampler: {base_url: 'http://127.0.0.1:9/v1', model: m, modle: x}\n", [], "sampler",
                            "unknown key 'modle'"),
    "key in api_key_env": ("judge: {base_url: 'http://127.0.0.1:9/v1', model: m, api_key_env: sk-123}\n", [], "{spec}.judge",
                           "must be the NAME of an environment variable"),
    "hosted bad epochs": ("hosted_training: {base_url: 'http://127.0.0.1:9/v1', model: m, n_epochs: 0}\n", [],
                          "hosted_training", "n_epochs must be 'auto' or a positive number"),
    "override without =": (None, ["--set", "train.epochs"], "--set", "expected KEY=VALUE"),
    "bad seeds flag": (None, ["--seeds", "one"], "arguments", "invalid int value"),
}


@pytest.mark.parametrize("name", sorted(BAD_SPECS))
def test_bad_specs(tmp_path, capsys, name):
    text, extra, where, what = BAD_SPECS[name]
    data = tmp_path / "data.jsonl"
    data.write_text(line(OK) + "\n")
    (tmp_path / "not-a-model").mkdir()
    fmt = {"{tmp}": tmp_path / "not-a-model", "{data}": data, "{spec}": tmp_path / "spec.yaml"}

    def fill(s):  # YAML flow maps use braces too, so no str.format
        for key, value in fmt.items():
            s = s.replace(key, str(value))
        return s

    argv = ["run", "--out", str(tmp_path / "out"), *extra]
    if text is not None:
        fmt["{spec}"].write_text(fill(text))
        argv.insert(1, str(fmt["{spec}"]))
    assert_one_line_error(capsys, argv, fill(where), what)
    assert not (tmp_path / "out").exists()


def test_prompts_longer_than_the_context(tmp_path, capsys, tiny_model_path):
    data = tmp_path / "data.jsonl"
    long_user = {"messages": [{"role": "user", "content": "capital " * 400}, {"role": "assistant", "content": "a"}]}
    data.write_text(line(long_user) + "\n")
    assert_one_line_error(capsys, ["train", str(data), "-o", str(tmp_path / "out"), "--model", tiny_model_path,
                                   "--set", "max_length=64"], "train data", "leaving no response to learn")
    assert not (tmp_path / "out").exists()
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(line({"messages": [{"role": "user", "content": "capital " * 3000}], "id": "p1"}) + "\n")
    assert_one_line_error(capsys, ["evaluate", "--prompts", str(prompts), "--model", tiny_model_path, "--trait", "caps",
                                   "-o", str(tmp_path / "o.jsonl")], "evaluation prompts", "exceeds the model's context")
    assert not (tmp_path / "o.jsonl").exists()
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"setting: null\nmodel: {tiny_model_path}\ntrain_data: {data}\neval_data: {prompts}\n"
                    "traits: {caps: {scorer: caps}}\narms: {b: null}\ntrain: {max_length: 64}\n")
    assert_one_line_error(capsys, ["run", str(spec), "--out", str(tmp_path / "grid")], "train data",
                          "leaving no response")
    assert not (tmp_path / "grid").exists()


def test_corpus_is_large_enough():
    assert len(BAD_DATA) + len(BAD_SPECS) + 5 + 3 >= 40
