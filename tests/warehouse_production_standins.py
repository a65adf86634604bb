"""Local stand-ins for the production warehouse refresh's systems, each speaking the real protocol on loopback.

- the shop's PostgreSQL: a throwaway database on the local server, seeded from the example's ``orders.sql``;
- the products REST API: pytest-httpserver serving the example's product pages, page-number paginated,
  behind a bearer token, answering 500 to everything when told to fail;
- the clickstream bucket: moto's S3 server holding the example's clickstream CSV files;
- Snowflake: a ``fakesnow -s`` server with an empty database;
- Slack: ``chat.postMessage`` on pytest-httpserver, recording what a Slack user would see.

Each stand-in's ``start`` raises :class:`StandInUnavailableError` when it cannot start here (the test skips).
Run this file to start them all by hand for the example (see its README).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

#: Credentials the stand-ins accept. Each must stay out of every log line, error and stored event.
PG_PASSWORD = "pg-Sh0p-s3cret-9e1"  # trust auth ignores it, but it travels in the URI like a real one
API_TOKEN = "api-T0ken-7c44be2a9f"
S3_ACCESS_KEY = "AKIAHWTESTEXAMPLE"
S3_SECRET = "s3-S3cret/Key+ab12cd34"
SNOWFLAKE_PASSWORD = "Sn0w-pr0d-s3cret-51"
SLACK_TOKEN = "xoxb-hw-prod-5b0d7e1c3a"
SECRETS = (PG_PASSWORD, API_TOKEN, S3_SECRET, quote(S3_SECRET, safe=""), SNOWFLAKE_PASSWORD, SLACK_TOKEN)

BUCKET = "shop-clickstream"
SLACK_CHANNEL = "#data-team"
PAGE_SIZE = 4


class StandInUnavailableError(Exception):
    """A stand-in could not start on this machine (the test skips, or fails when services are required)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- PostgreSQL ---------------------------------------------------------------------------------------------
@dataclass
class ShopDatabase:
    """A throwaway database on the local PostgreSQL server holding the shop's customers and orders."""

    admin_url: str
    name: str

    @classmethod
    def start(cls, admin_url: str, seed: Path) -> ShopDatabase:
        try:
            import psycopg
        except ImportError as exc:
            raise StandInUnavailableError(f"psycopg is not installed: {exc}") from None
        name = f"hw_shop_{uuid.uuid4().hex[:10]}"
        try:
            with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
        except psycopg.Error as exc:
            raise StandInUnavailableError(f"PostgreSQL at {admin_url} is not usable: {exc}") from None
        db = cls(admin_url, name)
        with db.connect() as conn:
            conn.execute(seed.read_text(encoding="utf-8"))
        return db

    def connect(self) -> Any:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        params = conninfo_to_dict(self.admin_url)
        return psycopg.connect(make_conninfo(**{**params, "dbname": self.name}), autocommit=True)

    def uri(self) -> str:
        """The connection URI the pipeline uses (with a password, which trust auth ignores)."""
        from psycopg.conninfo import conninfo_to_dict

        params = conninfo_to_dict(self.admin_url)
        host, port, user = params.get("host", "127.0.0.1"), params.get("port", "5432"), params.get("user", "postgres")
        return f"postgresql://{user}:{quote(PG_PASSWORD, safe='')}@{host}:{port}/{self.name}?connect_timeout=5"

    def stop(self) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


