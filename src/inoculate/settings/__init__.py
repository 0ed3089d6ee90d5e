"""Built-in settings, by name. Each lives in its own folder behind `Setting` (see base.py)."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from inoculate.errors import InoculateError
from inoculate.scorer_kinds import make_scorer
from inoculate.settings.backdoor import Backdoor
from inoculate.settings.base import Arm, CustomSetting, Setting, Trait, check_setting
from inoculate.settings.code_reward_hacking import CodeRewardHacking
from inoculate.settings.emergent_misalignment import EmergentMisalignment
from inoculate.settings.gcd_sycophancy import GcdSycophancy
from inoculate.settings.language_mixture import LanguageMixture
from inoculate.settings.persuasive_toxic import PersuasiveToxic
from inoculate.settings.spanish_caps import SpanishCaps
from inoculate.settings.spurious_sentiment import SpuriousSentiment
from inoculate.settings.subliminal import Subliminal

SETTINGS: dict[str, type[Setting]] = {
    cls.name: cls
    for cls in (SpanishCaps, LanguageMixture, Backdoor, GcdSycophancy, CodeRewardHacking, SpuriousSentiment,
                Subliminal, EmergentMisalignment, PersuasiveToxic)}


def get_setting(name: str, sampler=None, judge=None, **args) -> Setting:
    """The built-in setting `name`, built with `args` (the spec's setting_args). A setting whose data
    a model writes (subliminal's teacher) samples through `sampler`, the grid's Sampler; one whose
    traits a model judges gets `judge`, the spec's judge endpoint."""
    if name not in SETTINGS:
        raise InoculateError(f"unknown setting {name!r} (built in: {', '.join(SETTINGS)})", "setting")
    cls = SETTINGS[name]
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    params = [p.name for p in inspect.signature(cls.__init__).parameters.values()
              if p.name not in ("self", "sampler", "judge") and p.kind in named]
    unknown = sorted(set(args) - set(params))
    if unknown:
        raise InoculateError(f"unknown argument {unknown[0]!r} for setting {name} (accepts: {', '.join(params) or 'none'})",
                             "setting_args")
    accepts = inspect.signature(cls.__init__).parameters
    args = {**args, **{k: v for k, v in (("sampler", sampler), ("judge", judge)) if v is not None and k in accepts}}
    return cls(**args)


@dataclass(frozen=True)
class TraitSource:
    """Where a grid's traits come from, as a value a run unit can rebuild them from in another
    process: the spec's own declarations (name -> {scorer, wanted, ...scorer args}), else the
    built-in setting's."""

    setting: str | None
    setting_args: dict[str, Any] = field(default_factory=dict)
    traits: dict[str, Any] | None = None
    judge: Any = None  # the spec's judge endpoint (client.Endpoint), for judged traits

    def build(self) -> list[Trait]:
        if self.traits is None:
            return get_setting(self.setting, judge=self.judge, **self.setting_args).traits()
        out = []
        for name, d in self.traits.items():
            where = f"traits.{name}"
            if not isinstance(d, dict) or "scorer" not in d:
                raise InoculateError("expected {scorer: KIND, wanted: true|false, ...scorer args}", where)
            d = dict(d)
            kind, wanted = d.pop("scorer"), d.pop("wanted", False)
            if not isinstance(wanted, bool):
                raise InoculateError("'wanted' must be true or false", where)
            out.append(Trait(name, make_scorer(kind, where, self.judge, **d), wanted))
        return out


__all__ = ["Arm", "CustomSetting", "SETTINGS", "Setting", "Trait", "TraitSource", "check_setting", "get_setting"]
