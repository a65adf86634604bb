"""The SQL an operator runs: statements split per dialect, inline SQL or a file, parameters, values as JSON."""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import secrets
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from headwater import DataInterval, DefinitionError, Operator, Pipeline
from headwater.model.context import Context
from headwater.plugin import (
    PermanentError,
    SqlSource,
    TemplateError,
    check_conn,
    check_parameters,
    json_value,
    render_parameters,
    split_statements,
)
from headwater.testing import run_pipeline


def _ctx(tmp_path: Path | None = None, **overrides: Any) -> Context:
    moment = datetime(2026, 3, 1, tzinfo=UTC)
    kwargs: dict[str, Any] = {
        "run_id": "r",
        "pipeline_id": "p",
        "task_id": "t",
        "try_number": 1,
        "logical_date": moment,
        "data_interval": DataInterval(moment, moment + dt.timedelta(days=1)),
        "params": {"region": "eu"},
        "upstream": {},
        "log": logging.getLogger("test.sql_source"),
        "project_dir": None if tmp_path is None else str(tmp_path),
    }
    kwargs.update(overrides)
    return Context(**kwargs)


# -- split_statements: PostgreSQL ----------------------------------------------------------------------------------


def test_postgres_statements_split_on_top_level_semicolons_with_their_lines() -> None:
    script = """-- load the day
create table t (a text);

insert into t values ('a;b'), (E'it\\'s; fine'), ($$x;y$$), ($tag$ $$; $tag$);
/* a comment; /* nested; */ still */ select "odd;name" from t -- trailing; comment
;
   ;
select $1::int
"""
    statements = split_statements(script, "postgres")
    assert [(s.index, s.line) for s in statements] == [(1, 2), (2, 4), (3, 5), (4, 8)]
    assert statements[0].text == "create table t (a text)"
    assert statements[1].text.endswith("($tag$ $$; $tag$)")
    assert statements[2].text.startswith('select "odd;name" from t')
    assert statements[3].text == "select $1::int"
    assert statements[1].line_of(0) == 4
    assert statements[2].line_of(len(statements[2].text)) == 5
    assert [s.first_word for s in statements] == ["CREATE", "INSERT", "SELECT", "SELECT"]


def test_postgres_is_the_default_dialect() -> None:
    script = "select $body$ a; b $body$; select 'x''y;z'"
    assert split_statements(script) == split_statements(script, "postgres")
    assert [s.text for s in split_statements(script)] == ["select $body$ a; b $body$", "select 'x''y;z'"]


def test_postgres_backslashes_escape_only_in_e_strings() -> None:
    # in a standard string a backslash is a plain character: the quote after it ends the string
    [plain, escaped] = split_statements("select 'a\\'; select E'b\\'; c'", "postgres")
    assert plain.text == "select 'a\\'"
    assert escaped.text == "select E'b\\'; c'"


def test_postgres_dollar_quotes_need_a_matching_tag_and_no_word_before_them() -> None:
    [body, positional] = split_statements("do $fn$ begin; $x$ ; $x$ end $fn$; select a$1 from t$x$", "postgres")
    assert body.text == "do $fn$ begin; $x$ ; $x$ end $fn$"
    assert positional.text == "select a$1 from t$x$"


def test_a_multiline_statement_maps_offsets_to_script_lines() -> None:
    [first, second] = split_statements("select 1;\n\nselect\n  2,\n  nope\nfrom t")
    assert second.line == 3
    assert second.line_of(second.text.index("nope")) == 5
    assert second.line_of(10_000) == 6  # clamped to the text
    assert first.line_of(0) == 1
    assert second.script_line(3) == 5


# -- split_statements: Snowflake -----------------------------------------------------------------------------------


def test_snowflake_statements_keep_their_lines_and_ignore_semicolons_in_strings_and_comments() -> None:
    script = (
        "-- header; not a statement\n"
        "create table t (a varchar);\n"
        "\n"
        "insert into t values ('a;b'), ('it''s; ok'), ('back\\'slash;');\n"
        '/* block; comment */ select $$ a ; b $$ as body, "odd;name"\n'
        "  from t; // trailing; comment\n"
        "select 1 -- last, no semicolon\n"
    )
    statements = split_statements(script, "snowflake")
    assert [(s.index, s.line, s.first_word) for s in statements] == [
        (1, 2, "CREATE"),
        (2, 4, "INSERT"),
        (3, 5, "SELECT"),
        (4, 7, "SELECT"),
    ]
    assert statements[1].text == "insert into t values ('a;b'), ('it''s; ok'), ('back\\'slash;')"
    assert statements[2].text.endswith('"odd;name"\n  from t')
    assert statements[2].script_line(2) == 6