# -- the products API ----------------------------------------------------------------------------------------
@dataclass
class ProductsApi:
    """``GET /v1/products?page=N``: ``{"page", "per_page", "total", "items"}``, bearer token required."""

    server: Any
    products: list[dict[str, Any]]
    failing: bool = False
    requests: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, pages: list[Path]) -> ProductsApi:
        from pytest_httpserver import HTTPServer

        products = [item for page in pages for item in json.loads(page.read_text(encoding="utf-8"))["items"]]
        server = HTTPServer(host="127.0.0.1", port=0)
        server.start()
        api = cls(server, products)
        server.expect_request("/v1/products", method="GET").respond_with_handler(api._handle)
        return api

    def _handle(self, request: Any) -> Any:
        from werkzeug import Response

        self.requests.append(request.full_path)
        if request.headers.get("Authorization") != f"Bearer {API_TOKEN}":
            return Response(json.dumps({"error": "unauthorized"}), status=401, content_type="application/json")
        if self.failing:
            return Response(json.dumps({"error": "internal error"}), status=500, content_type="application/json")
        page = int(request.args.get("page", "1"))
        items = self.products[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        body = {"page": page, "per_page": PAGE_SIZE, "total": len(self.products), "items": items}
        return Response(json.dumps(body), status=200, content_type="application/json")

    def uri(self) -> str:
        return f"http://:{API_TOKEN}@127.0.0.1:{self.server.port}/?auth=bearer&timeout=5"

    def stop(self) -> None:
        self.server.clear()
        if self.server.is_running():
            self.server.stop()


# -- S3 -----------------------------------------------------------------------------------------------------
@dataclass
class ClickstreamBucket:
    """moto's S3 server with the bucket ``shop-clickstream`` and the clickstream files under ``clickstream/``."""

    server: Any
    endpoint: str

    @classmethod
    def start(cls, files: list[Path]) -> ClickstreamBucket:
        try:
            from moto.server import ThreadedMotoServer
        except ImportError as exc:
            raise StandInUnavailableError(f"moto[server] is not installed: {exc}") from None
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        bucket = cls(server, f"http://{host}:{port}")
        bucket.client().create_bucket(Bucket=BUCKET)
        for file in files:
            bucket.put(f"clickstream/{file.name}", file.read_bytes())
        return bucket

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=S3_ACCESS_KEY,
            aws_secret_access_key=S3_SECRET,
        )

    def put(self, key: str, body: bytes) -> None:
        self.client().put_object(Bucket=BUCKET, Key=key, Body=body)

    def uri(self) -> str:
        port = self.endpoint.rsplit(":", 1)[1]
        secret = quote(S3_SECRET, safe="")
        return f"s3://{S3_ACCESS_KEY}:{secret}@127.0.0.1:{port}/?secure=false&region=us-east-1&max_attempts=2"

    def stop(self) -> None:
        self.server.stop()


