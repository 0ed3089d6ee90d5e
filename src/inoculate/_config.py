"""Build a config dataclass from a mapping, rejecting unknown keys and wrong types by name."""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from typing import Any, TypeVar

import yaml

from inoculate.errors import InoculateError

T = TypeVar("T")


def _check_type(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arm in typing.get_args(hint):
            if arm is type(None):
                if value is None:
                    return None
                continue
            try:
                return _check_type(value, arm, where)
            except InoculateError as e:
                errors.append(e)
        raise errors[0] if errors else InoculateError("must not be null", where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise InoculateError(f"expected a list, got {type(value).__name__}", where)
        (item,) = typing.get_args(hint)[:1]
        return tuple(_check_type(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise InoculateError(f"expected a mapping, got {type(value).__name__}", where)
        return dict(value)
    if hint is Any:
        return value
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):
        # PyYAML follows YAML 1.1, where `1e-3` (no dot) is a string; users mean a number.
        try:
            value = float(value)
        except ValueError:
            pass
    if hint is float and isinstance(value, float) and not math.isfinite(value):
        raise InoculateError(f"must be a finite number, got {value}", where)
    if hint in (int, float) and isinstance(value, bool):
        raise InoculateError(f"expected {hint.__name__}, got a boolean", where)
    if isinstance(hint, type) and not isinstance(value, hint):
        raise InoculateError(f"expected {hint.__name__}, got {type(value).__name__} {value!r}", where)
    return value


def from_dict(cls: type[T], data: Any, where: str) -> T:
    """`cls(**data)` with every key known and every value of its declared type."""
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise InoculateError(f"expected a mapping, got {type(data).__name__}", where)
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(names)})"
            raise InoculateError(f"unknown key {key!r}{hint}", where)
        kwargs[key] = _check_type(value, hints[key], f"{where}.{key}")
    try:
        return cls(**kwargs)
    except InoculateError as e:
        raise InoculateError(e.message, e.where or where) from e


def positive(where: str, **values: float) -> None:
    finite(where, **values)
    for name, value in values.items():
        if value <= 0:
            raise InoculateError(f"{name} must be > 0, got {value}", where)


def finite(where: str, **values: float) -> None:
    """NaN passes every comparison check (`nan < 0` is False), so floats are checked for it first."""
    for name, value in values.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise InoculateError(f"{name} must be a finite number, got {value}", where)


def parse_key_value(text: str, where: str) -> tuple[str, Any]:
    """`KEY=VALUE` -> (KEY, VALUE parsed as YAML), as the command line's --set and --condition take them."""
    if "=" not in text:
        raise InoculateError(f"expected KEY=VALUE, got {text!r}", where)
    key, raw = text.split("=", 1)
    try:
        return key.strip(), yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise InoculateError(f"cannot parse value {raw!r}", f"{where} {key.strip()}") from e
