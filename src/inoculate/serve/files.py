"""OpenAI's Files API for `inoculate serve`: uploaded training files kept under the state folder.

state/files/<id>.data holds the bytes as uploaded, state/files/<id>.json the file object. The
object is written after the bytes, so its presence marks a complete upload; bytes without one (a
crash mid-upload) are never listed. Contents are checked when a fine-tuning job uses the file,
as OpenAI does, not at upload.
"""

from __future__ import annotations

import json
import secrets
import string
import threading
import time
from pathlib import Path

from inoculate._io import atomic_write_bytes, atomic_write_json
from inoculate.serve.api_error import ApiError

MAX_UPLOAD_BYTES = 512 * 1024**2  # OpenAI's limit per file
PURPOSES = ("fine-tune",)  # the only purpose this server has a use for
ID_CHARS = string.ascii_letters + string.digits


def new_id(prefix: str) -> str:
    """An id in OpenAI's style (`file-…`, `ftjob-…`): the prefix and 24 random letters and digits."""
    return prefix + "".join(secrets.choice(ID_CHARS) for _ in range(24))


class FileStore:
    """Uploaded files by id. Safe to use from several threads."""

    def __init__(self, state: Path):
        self.folder = Path(state) / "files"
        self._lock = threading.Lock()
        self._files: dict[str, dict] = {}
        for path in sorted(self.folder.glob("file-*.json")) if self.folder.is_dir() else []:
            record = json.loads(path.read_text(encoding="utf-8"))
            if self.data_path(record["file"]["id"]).is_file():
                self._files[record["file"]["id"]] = record

    def data_path(self, file_id: str) -> Path:
        return self.folder / f"{file_id}.data"

    def add(self, filename: str, data: bytes, purpose: str) -> dict:
        if purpose not in PURPOSES:
            raise ApiError(400, f"purpose {purpose!r} is not supported here: inoculate serve keeps files for "
                                f"fine-tuning only (purpose {PURPOSES[0]!r})", "purpose")
        file_id = new_id("file-")
        obj = {"id": file_id, "object": "file", "bytes": len(data), "created_at": int(time.time()),
               "filename": filename, "purpose": purpose, "status": "processed", "status_details": None,
               "expires_at": None}
        atomic_write_bytes(self.data_path(file_id), data)
        record = {"file": obj, "created_ns": time.time_ns()}
        atomic_write_json(self.folder / f"{file_id}.json", record)  # last: marks the upload complete
        with self._lock:
            self._files[file_id] = record
        return obj

    def get(self, file_id: str) -> dict:
        with self._lock:
            record = self._files.get(file_id)
        if record is None:
            raise ApiError(404, f"No such File object: {file_id}", "id")
        return record["file"]

    def listed(self, purpose: str | None = None, order: str = "desc") -> list[dict]:
        with self._lock:
            records = sorted(self._files.values(), key=lambda r: r["created_ns"], reverse=order == "desc")
        return [r["file"] for r in records if purpose is None or r["file"]["purpose"] == purpose]

    def delete(self, file_id: str) -> dict:
        self.get(file_id)
        with self._lock:
            self._files.pop(file_id, None)
        (self.folder / f"{file_id}.json").unlink(missing_ok=True)  # first: bytes alone are never listed
        self.data_path(file_id).unlink(missing_ok=True)
        return {"id": file_id, "object": "file", "deleted": True}
