"""Fixtures: a real HTTP server on a free loopback port, a connection to it, a fake clock, a task context."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from http_support import TOKEN, FakeClock, Lines
from pytest_httpserver import HTTPServer

from headwater import Context, DataInterval


@pytest.fixture
def api(httpserver_ipv4: HTTPServer) -> Iterator[HTTPServer]:
    """pytest-httpserver on 127.0.0.1 and a free port; handlers and its request log reset per test.

    A request no handler expects gets 404 (not retried), not pytest-httpserver's default 500.
    """
    httpserver_ipv4.no_handler_status_code = 404
    yield httpserver_ipv4
    httpserver_ipv4.clear()


@pytest.fixture
def base(api: HTTPServer) -> str:
    return f"http://127.0.0.1:{api.port}"


@pytest.fixture
def conn(api: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """Connection ``shop``: the test server's ``/v1`` with a bearer token."""
    monkeypatch.setenv("HEADWATER_CONN_SHOP", f"http://:{TOKEN}@127.0.0.1:{api.port}/v1")
    return "shop"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def logs() -> Lines:
    return Lines()


@pytest.fixture
def make_ctx(logs: Lines) -> Callable[..., Context]:
    """``make_ctx(task_id=..., params=..., partition=...)``: a task context whose log lines land in ``logs``."""

    def make(
        task_id: str = "extract", params: dict[str, object] | None = None, partition: str | None = None
    ) -> Context:
        logger = logging.Logger(f"test.{task_id}", logging.DEBUG)
        logger.addHandler(logs)
        day = datetime(2026, 3, 1, tzinfo=UTC)
        return Context(
            run_id="run-1",
            pipeline_id="shop_refresh",
            task_id=task_id,
            try_number=1,
            logical_date=day,
            data_interval=DataInterval(day, day + timedelta(days=1)),
            params=params or {},
            upstream={},
            log=logger,
            partition=partition,
            cancelled=threading.Event(),
        )

    return make


@pytest.fixture
def ctx(make_ctx: Callable[..., Context]) -> Context:
    return make_ctx()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nobody listens on (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def seen(api: HTTPServer) -> Callable[[str], list[str]]:
    """``seen(path)``: the query strings of the requests the server saw for ``path``, in order."""

    def queries(path: str) -> list[str]:
        return [req.query_string.decode() for req, _ in api.log if req.path == path]

    return queries


@pytest.fixture
def token() -> str:
    return TOKEN
