"""Fixtures: a real S3-compatible server (moto in server mode) on a free loopback port, and a connection to it."""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ACCESS_KEY = "AKIDLAKETEST"
#: The connection's secret: it must appear in no log line, error or event.
SECRET = "lake-Secret-Key-9f8e7d"
REGION = "eu-west-1"
BUCKET = "lake-raw"


def _require_services() -> bool:
    return os.environ.get("HEADWATER_REQUIRE_SERVICES") == "1"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a moto S3 server started for this test session."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:  # pragma: no cover - the test extra installs moto[server]
        if _require_services():
            raise
        pytest.skip(f"moto[server] is not installed: {exc}")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no request log lines from the server
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _isolated_aws(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No AWS configuration of the machine leaks into a test."""
    empty = tmp_path_factory.getbasetemp() / "no-aws-config"
    for name in list(os.environ):
        if name.startswith(("AWS_", "HEADWATER_CONN_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def conn_uri(endpoint: str, **options: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"region": REGION, "endpoint_url": endpoint, **options}.items())
    return f"s3://{ACCESS_KEY}:{SECRET}@/?{query}"


@pytest.fixture
def lake(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The connection id ``lake``, an s3:// connection to the moto server (its state reset first)."""
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
    monkeypatch.setenv("HEADWATER_CONN_LAKE", conn_uri(moto_endpoint))
    return "lake"


@pytest.fixture
def s3(lake: str, moto_endpoint: str) -> S3Client:
    """A plain boto3 client on the same server, to arrange and inspect objects; the bucket BUCKET exists."""
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET,
        region_name=REGION,
    )
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return client


def keys(client: S3Client, bucket: str = BUCKET, prefix: str = "") -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def put(client: S3Client, key: str, body: bytes | str = b"id\n1\n", bucket: str = BUCKET) -> None:
    client.put_object(Bucket=bucket, Key=key, Body=body.encode() if isinstance(body, str) else body)


def read(client: S3Client, key: str, bucket: str = BUCKET) -> bytes:
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


def all_text(*parts: Any) -> str:
    """Everything a test captured, as one string (to look for a secret in it)."""
    return "\n".join(part if isinstance(part, str) else json.dumps(part, default=str) for part in parts)


def log_text(paths: list[str | None]) -> str:
    return "\n".join(Path(p).read_text(encoding="utf-8") for p in paths if p and Path(p).exists())


def run(pipeline: Any, workdir: Path, **kwargs: Any) -> tuple[Any, set[tuple[str, str, str]], str]:
    """Run ``pipeline`` in-process with state in a SQLite file: (the TestRun, its lineage, every task log)."""
    from headwater.store import assets
    from headwater.store.database import connect
    from headwater.store.repository import Store
    from headwater.testing import run_pipeline

    workdir.mkdir(parents=True, exist_ok=True)
    db = f"sqlite:///{workdir / 'hw.db'}"
    result = run_pipeline(pipeline, db=db, workdir=workdir, **kwargs)
    store = Store(connect(db, base_dir=workdir))
    try:
        rows = {(r.task_id, r.direction, r.dataset) for r in assets.lineage(store, run_id=result.summary.run_id)}
    finally:
        store.close()
    logs = log_text([t.log_path for tries in result.tries.values() for t in tries])
    return result, rows, logs