def test_snowflake_and_postgres_differ_on_slash_comments_and_nested_block_comments() -> None:
    script = "select 1 // no; really\n; /* a /* b */ select 2; */ select 3"
    assert [s.text for s in split_statements(script, "snowflake")] == [
        "select 1 // no; really",
        "select 2",
        "*/ select 3",
    ]
    assert [s.text for s in split_statements(script, "postgres")] == ["select 1 // no", "really", "select 3"]


def test_placeholders_outside_strings_are_binds() -> None:
    binds, literal, numeric = split_statements("select ?; select '?' as q; select :1", "snowflake")
    assert (binds.has_placeholders, literal.has_placeholders, numeric.has_placeholders) == (True, False, True)


@pytest.mark.parametrize("dialect", ["postgres", "snowflake"])
@pytest.mark.parametrize("script", ["", "   \n\t", "-- nothing\n/* here */ ;  ", ";;;", "/* unclosed ; comment"])
def test_an_empty_or_comments_only_script_has_no_statement(script: str, dialect: Any) -> None:
    assert split_statements(script, dialect) == []


@pytest.mark.parametrize("dialect", ["postgres", "snowflake"])
def test_an_unclosed_string_runs_to_the_end(dialect: Any) -> None:
    [only] = split_statements("select 'open; string", dialect)
    assert only.text == "select 'open; string"


def test_an_unknown_dialect_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown dialect 'mysql'"):
        split_statements("select 1", "mysql")  # type: ignore[arg-type]


def test_a_statement_preview_is_one_line() -> None:
    [statement] = split_statements("select\n   a,\n   b\nfrom t")
    assert statement.preview() == "select a, b from t"
    assert statement.preview(10) == "select a,…"


# -- SqlSource -----------------------------------------------------------------------------------------------------


def test_inline_sql_is_rendered() -> None:
    source = SqlSource("t", "select '{{ ds }}', '{{ params.region }}'", None)
    assert source.label is None
    assert source.describe() == "select '{{ ds }}', '{{ params.region }}'"
    assert source.load(_ctx()) == "select '2026-03-01', 'eu'"


def test_a_long_inline_sql_is_described_on_one_short_line() -> None:
    source = SqlSource("t", "select\n" + ", ".join(f"column_{i}" for i in range(20)), None)
    assert len(source.describe()) == 60
    assert source.describe().endswith("…")


def test_sql_file_is_read_from_the_project_directory_when_the_task_runs(tmp_path: Path) -> None:
    (tmp_path / "sql").mkdir()
    (tmp_path / "sql" / "eu.sql").write_text("select '{{ ds_nodash }}';\n", encoding="utf-8")
    source = SqlSource("t", None, "sql/{{ params.region }}.sql")
    assert source.label == "sql/{{ params.region }}.sql"
    assert source.describe() == "sql/{{ params.region }}.sql"
    assert source.load(_ctx(tmp_path)) == "select '20260301';\n"


def test_a_missing_sql_file_is_a_permanent_error(tmp_path: Path) -> None:
    source = SqlSource("t", None, "missing.sql")
    with pytest.raises(PermanentError, match=r"sql_file: cannot read .*missing\.sql"):
        source.load(_ctx(tmp_path))


def test_a_placeholder_the_file_uses_but_the_run_lacks_is_a_template_error(tmp_path: Path) -> None:
    (tmp_path / "q.sql").write_text("select '{{ params.nope }}'", encoding="utf-8")
    with pytest.raises(TemplateError, match="no param 'nope'"):
        SqlSource("t", None, "q.sql").load(_ctx(tmp_path))


