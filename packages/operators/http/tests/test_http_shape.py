"""A source that changes shape stops the task after one request, with an explanation, and is never retried.

The seed's war story: a source that suddenly paginated turned into hundreds of retried requests.
Each test counts the requests the server saw.
"""

from __future__ import annotations

import pytest
from http_support import FakeClock
from pytest_httpserver import HTTPServer

from headwater import Context, PermanentError
from headwater_http import Cursor, HttpExtract, LinkHeader, PageNumber
from headwater_http.errors import SourceShapeError


def extract(conn: str, clock: FakeClock, **kwargs: object) -> HttpExtract:
    return HttpExtract("products", conn=conn, endpoint="/products", clock=clock, **kwargs)  # type: ignore[arg-type]


def fails(op: HttpExtract, ctx: Context, match: str) -> SourceShapeError:
    with pytest.raises(SourceShapeError, match=match) as info:
        op.execute(ctx)
    error = info.value
    assert isinstance(error, PermanentError) and not isinstance(error, ConnectionError | TimeoutError)
    assert error.retryable is False
    return error


def test_records_path_missing(api: HTTPServer, conn: str, ctx: Context, clock: FakeClock) -> None:
    api.expect_request("/v1/products").respond_with_json({"items": [{"id": 1}], "cursor": None})
    error = fails(
        extract(conn, clock, records_path="data"),
        ctx,
        r"\(page 1\): records_path 'data' is missing: the response is an object with keys items, cursor\. "
        r"The source changed shape; stopped after 1 request \(not retried\)",
    )
    assert "connection 'shop': GET http://127.0.0.1" in str(error)
    assert len(api.log) == 1 and clock.sleeps == []


def test_records_path_not_a_list(api: HTTPServer, conn: str, ctx: Context, clock: FakeClock) -> None:
    api.expect_request("/v1/products").respond_with_json({"data": {"products": [{"id": 1}]}})
    fails(
        extract(conn, clock, records_path="data"),
        ctx,
        r"records_path 'data' is an object with keys products, not a list",
    )
    assert len(api.log) == 1


def test_records_path_changes_on_a_later_page(api: HTTPServer, conn: str, ctx: Context, clock: FakeClock) -> None:
    api.expect_request("/v1/products", query_string="page=1").respond_with_json({"data": [{"id": 1}]})
    api.expect_request("/v1/products", query_string="page=2").respond_with_json({"results": [{"id": 2}]})
    fails(
        extract(conn, clock, records_path="data", pagination=PageNumber()),
        ctx,
        r"\(page 2\): records_path 'data' is missing",
    )
    assert len(api.log) == 2


def test_a_body_that_is_not_a_list_without_records_path(
    api: HTTPServer, conn: str, ctx: Context, clock: FakeClock
) -> None:
    api.expect_request("/v1/products").respond_with_json({"data": []})
    fails(
        extract(conn, clock),
        ctx,
        r"the response is an object with keys data, not a list of records \(set records_path=\)",
    )


def test_a_response_that_is_not_json(api: HTTPServer, conn: str, ctx: Context, clock: FakeClock) -> None:
    api.expect_request("/v1/products").respond_with_data("<html>maintenance</html>", content_type="text/html")
    fails(extract(conn, clock), ctx, r"the response is not JSON \(text/html.*maintenance")
    assert len(api.log) == 1


@pytest.mark.parametrize(
    ("body", "headers", "hint"),
    [
        ([{"id": 1}], {"Link": '</v1/products?page=2>; rel="next"'}, 'the response has a Link rel="next" header'),
        ({"data": [{"id": 1}], "next_cursor": "abc"}, {}, r"next_cursor is a string \('abc'\)"),
        ({"data": [{"id": 1}], "meta": {"has_more": True}}, {}, r"meta\.has_more is a boolean \(True\)"),
        (
            {"data": [{"id": 1}], "_links": {"next": {"href": "/p?page=2"}}},
            {},
            r"_links\.next is an object with keys href",
        ),
        ({"data": [{"id": 1}], "meta": {"total": 250}}, {}, r"counts 250 records in meta\.total but holds 1"),
    ],
)
def test_pagination_appearing_where_none_was_configured(
    api: HTTPServer, conn: str, ctx: Context, clock: FakeClock, body: object, headers: dict[str, str], hint: str
) -> None:
    api.expect_request("/v1/products").respond_with_json(body, headers=headers)
    records_path = "data" if isinstance(body, dict) else None
    fails(
        extract(conn, clock, records_path=records_path),
        ctx,
        rf"{hint}, but this task has no pagination configured: the source now paginates and only the first page "
        r"\(1 record\) would be read\. Stopped after 1 request \(not retried\)\. Configure pagination=",
    )
    assert len(api.log) == 1


