"""The ``s3`` result store: large task results and cached results as objects (``results = "s3://bucket/prefix"``)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from headwater import ConfigError
from headwater_s3.connection import S3Settings, client_for
from headwater_s3.errors import s3_error
from headwater_s3.keys import check_bucket


class S3ResultStore:
    """Results under ``s3://bucket/prefix/<key>``; ``?conn=ID`` picks the connection (else boto3's default chain).

    Each ``put`` is one PUT request, which S3 applies atomically: a reader sees the old object
    or the new one. ``read(key)`` returns None for a key never stored (the task cache's miss).
    """

    scheme = "s3"

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        where = f"result store {parts.scheme}://{parts.netloc}{parts.path}"
        if parts.scheme != self.scheme or not parts.netloc:
            raise ConfigError(f"{where}: expected results = 's3://bucket/prefix' (optionally ?conn=ID)")
        try:
            self.bucket = check_bucket(parts.netloc, where)
        except Exception as exc:
            raise ConfigError(str(exc)) from None
        self.prefix = parts.path.strip("/")
        self.settings = S3Settings.from_url_options(dict(parse_qsl(parts.query)), where=where)
        self.client = client_for(self.settings)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes) -> str:
        full = self._key(key)
        try:
            self.client.put_object(Bucket=self.bucket, Key=full, Body=data)
        except Exception as exc:
            raise self._error(exc, "store a result at", self.bucket, full) from None
        return f"s3://{self.bucket}/{full}"

    def get(self, uri: str) -> bytes:
        parts = urlsplit(uri)
        bucket, key = parts.netloc, parts.path.lstrip("/")
        try:
            return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as exc:
            raise self._error(exc, "read the result at", bucket, key) from None

    def read(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError

        full = self._key(key)
        try:
            return self.client.get_object(Bucket=self.bucket, Key=full)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchKey":
                return None
            raise self._error(exc, "read the result at", self.bucket, full) from None
        except Exception as exc:
            raise self._error(exc, "read the result at", self.bucket, full) from None

    def _error(self, exc: BaseException, action: str, bucket: str, key: str) -> Exception:
        return s3_error(exc, action=action, where=f"s3://{bucket}/{key}", conn_id=self.settings.conn_id)
