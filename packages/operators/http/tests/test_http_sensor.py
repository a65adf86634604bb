"""HttpSensor: waits for a status code and, optionally, a JSON condition."""

from __future__ import annotations

import itertools

import pytest
from http_support import Lines
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from headwater import Context, DefinitionError, Pipeline, load_operator
from headwater.testing import run_pipeline
from headwater_http import HttpSensor
from headwater_http.errors import HttpStatusError


def test_registered_as_a_sensor() -> None:
    assert load_operator("http.sensor") is HttpSensor


def test_not_yet_until_the_status_and_the_condition_hold(api: HTTPServer, conn: str, ctx: Context, logs: Lines) -> None:
    answers = iter(
        [
            Response("warming up", status=503),
            Response('{"state": "loading"}', status=200, content_type="application/json"),
            Response('{"state": "ready", "rows": 42}', status=200, content_type="application/json"),
        ]
    )
    api.expect_request("/v1/exports/7").respond_with_handler(lambda request: next(answers))
    sensor = HttpSensor("wait_export", conn=conn, endpoint="/exports/7", json_path="state", equals="ready")

    assert sensor.poke(ctx) is None
    assert sensor.poke(ctx) is None
    assert sensor.poke(ctx) == {"status": 200, "body": {"state": "ready", "rows": 42}}
    assert any("not yet: HTTP 503 (waiting for 200)" in line for line in logs.lines)
    assert any("not yet: state is a string ('loading')" in line for line in logs.lines)
    assert ctx.reports.reads == [f"http://127.0.0.1:{api.port}/v1/exports/7"]


def test_a_status_list_and_a_check_function(api: HTTPServer, conn: str, ctx: Context) -> None:
    api.expect_request("/v1/files/a.csv", method="HEAD").respond_with_data("", status=204)
    assert HttpSensor("a", conn=conn, endpoint="/files/a.csv", method="HEAD", status=[200, 204]).poke(ctx) == {
        "status": 204,
        "body": None,
    }
    api.expect_request("/v1/queue").respond_with_json({"pending": 3})
    sensor = HttpSensor(
        "q", conn=conn, endpoint="/queue", check=lambda body: isinstance(body, dict) and body["pending"] == 0
    )
    assert sensor.poke(ctx) is None


def test_a_refused_connection_is_not_yet(closed_port: int, ctx: Context, logs: Lines) -> None:
    assert HttpSensor("s", endpoint=f"http://127.0.0.1:{closed_port}/health").poke(ctx) is None
    assert any("not yet: ConnectError" in line for line in logs.lines)


def test_refused_credentials_fail_at_once(api: HTTPServer, conn: str, ctx: Context) -> None:
    api.expect_request("/v1/health").respond_with_data("bad token", status=401)
    with pytest.raises(
        HttpStatusError, match=r"connection 'shop': GET .*/v1/health: HTTP 401 .*credentials are refused"
    ):
        HttpSensor("s", conn=conn, endpoint="/health").poke(ctx)


def test_in_a_pipeline_it_waits_then_succeeds(api: HTTPServer, conn: str) -> None:
    counter = itertools.count()

    def health(request: Request) -> Response:
        ready = next(counter) >= 2
        return Response('{"ok": %s}' % ("true" if ready else "false"), content_type="application/json")

    api.expect_request("/v1/health").respond_with_handler(health)
    with Pipeline("wait_for_api") as pipeline:
        HttpSensor("api_up", conn=conn, endpoint="/health", json_path="ok", poke_interval=0.01, wait_timeout="1m")

    run = run_pipeline(pipeline)

    assert run.ok, run.summary
    assert run.results["api_up"] == {"status": 200, "body": {"ok": True}}
    assert len(api.log) == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"endpoint": "/health"}, "give conn= .* or an absolute endpoint URL"),
        ({"conn": "shop", "status": 99}, "status must be an HTTP status code"),
        ({"conn": "shop", "equals": "ready"}, "equals= compares the value at json_path=: give json_path too"),
        ({"conn": "shop", "method": "PUT"}, "method must be 'GET', 'POST' or 'HEAD'"),
        ({"conn": "shop", "poke_interval": "often"}, "poke_interval"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        HttpSensor("wait", **kwargs)  # type: ignore[arg-type]


def test_describe() -> None:
    sensor = HttpSensor("w", conn="shop", endpoint="/exports/7", json_path="state", equals="ready")
    assert sensor.describe() == "wait for HTTP 200 from shop:/exports/7 and state == 'ready'"
