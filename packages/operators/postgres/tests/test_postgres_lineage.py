"""``headwater.sql_lineage.tables_in``: the tables a script reads and writes (sqlglot comes with this plugin)."""

from __future__ import annotations

import pytest

from headwater.plugin import tables_in


@pytest.mark.parametrize(
    ("sql", "reads", "writes"),
    [
        ("select * from orders", ["orders"], []),
        ("SELECT o.id FROM Raw.Orders o JOIN raw.users u USING (id)", ["raw.orders", "raw.users"], []),
        ("insert into mart.daily select * from raw.orders", ["raw.orders"], ["mart.daily"]),
        ("insert into t (a, b) values (1, 2)", [], ["t"]),
        ("create table mart.x as select * from a join b on a.id = b.id", ["a", "b"], ["mart.x"]),
        ("with recent as (select * from raw.o) insert into s.o select * from recent", ["raw.o"], ["s.o"]),
        ("update t set a = 1 from u where t.id = u.id", ["u"], ["t"]),
        ("delete from t where id in (select id from gone)", ["gone"], ["t"]),
        ("merge into t using s on t.id = s.id when matched then update set a = s.a", ["s"], ["t"]),
        ("truncate staging.orders", [], ["staging.orders"]),
        ('select * from "Mixed"."Case"', ["Mixed.Case"], []),
        (
            "create table a (x int); insert into a select x from b; select * from a",
            ["b", "a"],
            ["a"],
        ),
        ("this is not sql at all (", [], []),
        ("", [], []),
    ],
)
def test_tables_read_and_written(sql: str, reads: list[str], writes: list[str]) -> None:
    assert tables_in(sql, "postgres") == (reads, writes)


def test_snowflake_folds_bare_names_to_upper_case() -> None:
    assert tables_in("insert into mart.daily select * from raw.orders", "snowflake") == (
        ["RAW.ORDERS"],
        ["MART.DAILY"],
    )


def test_an_unknown_dialect_gives_no_lineage() -> None:
    assert tables_in("select * from t", "no-such-dialect") == ([], [])