def test_a_final_envelope_does_not_look_like_pagination(
    api: HTTPServer, conn: str, ctx: Context, clock: FakeClock
) -> None:
    api.expect_request("/v1/products").respond_with_json(
        {"data": [{"id": 1}], "next_cursor": None, "meta": {"has_more": False, "total": 1}}
    )
    assert extract(conn, clock, records_path="data").execute(ctx) == [{"id": 1}]


def test_detection_can_be_turned_off(api: HTTPServer, conn: str, ctx: Context, clock: FakeClock) -> None:
    api.expect_request("/v1/products").respond_with_json({"data": [{"id": 1}], "next": "tomorrow's batch"})
    assert extract(conn, clock, records_path="data", detect_pagination=False).execute(ctx) == [{"id": 1}]


def test_a_cursor_that_repeats(api: HTTPServer, conn: str, ctx: Context, clock: FakeClock) -> None:
    api.expect_request("/v1/products", query_string="").respond_with_json({"data": [{"id": 1}], "next": "c1"})
    api.expect_request("/v1/products", query_string="cursor=c1").respond_with_json({"data": [{"id": 2}], "next": "c1"})
    fails(
        extract(conn, clock, records_path="data", pagination=Cursor(path="next")),
        ctx,
        r"\(page 2\) returned the cursor 'c1' again \(it already came with page 1\): the source's pagination loops",
    )
    assert len(api.log) == 2


def test_a_cursor_that_is_not_a_string(api: HTTPServer, conn: str, ctx: Context, clock: FakeClock) -> None:
    api.expect_request("/v1/products").respond_with_json({"data": [], "next": {"token": "x"}})
    fails(
        extract(conn, clock, records_path="data", pagination=Cursor(path="next")),
        ctx,
        r"the cursor at 'next' is an object",
    )


def test_has_more_without_a_cursor(api: HTTPServer, conn: str, ctx: Context, clock: FakeClock) -> None:
    api.expect_request("/v1/products").respond_with_json({"data": [], "has_more": True, "cursor": None})
    fails(
        extract(conn, clock, records_path="data", pagination=Cursor(path="next_cursor", has_more_path="has_more")),
        ctx,
        r"'has_more' says there are more pages but the cursor at 'next_cursor' is missing",
    )


def test_a_link_header_that_loops(api: HTTPServer, conn: str, ctx: Context, clock: FakeClock, base: str) -> None:
    api.expect_request("/v1/products", query_string="").respond_with_json(
        [{"id": 1}], headers={"Link": '</v1/products?page=2>; rel="next"'}
    )
    api.expect_request("/v1/products", query_string="page=2").respond_with_json(
        [{"id": 2}], headers={"Link": f'<{base}/v1/products>; rel="next"'}
    )
    fails(
        extract(conn, clock, pagination=LinkHeader()),
        ctx,
        r"\(page 2\): the Link rel=\"next\" header points back to page 1: the source's pagination loops",
    )
    assert len(api.log) == 2


def test_a_link_to_another_host_is_not_followed(api: HTTPServer, conn: str, ctx: Context, clock: FakeClock) -> None:
    api.expect_request("/v1/products").respond_with_json(
        [], headers={"Link": '<https://evil.example/steal>; rel="next"'}
    )
    fails(extract(conn, clock, pagination=LinkHeader()), ctx, r"points to another host \(https://evil\.example\)")
    assert len(api.log) == 1


def test_a_source_that_ignores_the_page_parameter(api: HTTPServer, conn: str, ctx: Context, clock: FakeClock) -> None:
    api.expect_request("/v1/products").respond_with_json({"data": [{"id": 1}, {"id": 2}]})
    fails(
        extract(conn, clock, records_path="data", pagination=PageNumber()),
        ctx,
        r"\(page 2\) returned the same records as the page before: the source seems to ignore the 'page' parameter",
    )
    assert len(api.log) == 2


def test_a_total_that_disappears(api: HTTPServer, conn: str, ctx: Context, clock: FakeClock) -> None:
    api.expect_request("/v1/products").respond_with_json({"data": [{"id": 1}], "count": 5})
    fails(
        extract(conn, clock, records_path="data", pagination=PageNumber(total_path="meta.total")),
        ctx,
        r"total_path 'meta\.total' is missing, not a number: the response no longer looks like the configured "
        r"pagination \(the response is an object with keys data, count\)",
    )
