"""The process executor's options, validated once with a message naming the option."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from headwater import ConfigError

#: Seconds between HEARTBEAT events of a running try (a submission's ``heartbeat_interval`` wins).
DEFAULT_HEARTBEAT_INTERVAL = 5.0
#: Seconds a stopped try's processes get between SIGTERM and SIGKILL.
DEFAULT_KILL_GRACE = 2.0

_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ProcessOptions:
    heartbeat_interval: float | None = DEFAULT_HEARTBEAT_INTERVAL
    kill_grace: float = DEFAULT_KILL_GRACE
    memory_limit: int | None = None
    preload: tuple[str, ...] = ()


def _error(name: str, expected: str, value: object) -> ConfigError:
    return ConfigError(f"process executor option '{name}': expected {expected}, got {value!r}")


def _seconds(name: str, value: object, *, allow_zero: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or (value == 0 and not allow_zero):
        raise _error(name, "a number of seconds " + (">= 0" if allow_zero else "> 0"), value)
    return float(value)


def parse_size(value: object, *, name: str = "memory_limit") -> int:
    """Bytes from an int or a string such as ``"512MB"`` (powers of 1000) or ``"2GiB"`` (powers of 1024)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value <= 0:
            raise _error(name, "a positive number of bytes", value)
        return value
    if isinstance(value, str):
        match = _SIZE.fullmatch(value)
        if match and match.group(2).lower() in _UNITS:
            size = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
            if size > 0:
                return size
    raise _error(name, "a number of bytes or a size such as '512MB' or '2GiB'", value)


def parse_options(options: Mapping[str, object]) -> ProcessOptions:
    """Validate ``ProcessExecutor(options=...)``; ConfigError names the bad option."""
    known = set(ProcessOptions.__dataclass_fields__)
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(
            f"process executor: unknown option(s) {', '.join(map(repr, unknown))}; "
            f"known options: {', '.join(sorted(known))}"
        )
    heartbeat: float | None = DEFAULT_HEARTBEAT_INTERVAL
    if "heartbeat_interval" in options:
        raw = options["heartbeat_interval"]
        heartbeat = None if raw is None else _seconds("heartbeat_interval", raw, allow_zero=True) or None
    grace = _seconds("kill_grace", options.get("kill_grace", DEFAULT_KILL_GRACE), allow_zero=True)
    raw_limit = options.get("memory_limit")
    limit = None if raw_limit is None else parse_size(raw_limit)
    raw_preload = options.get("preload", ())
    if isinstance(raw_preload, str):
        raw_preload = [part.strip() for part in raw_preload.split(",") if part.strip()]
    if not isinstance(raw_preload, list | tuple) or not all(
        isinstance(m, str) and m and all(p.isidentifier() for p in m.split(".")) for m in raw_preload
    ):
        raise _error("preload", "a list of module names such as ['pandas', 'my_project.lib']", raw_preload)
    return ProcessOptions(
        heartbeat_interval=heartbeat, kill_grace=grace, memory_limit=limit, preload=tuple(raw_preload)
    )
