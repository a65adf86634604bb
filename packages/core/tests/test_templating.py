"""``{{ ds }}`` placeholders shared by the shipped operators: checked at definition, filled per run."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from headwater import DefinitionError
from headwater.plugin import TemplateError, check_template, render_template

VALUES = {
    "ds": "2026-03-01",
    "logical_date": datetime(2026, 3, 1, tzinfo=UTC),
    "partition": None,
    "params": {"region": "eu"},
}


def test_names_and_params_are_filled_and_other_braces_left_alone() -> None:
    text = "select '{{1,2}}' from t where day = '{{ ds }}' and region = '{{params.region}}' -- {{ logical_date }}"
    assert render_template(text, VALUES, what="sql") == (
        "select '{{1,2}}' from t where day = '2026-03-01' and region = 'eu' -- 2026-03-01T00:00:00+00:00"
    )


def test_a_name_no_run_can_fill_is_a_definition_error_naming_the_task() -> None:
    check_template("{{ ds_nodash }}/{{ params.anything }}/{{ partition }}", what="key", task_id="t")
    with pytest.raises(DefinitionError) as info:
        check_template("raw/{{ dss }}/x.csv", what="key", task_id="upload")
    assert "task 'upload': key: unknown placeholder {{ dss }}" in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ params.day }}", "the run has no param 'day' (params: region)"),
        ("{{ partition }}", "{{ partition }} is used but this run has no partition"),
    ],
)
def test_a_value_the_run_lacks_fails_the_task_permanently(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        render_template(text, VALUES, what="sql")
    assert message in str(info.value)
