"""``{{ ds }}``-style placeholders in buckets, keys and paths, filled from the run's context."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from headwater import DefinitionError
from headwater_s3.errors import S3DefinitionError

if TYPE_CHECKING:
    from headwater import Context

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z0-9_\-]+))?\s*\}\}")
#: The names a template may use (``params.NAME`` too).
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
    "partition",
    "try_number",
)


def check_template(text: str, what: str) -> None:
    """DefinitionError if ``text`` names a placeholder that does not exist (checked when the pipeline loads)."""
    for match in _PLACEHOLDER.finditer(text):
        name, attr = match.group(1), match.group(2)
        if name == "params" and attr:
            continue
        if name not in NAMES or attr:
            raise DefinitionError(
                f"{what}: unknown placeholder {match.group(0)!r} in {text!r}; use one of "
                f"{', '.join(NAMES)} or params.NAME"
            )


def _values(ctx: Context) -> Mapping[str, str]:
    date = ctx.logical_date
    return {
        "ds": date.strftime("%Y-%m-%d"),
        "ds_nodash": date.strftime("%Y%m%d"),
        "ts": date.isoformat(),
        "logical_date": date.isoformat(),
        "data_interval_start": ctx.data_interval.start.isoformat(),
        "data_interval_end": ctx.data_interval.end.isoformat(),
        "run_id": ctx.run_id,
        "pipeline_id": ctx.pipeline_id,
        "task_id": ctx.task_id,
        "partition": ctx.partition or "",
        "try_number": str(ctx.try_number),
    }


def render(text: str, ctx: Context) -> str:
    """``text`` with each ``{{ name }}`` / ``{{ params.NAME }}`` replaced by its value in this run."""
    if "{{" not in text:
        return text
    values = _values(ctx)

    def fill(match: re.Match[str]) -> str:
        name, attr = match.group(1), match.group(2)
        if name == "params" and attr:
            if attr not in ctx.params:
                raise S3DefinitionError(f"the template {text!r} names params.{attr}, but the run has no such param")
            return str(ctx.params[attr])
        return values[name]

    return _PLACEHOLDER.sub(fill, text)
