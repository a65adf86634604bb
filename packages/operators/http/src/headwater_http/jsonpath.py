"""A small JSON path: ``data.items``, ``$.meta.next_cursor``, ``results[0].rows``; ``""``/``$`` is the whole body."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

_TOKEN = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]")

Path = tuple[str | int, ...]


def parse(path: str | None) -> Path:
    """The steps of ``path``; ValueError naming the path when it cannot be read."""
    if path is None:
        return ()
    text = path.strip()
    if text.startswith("$"):
        text = text[1:]
    steps: list[str | int] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ValueError(f"cannot read the JSON path {path!r} (write it like 'data.items' or 'results[0].rows')")
        steps.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        pos = match.end()
    return tuple(steps)


def lookup(data: object, steps: Path) -> tuple[bool, object]:
    """``(True, value)`` at ``steps`` inside ``data``, or ``(False, None)`` when a step is missing."""
    current = data
    for step in steps:
        if isinstance(step, int) and isinstance(current, Sequence) and not isinstance(current, str):
            if step >= len(current):
                return False, None
            current = current[step]
        elif isinstance(current, Mapping) and str(step) in current:
            current = current[str(step)]
        else:
            return False, None
    return True, current


def render(steps: Path) -> str:
    """``steps`` written back as a path (``$`` for the whole body)."""
    text = "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in steps).lstrip(".")
    return text or "$"


def describe(value: object) -> str:
    """What ``value`` is, for an error message: 'an object with keys a, b', 'a list of 3 items', 'null'."""
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        keys = list(value)
        shown = ", ".join(str(k) for k in keys[:8]) + (", ..." if len(keys) > 8 else "")
        return f"an object with keys {shown}" if keys else "an empty object"
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    if isinstance(value, bool):
        return f"a boolean ({value})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({value[:40]!r})"
    return type(value).__name__
