"""``{{ ds }}``-style placeholders in endpoints, params, bodies and output paths, filled from the run."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from headwater import DefinitionError
from headwater_http.errors import HttpPermanentError

if TYPE_CHECKING:
    from headwater import Context

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_\-]+)?)\s*\}\}")

#: The names a template may use besides ``params.<name>``.
NAMES = (
    "ds",
    "ds_nodash",
    "logical_date",
    "data_interval_start",
    "data_interval_end",
    "run_id",
    "pipeline_id",
    "task_id",
    "try_number",
    "lane",
    "partition",
)


def check(value: object, *, what: str, task_id: str) -> None:
    """Raise a DefinitionError if a string inside ``value`` names an unknown placeholder."""
    for text in _strings(value):
        for match in _PLACEHOLDER.finditer(text):
            name = match.group(1)
            if name not in NAMES and not name.startswith("params."):
                raise DefinitionError(
                    f"task '{task_id}': {what}: unknown placeholder {{{{ {name} }}}} "
                    f"(use {', '.join(NAMES)} or params.<name>)",
                    tasks=[task_id],
                )


def render(value: object, ctx: Context) -> object:
    """``value`` with every placeholder in its strings (nested in lists and dicts too) filled from ``ctx``."""
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: _lookup(m.group(1), ctx), value) if "{{" in value else value
    if isinstance(value, Mapping):
        return {k: render(v, ctx) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render(v, ctx) for v in value]
    return value


def render_str(value: str, ctx: Context) -> str:
    """:func:`render` for a single string."""
    return str(render(value, ctx))


def _lookup(name: str, ctx: Context) -> str:
    if name.startswith("params."):
        key = name.split(".", 1)[1]
        if key not in ctx.params:
            raise HttpPermanentError(f"placeholder {{{{ {name} }}}}: the run has no param {key!r}")
        return str(ctx.params[key])
    if name == "partition":
        if ctx.partition is None:
            raise HttpPermanentError("placeholder {{ partition }}: this run has no partition")
        return ctx.partition
    values = {
        "ds": ctx.logical_date.strftime("%Y-%m-%d"),
        "ds_nodash": ctx.logical_date.strftime("%Y%m%d"),
        "logical_date": ctx.logical_date.isoformat(),
        "data_interval_start": ctx.data_interval.start.isoformat(),
        "data_interval_end": ctx.data_interval.end.isoformat(),
        "run_id": ctx.run_id,
        "pipeline_id": ctx.pipeline_id,
        "task_id": ctx.task_id,
        "try_number": str(ctx.try_number),
        "lane": ctx.lane,
    }
    return values[name]


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []
