"""Filling ``{{ }}`` placeholders in SQL (the core's; splitting scripts is tested in the core's test_sql_source)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from headwater import DefinitionError
from headwater.plugin import TemplateError, check_template, render_template, template_values


def _values(**overrides: Any) -> dict[str, object]:
    values: dict[str, object] = {
        "ds": "2026-03-01",
        "ds_nodash": "20260301",
        "params": {"region": "eu", "day": datetime(2026, 3, 1, tzinfo=UTC)},
        "partition": None,
    }
    values.update(overrides)
    return values


def test_placeholders_are_filled_and_other_braces_left_alone() -> None:
    text = "select '{{1,2},{3,4}}'::int[][], '{{ ds }}', '{{ds_nodash}}', '{{ params.region }}', '{{ params.day }}'"
    assert render_template(text, _values(), what="sql") == (
        "select '{{1,2},{3,4}}'::int[][], '2026-03-01', '20260301', 'eu', '2026-03-01T00:00:00+00:00'"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ nope }}", "sql: unknown placeholder {{ nope }}"),
        ("{{ params.missing }}", "the run has no param 'missing' (params: day, region)"),
        ("{{ partition }}", "{{ partition }} is used but this run has no partition"),
    ],
)
def test_a_value_the_run_lacks_is_a_permanent_error(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        render_template(text, _values(), what="sql")
    assert message in str(info.value)


def test_unknown_names_are_definition_errors() -> None:
    check_template("{{ ds }} {{ params.a }} {{ partition }}", task_id="t", what="sql")
    for bad in ("{{ dss }}", "{{ params }}", "{{ ds.x }}"):
        with pytest.raises(DefinitionError, match="task 't': sql: unknown placeholder"):
            check_template(bad, task_id="t", what="sql")


def test_template_values(context: Any) -> None:
    ctx = context(params={"x": 1}, partition="2026-03-01", logical_date=datetime(2026, 3, 1, 6, tzinfo=UTC))
    values = template_values(ctx)
    assert values["ds"] == "2026-03-01"
    assert values["ds_nodash"] == "20260301"
    assert values["data_interval_start"] == "2026-03-01T06:00:00+00:00"
    assert values["data_interval_end"] == "2026-03-02T06:00:00+00:00"
    assert values["partition"] == "2026-03-01"
    assert render_template("{{ params.x }}/{{ lane }}/{{ try_number }}", values, what="sql") == "1/default/1"
