"""A YAML pipeline of postgres operators, run through the real CLI; no password anywhere it leaves a trace."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

PIPELINE = """
id: pg_nightly
params: {{min_amount: 1}}
tasks:
  - id: build
    operator: postgres.query
    conn: warehouse
    sql_file: sql/build.sql
    parameters: {{day: "{{{{ ds }}}}"}}
  - id: wait_for_rows
    operator: sql.condition
    conn: warehouse
    sql: select count(*) > 0 from {schema}.orders
    poke_interval: 0.1s
    depends_on: [build]
  - id: check_orders
    operator: postgres.check
    conn: warehouse
    table: {schema}.orders
    row_count_min: 1
    not_null: [id, amount]
    unique: [id]
    accepted_values: {{status: [open, paid]}}
    max_age: [updated_at, 1d]
    depends_on: [wait_for_rows]
  - id: export
    operator: postgres.extract
    conn: warehouse
    sql: select id, amount from {schema}.orders where amount >= {{{{ params.min_amount }}}} order by id
    path: out/orders_{{{{ ds_nodash }}}}.csv
    depends_on: [check_orders]
  - id: broken
    operator: postgres.query
    conn: warehouse
    sql: |
      select 1;
      select amount
        from {schema}.no_such_table
    retries: 2
    depends_on: [check_orders]
"""

BUILD_SQL = """-- build the day's orders
create table {schema}.orders (id int, amount numeric, status text, day date, updated_at timestamptz default now());
insert into {schema}.orders (id, amount, status, day) values (1, 5, 'open', %(day)s), (2, 7, 'paid', %(day)s);
"""


@pytest.fixture
def project(tmp_path: Path, schema: str) -> Path:
    root = tmp_path / "proj"
    (root / "pipelines").mkdir(parents=True)
    (root / "sql").mkdir()
    (root / "headwater.toml").write_text('executor = "inline"\n', encoding="utf-8")
    text = PIPELINE.format(schema=schema)
    (root / "pipelines" / "nightly.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    (root / "sql" / "build.sql").write_text(BUILD_SQL.format(schema=schema), encoding="utf-8")
    return root


def _headwater(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    # Run from another folder: relative paths (sql_file, path) start at the project directory.
    command = [str(Path(sys.executable).parent / "headwater"), "--project", str(root), *args]
    elsewhere = root.parent / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, env=env, cwd=elsewhere)


def test_a_yaml_pipeline_runs_through_the_cli(
    project: Path, database: Any, schema: str, tmp_path: Path, password: str
) -> None:
    import os

    env = {**os.environ, "HEADWATER_CONN_WAREHOUSE": database.uri}
    shown = _headwater(project, env, "show", "pg_nightly")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "postgres warehouse: sql/build.sql" in shown.stdout

    run = _headwater(project, env, "run", "pg_nightly", "--date", "2026-03-01")
    output = run.stdout + run.stderr
    assert run.returncode == 1, output  # `broken` fails, the rest succeeds
    states = {line.split()[0]: line.split()[1] for line in run.stdout.splitlines() if len(line.split()) > 1}
    assert [states.get(t) for t in ("build", "wait_for_rows", "check_orders", "export", "broken")] == [
        "success",
        "success",
        "success",
        "success",
        "failed",
    ], output
    error = (
        f"postgres 'warehouse': relation \"{schema}.no_such_table\" does not exist [42P01] (line 3, statement 2 of 2)"
    )
    assert error in output
    assert (project / "out" / "orders_20260301.csv").read_text() == "id,amount\n1,5\n2,7\n"
    assert not (tmp_path / "elsewhere" / "out").exists()
    assert database.execute(f"select distinct day::text from {schema}.orders") == [("2026-03-01",)]

    logs = {path.name: path.read_text() for path in (project / ".headwater" / "logs").rglob("*.log")}
    assert "statement 2/2 (line 3): insert into" in logs["build.1.log"], logs
    assert "check unique(id): ok: no duplicates" in logs["check_orders.1.log"]
    assert error in logs["broken.1.log"]
    assert len([name for name in logs if name.startswith("broken.")]) == 1  # bad SQL: not retried

    # The password of the connection URI appears in no output, log, or the metadata database.
    assert password not in output
    for name, text in logs.items():
        assert password not in text, name
    for path in (project / ".headwater").rglob("*"):
        if path.is_file():
            assert password.encode() not in path.read_bytes(), path
