"""The parts that need no server: connection URIs, error classes, statements' text, registration."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import snowflake.connector.errors as sf
from snowflake_stand_in import PASSWORD, CapturedContext

from headwater import ConfigError, Connection, DefinitionError, load_operator
from headwater.plugin import PermanentError, mask, split_statements
from headwater_snowflake import SnowflakeCheck, SnowflakeOperator, SnowflakeStageLoad
from headwater_snowflake.base import SessionOptions, qualified, table_name
from headwater_snowflake.connection import SnowflakeSettings
from headwater_snowflake.copy import file_format_clause, put_statement, render_options, string_literal
from headwater_snowflake.errors import SnowflakeError, SnowflakeUnavailable, connect_error, statement_error

# -- connection URIs -----------------------------------------------------------------------------------------------


def _settings(uri: str) -> SnowflakeSettings:
    return SnowflakeSettings.from_connection(Connection.from_uri("wh", uri))


def test_a_uri_gives_account_database_schema_warehouse_and_role() -> None:
    settings = _settings(
        "snowflake://etl:p%40ss-word@xy12345.eu-west-1.snowflakecomputing.com/analytics/raw?warehouse=LOAD_WH&role=LOADER"
    )
    assert (settings.account, settings.user, settings.password) == ("xy12345.eu-west-1", "etl", "p@ss-word")
    assert (settings.database, settings.schema, settings.warehouse, settings.role) == (
        "analytics",
        "raw",
        "LOAD_WH",
        "LOADER",
    )
    assert settings.location == "https://xy12345.eu-west-1.snowflakecomputing.com"
    assert "p@ss-word" not in repr(settings)
    assert "p@ss-word" not in settings.describe()


def test_connect_arguments_bind_server_side_and_carry_the_query_tag() -> None:
    settings = _settings(
        f"snowflake://etl:{PASSWORD}@fakesnow/db?host=127.0.0.1&port=8080&protocol=http&login_timeout=5"
    )
    assert settings.connect_kwargs(query_tag='{"task":"t"}') == {
        "account": "fakesnow",
        "user": "etl",
        "password": PASSWORD,
        "database": "db",
        "host": "127.0.0.1",
        "port": 8080,
        "protocol": "http",
        "login_timeout": 5,
        "paramstyle": "qmark",
        "application": "headwater",
        "session_parameters": {"QUERY_TAG": '{"task":"t"}'},
    }
    assert mask(f"login with {PASSWORD}") == "login with ***"


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("snowflake://u:pw@acct/db?warehuose=WH", "unknown option(s) warehuose (known: warehouse, role"),
        ("snowflake://u:pw@/db", "the URI names no account"),
        ("snowflake://u:pw@acct/db/schema/extra", "the URI path is /database/schema"),
        ("snowflake://u:pw@acct/db?login_timeout=soon", "login_timeout: expected a whole number, got 'soon'"),
        ("snowflake://u:pw@acct/db?protocol=ftp", "protocol: expected http or https"),
        ("postgres://u:pw@acct/db", "expected a snowflake:// URI, got postgres://"),
    ],
)
def test_a_bad_uri_is_a_config_error_naming_the_connection(uri: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        _settings(uri)
    assert str(raised.value).startswith("snowflake connection 'wh': ")
    assert message in str(raised.value)


# -- errors --------------------------------------------------------------------------------------------------------


def test_network_failures_and_5xx_are_retryable_connection_errors() -> None:
    for exc in (
        sf.OperationalError(msg="Could not connect to Snowflake backend", errno=250001),
        sf.ServiceUnavailableError(),
        sf.TooManyRequests(),
        sf.ProgrammingError(msg="Statement reached its statement or warehouse timeout", errno=630, sqlstate="57014"),
        ConnectionRefusedError(111, "Connection refused"),
    ):
        error = statement_error("wh", exc, None)
        assert isinstance(error, SnowflakeUnavailable), exc
        assert isinstance(error, ConnectionError)


def test_refused_credentials_are_permanent() -> None:
    refused = sf.DatabaseError(
        msg="Incorrect username or password was specified.", errno=390100, sqlstate="08004", send_telemetry=False
    )
    error = connect_error("wh", refused, "https://acct.snowflakecomputing.com")
    assert isinstance(error, SnowflakeError)
    assert isinstance(error, PermanentError)
    assert str(error) == (
        "snowflake connection 'wh': login refused: 390100 (08004): Incorrect username or password was specified."
    )


def test_a_compilation_error_keeps_snowflakes_message_and_maps_its_line_to_the_script() -> None:
    (_, statement) = split_statements("select 1;\n\nselect *\n  from orders\n  where (", "snowflake")
    exc = sf.ProgrammingError(
        msg="SQL compilation error:\nsyntax error line 3 at position 9 unexpected '<EOF>'.",
        errno=1003,
        sqlstate="42000",
        send_telemetry=False,
    )
    error = statement_error("wh", exc, statement, total=2, source="sql/daily.sql")
    assert isinstance(error, SnowflakeError)
    assert error.line == 5
    assert str(error) == (
        "snowflake 'wh': 001003 (42000): SQL compilation error: syntax error line 3 at position 9 unexpected "
        "'<EOF>'. (sql/daily.sql line 5, statement 2 of 2)"
    )


def test_a_secret_in_an_error_is_masked() -> None:
    exc = sf.ProgrammingError(msg=f"bad token {PASSWORD}", errno=1003, sqlstate="42000", send_telemetry=False)
    SnowflakeSettings.from_connection(Connection.from_uri("wh", f"snowflake://u:{PASSWORD}@acct/db"))
    assert PASSWORD not in str(statement_error("wh", exc, None))


# -- statements' text ----------------------------------------------------------------------------------------------


def test_option_values_are_quoted_and_keywords_left_bare() -> None:
    options = {"type": "csv", "compression": "gzip", "field_delimiter": "|", "null_if": ["", "N/A"], "trim_space": True}
    assert render_options(options, what="file_format") == (
        "TYPE = CSV COMPRESSION = GZIP FIELD_DELIMITER = '|' NULL_IF = ('', 'N/A') TRIM_SPACE = TRUE"
    )
    assert render_options({"on_error": "skip_file_10%"}, what="copy_options") == "ON_ERROR = 'skip_file_10%'"
    assert string_literal("it's a \\ path") == "'it\\'s a \\\\ path'"
    assert file_format_clause("my_db.public.csv_format") == "FILE_FORMAT = (FORMAT_NAME = 'my_db.public.csv_format')"
    with pytest.raises(DefinitionError, match="a path with a quote"):
        put_statement("/tmp/o'brien.csv", "@%orders")


def test_lineage_names_are_qualified_with_the_connection() -> None:
    settings = _settings("snowflake://u:pw@acct/analytics/raw")
    assert table_name('raw."Orders"') == "RAW.Orders"
    assert qualified(settings, "ORDERS") == "ANALYTICS.RAW.ORDERS"
    assert qualified(settings, "MART.DAILY") == "ANALYTICS.MART.DAILY"
    assert qualified(settings, "OTHER.MART.DAILY") == "OTHER.MART.DAILY"


# -- operators -----------------------------------------------------------------------------------------------------


def test_the_operators_are_registered_for_yaml_pipelines() -> None:
    assert load_operator("snowflake.query") is SnowflakeOperator
    assert load_operator("snowflake.load") is SnowflakeStageLoad
    assert load_operator("snowflake.check") is SnowflakeCheck


def test_describe_is_one_line() -> None:
    op = SnowflakeOperator(
        "refresh", conn="wh", sql="insert into mart.daily\nselect * from raw.orders", backfill_warehouse="BF_WH"
    )
    assert op.describe() == "snowflake wh (backfills on BF_WH): insert into mart.daily select * from raw.orders"
    check = SnowflakeCheck("check", conn="wh", table="orders", row_count_min=1, unique=["id"], warehouse="WH")
    assert check.describe() == "snowflake wh on WH: check orders: row_count>=1, unique(id)"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sql": "select 1", "sql_file": "a.sql"}, "give either sql= or sql_file="),
        ({}, "give either sql= or sql_file="),
        ({"sql": "-- only a comment"}, "sql: no statement"),
        ({"sql": "select 1", "parameters": "abc"}, "parameters: expected a list"),
        ({"sql": "select '{{ tomorrow }}'"}, "sql: unknown placeholder {{ tomorrow }}"),
        ({"sql": "select 1", "max_rows": -1}, "max_rows: expected a whole number >= 0"),
        ({"sql": "select 1", "query_tag": 7}, "query_tag: expected text, false or null"),
        ({"sql": "select 1", "backfill_warehouse": ""}, "backfill_warehouse: expected a name"),
        ({"sql": "select 1", "conn": ""}, "conn: expected a connection id"),
    ],
)
def test_bad_query_arguments_are_definition_errors(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"conn": "wh", **kwargs}
    with pytest.raises(DefinitionError) as raised:
        SnowflakeOperator("q", **arguments)  # type: ignore[arg-type]
    assert str(raised.value).startswith("task 'q': ")
    assert message in str(raised.value)


def test_query_tags_can_be_turned_off(make_ctx: Callable[..., CapturedContext]) -> None:
    ctx = make_ctx("t").ctx
    assert SessionOptions.build("t", conn="wh", query_tag=False).tag(ctx) is None
    assert SessionOptions.build("t", conn="wh", query_tag="").tag(ctx) is None
    assert SessionOptions.build("t", conn="wh", query_tag="{{ pipeline_id }}:{{ lane }}").tag(ctx) == "refresh:default"
