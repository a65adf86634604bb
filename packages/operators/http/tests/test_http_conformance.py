"""The operator contract every plugin is held to (headwater.testing.conformance), for both operators."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer

from headwater.testing.conformance import OperatorConformance
from headwater_http import HttpExtract, HttpSensor


class TestHttpExtract(OperatorConformance):
    operator_class = HttpExtract
    operator_name = "http.extract"

    @pytest.fixture
    def operator_kwargs(self, api: HTTPServer, conn: str) -> dict[str, object]:
        api.expect_request("/v1/products", query_string="page=1").respond_with_json({"data": [{"id": 1}]})
        api.expect_request("/v1/products", query_string="page=2").respond_with_json({"data": []})
        return {"conn": conn, "endpoint": "/products", "records_path": "data", "pagination": {"style": "page"}}


class TestHttpSensor(OperatorConformance):
    operator_class = HttpSensor
    operator_name = "http.sensor"

    @pytest.fixture
    def operator_kwargs(self, api: HTTPServer, conn: str) -> dict[str, object]:
        api.expect_request("/v1/health").respond_with_json({"status": "ok"})
        return {"conn": conn, "endpoint": "/health", "json_path": "status", "equals": "ok", "wait_timeout": "10s"}
