"""HttpExtract against a real loopback server: the three pagination styles, outputs, templates, lineage."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from headwater import Context, DefinitionError, load_operator
from headwater.plugin import TemplateError
from headwater_http import Cursor, HttpExtract, LinkHeader, PageNumber
from headwater_http.errors import PageLimitError, ResultTooLargeError

AUTH = {"Authorization": "Bearer hw-token-5Qx8vLr2Kp"}


def rows(*ids: int) -> list[dict[str, int]]:
    return [{"id": i} for i in ids]


def test_registered_under_its_dotted_name() -> None:
    assert load_operator("http.extract") is HttpExtract
    assert load_operator("http.sensor").__name__ == "HttpSensor"


def test_page_numbers_until_an_empty_page(
    api: HTTPServer, conn: str, ctx: Context, seen: Callable[..., list[str]]
) -> None:
    for page, ids in ((1, (1, 2)), (2, (3, 4)), (3, ())):
        api.expect_request(
            "/v1/products", query_string=f"status=open&page={page}&per_page=2", headers=AUTH
        ).respond_with_json({"data": rows(*ids)})
    op = HttpExtract(
        "products",
        conn=conn,
        endpoint="/products",
        params={"status": "open"},
        records_path="data",
        pagination=PageNumber(param="page", size_param="per_page", size=2),
    )

    assert op.execute(ctx) == rows(1, 2, 3, 4)
    assert seen("/v1/products") == [f"status=open&page={n}&per_page=2" for n in (1, 2, 3)]
    assert ctx.reports.metadata == {"records": 4, "pages": 3, "requests": 3}


def test_page_numbers_stop_at_the_total_without_an_extra_request(
    api: HTTPServer, conn: str, ctx: Context, seen: Callable[..., list[str]]
) -> None:
    for page, ids in ((0, (1, 2)), (1, (3,))):
        api.expect_request("/v1/products", query_string=f"p={page}").respond_with_json(
            {"results": rows(*ids), "meta": {"total": 3}}
        )
    pagination = {"style": "page", "param": "p", "start": 0, "total_path": "meta.total"}  # as YAML gives it
    op = HttpExtract("products", conn=conn, endpoint="products", records_path="results", pagination=pagination)

    assert op.execute(ctx) == rows(1, 2, 3)
    assert seen("/v1/products") == ["p=0", "p=1"]


def test_page_numbers_stop_at_total_pages(api: HTTPServer, conn: str, ctx: Context) -> None:
    for page in (1, 2):
        api.expect_request("/v1/p", query_string=f"page={page}").respond_with_json(
            {"items": rows(page), "paging": {"pages": 2}}
        )
    op = HttpExtract(
        "p", conn=conn, endpoint="/p", records_path="items", pagination=PageNumber(total_pages_path="paging.pages")
    )
    assert op.execute(ctx) == rows(1, 2)


def test_cursor_from_a_json_path_sent_as_a_param(
    api: HTTPServer, conn: str, ctx: Context, seen: Callable[..., list[str]]
) -> None:
    api.expect_request("/v1/events", query_string="limit=2").respond_with_json(
        {"data": rows(1, 2), "meta": {"next_cursor": "b64:Mg=="}}
    )
    api.expect_request("/v1/events", query_string="limit=2&after=b64%3AMg%3D%3D").respond_with_json(
        {"data": rows(3), "meta": {"next_cursor": None}}
    )
    op = HttpExtract(
        "events",
        conn=conn,
        endpoint="/events?limit=2",  # a query in the endpoint is kept (httpx 0.28 would drop it given params)
        records_path="data",
        pagination=Cursor(path="meta.next_cursor", param="after"),
    )

    assert op.execute(ctx) == rows(1, 2, 3)
    assert seen("/v1/events") == ["limit=2", "limit=2&after=b64%3AMg%3D%3D"]


def test_cursor_that_is_the_next_pages_url(api: HTTPServer, conn: str, ctx: Context, base: str) -> None:
    api.expect_request("/v1/orders", query_string="").respond_with_json(
        {"results": rows(1), "next": f"{base}/v1/orders?offset=1"}
    )
    api.expect_request("/v1/orders", query_string="offset=1").respond_with_json(
        {"results": rows(2), "next": "/v1/orders?offset=2"}
    )
    api.expect_request("/v1/orders", query_string="offset=2").respond_with_json({"results": [], "next": None})
    op = HttpExtract(
        "orders", conn=conn, endpoint="/orders", records_path="results", pagination=Cursor(path="next", param=None)
    )

    assert op.execute(ctx) == rows(1, 2)


def test_cursor_with_has_more(api: HTTPServer, conn: str, ctx: Context) -> None:
    api.expect_request("/v1/charges", query_string="").respond_with_json(
        {"data": rows(1), "has_more": True, "last": "ch_1"}
    )
    api.expect_request("/v1/charges", query_string="starting_after=ch_1").respond_with_json(
        {"data": rows(2), "has_more": False, "last": "ch_2"}
    )
    op = HttpExtract(
        "charges",
        conn=conn,
        endpoint="/charges",
        records_path="data",
        pagination={"style": "cursor", "path": "last", "param": "starting_after", "has_more_path": "has_more"},
    )
    assert op.execute(ctx) == rows(1, 2)


def test_link_headers_rfc_5988(
    api: HTTPServer, conn: str, ctx: Context, base: str, seen: Callable[..., list[str]]
) -> None:
    api.expect_request("/v1/repos", query_string="per_page=2").respond_with_json(
        rows(1, 2),
        headers={
            "Link": f'<{base}/v1/repos?per_page=2&page=2>; rel="next", <{base}/v1/repos?per_page=2&page=3>; rel="last"'
        },
    )
    api.expect_request("/v1/repos", query_string="per_page=2&page=2").respond_with_json(
        rows(3, 4),
        headers={"Link": '</v1/repos?per_page=2&page=3>; rel="next last", </v1/repos?per_page=2&page=1>; rel=prev'},
    )
    api.expect_request("/v1/repos", query_string="per_page=2&page=3").respond_with_json(
        rows(5), headers={"Link": f'<{base}/v1/repos?per_page=2&page=1>; rel="first"'}
    )
    op = HttpExtract("repos", conn=conn, endpoint="/repos", params={"per_page": 2}, pagination=LinkHeader())

    assert op.execute(ctx) == rows(1, 2, 3, 4, 5)
    assert seen("/v1/repos") == ["per_page=2", "per_page=2&page=2", "per_page=2&page=3"]


def test_post_with_the_cursor_in_the_body(api: HTTPServer, conn: str, ctx: Context) -> None:
    def search(request: Request) -> Response:
        sent = request.get_json()
        cursor = sent.get("cursor")
        page = {None: {"hits": rows(1), "next": 7}, 7: {"hits": rows(2), "next": None}}[cursor]
        assert sent["query"] == "shoes"
        return Response(json.dumps(page), content_type="application/json")

    api.expect_request("/v1/search", method="POST").respond_with_handler(search)
    op = HttpExtract(
        "search",
        conn=conn,
        endpoint="/search",
        method="POST",
        body={"query": "shoes"},
        records_path="hits",
        pagination=Cursor(path="next", param="cursor", send_in="body"),
    )
    assert op.execute(ctx) == rows(1, 2)


def test_records_to_a_json_lines_file(api: HTTPServer, conn: str, ctx: Context, tmp_path: Path, base: str) -> None:
    for page, ids in ((1, (1, 2)), (2, ())):
        api.expect_request("/v1/products", query_string=f"page={page}").respond_with_json({"data": rows(*ids)})
    target = tmp_path / "out" / "products-{{ ds }}.jsonl"
    op = HttpExtract(
        "products",
        conn=conn,
        endpoint="/products",
        records_path="data",
        pagination={"style": "page"},
        output=str(target),
    )

    result = op.execute(ctx)

    written = tmp_path / "out" / "products-2026-03-01.jsonl"
    assert result == {"path": str(written), "records": 2, "pages": 2, "requests": 2}
    assert [json.loads(line) for line in written.read_text().splitlines()] == rows(1, 2)
    assert sorted(p.name for p in written.parent.iterdir()) == ["products-2026-03-01.jsonl"]  # no temporary left
    assert ctx.reports.reads == [f"{base}/v1/products"]
    assert ctx.reports.writes == [written.as_uri()]


def test_lineage_names_the_endpoint_without_its_query(api: HTTPServer, conn: str, ctx: Context, base: str) -> None:
    api.expect_request("/v1/products").respond_with_json([])
    HttpExtract("p", conn=conn, endpoint="/products?fields=id", params={"since": "{{ ds }}"}).execute(ctx)
    assert ctx.reports.reads == [f"{base}/v1/products"]


def test_placeholders_in_endpoint_and_params(api: HTTPServer, conn: str, make_ctx: Callable[..., Context]) -> None:
    api.expect_request(
        "/v1/regions/eu/orders",
        query_string={"since": "2026-03-01T00:00:00+00:00", "until": "2026-03-02T00:00:00+00:00", "day": "20260301"},
    ).respond_with_json([{"id": 1}])
    op = HttpExtract(
        "orders",
        conn=conn,
        endpoint="/regions/{{ params.region }}/orders",
        params={"since": "{{ data_interval_start }}", "until": "{{data_interval_end}}", "day": "{{ ds_nodash }}"},
    )
    assert op.execute(make_ctx(params={"region": "eu"})) == [{"id": 1}]


def test_a_placeholder_the_run_lacks_fails_before_any_request(conn: str, make_ctx: Callable[..., Context]) -> None:
    op = HttpExtract("orders", conn=conn, endpoint="/regions/{{ params.region }}/orders")
    with pytest.raises(TemplateError, match=r"endpoint: \{\{ params.region \}\}: the run has no param 'region'"):
        op.execute(make_ctx(params={"day": "x"}))
    with pytest.raises(TemplateError, match=r"output: .* this run has no partition"):
        HttpExtract("o", conn=conn, endpoint="/orders", output="out/{{ partition }}.jsonl").execute(make_ctx())


def test_without_a_connection_an_absolute_url(api: HTTPServer, ctx: Context, base: str) -> None:
    api.expect_request("/public/rates").respond_with_json({"rates": [{"eur": 1}]})
    assert HttpExtract("rates", endpoint=f"{base}/public/rates", records_path="rates").execute(ctx) == [{"eur": 1}]


def test_returned_records_are_bounded(api: HTTPServer, conn: str, ctx: Context, seen: Callable[..., list[str]]) -> None:
    for page in (1, 2, 3):
        api.expect_request("/v1/big", query_string=f"page={page}").respond_with_json(rows(page * 10, page * 10 + 1))
    op = HttpExtract("big", conn=conn, endpoint="/big", pagination=PageNumber(), return_limit=3)

    with pytest.raises(ResultTooLargeError, match=r"more than 3 records \(return_limit\).*output="):
        op.execute(ctx)
    assert len(seen("/v1/big")) == 2  # stopped as soon as the limit was passed


def test_max_pages_bounds_the_pages_read(api: HTTPServer, conn: str, ctx: Context, tmp_path: Path) -> None:
    def endless(request: Request) -> Response:
        page = int(request.args["page"])
        return Response(json.dumps([{"id": page}]), content_type="application/json")

    api.expect_request("/v1/endless").respond_with_handler(endless)
    output = tmp_path / "endless.jsonl"
    op = HttpExtract(
        "endless", conn=conn, endpoint="/endless", pagination=PageNumber(), max_pages=4, output=str(output)
    )

    with pytest.raises(PageLimitError, match=r"still has more pages after 4 \(max_pages=4\)"):
        op.execute(ctx)
    assert len(api.log) == 4
    assert list(tmp_path.iterdir()) == []  # nothing half-written is left behind


def test_describe_is_one_line() -> None:
    op = HttpExtract("p", conn="shop", endpoint="/products", pagination=Cursor(path="next"), output="p.jsonl")
    assert op.describe() == "http GET shop:/products, cursor pagination -> p.jsonl"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"endpoint": "/x"}, "give conn= .* or an absolute endpoint URL"),
        ({"conn": "shop", "method": "DELETE"}, "method must be 'GET' or 'POST'"),
        ({"conn": "shop", "body": {"a": 1}}, r"body= .* needs method='POST'"),
        ({"conn": "shop", "records_path": "data..x"}, "records_path: cannot read the JSON path"),
        ({"conn": "shop", "pagination": {"style": "offset"}}, "style must be one of page, cursor, link"),
        ({"conn": "shop", "pagination": {"style": "cursor"}}, "pagination: .*path"),
        ({"conn": "shop", "pagination": {"style": "page", "size": 10}}, "size_param and size go together"),
        ({"conn": "shop", "pagination": {"style": "link", "rell": "next"}}, r"unknown option\(s\) rell"),
        ({"conn": "shop", "pagination": {"style": "page", "send_in": "body"}}, r"send_in='body' needs method='POST'"),
        ({"conn": "shop", "budget": "soon"}, "budget: cannot read 'soon' as a duration"),
        ({"conn": "shop", "budget": 0}, "budget must be a duration > 0"),
        ({"conn": "shop", "max_pages": 0}, "max_pages must be a whole number >= 1"),
        ({"conn": "shop", "params": {"a": {"b": 1}}}, r"params\['a'\]: expected a string, number or boolean"),
        ({"conn": "shop", "endpoint": "/x/{{ dss }}"}, r"endpoint: unknown placeholder \{\{ dss \}\}"),
    ],
)
def test_bad_arguments_are_definition_errors_naming_the_task(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(DefinitionError, match=message) as info:
        HttpExtract("extract_api", **kwargs)  # type: ignore[arg-type]
    assert "task 'extract_api'" in str(info.value)
    assert info.value.tasks == ("extract_api",)


def test_pagination_specs_validate_when_built_in_code() -> None:
    with pytest.raises(DefinitionError, match="pagination PageNumber: start must be a whole number"):
        PageNumber(start=-1)
