"""Chat examples in the OpenAI `messages` format: loading, validation, saving, hashing.

One JSONL line is one example:
    {"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...],
     "id": "optional", "metadata": {"label": "optional per-example facts"}}

Training data must end with a non-empty assistant turn; evaluation prompts end with a user turn
(one that ends with an assistant turn, a prefill or a reference answer, is refused: it would be
dropped in silence; keep reference answers in metadata).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

from inoculate._io import atomic_write_jsonl, content_hash
from inoculate.errors import InoculateError

ROLES = ("system", "user", "assistant")
MAX_CONTENT_CHARS = 1_000_000  # far beyond any context window; larger is a broken file, not data
EXAMPLE_KEYS = {"messages", "id", "metadata"}
MESSAGE_KEYS = {"role", "content"}


@dataclass
class Example:
    """One conversation plus free-form metadata (labels, which inoculation prompt was applied)."""

    messages: list[dict[str, str]]
    id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        row: dict[str, Any] = {"messages": self.messages}
        if self.id is not None:
            row["id"] = self.id
        if self.metadata:
            row["metadata"] = self.metadata
        return row

    def prompt_messages(self) -> list[dict[str, str]]:
        """The conversation up to the last user turn: what the model is asked to continue."""
        end = len(self.messages)
        while end > 0 and self.messages[end - 1]["role"] == "assistant":
            end -= 1
        return self.messages[:end]


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise ValueError(f"duplicate key {dupes[0]!r}")
    return dict(pairs)


def parse_example(row: Any, where: str, require_assistant: bool) -> Example:
    """Check one decoded JSON value and turn it into an Example; errors name `where`."""
    if not isinstance(row, dict):
        raise InoculateError(f"expected a JSON object, got {type(row).__name__}", where)
    unknown = sorted(set(row) - EXAMPLE_KEYS)
    if unknown:
        raise InoculateError(
            f"unknown key {unknown[0]!r} (allowed: messages, id, metadata; put labels under 'metadata')",
            where,
        )
    messages = row.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InoculateError("'messages' must be a non-empty list", where)
    for i, msg in enumerate(messages):
        at = f"messages[{i}]"
        if not isinstance(msg, dict):
            raise InoculateError(f"{at} must be an object with 'role' and 'content'", where)
        bad = sorted(set(msg) - MESSAGE_KEYS)
        if bad:
            raise InoculateError(f"{at} has unknown key {bad[0]!r} (allowed: role, content)", where)
        if msg.get("role") not in ROLES:
            raise InoculateError(f"{at} has role {msg.get('role')!r}; expected one of {', '.join(ROLES)}", where)
        if not isinstance(msg.get("content"), str):
            raise InoculateError(f"{at} 'content' must be a string", where)
        if len(msg["content"]) > MAX_CONTENT_CHARS:
            raise InoculateError(f"{at} content is {len(msg['content']):,} characters (limit {MAX_CONTENT_CHARS:,})", where)
        if msg["role"] == "system" and i != 0:
            raise InoculateError(f"{at} is a system message; only the first message may be one", where)
        if msg["role"] == "assistant" and not msg["content"].strip():
            raise InoculateError(f"{at} is an empty assistant turn", where)
    roles = [m["role"] for m in messages]
    if "user" not in roles:
        raise InoculateError("no user turn", where)
    if require_assistant:
        if roles[-1] != "assistant":
            raise InoculateError("no assistant turn at the end (training examples need a response)", where)
    elif roles[-1] == "assistant":
        raise InoculateError(f"an evaluation prompt must end with a user turn; this one ends with an assistant turn "
                             f"({messages[-1]['content'][:40]!r}), which would be dropped: prefills are not supported, "
                             "and a reference answer belongs in metadata", where)
    elif roles[-1] != "user":
        raise InoculateError("an evaluation prompt must end with a user turn", where)
    ex_id = row.get("id")
    if ex_id is not None and not isinstance(ex_id, (str, int)):
        raise InoculateError("'id' must be a string or an integer", where)
    metadata = row.get("metadata", {})
    if not isinstance(metadata, dict):
        raise InoculateError("'metadata' must be an object", where)
    return Example([dict(m) for m in messages], None if ex_id is None else str(ex_id), dict(metadata))


def load_jsonl(path: str | Path, require_assistant: bool = True) -> list[Example]:
    """Load and validate a chat JSONL file; the first problem raises with `file:line: reason`."""
    path = Path(path)
    if not path.is_file():
        raise InoculateError("file not found" if not path.exists() else "not a file", str(path))
    examples = []
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            where = f"{path}:{lineno}"
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raise InoculateError("file starts with a UTF-8 byte-order mark (BOM); save it as plain UTF-8", where)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InoculateError(f"not valid UTF-8 (byte {e.start})", where) from e
            if not text.strip():
                continue
            try:
                row = json.loads(text, object_pairs_hook=_reject_duplicate_keys)
            except json.JSONDecodeError as e:
                raise InoculateError(f"invalid JSON ({e.msg} at column {e.colno})", where) from e
            except ValueError as e:
                raise InoculateError(str(e), where) from e
            examples.append(parse_example(row, where, require_assistant))
    if not examples:
        raise InoculateError("no examples in file", str(path))
    return examples


def from_hf_dataset(dataset: Iterable[dict[str, Any]], require_assistant: bool = True) -> list[Example]:
    """Accept a Hugging Face `datasets.Dataset` (or any iterable of rows) with the same columns."""
    examples = []
    for i, row in enumerate(dataset):
        row = {k: v for k, v in dict(row).items() if not (k in ("id", "metadata") and v is None)}
        examples.append(parse_example(row, f"dataset row {i}", require_assistant))
    if not examples:
        raise InoculateError("the dataset has no rows")
    return examples


def save_jsonl(path: str | Path, examples: list[Example]) -> None:
    atomic_write_jsonl(Path(path), [ex.to_json() for ex in examples])


def ensure_ids(examples: list[Example], where: str) -> list[Example]:
    """Examples with an id each ("eval-<index>" where none was given); ids must be unique, as
    per-sample results are joined on them."""
    out = [ex if ex.id is not None else replace(ex, id=f"eval-{i}") for i, ex in enumerate(examples)]
    if len({ex.id for ex in out}) != len(out):
        raise InoculateError("evaluation prompt ids must be unique", where)
    return out


def dataset_hash(examples: list[Example]) -> str:
    return content_hash([ex.to_json() for ex in examples])
