"""``{{ ds }}``-style placeholders in SQL and paths, filled from the run's context: names only, no expressions.

Known names: ``ds`` (2026-03-01), ``ds_nodash`` (20260301), ``logical_date``, ``data_interval_start``,
``data_interval_end`` (ISO 8601), ``run_id``, ``pipeline_id``, ``task_id``, ``try_number``, ``lane``,
``partition`` (the run's partition key; an error in a run without one) and ``params.NAME``. Anything else
between ``{{ }}`` that is a name is an error; text that is not a name (``'{{1,2},{3,4}}'``) is left alone.
The values are inserted as text: pass data values with ``parameters=`` (bound by the driver) instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING

from headwater import DefinitionError
from headwater.plugin import PermanentError

if TYPE_CHECKING:
    from headwater.plugin import Context

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}")
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
    "params",
)


class TemplateError(PermanentError):
    """A placeholder names a value the run does not have."""


def placeholders(text: str) -> list[str]:
    """The names used in ``text`` (``["ds", "params.day"]``)."""
    return [match.group(1) for match in _PLACEHOLDER.finditer(text)]


def check_template(text: str, *, task_id: str, what: str) -> None:
    """Raise a DefinitionError naming the task if ``text`` uses a name that no run can fill."""
    for name in placeholders(text):
        head, _, rest = name.partition(".")
        if head not in NAMES or (head == "params") != bool(rest) or rest.count("."):
            raise DefinitionError(
                f"task '{task_id}': {what}: unknown placeholder {{{{ {name} }}}} "
                f"(known: {', '.join(n for n in NAMES if n != 'params')}, params.NAME)",
                tasks=[task_id],
            )


def context_values(ctx: Context) -> dict[str, object]:
    """What the placeholders of a task's SQL are filled with."""
    logical = ctx.logical_date
    return {
        "ds": logical.date().isoformat(),
        "ds_nodash": logical.strftime("%Y%m%d"),
        "logical_date": logical.isoformat(),
        "data_interval_start": ctx.data_interval.start.isoformat(),
        "data_interval_end": ctx.data_interval.end.isoformat(),
        "run_id": ctx.run_id,
        "pipeline_id": ctx.pipeline_id,
        "task_id": ctx.task_id,
        "try_number": ctx.try_number,
        "lane": ctx.lane,
        "partition": ctx.partition,
        "params": ctx.params,
    }


def render(text: str, values: Mapping[str, object], *, what: str) -> str:
    """``text`` with every ``{{ name }}`` replaced by its value; TemplateError for a value the run lacks."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        head, _, rest = name.partition(".")
        if head not in values:
            raise TemplateError(f"{what}: unknown placeholder {{{{ {name} }}}}")
        value = values[head]
        if head == "params":
            params = value if isinstance(value, Mapping) else {}
            if rest not in params:
                known = ", ".join(sorted(map(str, params))) or "none"
                raise TemplateError(f"{what}: {{{{ {name} }}}}: the run has no param {rest!r} (params: {known})")
            value = params[rest]
        if value is None and head == "partition":
            raise TemplateError(f"{what}: {{{{ partition }}}} is used but this run has no partition")
        if isinstance(value, datetime | date):
            return value.isoformat()
        return str(value)

    return _PLACEHOLDER.sub(fill, text)
