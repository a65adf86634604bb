"""Fixtures: the Slack stand-in on loopback, a fake clock, and no Slack credentials from the environment."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer
from slack_stub import FakeClock, SlackStub


@pytest.fixture(scope="session")
def httpserver_listen_address() -> tuple[str, int]:
    return ("127.0.0.1", 0)


@pytest.fixture
def slack(httpserver: HTTPServer) -> Iterator[SlackStub]:
    """The Slack stand-in, fresh for each test."""
    yield SlackStub(httpserver)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(autouse=True)
def _no_ambient_slack(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose their credentials: none leak in from the machine's environment."""
    for name in ("HEADWATER_CONN_SLACK", "SLACK_BOT_TOKEN", "SLACK_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
