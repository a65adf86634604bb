"""The http/https connection type: URI forms, authentication, default headers and params, errors."""

from __future__ import annotations

import base64

import httpx
import pytest
from http_support import FakeClock
from pytest_httpserver import HTTPServer

from headwater import ConfigError, Connection, Context
from headwater.secrets import mask
from headwater_http import HttpConnection, HttpExtract


def parse(uri: str, conn_id: str = "api") -> HttpConnection:
    return HttpConnection.from_connection(Connection.from_uri(conn_id, uri))


def test_a_token_alone_is_a_bearer_token() -> None:
    http = parse("https://:tok-123456@api.example.com/v2/")
    assert http.base_url == "https://api.example.com/v2"
    assert http.auth_mode == "bearer"
    assert "tok-123456" not in repr(http)


def test_login_and_password_are_basic_auth_and_auth_overrides() -> None:
    assert parse("https://ada:pw-123456@api.example.com").auth_mode == "basic"
    assert parse("https://ada:pw-123456@api.example.com?auth=bearer").auth_mode == "bearer"
    assert parse("http://api.example.com:8080/x").auth_mode == "none"
    assert parse("http://api.example.com:8080/x").base_url == "http://api.example.com:8080/x"


def test_header_and_param_values_are_masked_like_the_password() -> None:
    http = parse("https://api.example.com/v1?header.X-Api-Key=key-abcdef123&param.api_key=qk-987654321&timeout=5")
    assert http.headers == {"X-Api-Key": "key-abcdef123"}
    assert http.params == (("api_key", "qk-987654321"),)
    assert http.timeout == 5.0
    assert mask("sent key-abcdef123 and qk-987654321") == "sent *** and ***"


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("postgres://db.example.com/x", "connection 'api' is a postgres:// connection; headwater-http needs http"),
        ("https://api.example.com?auth=digest", "auth='digest': use one of basic, bearer, none"),
        ("https://api.example.com?auth=bearer", "auth=bearer needs a password or token"),
        ("https://api.example.com?timeout=soon", "timeout='soon' is not a number of seconds"),
        ("https://api.example.com?verify=maybe", "verify='maybe': use true or false"),
        ("https://api.example.com?page_size=10", "unknown URI option 'page_size'"),
    ],
)
def test_bad_uris_are_config_errors_naming_the_connection(uri: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse(uri)


def test_basic_auth_custom_headers_and_default_params_reach_the_server(
    api: HTTPServer, monkeypatch: pytest.MonkeyPatch, ctx: Context, clock: FakeClock
) -> None:
    monkeypatch.setenv(
        "HEADWATER_CONN_CRM",
        f"http://ada:pw-s3cr3t-99@127.0.0.1:{api.port}/crm?header.X-Tenant=acme-tenant&param.api_key=qk-5551234",
    )
    api.expect_request(
        "/crm/contacts",
        headers={"Authorization": "Basic " + base64.b64encode(b"ada:pw-s3cr3t-99").decode(), "X-Tenant": "acme-tenant"},
        query_string={"api_key": "qk-5551234", "active": "true"},
    ).respond_with_json([{"id": 1}])
    op = HttpExtract("contacts", conn="crm", endpoint="contacts", params={"active": True}, clock=clock)
    assert op.execute(ctx) == [{"id": 1}]


def test_default_params_are_kept_when_following_links(
    api: HTTPServer, monkeypatch: pytest.MonkeyPatch, ctx: Context, clock: FakeClock
) -> None:
    monkeypatch.setenv("HEADWATER_CONN_CRM", f"http://127.0.0.1:{api.port}/crm?param.api_key=qk-5551234")
    api.expect_request("/crm/c", query_string="api_key=qk-5551234").respond_with_json(
        [1], headers={"Link": '</crm/c?page=2>; rel="next"'}
    )
    api.expect_request("/crm/c", query_string="page=2&api_key=qk-5551234").respond_with_json([2])
    op = HttpExtract("c", conn="crm", endpoint="/c", pagination={"style": "link"}, clock=clock)
    assert op.execute(ctx) == [1, 2]


def test_an_undefined_connection_says_how_to_define_it(ctx: Context) -> None:
    with pytest.raises(ConfigError, match=r"connection 'nowhere' is not defined: set HEADWATER_CONN_NOWHERE="):
        HttpExtract("x", conn="nowhere", endpoint="/x").execute(ctx)


def test_an_endpoint_on_another_host_is_refused(conn: str, ctx: Context) -> None:
    with pytest.raises(ConfigError, match=r"endpoint 'https://elsewhere.example/x' is not on http://127.0.0.1:\d+"):
        HttpExtract("x", conn=conn, endpoint="https://elsewhere.example/x").execute(ctx)


def test_ctx_client_is_an_httpx_client_on_the_base_url(api: HTTPServer, conn: str, ctx: Context, token: str) -> None:
    api.expect_request("/v1/ping", headers={"Authorization": f"Bearer {token}"}).respond_with_json({"ok": True})
    client = ctx.client(conn)
    assert isinstance(client, httpx.Client)
    with client:
        assert client.get("ping").json() == {"ok": True}
