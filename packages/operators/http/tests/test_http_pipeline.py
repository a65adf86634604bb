"""HttpExtract inside real runs: YAML by its registered name, retries by error kind, no token anywhere."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from http_support import FakeClock
from pytest_httpserver import HTTPServer

from headwater import Pipeline
from headwater.testing import run_pipeline
from headwater_http import HttpExtract


def test_a_yaml_pipeline_names_the_operator(api: HTTPServer, conn: str, tmp_path: Path) -> None:
    api.expect_request("/v1/products", query_string="").respond_with_json({"data": [{"id": 1}], "meta": {"next": "c2"}})
    api.expect_request("/v1/products", query_string="cursor=c2").respond_with_json({"data": [{"id": 2}], "meta": {}})
    root = tmp_path / "project"
    (root / "pipelines").mkdir(parents=True)
    (root / "headwater.toml").write_text('executor = "inline"\n', encoding="utf-8")
    output = root / "out" / "products.jsonl"  # written as a relative path: it starts at the project directory
    (root / "pipelines" / "products.yaml").write_text(
        textwrap.dedent(
            f"""
            id: products_yaml
            tasks:
              - id: products
                operator: http.extract
                conn: {conn}
                endpoint: /products
                records_path: data
                pagination: {{style: cursor, path: meta.next, param: cursor}}
                output: out/products.jsonl
                budget: 30s
              - id: ready
                operator: http.sensor
                conn: {conn}
                endpoint: /products
                depends_on: [products]
            """
        ),
        encoding="utf-8",
    )
    command = [str(Path(sys.executable).parent / "headwater"), "--project", str(root), "run", "products_yaml"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, cwd=elsewhere)

    assert done.returncode == 0, done.stdout + done.stderr
    assert output.read_text().splitlines() == ['{"id":1}', '{"id":2}']
    assert list(elsewhere.iterdir()) == []


def test_a_shape_change_fails_in_one_try_and_an_outage_is_retried(api: HTTPServer, conn: str) -> None:
    api.expect_request("/v1/products").respond_with_json({"items": [{"id": 1}]})  # records_path 'data' is gone
    api.expect_request("/v1/orders").respond_with_data("", status=503)
    retry = {"retries": 2, "retry_delay": 0}  # the default retry_on: any exception but a permanent one
    with Pipeline("refresh", default_args=retry) as pipeline:
        HttpExtract("products", conn=conn, endpoint="/products", records_path="data")
        HttpExtract("orders", conn=conn, endpoint="/orders", budget="2s", backoff="1s", clock=FakeClock())

    run = run_pipeline(pipeline)

    products = run.summary.task("products")
    assert (products.state, products.tries) == ("failed", 1)
    assert (products.error or "").startswith("connection 'shop': GET http://127.0.0.1")
    assert "records_path 'data' is missing" in (products.error or "")
    assert sum(1 for req, _ in api.log if req.path == "/v1/products") == 1
    orders = run.summary.task("orders")
    assert (orders.state, orders.tries) == ("failed", 3)
    assert "HttpTransientError" in (orders.error or "") and "time budget of 2s" in (orders.error or "")


def test_the_token_appears_in_no_log_error_or_stored_event(
    api: HTTPServer, conn: str, token: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx logs every URL (this one carries the token in a query) at INFO
    api.expect_request("/v1/products", query_string="").respond_with_json(
        [{"id": 1}], headers={"Link": f'</v1/products?t={token}&p=2>; rel="next"'}
    )
    api.expect_request("/v1/products", query_string=f"t={token}&p=2").respond_with_json([{"id": 2}])
    api.expect_request("/v1/refused").respond_with_data(f"invalid bearer token {token}", status=403)
    api.expect_request("/v1/flaky").respond_with_data(f"overloaded while checking {token}", status=503)
    with Pipeline("tokens") as pipeline:
        HttpExtract(
            "ok", conn=conn, endpoint="/products", pagination={"style": "link"}, output=str(tmp_path / "ok.jsonl")
        )
        HttpExtract("refused", conn=conn, endpoint="/refused")
        HttpExtract("flaky", conn=conn, endpoint="/flaky", budget="3s", backoff="1s", clock=FakeClock())

    run = run_pipeline(pipeline, workdir=tmp_path / "work", db=f"sqlite:///{tmp_path / 'headwater.db'}")

    assert [(t.task_id, t.state) for t in run.summary.tasks] == [
        ("ok", "success"),
        ("refused", "failed"),
        ("flaky", "failed"),
    ]
    errors = {t.task_id: t.error or "" for t in run.summary.tasks}
    assert "HTTP 403 FORBIDDEN: invalid bearer token ***" in errors["refused"]
    assert "HTTP 503 SERVICE UNAVAILABLE: overloaded while checking ***" in errors["flaky"]
    logs = [p for p in (tmp_path / "work").rglob("*") if p.is_file() and p.suffix == ".log"]
    assert any("retry 1 in 1s" in p.read_text() for p in logs)  # the search below covers real log lines
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), f"the token leaked into {path}"
    assert all(token not in e for e in errors.values())
    ours = [r for r in caplog.records if not r.name.startswith("werkzeug")]  # werkzeug is the API's side
    assert any(r.name.startswith("httpcore") for r in ours)
    assert not [r for r in ours if token in r.getMessage()]
