"""What reaches the user's terminal: one-line progress notes on stderr, our own warnings, and not
the warnings of the libraries underneath (unless --debug)."""

from __future__ import annotations

import sys
import warnings


class InoculateWarning(UserWarning):
    """A warning of this package's own, meant for the user (e.g. a weaker sandbox tier)."""


def log(message: str) -> None:
    print(f"[inoculate] {message}", file=sys.stderr, flush=True)


def quiet_library_warnings() -> None:
    """Hide warnings from torch, transformers, peft and the like (deprecations the user cannot act
    on), keeping this package's own."""
    warnings.filterwarnings("ignore")
    warnings.filterwarnings("default", category=InoculateWarning)
