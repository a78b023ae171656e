"""Sizes and durations as written in device and board files."""

from __future__ import annotations

import math
import re

MIB = 1024 * 1024
_SIZE = re.compile(r"^([0-9]+)\s*(B|KiB|MiB|GiB|kB|MB|GB)$")
_SIZE_FACTORS = {"B": 1, "KiB": 1024, "MiB": MIB, "GiB": 1024 * MIB,
                 "kB": 1000, "MB": 1000**2, "GB": 1000**3}
_DURATION = re.compile(r"^([0-9]+)\s*(ms|s|m)$")
_DURATION_FACTORS = {"ms": 0.001, "s": 1.0, "m": 60.0}

# Used by the JSON schema too, so the two can never disagree.
SIZE_PATTERN = _SIZE.pattern
DURATION_PATTERN = _DURATION.pattern


def parse_size(text: str) -> int:
    """'16MiB' -> 16777216. The schema has already checked the pattern."""
    m = _SIZE.match(text)
    if not m:
        raise ValueError(f"not a size: {text!r}")
    return int(m.group(1)) * _SIZE_FACTORS[m.group(2)]


def parse_duration(value: str | int) -> float:
    """'1500ms' -> 1.5; a bare integer is seconds."""
    if isinstance(value, int):
        return float(value)
    m = _DURATION.match(value)
    if not m:
        raise ValueError(f"not a duration: {value!r}")
    return int(m.group(1)) * _DURATION_FACTORS[m.group(2)]


def seconds(value: str | int) -> int:
    """Whole seconds, rounded up: the manager counts in seconds."""
    return math.ceil(parse_duration(value))


def mib(n_bytes: int) -> str:
    """Human form used in messages: '96 MiB' or '9.8 MiB'."""
    v = n_bytes / MIB
    return f"{v:.0f} MiB" if v == int(v) else f"{v:.1f} MiB"
