"""Trait scorers: small factories returning a `Scorer` with one fixed signature.

A scorer maps one generated text, and the evaluation prompt it answers, to a score in [0, 1];
the trait counts as expressed when the score reaches the scorer's threshold. The prompt's
metadata carries what a reference-based scorer needs (expected answer, unit tests). A score of
None means "not applicable to this prompt" (e.g. sycophancy on a prompt with no proposed
answer); such samples are left out of that trait's rate. The trait rate of a run is the share of
applicable samples that express it. A new trait is one short factory plus its test.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

from inoculate.data import Example
from inoculate.errors import InoculateError


@dataclass(frozen=True)
class Scorer:
    name: str  # e.g. "caps", "language:es"
    score: Callable[[str, Example | None], float | None]  # (text, eval prompt) -> [0, 1] or None
    threshold: float  # the trait is expressed when score >= threshold
    config: dict[str, Any]  # factory arguments, for content hashes and reports

    def __call__(self, text: str, prompt: Example | None = None) -> dict[str, float | bool | None]:
        s = self.score(text, prompt)
        if s is None:
            return {"score": None, "present": None}
        return {"score": float(s), "present": float(s) >= self.threshold}


def caps(threshold: float = 0.5, min_letters: int = 1) -> Scorer:
    """Share of letters that are upper case; texts with fewer than `min_letters` letters score 0."""

    def score(text: str, prompt: Example | None = None) -> float:
        letters = [c for c in text if c.isalpha()]
        if len(letters) < min_letters:
            return 0.0
        return sum(c.isupper() for c in letters) / len(letters)

    return Scorer("caps", score, threshold, {"threshold": threshold, "min_letters": min_letters})


@lru_cache(maxsize=8)
def _identifier(candidates: tuple[str, ...] | None):
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    if candidates:
        ident.set_languages(list(candidates))
    return ident


DEFAULT_CANDIDATES = ("en", "es", "fr", "de", "it", "pt")


def language(lang: str = "es", threshold: float = 0.5, candidates: tuple[str, ...] | None = DEFAULT_CANDIDATES) -> Scorer:
    """P(text is in `lang`) from py3langid, which handles ALL-CAPS text.

    Restricting `candidates` to plausible languages matters for short answers: over all 97
    languages py3langid labels "LA CAPITAL DE FRANCIA ES PARÍS." Occitan; over the default six it
    is Spanish. Pass candidates=None for all languages.
    """
    candidates = tuple(candidates) if candidates else None
    try:
        ident = _identifier(candidates)
    except ValueError as e:
        raise InoculateError(f"unknown language code in candidates {candidates} ({e})", "scorer language") from e
    if lang not in ident.nb_classes:
        raise InoculateError(f"language {lang!r} is not among py3langid's candidates", "scorer language")

    def score(text: str, prompt: Example | None = None) -> float:
        if not any(c.isalpha() for c in text):
            return 0.0
        return float(dict(ident.rank(text))[lang])

    config = {"lang": lang, "threshold": threshold, "candidates": list(candidates) if candidates else None}
    return Scorer(f"language:{lang}", score, threshold, config)


FACTORIES: dict[str, Callable[..., Scorer]] = {"caps": caps, "language": language}


def make_scorer(kind: str, where: str = "scorer", **kwargs: Any) -> Scorer:
    """Build a scorer from a config entry such as {"scorer": "language", "lang": "es"}."""
    if kind not in FACTORIES:
        raise InoculateError(f"unknown scorer {kind!r} (known: {', '.join(FACTORIES)})", where)
    try:
        return FACTORIES[kind](**kwargs)
    except TypeError as e:
        raise InoculateError(f"bad arguments for scorer {kind!r} ({e})", where) from e
