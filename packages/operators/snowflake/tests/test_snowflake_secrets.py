"""The connection's password appears in no log line, error, event or output, even when SQL or errors carry it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from snowflake_stand_in import PASSWORD, FakesnowServer, Warehouse, free_port

PIPELINE = f"""\
id: secrets
tasks:
  - id: fine
    operator: snowflake.query
    conn: sf
    sql: select 1 as one
  - id: leaky_sql
    operator: snowflake.query
    conn: sf
    sql: |
      select 1;
      select '{PASSWORD}' as pw, frob(
  - id: unreachable
    operator: snowflake.query
    conn: down
    sql: select 1
    retries: 1
    retry_delay: 0
"""


def _headwater(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "headwater"), "--project", str(root), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def test_the_password_is_never_written_anywhere(
    warehouse: Warehouse, fakesnow_server: FakesnowServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    down = fakesnow_server.uri("DB", port=str(free_port()), login_timeout="2", network_timeout="2")
    monkeypatch.setenv("HEADWATER_CONN_DOWN", down)
    root = tmp_path / "proj"
    (root / "pipelines").mkdir(parents=True)
    (root / "headwater.toml").write_text('executor = "inline"\n', encoding="utf-8")
    (root / "pipelines" / "secrets.yaml").write_text(PIPELINE, encoding="utf-8")

    run = _headwater(root, "run", "secrets")
    history = _headwater(root, "history", "secrets")

    assert run.returncode == 1, run.stdout + run.stderr
    output = run.stdout + run.stderr + history.stdout + history.stderr
    assert "001003" in output, "the SQL error is reported"
    assert "cannot connect" in output, "the connection error is reported"
    assert PASSWORD not in output
    files = [path for path in (root / ".headwater").rglob("*") if path.is_file()]
    assert any(path.suffix == ".log" for path in files)
    logs = "".join(path.read_text() for path in files if path.suffix == ".log")
    assert "***" in logs, "the password in the SQL is masked, not dropped"
    for path in files:  # logs, the metadata database (runs, tries, errors, events), results
        assert PASSWORD.encode() not in path.read_bytes(), f"{path} holds the password"