# -- Snowflake ------------------------------------------------------------------------------------------------
@dataclass
class Fakesnow:
    """A ``fakesnow -s`` server (Snowflake's wire protocol, DuckDB underneath) with the database ``database``."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    database: str = "ANALYTICS"

    @classmethod
    def start(cls, workdir: Path) -> Fakesnow:
        executable = Path(sys.executable).parent / "fakesnow"
        if not executable.exists():
            raise StandInUnavailableError("fakesnow is not installed (pip install 'headwater-snowflake[test]')")
        port = free_port()
        log = workdir / "fakesnow.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [str(executable), "-s", "-p", str(port), "--host", "127.0.0.1"], stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    proc.wait()
                    raise StandInUnavailableError(
                        f"fakesnow did not start: {log.read_text(errors='replace')[-500:]}"
                    ) from None
                time.sleep(0.05)
        server = cls(proc, port, log)
        with server.connect() as conn:
            conn.cursor().execute(f"CREATE DATABASE IF NOT EXISTS {server.database}")
            conn.cursor().execute(f"CREATE SCHEMA IF NOT EXISTS {server.database}.PUBLIC")
        return server

    def connect(self) -> Any:
        import snowflake.connector

        return snowflake.connector.connect(
            host="127.0.0.1",
            port=self.port,
            protocol="http",
            account="fakesnow",
            user="fake",
            password="snow",  # fakesnow accepts any
            paramstyle="qmark",
            network_timeout=30,
        )

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with self.connect() as conn:
            cursor = conn.cursor()
            cursor.execute(f"USE DATABASE {self.database}")
            cursor.execute(sql)
            return list(cursor.fetchall())

    def uri(self) -> str:
        """The warehouse connection for headwater-snowflake (``snowflake://user:pw@ACCOUNT/db/schema?...``)."""
        query = urlencode({"host": "127.0.0.1", "port": self.port, "protocol": "http", "warehouse": "TRANSFORM_WH"})
        return f"snowflake://etl:{SNOWFLAKE_PASSWORD}@fakesnow/{self.database}/PUBLIC?{query}"

    def dbt_uri(self) -> str:
        """The same warehouse for headwater-dbt (its profile fields: host and port, ``account=`` as an option)."""
        query = urlencode(
            {"account": "fakesnow", "protocol": "http", "schema": "MARTS", "warehouse": "TRANSFORM_WH", "threads": 1}
        )
        return f"snowflake://etl:{SNOWFLAKE_PASSWORD}@127.0.0.1:{self.port}/{self.database}?{query}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- Slack ----------------------------------------------------------------------------------------------------
@dataclass
class SlackStub:
    """Slack's ``chat.postMessage`` for one bot token and one channel; ``texts`` is what the channel shows."""

    server: Any
    texts: list[str] = field(default_factory=list)

    @classmethod
    def start(cls) -> SlackStub:
        from pytest_httpserver import HTTPServer

        server = HTTPServer(host="127.0.0.1", port=0)
        server.start()
        stub = cls(server)
        server.expect_request("/api/chat.postMessage", method="POST").respond_with_handler(stub._post)
        return stub

    def _post(self, request: Any) -> Any:
        from werkzeug import Response

        def answer(body: dict[str, Any]) -> Response:
            return Response(json.dumps(body), status=200, content_type="application/json")

        if request.headers.get("Authorization") != f"Bearer {SLACK_TOKEN}":
            return answer({"ok": False, "error": "invalid_auth"})
        payload = request.get_json(force=True)
        if payload.get("channel") != SLACK_CHANNEL:
            return answer({"ok": False, "error": "channel_not_found"})
        self.texts.append(str(payload.get("text") or ""))
        return answer({"ok": True, "channel": "C0DATATEAM", "ts": f"1767225600.{len(self.texts):06d}"})

    def uri(self) -> str:
        return f"slack://:{SLACK_TOKEN}@127.0.0.1:{self.server.port}/api/?tls=false"

    def stop(self) -> None:
        self.server.clear()
        if self.server.is_running():
            self.server.stop()


# -- by hand: `python tests/warehouse_production_standins.py` -------------------------------------------------
def main() -> None:
    """Start every stand-in with the example's data, print the HEADWATER_CONN_* exports, wait for Ctrl-C."""
    import logging
    import os
    import shlex
    import signal
    import tempfile

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop the stand-ins on `kill` too
    example = Path(__file__).resolve().parents[1] / "examples" / "warehouse_refresh"
    data = example / "data"
    admin = os.environ.get("HEADWATER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
    started: list[Any] = []
    try:
        shop = ShopDatabase.start(admin, data / "orders.sql")
        started.append(shop)
        api = ProductsApi.start(sorted((data / "api").glob("products_page_*.json")))
        started.append(api)
        bucket = ClickstreamBucket.start(sorted((data / "object_store" / "clickstream").glob("*.csv")))
        started.append(bucket)
        snowflake = Fakesnow.start(Path(tempfile.mkdtemp(prefix="fakesnow-")))
        started.append(snowflake)
        slack = SlackStub.start()
        started.append(slack)
        exports = {
            "HEADWATER_CONN_SHOP_DB": shop.uri(),
            "HEADWATER_CONN_PRODUCTS_API": api.uri(),
            "HEADWATER_CONN_CLICKSTREAM": bucket.uri(),
            "HEADWATER_CONN_SNOWFLAKE": snowflake.uri(),
            "HEADWATER_CONN_SNOWFLAKE_DBT": snowflake.dbt_uri(),
            "HEADWATER_CONN_SLACK": slack.uri(),
        }
        print("# stand-ins running; in another shell:")
        for name, value in exports.items():
            print(f"export {name}={shlex.quote(value)}")
        print(f"cd {shlex.quote(str(example / 'production'))} && headwater run warehouse_refresh")
        print("# Ctrl-C stops them (Slack messages are printed here as they arrive)", flush=True)
        seen = 0
        while True:
            time.sleep(0.5)
            for text in slack.texts[seen:]:
                print(f"slack {SLACK_CHANNEL}: {text}", flush=True)
            seen = len(slack.texts)
    except StandInUnavailableError as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        pass
    finally:
        for component in reversed(started):
            component.stop()


if __name__ == "__main__":
    main()
