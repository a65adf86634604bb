"""S3 failures as one clear message each: transient ones retried, permanent ones (a missing bucket) not."""

from __future__ import annotations

from typing import TYPE_CHECKING

from headwater import PermanentError
from headwater.secrets import mask

if TYPE_CHECKING:
    from botocore.exceptions import ClientError

#: Error codes S3 (or an S3-compatible server) answers when trying again later can succeed.
TRANSIENT_CODES = frozenset(
    {
        "InternalError",
        "RequestTimeout",
        "RequestTimeoutException",
        "ServiceUnavailable",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "TooManyRequests",
        "RequestLimitExceeded",
        "OperationAborted",
        "PriorRequestNotComplete",
        "BandwidthLimitExceeded",
    }
)
#: Error codes meaning the credentials themselves were refused.
CREDENTIAL_CODES = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "InvalidClientTokenId"}
)


class S3TransientError(ConnectionError):
    """S3 could not be reached or asked to come back later (network, timeout, throttling, 5xx): retried.

    A ``ConnectionError``, so ``retry_on=(ConnectionError, TimeoutError)`` covers it too.
    """


class S3PermanentError(PermanentError):
    """A failure retrying cannot fix (a missing bucket or key, refused credentials, a bad request): not retried."""


class S3DefinitionError(S3PermanentError):
    """An operator's argument turned out invalid at run time (a templated key that renders empty...)."""


def s3_error(exc: BaseException, *, action: str, where: str, conn_id: str | None) -> Exception:
    """``exc`` (from boto3 or botocore) as an S3TransientError or S3PermanentError with one clear message.

    ``action`` says what was attempted (``upload /data/a.csv to``), ``where`` the S3 location
    (``s3://bucket/key``). The message names the connection, never its credentials.
    """
    import botocore.exceptions as bce

    via = f" (connection '{conn_id}')" if conn_id else ""
    prefix = f"{action} {where}{via}"
    cause = _client_error(exc)
    if cause is not None:
        error = cause.response.get("Error", {})
        code = str(error.get("Code") or "")
        status = int(cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        text = str(error.get("Message") or "").strip()
        transient = code in TRANSIENT_CODES or status == 429 or status >= 500
        message = f"{prefix}: {_explain(code, status, text, where)}"
        return _make(transient, message)
    if isinstance(exc, bce.NoCredentialsError | bce.PartialCredentialsError | bce.ProfileNotFound):
        return _make(False, f"{prefix}: no usable credentials: {exc}")
    if isinstance(exc, bce.ParamValidationError):
        return _make(False, f"{prefix}: invalid request: {exc}")
    if isinstance(exc, bce.ConnectTimeoutError | bce.ReadTimeoutError):
        return _make(True, f"{prefix}: timed out: {exc}")
    if isinstance(exc, bce.EndpointConnectionError | bce.ConnectionClosedError | bce.ConnectionError):
        return _make(True, f"{prefix}: cannot reach S3: {exc}")
    if isinstance(exc, bce.HTTPClientError | ConnectionError | TimeoutError):
        return _make(True, f"{prefix}: {type(exc).__name__}: {exc}")
    return _make(False, f"{prefix}: {type(exc).__name__}: {exc}")


def _make(transient: bool, message: str) -> Exception:
    text = mask(message)
    return S3TransientError(text) if transient else S3PermanentError(text)


def _client_error(exc: BaseException) -> ClientError | None:
    """The botocore ClientError behind ``exc`` (boto3 wraps some, e.g. S3UploadFailedError), if any."""
    from botocore.exceptions import ClientError

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ClientError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _explain(code: str, status: int, text: str, where: str) -> str:
    bucket = where.removeprefix("s3://").split("/", 1)[0]
    if code == "NoSuchBucket":
        return f"the bucket '{bucket}' does not exist (NoSuchBucket)"
    if code in ("NoSuchKey", "404", "NotFound"):
        return f"not found (HTTP 404): no such object, or the bucket '{bucket}' does not exist"
    if code in CREDENTIAL_CODES:
        return f"the connection's credentials were refused ({code}: {text})"
    if code in ("AccessDenied", "403", "Forbidden", "AllAccessDisabled"):
        return f"access denied (HTTP 403): the credentials may not do this on bucket '{bucket}' ({code})"
    if code in TRANSIENT_CODES or status == 429 or status >= 500:
        return f"S3 answered HTTP {status} {code}: {text or 'try again later'} (transient: retried)"
    return f"{code or 'error'} (HTTP {status}): {text}" if text else f"{code or 'error'} (HTTP {status})"
