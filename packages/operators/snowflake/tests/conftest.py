"""Fixtures: a real fakesnow server on a free loopback port, a fresh database per test, a Context to run with."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from snowflake_stand_in import CapturedContext, FakesnowServer, ListHandler, Warehouse, free_port, unavailable

from headwater import Context, DataInterval


@pytest.fixture(scope="session")
def fakesnow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakesnowServer]:
    executable = Path(sys.executable).parent / "fakesnow"
    if not executable.exists():
        unavailable("fakesnow is not installed (pip install 'headwater-snowflake[test]')")
    port = free_port()
    log = tmp_path_factory.mktemp("fakesnow") / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(executable), "-s", "-p", str(port), "--host", "127.0.0.1"], stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                unavailable(f"fakesnow did not start: {log.read_text(errors='replace')[-500:]}")
            time.sleep(0.05)
    try:
        yield FakesnowServer(port, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def warehouse(fakesnow_server: FakesnowServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Warehouse]:
    database = f"HW_{uuid.uuid4().hex[:10].upper()}"
    connection = fakesnow_server.connect()
    cursor = connection.cursor()
    cursor.execute(f"CREATE DATABASE {database}")
    cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {database}.PUBLIC")
    cursor.execute(f"USE SCHEMA {database}.PUBLIC")
    monkeypatch.setenv("HEADWATER_CONN_SF", fakesnow_server.uri(database))
    try:
        yield Warehouse(fakesnow_server, database, "sf", cursor)
    finally:
        connection.close()


@pytest.fixture
def make_ctx() -> Callable[..., CapturedContext]:
    """Build a Context for calling an operator's ``execute`` directly (``lane="backfill"`` for a backfill run)."""

    def make(
        task_id: str = "task",
        *,
        lane: str = "default",
        params: dict[str, object] | None = None,
        project_dir: Path | None = None,
    ) -> CapturedContext:
        lines: list[str] = []
        logger = logging.Logger(f"test.{task_id}.{uuid.uuid4().hex[:6]}", logging.INFO)
        logger.addHandler(ListHandler(lines))
        start = datetime(2026, 3, 1, tzinfo=UTC)
        ctx = Context(
            run_id="run-1",
            pipeline_id="refresh",
            task_id=task_id,
            try_number=1,
            logical_date=start,
            data_interval=DataInterval(start, start + timedelta(days=1)),
            params=params or {},
            upstream={},
            log=logger,
            lane=lane,
            project_dir=None if project_dir is None else str(project_dir),
        )
        return CapturedContext(ctx, lines)

    return make
