"""``{{ ds }}``-style placeholders in dbt ``vars`` values, filled from the run: names only, no expressions.

The same names as the other shipped operators: ``ds`` (2026-03-01), ``ds_nodash`` (20260301),
``logical_date``, ``data_interval_start``, ``data_interval_end`` (ISO 8601), ``run_id``, ``pipeline_id``,
``task_id``, ``try_number``, ``lane``, ``partition`` (an error in a run without one) and ``params.NAME``.
Text between ``{{ }}`` that is not a name is left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING

from headwater import DefinitionError, PermanentError

if TYPE_CHECKING:
    from headwater import Context

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


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def check_vars(variables: Mapping[str, object], *, where: str) -> None:
    """DefinitionError if a ``vars`` string uses a placeholder no run can fill."""
    for text in _strings(variables):
        for match in _PLACEHOLDER.finditer(text):
            name = match.group(1)
            head, _, rest = name.partition(".")
            if head not in NAMES or (head == "params") != bool(rest) or rest.count("."):
                raise DefinitionError(
                    f"{where}: vars: unknown placeholder {{{{ {name} }}}} "
                    f"(known: {', '.join(n for n in NAMES if n != 'params')}, params.NAME)"
                )


def render_vars(variables: Mapping[str, object], ctx: Context) -> dict[str, object]:
    """``variables`` with the placeholders of every string (nested ones too) filled from ``ctx``."""
    values = _context_values(ctx)
    rendered = _render(dict(variables), values)
    assert isinstance(rendered, dict)
    return rendered


def _context_values(ctx: Context) -> dict[str, object]:
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


def _render(value: object, values: Mapping[str, object]) -> object:
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: _fill(m.group(1), values), value)
    if isinstance(value, Mapping):
        return {k: _render(v, values) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_render(v, values) for v in value]
    return value


def _fill(name: str, values: Mapping[str, object]) -> str:
    head, _, rest = name.partition(".")
    if head not in values:
        raise TemplateError(f"dbt vars: unknown placeholder {{{{ {name} }}}}")
    value = values[head]
    if head == "params":
        params = value if isinstance(value, Mapping) else {}
        if rest not in params:
            known = ", ".join(sorted(map(str, params))) or "none"
            raise TemplateError(f"dbt vars: {{{{ {name} }}}}: the run has no param {rest!r} (params: {known})")
        value = params[rest]
    if value is None and head == "partition":
        raise TemplateError("dbt vars: {{ partition }} is used but this run has no partition")
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)
