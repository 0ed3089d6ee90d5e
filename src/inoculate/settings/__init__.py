"""Built-in settings, by name. Each lives in its own folder behind `Setting` (see base.py)."""

from __future__ import annotations

from inoculate.errors import InoculateError
from inoculate.settings.base import Arm, CustomSetting, Setting, Trait, check_setting
from inoculate.settings.gcd_sycophancy import GcdSycophancy
from inoculate.settings.spanish_caps import SpanishCaps

SETTINGS: dict[str, type[Setting]] = {cls.name: cls for cls in (SpanishCaps, GcdSycophancy)}


def get_setting(name: str) -> Setting:
    if name not in SETTINGS:
        raise InoculateError(f"unknown setting {name!r} (built in: {', '.join(SETTINGS)})", "setting")
    return SETTINGS[name]()


__all__ = ["Arm", "CustomSetting", "SETTINGS", "Setting", "Trait", "check_setting", "get_setting"]
