"""429 and 5xx: retried with exponential backoff, honouring Retry-After, inside the time budget."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from http_support import FakeClock, Lines
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from headwater import Context, PermanentError
from headwater_http import HttpExtract
from headwater_http.errors import HttpStatusError, HttpTransientError
from headwater_http.fetch import retry_after

HTTP_DATE = "%a, %d %b %Y %H:%M:%S GMT"


def test_429_with_retry_after_seconds_then_success(
    api: HTTPServer, conn: str, ctx: Context, clock: FakeClock, logs: Lines
) -> None:
    api.expect_ordered_request("/v1/products").respond_with_data("slow down", status=429, headers={"Retry-After": "7"})
    api.expect_ordered_request("/v1/products").respond_with_json([{"id": 1}])

    op = HttpExtract("products", conn=conn, endpoint="/products", clock=clock)

    assert op.execute(ctx) == [{"id": 1}]
    assert clock.sleeps == [7.0]
    assert len(api.log) == 2
    assert any("HTTP 429" in line and "retry 1 in 7s as Retry-After asks" in line for line in logs.lines)


def test_retry_after_as_an_http_date_is_measured_on_the_servers_clock(
    api: HTTPServer, conn: str, ctx: Context, clock: FakeClock
) -> None:
    def busy(request: Request) -> Response:
        later = datetime.now(UTC) + timedelta(seconds=30)  # the server stamps its own Date header
        return Response("", status=503, headers={"Retry-After": later.strftime(HTTP_DATE)})

    api.expect_ordered_request("/v1/products").respond_with_handler(busy)
    api.expect_ordered_request("/v1/products").respond_with_json([])

    # The fake clock's wall time is months away from the server's: only the server's Date gives ~30s.
    assert HttpExtract("products", conn=conn, endpoint="/products", clock=clock).execute(ctx) == []
    assert len(clock.sleeps) == 1 and 28.0 <= clock.sleeps[0] <= 31.0  # HTTP dates have whole seconds


def test_retry_after_date_without_a_date_header_uses_the_clock() -> None:
    now = datetime(2026, 3, 1, 6, 0, 0, tzinfo=UTC)
    response = httpx.Response(429, headers={"Retry-After": "Sun, 01 Mar 2026 06:00:30 GMT"})
    assert retry_after(response, now) == 30.0
    assert retry_after(httpx.Response(429, headers={"Retry-After": "soon"}), now) is None
    assert retry_after(httpx.Response(429, headers={"Retry-After": "Sun, 01 Mar 2026 05:00:00 GMT"}), now) == 0.0


def test_5xx_backs_off_exponentially_until_the_budget_would_pass(
    api: HTTPServer, conn: str, ctx: Context, clock: FakeClock
) -> None:
    api.expect_request("/v1/products").respond_with_data("upstream down", status=502)
    op = HttpExtract(
        "products", conn=conn, endpoint="/products", budget="20s", backoff="1s", max_backoff="1m", clock=clock
    )

    with pytest.raises(HttpTransientError) as info:
        op.execute(ctx)

    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0]  # the next, 16s, would end 31s in: past the 20s budget
    assert len(api.log) == 5
    message = str(info.value)
    assert "connection 'shop': GET http://127.0.0.1" in message and "/v1/products (page 1)" in message
    assert "HTTP 502 BAD GATEWAY: upstream down" in message
    assert "gave up after 5 tries: the next retry, in 16s, would pass the time budget of 20s (15s used)" in message
    assert isinstance(info.value, ConnectionError)  # retry_on=(ConnectionError, TimeoutError) retries the task


def test_backoff_is_capped_by_max_backoff(api: HTTPServer, conn: str, ctx: Context, clock: FakeClock) -> None:
    api.expect_request("/v1/products").respond_with_data("", status=500)
    op = HttpExtract("p", conn=conn, endpoint="/products", budget="1m", backoff="4s", max_backoff="10s", clock=clock)
    with pytest.raises(HttpTransientError):
        op.execute(ctx)
    assert clock.sleeps == [4.0, 8.0, 10.0, 10.0, 10.0, 10.0]


def test_a_retry_after_beyond_the_budget_fails_at_once(
    api: HTTPServer, conn: str, ctx: Context, clock: FakeClock
) -> None:
    api.expect_request("/v1/products").respond_with_data("", status=429, headers={"Retry-After": "3600"})
    op = HttpExtract("p", conn=conn, endpoint="/products", budget="10m", clock=clock)
    with pytest.raises(
        HttpTransientError, match=r"the next retry, in 1h \(Retry-After\), would pass the time budget of 10m"
    ):
        op.execute(ctx)
    assert clock.sleeps == []
    assert len(api.log) == 1


def test_the_budget_covers_every_page(api: HTTPServer, conn: str, ctx: Context, clock: FakeClock) -> None:
    for page in (1, 2):
        api.expect_ordered_request("/v1/p").respond_with_json([{"id": page}])
        api.expect_ordered_request("/v1/p").respond_with_data("", status=503, headers={"Retry-After": "40"})
    op = HttpExtract("p", conn=conn, endpoint="/p", pagination={"style": "page"}, budget="1m", clock=clock)

    with pytest.raises(HttpTransientError, match=r"\(page 3\).*would pass the time budget of 1m \(40s used\)"):
        op.execute(ctx)
    assert clock.sleeps == [40.0]


def test_connection_refused_is_transient(closed_port: int, ctx: Context, clock: FakeClock) -> None:
    op = HttpExtract("p", endpoint=f"http://127.0.0.1:{closed_port}/x", budget="5s", backoff="1s", clock=clock)
    with pytest.raises(HttpTransientError, match=r"ConnectError.*gave up after 3 tries") as info:
        op.execute(ctx)
    assert isinstance(info.value, ConnectionError)
    assert clock.sleeps == [1.0, 2.0]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422, 501])
def test_client_errors_fail_at_once_and_are_not_transient(
    api: HTTPServer, conn: str, ctx: Context, clock: FakeClock, status: int
) -> None:
    api.expect_request("/v1/products").respond_with_json({"error": "nope"}, status=status)
    with pytest.raises(
        HttpStatusError, match=rf"connection 'shop': GET .*/v1/products \(page 1\): HTTP {status} .*nope"
    ) as info:
        HttpExtract("p", conn=conn, endpoint="/products", clock=clock).execute(ctx)
    assert not isinstance(info.value, ConnectionError | TimeoutError)
    assert isinstance(info.value, PermanentError) and info.value.retryable is False
    assert len(api.log) == 1 and clock.sleeps == []


def test_a_stopped_task_stops_waiting(
    api: HTTPServer, conn: str, make_ctx: Callable[..., Context], clock: FakeClock
) -> None:
    from headwater import TaskCancelled

    api.expect_request("/v1/products").respond_with_data("", status=503)
    ctx = make_ctx()
    ctx.cancelled.set()
    with pytest.raises(TaskCancelled):
        HttpExtract("p", conn=conn, endpoint="/products", clock=clock).execute(ctx)


def test_a_request_that_times_out_is_retried_then_gives_up(
    api: HTTPServer, conn: str, ctx: Context, clock: FakeClock
) -> None:
    release = threading.Event()

    def stalled(request: Request) -> Response:
        release.wait(10)  # the API's side: answers only after the client gave up
        return Response("[]", content_type="application/json")

    api.expect_request("/v1/slow").respond_with_handler(stalled)
    op = HttpExtract("slow", conn=conn, endpoint="/slow", request_timeout=0.1, budget="2s", backoff="1s", clock=clock)
    try:
        with pytest.raises(HttpTransientError, match=r"no response within 0\.1s .*gave up after 2 tries"):
            op.execute(ctx)
        assert clock.sleeps == [1.0]
    finally:  # let the server answer both stalled requests now, not during the next test
        release.set()
        deadline = time.monotonic() + 10
        while len(api.log) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)


def test_a_retry_after_shorter_than_the_backoff_does_not_hammer(
    api: HTTPServer, conn: str, ctx: Context, clock: FakeClock
) -> None:
    for _ in range(3):
        api.expect_ordered_request("/v1/p").respond_with_data("", status=429, headers={"Retry-After": "0"})
    api.expect_ordered_request("/v1/p").respond_with_json([])
    assert HttpExtract("p", conn=conn, endpoint="/p", backoff="2s", clock=clock).execute(ctx) == []
    assert clock.sleeps == [2.0, 4.0, 8.0]


def test_a_slow_source_uses_up_the_budget_between_pages(api: HTTPServer, conn: str, ctx: Context) -> None:
    class SlowClock(FakeClock):
        def monotonic(self) -> float:  # every look at the clock finds 4s more gone: each page is slow
            self.t += 4.0
            return self.t

    for page in (1, 2):
        api.expect_request("/v1/p", query_string="" if page == 1 else f"next={page - 1}").respond_with_json(
            [{"id": page}], headers={"Link": f'</v1/p?next={page}>; rel="next"'}
        )
    op = HttpExtract("p", conn=conn, endpoint="/p", pagination={"style": "link"}, budget="10s", clock=SlowClock())
    with pytest.raises(HttpTransientError, match=r"\(page 3\): the time budget of 10s is used up after 2 requests"):
        op.execute(ctx)
