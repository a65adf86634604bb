"""Bad input and failing servers: one clear error each, transient ones retried, permanent ones not, no secret shown."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from conftest import ACCESS_KEY, BUCKET, SECRET, all_text, conn_uri, run

from headwater import ConfigError, Connection, Pipeline
from headwater_s3 import S3DownloadOperator, S3ListOperator, S3PermanentError, S3TransientError, S3UploadOperator
from headwater_s3.connection import S3Settings
from headwater_s3.errors import s3_error

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class _Answer(BaseHTTPRequestHandler):
    """Answers every request with the server's ``status`` and S3 error ``code`` (an S3 endpoint in trouble)."""

    def _answer(self) -> None:
        server = self.server
        status, code = server.status, server.code  # type: ignore[attr-defined]
        server.requests += 1  # type: ignore[attr-defined]
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
            f"<Message>{code} from the test server</Message><RequestId>1</RequestId></Error>"
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _answer  # noqa: N815 - the names http.server calls

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's signature
        return


@pytest.fixture
def troubled(monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadingHTTPServer]:
    """An HTTP server on loopback answering like an S3 endpoint in trouble; connection ``troubled`` points at it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    server.status, server.code, server.requests = 503, "SlowDown", 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("HEADWATER_CONN_TROUBLED", conn_uri(endpoint, max_attempts="1"))
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_missing_bucket_is_one_clear_error_not_retried(lake: str, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id\n")
    with Pipeline("missing_bucket") as p:
        S3UploadOperator("up", conn=lake, bucket="no-such-bucket", source=tmp_path / "a.csv", retries=3)
        S3ListOperator("ls", conn=lake, bucket="no-such-bucket", retries=3)
    result, _, logs = run(p, tmp_path / "hw")
    for task_id in ("up", "ls"):
        summary = result.summary.task(task_id)
        assert (summary.state, summary.tries) == ("failed", 1)
        assert "the bucket 'no-such-bucket' does not exist (NoSuchBucket)" in (summary.error or "")
        assert "(connection 'lake')" in (summary.error or "")
    assert "upload " in (result.summary.task("up").error or "")
    assert "to s3://no-such-bucket/a.csv" in (result.summary.task("up").error or "")
    assert "the bucket 'no-such-bucket' does not exist" in logs


def test_a_missing_key_is_not_found_not_retried(s3: S3Client, lake: str, tmp_path: Path) -> None:
    with Pipeline("missing_key") as p:
        S3DownloadOperator("get", conn=lake, bucket=BUCKET, key="raw/none.csv", dest=tmp_path / "x", retries=2)
    result, _, _ = run(p, tmp_path / "hw")
    summary = result.summary.task("get")
    assert (summary.state, summary.tries) == ("failed", 1)
    assert "download s3://lake-raw/raw/none.csv (connection 'lake'): not found (HTTP 404)" in (summary.error or "")


def test_a_refused_connection_is_retried(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("HEADWATER_CONN_DOWN", conn_uri(endpoint, max_attempts="1", connect_timeout="2"))
    with Pipeline("refused") as p:
        S3ListOperator("ls", conn="down", bucket=BUCKET, retries=1, retry_delay=0)
    result, _, logs = run(p, tmp_path / "hw")
    summary = result.summary.task("ls")
    assert (summary.state, summary.tries) == ("failed", 2)  # retried once, then failed
    assert "cannot reach S3" in (summary.error or "")
    assert "S3TransientError" in logs


def test_throttling_and_5xx_are_retried(troubled: ThreadingHTTPServer, tmp_path: Path) -> None:
    with Pipeline("throttled") as p:
        S3ListOperator("ls", conn="troubled", bucket=BUCKET, retries=1, retry_delay=0)
    result, _, _ = run(p, tmp_path / "hw")
    summary = result.summary.task("ls")
    assert (summary.state, summary.tries) == ("failed", 2)
    assert "S3 answered HTTP 503 SlowDown" in (summary.error or "")
    assert troubled.requests == 2  # type: ignore[attr-defined]  # max_attempts=1: one request per try


def test_refused_credentials_are_not_retried(troubled: ThreadingHTTPServer, tmp_path: Path) -> None:
    troubled.status, troubled.code = 403, "InvalidAccessKeyId"  # type: ignore[attr-defined]
    with Pipeline("refused_key") as p:
        S3ListOperator("ls", conn="troubled", bucket=BUCKET, retries=2)
    result, _, _ = run(p, tmp_path / "hw")
    summary = result.summary.task("ls")
    assert (summary.state, summary.tries) == ("failed", 1)
    assert "the connection's credentials were refused (InvalidAccessKeyId" in (summary.error or "")


def test_an_unknown_or_malformed_connection_fails_not_retried(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HEADWATER_CONN_TYPO", f"s3://{ACCESS_KEY}:{SECRET}@/?regoin=eu-west-1")
    monkeypatch.setenv("HEADWATER_CONN_PG", f"postgresql://etl:{SECRET}@db:5432/x")
    with Pipeline("bad_conn") as p:
        S3ListOperator("unknown", conn="nowhere", bucket=BUCKET, retries=2)
        S3ListOperator("typo", conn="typo", bucket=BUCKET, retries=2)
        S3ListOperator("postgres", conn="pg", bucket=BUCKET, retries=2)
    result, _, logs = run(p, tmp_path / "hw")
    errors = {t: result.summary.task(t).error or "" for t in ("unknown", "typo", "postgres")}
    assert all(result.summary.task(t).tries == 1 for t in errors)
    assert "connection 'nowhere' is not defined: set HEADWATER_CONN_NOWHERE" in errors["unknown"]
    assert "unknown option(s) regoin" in errors["typo"]
    assert "is a 'postgresql' connection" in errors["postgres"]
    assert SECRET not in all_text(errors, logs)


def test_no_secret_in_any_log_line_error_or_result(
    s3: S3Client, lake: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "a.csv").write_text("id\n")
    with Pipeline("secrets") as p:
        S3UploadOperator("ok", conn=lake, bucket=BUCKET, source=tmp_path / "a.csv")
        S3ListOperator("fails", conn=lake, bucket="no-such-bucket")
    result, lineage, logs = run(p, tmp_path / "hw")
    assert result.summary.task("ok").state == "success"
    assert result.summary.task("fails").state == "failed"
    assert "uploaded 1 file(s)" in logs
    assert "no-such-bucket" in caplog.text  # the failure alert was logged...
    text = all_text(logs, caplog.text, [t.error for t in result.summary.tasks], dict(result.results), sorted(lineage))
    assert SECRET not in text
    assert ACCESS_KEY not in text


@pytest.mark.parametrize(
    ("code", "status", "transient", "words"),
    [
        ("NoSuchBucket", 404, False, "does not exist (NoSuchBucket)"),
        ("AccessDenied", 403, False, "access denied (HTTP 403)"),
        ("SignatureDoesNotMatch", 403, False, "credentials were refused"),
        ("SlowDown", 503, True, "HTTP 503 SlowDown"),
        ("InternalError", 500, True, "HTTP 500 InternalError"),
        ("TooManyRequests", 429, True, "HTTP 429"),
        ("RequestTimeout", 400, True, "RequestTimeout"),
        ("InvalidArgument", 400, False, "InvalidArgument (HTTP 400)"),
    ],
)
def test_s3_error_codes_are_classified(code: str, status: int, transient: bool, words: str) -> None:
    from botocore.exceptions import ClientError

    response = {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}
    error = s3_error(ClientError(response, "ListObjectsV2"), action="list", where="s3://b-1/k", conn_id="lake")  # type: ignore[arg-type]
    assert isinstance(error, S3TransientError if transient else S3PermanentError)
    assert words in str(error)
    assert str(error).startswith("list s3://b-1/k (connection 'lake'): ")


def test_connection_uri_formats() -> None:
    plain = S3Settings.from_connection(
        Connection.from_uri("lake", "s3://AK:se%2Fcret@/?region=eu-west-1&endpoint_url=http://127.0.0.1:9000")
    )
    assert (plain.access_key, plain.secret_key, plain.region) == ("AK", "se/cret", "eu-west-1")
    assert (plain.endpoint_url, plain.addressing_style) == ("http://127.0.0.1:9000", "path")
    hosted = S3Settings.from_connection(Connection.from_uri("minio", "s3://AK:SK@minio.local:9000?secure=false"))
    assert hosted.endpoint_url == "http://minio.local:9000"
    chain = S3Settings.from_connection(Connection.from_uri("aws", "aws://?region=us-east-2&profile=etl"))
    assert (chain.access_key, chain.profile, chain.endpoint_url) == (None, "etl", None)
    assert "SK" not in repr(hosted)
    for uri, words in [
        ("s3://AK@/", "both the access key and the secret"),
        ("s3://AK:SK@/bucket", "path must be empty"),
        ("s3://AK:SK@/?max_attempts=zero", "max_attempts must be a number"),
        ("s3://AK:SK@/?addressing_style=dns", "addressing_style"),
    ]:
        with pytest.raises(ConfigError, match=words):
            S3Settings.from_connection(Connection.from_uri("x", uri))
