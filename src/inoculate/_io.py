"""Small file helpers shared by every stage: atomic writes and content hashes.

Every file a run writes goes through `atomic_write_*`, so a crash leaves either the old file or
the new one, never half of one; a run is marked finished only after all its files exist.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

from inoculate.errors import InoculateError

# Part of every content key in place of the package version, so a release does not retrain every
# run. Bump it when a stored format (run folder files, grid.json) or what a stage computes changes.
SCHEMA_VERSION = 2


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: the same content always gives the same text."""
    return json.dumps(_jsonable(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(obj: Any, length: int = 16) -> str:
    """Hash of the full content of `obj` (dataclasses, dicts, lists), never of a chosen subset."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:length]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise InoculateError(f"could not write file ({e.strerror or e})", where=str(path)) from e
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(_jsonable(obj), indent=2, ensure_ascii=False) + "\n")


def atomic_write_jsonl(path: Path, rows: list[Any]) -> None:
    atomic_write_text(path, "".join(json.dumps(_jsonable(r), ensure_ascii=False) + "\n" for r in rows))


def atomic_write_dir(target: Path, fill: Callable[[Path], None]) -> None:
    """Build a folder with `fill(folder)` in a temporary sibling, then swap it in by rename: a crash
    or a concurrent writer leaves the old folder or the new one, never half of one."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        fill(tmp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise InoculateError("file not found", where=str(path)) from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InoculateError(f"not valid JSON ({e})", where=str(path)) from e


def read_jsonl(path: Path) -> list[Any]:
    """The rows of a JSONL file this package wrote (user files go through data.load_jsonl's checks)."""
    with Path(path).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
