"""``{{ ds }}`` placeholders in operator arguments (SQL, keys, paths, URLs), filled from the run: names only.

The names every shipped operator understands: ``ds`` (2026-03-01), ``ds_nodash`` (20260301),
``ts`` and ``logical_date`` (ISO 8601), ``data_interval_start``, ``data_interval_end``, ``run_id``,
``pipeline_id``, ``task_id``, ``try_number``, ``lane``, ``partition`` (an error in a run without one)
and ``params.NAME``. A name that no run can fill is a definition error (:func:`check_template`, called
by the operator's constructor); text between ``{{ }}`` that is not a name (``'{{1,2},{3,4}}'``) is
left alone. Values are inserted as text: operators bind data values as parameters instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING

from headwater.errors import DefinitionError, PermanentError

if TYPE_CHECKING:
    from headwater.model.context import Context

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z0-9_\-]+))?\s*\}\}")
#: The names a template may use (and ``params.NAME``).
NAMES = (
    "ds",
    "ds_nodash",
    "ts",
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


class TemplateError(PermanentError):
    """A placeholder names a value this run does not have (a param it was not given, no partition)."""


def placeholders(text: str) -> list[str]:
    """The names ``text`` uses (``["ds", "params.day"]``)."""
    return [m.group(1) + (f".{m.group(2)}" if m.group(2) else "") for m in _PLACEHOLDER.finditer(text)]


def check_template(text: str, *, what: str, task_id: str | None = None) -> None:
    """Raise DefinitionError (naming ``what`` and the task) if ``text`` uses a name no run can fill."""
    for match in _PLACEHOLDER.finditer(text):
        name, attr = match.group(1), match.group(2)
        if (name == "params" and attr) or (name in NAMES and not attr):
            continue
        where = f"task '{task_id}': {what}" if task_id else what
        raise DefinitionError(
            f"{where}: unknown placeholder {match.group(0)} (known: {', '.join(NAMES)}, params.NAME)",
            tasks=[task_id] if task_id else [],
        )


def template_values(ctx: Context) -> dict[str, object]:
    """What the placeholders of a task's arguments are filled with."""
    logical = ctx.logical_date
    return {
        "ds": logical.date().isoformat(),
        "ds_nodash": logical.strftime("%Y%m%d"),
        "ts": logical.isoformat(),
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


def render_template(text: str, values: Context | Mapping[str, object], *, what: str) -> str:
    """``text`` with every ``{{ name }}`` filled from the run (a Context, or :func:`template_values`)."""
    filled = values if isinstance(values, Mapping) else template_values(values)

    def fill(match: re.Match[str]) -> str:
        name, attr = match.group(1), match.group(2)
        if name not in filled:
            raise TemplateError(f"{what}: unknown placeholder {match.group(0)}")
        value = filled[name]
        if name == "params":
            params = value if isinstance(value, Mapping) else {}
            if attr not in params:
                known = ", ".join(sorted(map(str, params))) or "none"
                raise TemplateError(f"{what}: {match.group(0)}: the run has no param {attr!r} (params: {known})")
            value = params[attr]
        elif attr:
            raise TemplateError(f"{what}: unknown placeholder {match.group(0)}")
        if value is None and name == "partition":
            raise TemplateError(f"{what}: {{{{ partition }}}} is used but this run has no partition")
        if isinstance(value, datetime | date):
            return value.isoformat()
        return str(value)

    return _PLACEHOLDER.sub(fill, text)
