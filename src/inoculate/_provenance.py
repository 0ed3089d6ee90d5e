"""What produced a result: package versions, the model's checksum, the source revision.

Recorded in each run folder and printed in the report, so a number can be traced to the code
and weights that made it.
"""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

from inoculate.models import EMBEDDED_MODEL, model_fingerprint

PACKAGES = ("inoculate", "torch", "transformers", "peft", "numpy", "scipy", "py3langid")


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_revision() -> str:
    """The commit of the inoculate source in use, `+dirty` when it has uncommitted changes."""
    src = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(src), "status", "--porcelain", "--", "."], capture_output=True,
                               text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return rev + ("+dirty" if dirty else "")


def model_checksum(name: str) -> str:
    """The content fingerprint of a local or embedded model's files; hub ids are identified by
    name, as transformers resolves them."""
    if name != EMBEDDED_MODEL and not Path(name).expanduser().is_dir():
        return f"hub id {name} (not checksummed)"
    return model_fingerprint(name)


def provenance(model: str) -> dict[str, object]:
    return {"versions": package_versions(), "git": git_revision(), "model_checksum": model_checksum(model),
            "machine": f"{platform.machine()} {platform.system()} {platform.release()}"}
