"""S3 connections: ``s3://KEY:SECRET@/?region=...&endpoint_url=...`` or ``aws://`` to a boto3 S3 client.

One boto3 client per distinct connection is built and kept (boto3 clients are thread-safe);
building one costs tens of milliseconds.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal
from urllib.parse import unquote

from headwater import ConfigError, Connection, get_connection
from headwater.secrets import add_secret

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: URI schemes of S3 connections: ``s3://`` (explicit keys) and ``aws://`` (usually the default chain).
SCHEMES = ("s3", "aws")
#: Query-string options a connection URI may carry.
OPTIONS = (
    "region",
    "endpoint_url",
    "profile",
    "session_token",
    "addressing_style",
    "max_attempts",
    "connect_timeout",
    "read_timeout",
    "verify",
    "secure",
)
_ALIASES = {"region_name": "region", "aws_session_token": "session_token"}
_STYLES: dict[str, Literal["path", "virtual", "auto"]] = {"path": "path", "virtual": "virtual", "auto": "auto"}
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True, slots=True)
class S3Settings:
    """What a boto3 client needs, read from one connection (credentials are masked in every log line)."""

    conn_id: str | None
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None
    addressing_style: Literal["path", "virtual", "auto"] | None = None
    max_attempts: int = 3
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    verify: bool | str | None = None

    @classmethod
    def from_connection(cls, conn: Connection) -> S3Settings:
        """Read ``conn``; ConfigError (naming the connection, never its secret) when it is not usable."""
        name = f"connection {conn.conn_id!r}"
        if conn.scheme not in SCHEMES:
            raise ConfigError(
                f"{name} is a {conn.scheme!r} connection: S3 needs s3://KEY:SECRET@/?region=... or aws://"
            )
        extra = {_ALIASES.get(k, k): v for k, v in conn.extra.items()}
        unknown = sorted(set(extra) - set(OPTIONS))
        if unknown:
            raise ConfigError(f"{name}: unknown option(s) {', '.join(unknown)}; known: {', '.join(OPTIONS)}")
        if conn.database:
            raise ConfigError(
                f"{name}: the URI's path must be empty (got '/{conn.database}'); buckets are given to each "
                "operator, the endpoint as ?endpoint_url=... or as the URI's host"
            )
        if bool(conn.login) != bool(conn.password):
            raise ConfigError(f"{name}: give both the access key and the secret (s3://KEY:SECRET@/), or neither")
        token = extra.get("session_token")
        add_secret(token)
        endpoint = extra.get("endpoint_url")
        if endpoint is None and conn.host:
            secure = _flag(extra.get("secure", "true"), name, "secure")
            port = f":{conn.port}" if conn.port else ""
            endpoint = f"{'https' if secure else 'http'}://{conn.host}{port}"
        style = extra.get("addressing_style")
        if style is not None and style not in _STYLES:
            raise ConfigError(f"{name}: addressing_style must be path, virtual or auto, got {style!r}")
        verify: bool | str | None = None
        if "verify" in extra:
            raw = extra["verify"]
            verify = raw if raw.lower() not in _TRUE + _FALSE else raw.lower() in _TRUE
        return cls(
            conn_id=conn.conn_id,
            access_key=conn.login,
            secret_key=conn.password,
            session_token=token,
            region=extra.get("region"),
            endpoint_url=endpoint,
            profile=extra.get("profile"),
            addressing_style=_STYLES[style] if style else ("path" if endpoint else None),
            max_attempts=int(_number(extra.get("max_attempts", "3"), name, "max_attempts", minimum=1)),
            connect_timeout=_number(extra.get("connect_timeout", "10"), name, "connect_timeout", minimum=0.001),
            read_timeout=_number(extra.get("read_timeout", "60"), name, "read_timeout", minimum=0.001),
            verify=verify,
        )

    @classmethod
    def from_url_options(cls, options: dict[str, str], *, where: str) -> S3Settings:
        """Settings from a result store URL's query (``?conn=ID``), else boto3's default credential chain."""
        conn_id = options.pop("conn", None)
        if options:
            raise ConfigError(f"{where}: unknown option(s) {', '.join(sorted(options))}; known: conn")
        if conn_id:
            return settings_for(conn_id)
        return cls(conn_id=None)

    def describe(self) -> str:
        """``connection 'lake'`` (with the endpoint when it is not AWS): for messages; no credentials."""
        text = f"connection '{self.conn_id}'" if self.conn_id else "the default AWS credentials"
        return f"{text} at {self.endpoint_url}" if self.endpoint_url else text


def _flag(value: str, name: str, option: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ConfigError(f"{name}: {option} must be true or false, got {unquote(value)!r}")


def _number(value: str, name: str, option: str, *, minimum: float) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{name}: {option} must be a number, got {value!r}") from None
    if number < minimum:
        raise ConfigError(f"{name}: {option} must be at least {minimum:g}, got {value!r}")
    return number


def settings_for(conn_id: str) -> S3Settings:
    """The settings of connection ``conn_id`` (``HEADWATER_CONN_<ID>`` or the config); ConfigError if unusable."""
    return S3Settings.from_connection(get_connection(conn_id))


_clients: dict[S3Settings, S3Client] = {}
_lock = threading.Lock()


def client_for(settings: S3Settings) -> S3Client:
    """A boto3 S3 client for ``settings``, built once and reused."""
    with _lock:
        client = _clients.get(settings)
        if client is None:
            client = _build(settings)
            _clients[settings] = client
        return client


def _build(settings: S3Settings) -> S3Client:
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(profile_name=settings.profile)  # a session per client: sessions share nothing
    region = settings.region or session.region_name or ("us-east-1" if settings.endpoint_url else None)
    config = Config(
        region_name=region,
        retries={"total_max_attempts": settings.max_attempts, "mode": "standard"},
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        s3={"addressing_style": settings.addressing_style} if settings.addressing_style else None,
    )
    return session.client(
        "s3",
        endpoint_url=settings.endpoint_url,
        aws_access_key_id=settings.access_key,
        aws_secret_access_key=settings.secret_key,
        aws_session_token=settings.session_token,
        verify=settings.verify,
        config=config,
    )


def connect(conn: Connection) -> S3Client:
    """The connection type factory: ``ctx.client("lake")`` returns a boto3 S3 client for an s3:// connection."""
    return client_for(S3Settings.from_connection(conn))