@pytest.mark.parametrize(
    ("sql", "sql_file", "message"),
    [
        (None, None, "give either sql= or sql_file="),
        ("select 1", "q.sql", "give either sql= or sql_file="),
        ("  ", None, "sql: expected SQL text"),
        (42, None, "sql: expected SQL text"),
        (None, "", "sql_file: expected a path"),
        ("select '{{ dss }}'", None, "sql: unknown placeholder {{ dss }}"),
        (None, "{{ nope }}.sql", "sql_file: unknown placeholder {{ nope }}"),
    ],
)
def test_bad_sources_are_definition_errors(sql: object, sql_file: object, message: str) -> None:
    with pytest.raises(DefinitionError) as info:
        SqlSource("t", sql, sql_file)
    assert message in str(info.value)
    assert info.value.tasks == ("t",)


class ReadSql(Operator):
    """An operator that returns its SQL, loaded when it runs."""

    def __init__(self, task_id: str, *, sql_file: str, **options: Any) -> None:
        self.source = SqlSource(task_id, None, sql_file)
        super().__init__(task_id, **options)

    def execute(self, ctx: Context) -> object:
        return self.source.load(ctx)


def test_a_sql_file_in_a_pipeline_run(tmp_path: Path) -> None:
    (tmp_path / "q.sql").write_text("select '{{ ds }}'", encoding="utf-8")
    with Pipeline(f"sql_source_{secrets.token_hex(3)}") as pipeline:
        ReadSql("read", sql_file="q.sql")
        ReadSql("missing", sql_file="nope.sql", retries=3, retry_delay=0)
    run = run_pipeline(pipeline, logical_date=datetime(2026, 3, 1, tzinfo=UTC), project_dir=tmp_path)
    assert run.results["read"] == "select '2026-03-01'"
    missing = run.summary.task("missing")
    assert (missing.state, missing.tries) == ("failed", 1)  # permanent: never retried
    assert "sql_file: cannot read" in (missing.error or "")


# -- parameters ----------------------------------------------------------------------------------------------------


def test_parameters_are_a_mapping_or_a_list_by_default() -> None:
    assert check_parameters(None, "t") is None
    assert check_parameters({"a": 1}, "t") == {"a": 1}
    assert check_parameters((1, 2), "t") == (1, 2)
    with pytest.raises(DefinitionError, match=r"expected a mapping \(for %\(name\)s\) or a list \(for %s\)"):
        check_parameters("select", "t")


def test_positional_only_parameters_refuse_a_mapping() -> None:
    assert check_parameters((1, 2), "t", named=None, positional="?") == [1, 2]
    with pytest.raises(DefinitionError, match=r"task 't': parameters: expected a list of values for \? placeholders"):
        check_parameters({"a": 1}, "t", named=None, positional="?")


def test_string_parameters_are_rendered() -> None:
    ctx = _ctx()
    assert render_parameters(None, ctx) is None
    assert render_parameters({"day": "{{ ds }}", "n": 1}, ctx) == {"day": "2026-03-01", "n": 1}
    assert render_parameters(("{{ params.region }}", None), ctx) == ["eu", None]


# -- check_conn ----------------------------------------------------------------------------------------------------


def test_a_connection_id_is_a_non_empty_string() -> None:
    assert check_conn("warehouse", "t") == "warehouse"
    with pytest.raises(DefinitionError, match="task 't': conn: expected a connection id") as info:
        check_conn("  ", "t")
    assert info.value.tasks == ("t",)
    with pytest.raises(DefinitionError, match="s3 trigger: conn: expected a connection id") as info:
        check_conn(None, where="s3 trigger")
    assert info.value.tasks == ()


# -- json_value ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (True, True),
        (7, 7),
        ("x", "x"),
        (1.5, 1.5),
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        (decimal.Decimal("12.000"), 12),
        (decimal.Decimal("12.5"), 12.5),
        (decimal.Decimal(2**60), float(2**60)),
        (decimal.Decimal("NaN"), "NaN"),
        (dt.date(2026, 3, 1), "2026-03-01"),
        (datetime(2026, 3, 1, 6, tzinfo=UTC), "2026-03-01T06:00:00+00:00"),
        (dt.time(6, 30), "06:30:00"),
        (dt.timedelta(minutes=2), 120.0),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (b"\x00\xff", "00ff"),
        (memoryview(b"\x01"), "01"),
        ({1: decimal.Decimal("1")}, {"1": 1}),
        ((dt.date(2026, 1, 1), [b"\x02"]), ["2026-01-01", ["02"]]),
        (frozenset(), "frozenset()"),
    ],
)
def test_json_value(value: object, expected: object) -> None:
    assert json_value(value) == expected
