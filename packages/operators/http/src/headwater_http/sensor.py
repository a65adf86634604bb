"""HttpSensor (``http.sensor``): wait until an endpoint answers with a status code and, optionally, a JSON condition."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Literal

import httpx

from headwater import DefinitionError, Sensor
from headwater.plugin import mask
from headwater_http import jsonpath, templates
from headwater_http.connection import HttpConnection
from headwater_http.durations import Duration, seconds
from headwater_http.errors import HttpStatusError

if TYPE_CHECKING:
    from typing import Unpack

    from headwater import Context
    from headwater.plugin import TaskOptionArgs

_UNSET = object()


class HttpSensor(Sensor):
    """Poke ``endpoint`` until it answers with one of ``status`` (and the JSON condition holds).

    The condition: the value at ``json_path`` equals ``equals`` (or, without ``equals``, is
    truthy), and ``check(body)`` returns true. Any other answer, a refused connection or a timeout
    counts as "not yet" (logged); 401 and 403 fail at once unless ``status`` includes them,
    because waiting will not fix credentials. The result is ``{"status": code, "body": json}``.
    """

    operator_name = "http.sensor"

    def __init__(
        self,
        task_id: str,
        *,
        conn: str | None = None,
        endpoint: str = "",
        method: Literal["GET", "POST", "HEAD"] = "GET",
        params: Mapping[str, str | int | float | bool] | None = None,
        headers: Mapping[str, str] | None = None,
        body: object = None,
        status: int | list[int] | tuple[int, ...] = 200,
        json_path: str | None = None,
        equals: object = _UNSET,
        check: Callable[[object], object] | None = None,
        request_timeout: Duration = "30s",
        poke_interval: Duration = "30s",
        wait_timeout: Duration = "1h",
        mode: Literal["poke", "reschedule"] = "poke",
        **options: Unpack[TaskOptionArgs],
    ) -> None:
        def bad(message: str) -> DefinitionError:
            return DefinitionError(f"task '{task_id}': {message}", tasks=[task_id])

        if conn is not None and (not isinstance(conn, str) or not conn.strip()):
            raise bad(f"conn must be a connection id, got {conn!r}")
        if not isinstance(endpoint, str) or (conn is None and not endpoint.startswith(("http://", "https://"))):
            raise bad("give conn= (a connection id) or an absolute endpoint URL (https://...)")
        method_name = method.upper() if isinstance(method, str) else method
        if method_name not in ("GET", "POST", "HEAD"):
            raise bad(f"method must be 'GET', 'POST' or 'HEAD', got {method!r}")
        codes = list(status) if isinstance(status, list | tuple) else [status]
        if not codes or not all(isinstance(c, int) and not isinstance(c, bool) and 100 <= c <= 599 for c in codes):
            raise bad(f"status must be an HTTP status code or a list of them, got {status!r}")
        if params is not None and not isinstance(params, Mapping):
            raise bad(f"params must be a mapping, got {type(params).__name__}")
        if headers is not None and not isinstance(headers, Mapping):
            raise bad(f"headers must be a mapping, got {type(headers).__name__}")
        if check is not None and not callable(check):
            raise bad(f"check must be a function of the JSON body, got {check!r}")
        try:
            json.dumps(body)
            self.json_steps = None if json_path is None else jsonpath.parse(json_path)
        except (TypeError, ValueError) as exc:
            raise bad(f"json_path/body: {exc}") from None
        if equals is not _UNSET and json_path is None:
            raise bad("equals= compares the value at json_path=: give json_path too")
        self.conn = conn
        self.endpoint = endpoint
        self.method = str(method_name)
        self.params = {str(k): _text(v) for k, v in (params or {}).items()}
        self.headers = dict(headers or {})
        self.body = body
        self.status = tuple(codes)
        self.json_path = json_path
        self.equals = equals
        self.check = check
        self.request_timeout = seconds(request_timeout, what="request_timeout", task_id=task_id, allow_zero=False)
        for what, value in (("endpoint", endpoint), ("params", self.params), ("body", body)):
            templates.check(value, what=what, task_id=task_id)
        super().__init__(task_id, poke_interval=poke_interval, wait_timeout=wait_timeout, mode=mode, **options)

    def describe(self) -> str:
        where = f"{self.conn}:{self.endpoint or '/'}" if self.conn else self.endpoint
        condition = f" and {self.json_path}" + ("" if self.equals is _UNSET else f" == {self.equals!r}")
        return f"wait for HTTP {'/'.join(map(str, self.status))} from {where}" + (condition if self.json_path else "")

    def poke(self, ctx: Context) -> object:
        http = HttpConnection.from_connection(ctx.connection(self.conn)) if self.conn else None
        where = f"connection {self.conn!r}: " if self.conn else ""
        endpoint = templates.render_str(self.endpoint, ctx, what="endpoint")
        url = http.url(endpoint) if http else endpoint
        client = http.client(timeout=self.request_timeout) if http else httpx.Client(timeout=self.request_timeout)
        what = f"{where}{self.method} {url.split('?', 1)[0]}"
        with client:
            client.headers.update(self.headers)
            try:
                response = client.request(
                    self.method,
                    url,
                    params=[(k, templates.render_str(v, ctx, what="params")) for k, v in self.params.items()] or None,
                    json=templates.render(self.body, ctx, what="body"),
                )
            except httpx.TransportError as exc:
                ctx.log.info("%s: not yet: %s: %s", mask(what), type(exc).__name__, mask(str(exc)))
                return None
        code = response.status_code
        if code not in self.status:
            if code in (401, 403):
                refused = f"{what}: HTTP {code} {response.reason_phrase}: the credentials are refused"
                raise HttpStatusError(mask(refused))
            ctx.log.info("%s: not yet: HTTP %d (waiting for %s)", mask(what), code, "/".join(map(str, self.status)))
            return None
        body: object = None
        if response.content:
            try:
                body = response.json()
            except ValueError:
                body = None
        if self.json_steps is not None:
            found, value = jsonpath.lookup(body, self.json_steps)
            ok = found and (bool(value) if self.equals is _UNSET else value == self.equals)
            if not ok:
                seen = jsonpath.describe(value) if found else "missing"
                ctx.log.info("%s: not yet: %s is %s", mask(what), self.json_path, mask(seen))
                return None
        if self.check is not None and not self.check(body):
            ctx.log.info("%s: not yet: check() returned false", mask(what))
            return None
        ctx.report_lineage(reads=[url.split("?", 1)[0]])
        return {"status": code, "body": body}


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
