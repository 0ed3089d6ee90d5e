"""Scorer kinds by name: what a spec's `traits` entry ({scorer: KIND, ...arguments}) and the
command line's --trait KIND:... can name. Built in: the scorers of scorers.py, the judges of
judges.py (which get the spec's `judge` endpoint) and the toxicity classifier; register_scorer adds
your own.
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any, Callable

from inoculate._config import finite
from inoculate.errors import InoculateError
from inoculate.judges import judge, misalignment
from inoculate.scorers import Scorer, caps, keywords, language, python, regex
from inoculate.toxicity import toxicity

FACTORIES: dict[str, Callable[..., Scorer]] = {"caps": caps, "language": language, "regex": regex,
                                                "keywords": keywords, "python": python, "judge": judge,
                                                "misalignment": misalignment, "toxicity": toxicity}


def register_scorer(kind: str, factory: Callable[..., Scorer]) -> None:
    """Make `factory` usable as {scorer: KIND, ...its arguments} in a spec and as --trait KIND:... ; it
    returns a Scorer (see per_sample for a one-text function)."""
    if not isinstance(kind, str) or not kind.isidentifier() or kind in FACTORIES:
        raise InoculateError(f"a scorer kind must be a new identifier, got {kind!r} (taken: {', '.join(FACTORIES)})")
    if not callable(factory):
        raise InoculateError(f"the factory of scorer {kind!r} must be callable")
    FACTORIES[kind] = factory


def make_scorer(kind: str, where: str = "scorer", judge: Any = None, **kwargs: Any) -> Scorer:
    """Build a scorer from a config entry such as {"scorer": "language", "lang": "es"}; every error
    names `where` (the trait). A factory with a `judge` argument gets `judge` (the spec's judge
    endpoint) unless the entry names its own."""
    if kind not in FACTORIES:
        close = difflib.get_close_matches(str(kind), FACTORIES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InoculateError(f"unknown scorer {kind!r} (known: {', '.join(FACTORIES)}){hint}", where)
    finite(where, **{k: v for k, v in kwargs.items() if isinstance(v, float)})
    if judge is not None and "judge" not in kwargs and "judge" in inspect.signature(FACTORIES[kind]).parameters:
        kwargs["judge"] = judge
    try:
        scorer = FACTORIES[kind](**kwargs)
    except TypeError as e:
        raise InoculateError(f"bad arguments for scorer {kind!r} ({e})", where) from e
    except InoculateError as e:
        raise InoculateError(f"scorer {kind}: {e.message}", where) from e
    if not isinstance(scorer, Scorer):
        raise InoculateError(f"the factory of scorer {kind!r} returned {type(scorer).__name__}, not a Scorer", where)
    return scorer


