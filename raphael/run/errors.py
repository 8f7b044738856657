"""Errors a user can fix: entry points print them as one paragraph and exit 2 (raphael.run.validation.user_errors).

`check(cfg, rules)` is the one way a config is checked (raphael.run.validation, the model dataclasses in
raphael.nn.config, the entry points): a table of rules `(field, holds, what is allowed)`, with the small
predicates `is_int` and `is_number` for the usual ranges.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any


class UserError(Exception):
    """Bad input: the message names what is wrong and how to fix it; no stack trace is shown."""


class ConfigError(UserError, ValueError):
    """A config value that cannot work; the message names the field, the value and what is allowed."""


class DataError(UserError, RuntimeError):
    """Data a run cannot make progress on (every sample bad, nothing to train on)."""


def fail(field: str, value: Any, allowed: str, fix: str = "") -> None:
    raise ConfigError(f"{field}={value!r} is not valid: {allowed}." + (f" {fix}" if fix else ""))


def check(cfg: Any, rules: list[tuple[str, bool, str]], prefix: str = "", fix: str = "") -> None:
    """Each rule is (dotted field of `cfg`, holds, what is allowed): the first that does not hold raises a
    ConfigError naming `prefix + field`, the field's value in `cfg` (a mapping or a dataclass) and what is allowed."""
    for name, holds, allowed in rules:
        if not holds:
            value = functools.reduce(lambda node, key: node.get(key) if isinstance(node, Mapping)
                                     else getattr(node, key), name.split("."), cfg)
            fail(prefix + name, value, allowed, fix)


def is_int(value: Any, low: int) -> bool:
    """An integer (not a bool) >= low."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def is_number(value: Any, low: float = -math.inf, high: float = math.inf, ends: str = "[]") -> bool:
    """A number (not a bool) between low and high; `ends` marks open ends as an interval is written, e.g. "[)"."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return (low < value if ends[0] == "(" else low <= value) and (value < high if ends[1] == ")" else value <= high)
