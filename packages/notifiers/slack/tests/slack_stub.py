"""A small stand-in for Slack's Web API and incoming webhooks, served by pytest-httpserver on loopback.

It answers ``chat.postMessage`` like Slack does (``invalid_auth`` for a wrong bearer token,
``channel_not_found`` for an unknown channel, canned 429/5xx answers when queued) and records
every message it accepted, so tests read what a Slack user would have seen.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

TOKEN = "xoxb-hw-test-8f3a2c91d7e4"
CHANNELS = ("#alerts", "#data-team")
WEBHOOK_PATH = "/services/T0HW/B0HW/hwwebhooksecret42"


@dataclass
class Canned:
    """A queued answer: an HTTP status, a JSON body (or text for webhooks) and headers."""

    status: int
    body: dict[str, Any] | str
    headers: dict[str, str] = field(default_factory=dict)


def message_text(payload: dict[str, Any]) -> str:
    """Everything a message shows: its notification text, then every text of its blocks."""
    parts = [str(payload.get("text") or "")]

    def walk(value: object) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("text"), str):
                parts.append(value["text"])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(payload.get("blocks") or [])
    return "\n".join(parts)


class SlackStub:
    """Slack's ``chat.postMessage`` and one incoming webhook, on a loopback HTTP server."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.token = TOKEN
        self.messages: list[dict[str, Any]] = []  # accepted messages, in order
        self.requests = 0  # every request, refused ones included
        self.auth_headers: list[str] = []
        self.queue: list[Canned] = []  # answers to give before accepting again
        server.expect_request("/api/chat.postMessage", method="POST").respond_with_handler(self._post_message)
        server.expect_request(WEBHOOK_PATH, method="POST").respond_with_handler(self._webhook)

    @property
    def base_url(self) -> str:
        return self.server.url_for("/api/")

    @property
    def webhook_url(self) -> str:
        return self.server.url_for(WEBHOOK_PATH)

    @property
    def netloc(self) -> str:
        return f"{self.server.host}:{self.server.port}"

    def texts(self) -> list[str]:
        return [message_text(m) for m in self.messages]

    def headers_seen(self) -> str:
        return "\n".join(self.auth_headers)

    # -- handlers ------------------------------------------------------------------------------
    def _canned(self, webhook: bool) -> Response | None:
        if not self.queue:
            return None
        canned = self.queue.pop(0)
        if isinstance(canned.body, str):
            return Response(canned.body, status=canned.status, headers=canned.headers, content_type="text/plain")
        return Response(
            json.dumps(canned.body), status=canned.status, headers=canned.headers, content_type="application/json"
        )

    def _post_message(self, request: Request) -> Response:
        self.requests += 1
        self.auth_headers.append(request.headers.get("Authorization", ""))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _json({"ok": False, "error": "invalid_auth"})
        canned = self._canned(webhook=False)
        if canned is not None:
            return canned
        payload = request.get_json(force=True)
        if payload.get("channel") not in CHANNELS:
            return _json({"ok": False, "error": "channel_not_found"})
        self.messages.append(payload)
        return _json({"ok": True, "channel": "C0HWALERTS", "ts": f"1767225600.{len(self.messages):06d}"})

    def _webhook(self, request: Request) -> Response:
        self.requests += 1
        canned = self._canned(webhook=True)
        if canned is not None:
            return canned
        self.messages.append(request.get_json(force=True))
        return Response("ok", status=200, content_type="text/plain")


def _json(body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), status=200, content_type="application/json")


class FakeClock:
    """Seconds that move only when a test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
