"""Task logs: each try writes its own file, secrets never appear in it, and logging trouble never hangs a run."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from headwater import Pipeline, task
from headwater.config.connections import get_connection
from headwater.model.context import Context
from headwater.secrets import MASK, add_secret, mask
from headwater.testing import run_pipeline


def test_add_secret_masks_it_everywhere() -> None:
    secret = f"tok-{uuid.uuid4().hex}"
    assert mask(f"token={secret}") == f"token={secret}"
    add_secret(secret)
    assert mask(f"token={secret}; again {secret}") == f"token={MASK}; again {MASK}"


def test_short_values_are_not_treated_as_secrets() -> None:
    add_secret("abc")
    assert mask("abc and abcdef") == "abc and abcdef"


def test_url_passwords_are_masked_even_when_never_registered() -> None:
    assert mask("dsn postgresql://app:n0t-registered@db:5432/x") == f"dsn postgresql://app:{MASK}@db:5432/x"


def test_connection_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "HEADWATER_CONN_WAREHOUSE", "postgres://loader:pw-9f8e7d@wh.internal:6543/analytics?sslmode=require"
    )
    conn = get_connection("warehouse")
    assert (conn.scheme, conn.login, conn.host, conn.port, conn.database) == (
        "postgres",
        "loader",
        "wh.internal",
        6543,
        "analytics",
    )
    assert conn.extra == {"sslmode": "require"}
    assert "pw-9f8e7d" not in repr(conn)
    assert mask("pw-9f8e7d") == MASK


def test_connection_password_is_masked_in_the_task_log_and_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HEADWATER_CONN_X", "postgres://u:s3cretpw@h/db")

    @task
    def connect(ctx: Context) -> str:
        conn = ctx.connection("x")
        ctx.log.info("connecting as %s with password %s", conn.login, conn.password)
        return str(conn.host)

    @task
    def leak(ctx: Context, host: str) -> None:
        raise RuntimeError(f"login to {host} refused for password {ctx.connection('x').password}")

    with Pipeline("secret_logs") as p:
        leak(connect())
    result = run_pipeline(p, workdir=tmp_path)
    assert result.results["connect"] == "h"
    log_path = result.tries["connect"][0].log_path
    assert log_path is not None and Path(log_path).is_relative_to(tmp_path)
    log = Path(log_path).read_text()
    assert f"connecting as u with password {MASK}" in log
    assert "s3cretpw" not in log

    error = result.summary.task("leak").error
    assert error == f"RuntimeError: login to h refused for password {MASK}"
    leak_log = result.tries["leak"][0].log_path
    assert leak_log is not None
    assert "s3cretpw" not in Path(leak_log).read_text()


def test_each_try_logs_to_its_own_file(tmp_path: Path) -> None:
    @task(retries=1)
    def chatty(ctx: Context) -> None:
        ctx.log.info("hello from try %d", ctx.try_number)
        if ctx.try_number == 1:
            raise ConnectionError("again")

    with Pipeline("per_try_logs") as p:
        chatty()
    result = run_pipeline(p, workdir=tmp_path)
    first, second = (Path(t.log_path or "") for t in result.tries["chatty"])
    assert first != second
    assert "hello from try 1" in first.read_text() and "ConnectionError: again" in first.read_text()
    assert "hello from try 2" in second.read_text() and "try 1" not in second.read_text()


def test_a_log_file_that_cannot_be_written_does_not_lose_the_outcome(tmp_path: Path) -> None:
    @task
    def vandal(ctx: Context) -> None:
        assert ctx.log_path is not None
        folder = Path(ctx.log_path).parent  # made unusable: a file sits where the try's log folder goes
        shutil.rmtree(folder, ignore_errors=True)
        folder.parent.mkdir(parents=True, exist_ok=True)
        folder.write_text("not a folder")
        raise ValueError("the real problem")

    with Pipeline("lost_logs") as p:
        vandal()
    result = run_pipeline(p, workdir=tmp_path)
    assert result.task_state("vandal") == "failed"
    assert result.summary.task("vandal").error == "ValueError: the real problem"


def test_ctx_client_builds_a_client_through_the_registered_connection_type(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    from headwater.plugin import hookimpl
    from headwater.plugin.manager import PluginManager, reset_manager

    module = types.ModuleType("fake_conn_plugin")

    @hookimpl
    def headwater_register_connection_types(register: object) -> None:
        register("memo", "builtins:repr")  # type: ignore[operator]  # any callable taking the Connection

    module.headwater_register_connection_types = headwater_register_connection_types  # type: ignore[attr-defined]
    manager = PluginManager(entry_points=False)
    manager.register_module(module, name="fake")
    reset_manager(manager)
    monkeypatch.setenv("HEADWATER_CONN_NOTES", "memo://u:pw123456@host/db")
    seen: list[object] = []

    @task
    def use(ctx: Context) -> None:
        seen.append(ctx.client("notes"))

    try:
        with Pipeline("clients") as p:
            use()
        assert run_pipeline(p).ok
    finally:
        reset_manager(None)
    assert len(seen) == 1
    client = str(seen[0])
    assert client.startswith("Connection(conn_id='notes', scheme='memo', host='host'")
    assert "pw123456" not in client
