"""The ``http``/``https`` connection type: a base URL, credentials, default headers and query parameters.

``HEADWATER_CONN_API=https://:TOKEN@api.example.com/v1`` sends ``Authorization: Bearer TOKEN``;
``https://user:secret@host/v1`` uses HTTP Basic auth; query keys configure the rest:
``auth=bearer|basic|none``, ``header.<Name>=<value>``, ``param.<name>=<value>`` (sent with every
request), ``timeout=<seconds>``, ``verify=false`` (skip TLS verification). Every header and param
value is masked in logs like the password.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from headwater import ConfigError, Connection
from headwater.plugin import add_secret

_AUTH_MODES = ("basic", "bearer", "none")


@dataclass(frozen=True, slots=True)
class HttpConnection:
    """An HTTP API as a connection: where it is and how to authenticate (secrets are masked everywhere)."""

    conn_id: str
    base_url: str
    auth_mode: str = "none"
    login: str | None = None
    secret: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    params: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    timeout: float | None = None
    verify: bool = True

    @classmethod
    def from_connection(cls, conn: Connection) -> HttpConnection:
        """Read a :class:`headwater.Connection` whose URI is ``http://`` or ``https://``."""
        where = f"connection {conn.conn_id!r}"
        if conn.scheme not in ("http", "https"):
            raise ConfigError(f"{where} is a {conn.scheme}:// connection; headwater-http needs http:// or https://")
        if not conn.host:
            raise ConfigError(f"{where}: the URI has no host (like https://api.example.com/v1)")
        headers: dict[str, str] = {}
        params: list[tuple[str, str]] = []
        auth_mode: str | None = None
        timeout: float | None = None
        verify = True
        for key, value in conn.extra.items():
            if key.startswith("header.") and len(key) > 7:
                add_secret(value)
                headers[key[7:]] = value
            elif key.startswith("param.") and len(key) > 6:
                add_secret(value)
                params.append((key[6:], value))
            elif key == "auth":
                if value not in _AUTH_MODES:
                    raise ConfigError(f"{where}: auth={value!r}: use one of {', '.join(_AUTH_MODES)}")
                auth_mode = value
            elif key == "timeout":
                try:
                    timeout = float(value)
                except ValueError:
                    raise ConfigError(f"{where}: timeout={value!r} is not a number of seconds") from None
                if timeout <= 0:
                    raise ConfigError(f"{where}: timeout must be greater than zero, got {value!r}")
            elif key == "verify":
                if value.lower() not in ("true", "false", "1", "0"):
                    raise ConfigError(f"{where}: verify={value!r}: use true or false")
                verify = value.lower() in ("true", "1")
            else:
                raise ConfigError(
                    f"{where}: unknown URI option {key!r} (use auth=, timeout=, verify=, header.<Name>=, param.<name>=)"
                )
        if auth_mode is None:
            auth_mode = "none" if conn.password is None else ("basic" if conn.login else "bearer")
        if auth_mode != "none" and conn.password is None:
            raise ConfigError(f"{where}: auth={auth_mode} needs a password or token in the URI (https://:TOKEN@host)")
        port = f":{conn.port}" if conn.port else ""
        host = f"[{conn.host}]" if ":" in conn.host else conn.host
        path = urlsplit(conn.uri).path.rstrip("/")
        return cls(
            conn_id=conn.conn_id,
            base_url=f"{conn.scheme}://{host}{port}{path}",
            auth_mode=auth_mode,
            login=conn.login,
            secret=conn.password,
            headers=headers,
            params=tuple(params),
            timeout=timeout,
            verify=verify,
        )

    @property
    def auth(self) -> httpx.Auth | None:
        """The httpx authentication for this connection (None without credentials)."""
        if self.auth_mode == "basic" and self.secret is not None:
            return httpx.BasicAuth(self.login or "", self.secret)
        if self.auth_mode == "bearer" and self.secret is not None:
            return _Bearer(self.secret)
        return None

    def url(self, endpoint: str) -> str:
        """``endpoint`` (a path, or an absolute URL on the same origin) joined to the base URL."""
        if "://" in endpoint:
            if origin(endpoint) != origin(self.base_url):
                raise ConfigError(
                    f"connection {self.conn_id!r}: endpoint {endpoint!r} is not on {origin(self.base_url)}; "
                    "its credentials are only sent to their own host (use a path, or another connection)"
                )
            return endpoint
        if not endpoint:
            return self.base_url or "/"
        return f"{self.base_url}/{endpoint.lstrip('/')}"

    def client(self, *, timeout: float | None = None) -> httpx.Client:
        """An httpx client sending this connection's credentials and default headers (close it after use)."""
        return httpx.Client(
            auth=self.auth,
            headers=dict(self.headers),
            timeout=timeout if timeout is not None else (self.timeout or 30.0),
            verify=self.verify,
            follow_redirects=True,
        )


class _Bearer(httpx.Auth):
    """``Authorization: Bearer <token>``."""

    def __init__(self, token: str) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, lower-cased, with the default port dropped."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    default = {"http": 80, "https": 443}.get(scheme)
    port = "" if parts.port in (None, default) else f":{parts.port}"
    return f"{scheme}://{(parts.hostname or '').lower()}{port}"


def connect(conn: Connection) -> httpx.Client:
    """The connection type's client factory: ``ctx.client("api")`` is an httpx.Client with ``base_url`` set."""
    http = HttpConnection.from_connection(conn)
    client = http.client()
    client.base_url = httpx.URL(http.base_url + "/")
    if http.params:
        client.params = httpx.QueryParams(list(http.params))
    return client
