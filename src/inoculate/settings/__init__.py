"""Built-in settings, by name. Each lives in its own folder behind `Setting` (see base.py)."""

from __future__ import annotations

import inspect

from inoculate.errors import InoculateError
from inoculate.settings.backdoor import Backdoor
from inoculate.settings.base import Arm, CustomSetting, Setting, Trait, check_setting
from inoculate.settings.code_reward_hacking import CodeRewardHacking
from inoculate.settings.gcd_sycophancy import GcdSycophancy
from inoculate.settings.language_mixture import LanguageMixture
from inoculate.settings.spanish_caps import SpanishCaps
from inoculate.settings.spurious_sentiment import SpuriousSentiment
from inoculate.settings.subliminal import Subliminal

SETTINGS: dict[str, type[Setting]] = {
    cls.name: cls
    for cls in (SpanishCaps, LanguageMixture, Backdoor, GcdSycophancy, CodeRewardHacking, SpuriousSentiment,
                Subliminal)}


def get_setting(name: str, **args) -> Setting:
    """The built-in setting `name`, built with `args` (the spec's setting_args)."""
    if name not in SETTINGS:
        raise InoculateError(f"unknown setting {name!r} (built in: {', '.join(SETTINGS)})", "setting")
    cls = SETTINGS[name]
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    params = [p.name for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self" and p.kind in named]
    unknown = sorted(set(args) - set(params))
    if unknown:
        raise InoculateError(f"unknown argument {unknown[0]!r} for setting {name} (accepts: {', '.join(params) or 'none'})",
                             "setting_args")
    return cls(**args)


__all__ = ["Arm", "CustomSetting", "SETTINGS", "Setting", "Trait", "check_setting", "get_setting"]
