"""HttpExtract (``http.extract``): read every page of a REST endpoint into a JSON-lines file or the task's result."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx

from headwater import DefinitionError, Operator
from headwater.plugin import mask
from headwater_http import jsonpath, templates
from headwater_http.clock import Clock, SystemClock
from headwater_http.connection import HttpConnection
from headwater_http.durations import Duration, seconds
from headwater_http.errors import PageLimitError, ResultTooLargeError, SourceShapeError
from headwater_http.fetch import Fetcher, Request, RetryPolicy
from headwater_http.pagination import Page, Pager, Pagination, links, parse_pagination

if TYPE_CHECKING:
    from typing import Unpack

    from headwater import Context
    from headwater.plugin import TaskOptionArgs

ParamValue = str | int | float | bool | None

#: Body keys that say "there is another page" (looked for at the top and under the usual envelopes).
_NEXT_KEYS = (
    "next",
    "next_url",
    "nextUrl",
    "next_page",
    "nextPage",
    "next_page_url",
    "next_cursor",
    "nextCursor",
    "next_page_token",
    "nextPageToken",
    "has_more",
    "hasMore",
    "has_next_page",
    "hasNextPage",
)
_TOTAL_KEYS = ("total", "total_count", "totalCount", "total_results", "totalResults", "count")
_ENVELOPES = ("meta", "pagination", "paging", "page_info", "pageInfo", "links", "_links", "response_metadata")


class HttpExtract(Operator):
    """GET (or POST) ``endpoint`` on connection ``conn``, follow its pagination, and collect the records.

    The records (the list at ``records_path`` in each page) go to ``output`` as JSON lines (the
    result is then ``{"path", "records", "pages", "requests"}``) or, without ``output``, become the
    task's result (at most ``return_limit`` of them). 429 and 5xx responses are retried with
    exponential backoff (``backoff`` doubling up to ``max_backoff``, or the server's ``Retry-After``)
    as long as the whole extraction stays within ``budget``. A source that changes shape (records
    path missing, pagination appearing or looping) fails at once with SourceShapeError, never retried.
    """

    operator_name = "http.extract"

    def __init__(
        self,
        task_id: str,
        *,
        conn: str | None = None,
        endpoint: str = "",
        method: Literal["GET", "POST"] = "GET",
        params: Mapping[str, ParamValue | list[ParamValue]] | None = None,
        headers: Mapping[str, str] | None = None,
        body: object = None,
        records_path: str | None = None,
        pagination: Pagination | Mapping[str, object] | None = None,
        output: str | os.PathLike[str] | None = None,
        max_pages: int = 1000,
        return_limit: int = 10_000,
        budget: Duration = "10m",
        request_timeout: Duration = "30s",
        backoff: Duration = "1s",
        max_backoff: Duration = "1m",
        detect_pagination: bool = True,
        clock: Clock | None = None,
        **options: Unpack[TaskOptionArgs],
    ) -> None:
        def bad(message: str) -> DefinitionError:
            return _bad(task_id, message)

        if conn is not None and (not isinstance(conn, str) or not conn.strip()):
            raise bad(f"conn must be a connection id, got {conn!r}")
        if not isinstance(endpoint, str):
            raise bad(f"endpoint must be a string, got {endpoint!r}")
        if conn is None and not endpoint.startswith(("http://", "https://")):
            raise bad("give conn= (a connection id) or an absolute endpoint URL (https://...)")
        method_name = method.upper() if isinstance(method, str) else method
        if method_name not in ("GET", "POST"):
            raise bad(f"method must be 'GET' or 'POST', got {method!r}")
        if body is not None and method_name != "POST":
            raise bad("body= (a JSON request body) needs method='POST'")
        try:
            json.dumps(body)
        except (TypeError, ValueError) as exc:
            raise bad(f"body must be JSON (dicts, lists, strings, numbers): {exc}") from None
        try:
            self.records_steps = jsonpath.parse(records_path)
        except ValueError as exc:
            raise bad(f"records_path: {exc}") from None
        for name, value in (("max_pages", max_pages), ("return_limit", return_limit)):
            if isinstance(value, bool) or not isinstance(value, int) or value < (1 if name == "max_pages" else 0):
                raise bad(f"{name} must be a whole number >= {1 if name == 'max_pages' else 0}, got {value!r}")
        if not isinstance(detect_pagination, bool):
            raise bad(f"detect_pagination must be True or False, got {detect_pagination!r}")
        self.conn = conn
        self.endpoint = endpoint
        self.method: str = str(method_name)
        self.params = _params(params, task_id)
        self.headers = _headers(headers, task_id)
        self.body = body
        self.records_path = records_path
        self.pagination = parse_pagination(pagination, task_id=task_id)
        if getattr(self.pagination, "send_in", "query") == "body" and self.method != "POST":
            raise bad("pagination with send_in='body' needs method='POST'")
        self.output = None if output is None else os.fspath(output)
        self.max_pages = max_pages
        self.return_limit = return_limit
        self.policy = RetryPolicy(
            budget=seconds(budget, what="budget", task_id=task_id, allow_zero=False),
            backoff=seconds(backoff, what="backoff", task_id=task_id),
            max_backoff=seconds(max_backoff, what="max_backoff", task_id=task_id),
            request_timeout=seconds(request_timeout, what="request_timeout", task_id=task_id, allow_zero=False),
        )
        self.detect_pagination = detect_pagination
        self.clock: Clock = clock or SystemClock()
        templated = {"endpoint": endpoint, "params": self.params, "body": body, "output": self.output}
        for what, text in templated.items():
            templates.check(text, what=what, task_id=task_id)
        super().__init__(task_id, **options)

    def describe(self) -> str:
        where = f"{self.conn}:{self.endpoint or '/'}" if self.conn else self.endpoint
        paging = f", {self.pagination.style} pagination" if self.pagination else ""
        target = f" -> {self.output}" if self.output else ""
        return f"http {self.method} {where}{paging}{target}"

    # -- running -----------------------------------------------------------------------------------
    def execute(self, ctx: Context) -> object:
        http = HttpConnection.from_connection(ctx.connection(self.conn)) if self.conn else None
        where = f"connection {self.conn!r}: " if self.conn else ""
        endpoint = templates.render_str(self.endpoint, ctx, what="endpoint")
        url, query = _split(http.url(endpoint) if http else endpoint)
        params = (*(http.params if http else ()), *query, *(_rendered_params(self.params, ctx)))
        first = Request(self.method, url, params, templates.render(self.body, ctx, what="body"))
        ctx.report_lineage(reads=[url])
        output = ctx.path(templates.render_str(self.output, ctx, what="output")) if self.output else None
        if output is not None:
            ctx.report_lineage(writes=[output.as_uri()])
        client = http.client(timeout=self.policy.request_timeout) if http else _plain_client(self.policy)
        with client:
            client.headers.update(self.headers)
            fetcher = Fetcher(client, self.policy, self.clock, ctx, where=where)
            sink = _Sink(output, self.return_limit, where=f"{where}{first}")
            try:
                pages = self._read(ctx, fetcher, first, sink, where)
            except BaseException:
                sink.discard()
                raise
            sink.close()
        ctx.log.info(
            "read %d records in %d pages (%d requests) from %s in %.2fs",
            sink.count,
            pages,
            fetcher.requests,
            mask(url),
            fetcher.elapsed(),
        )
        ctx.add_metadata(records=sink.count, pages=pages, requests=fetcher.requests)
        if output is None:
            return sink.records
        return {"path": str(output), "records": sink.count, "pages": pages, "requests": fetcher.requests}

    def _read(self, ctx: Context, fetcher: Fetcher, first: Request, sink: _Sink, where: str) -> int:
        pager = Pager(self.pagination, where=where)
        request: Request | None = pager.first(first)
        number = 0
        while request is not None:
            if number >= self.max_pages:
                raise PageLimitError(
                    mask(
                        f"{where}{first}: the source still has more pages after {number} (max_pages={self.max_pages}); "
                        "raise max_pages if it really is this large"
                    )
                )
            number += 1
            ctx.check_cancelled()
            response = fetcher.send(request, label=f"page {number}")
            body = _decode(response, f"{where}{request} (page {number})", fetcher.requests)
            records = [] if response.status_code == 204 else self._records(body, f"{where}{request}", number, fetcher)
            sink.add(records)
            ctx.log.info("%s page %d: %d records (%d so far)", mask(str(request)), number, len(records), sink.count)
            page = Page(number, request, response, body, records)
            if self.pagination is None and self.detect_pagination:
                _refuse_unexpected_pagination(page, f"{where}{request}", fetcher.requests)
            request = pager.next(page)
        return number

    def _records(self, body: object, what: str, number: int, fetcher: Fetcher) -> list[object]:
        found, value = jsonpath.lookup(body, self.records_steps)
        if found and isinstance(value, list):
            return value
        path = jsonpath.render(self.records_steps)
        if not self.records_steps:
            problem = f"the response is {jsonpath.describe(body)}, not a list of records (set records_path=)"
        elif not found:
            problem = f"records_path {path!r} is missing: the response is {jsonpath.describe(body)}"
        else:
            problem = f"records_path {path!r} is {jsonpath.describe(value)}, not a list"
        raise SourceShapeError(
            mask(
                f"{what} (page {number}): {problem}. The source changed shape; stopped after "
                f"{_count(fetcher.requests, 'request')} (not retried)"
            )
        )


class _Sink:
    """Where records go: a JSON-lines file written atomically, or a bounded list."""

    def __init__(self, output: Path | None, limit: int, *, where: str) -> None:
        self.output = output
        self.limit = limit
        self.where = where
        self.count = 0
        self.records: list[object] = []
        self._tmp: Path | None = None
        self._file: IO[str] | None = None
        if output is not None:
            output.parent.mkdir(parents=True, exist_ok=True)
            self._tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
            self._file = self._tmp.open("w", encoding="utf-8")

    def add(self, records: list[object]) -> None:
        self.count += len(records)
        if self._file is not None:
            for record in records:
                self._file.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
            return
        if self.count > self.limit:
            raise ResultTooLargeError(
                mask(
                    f"{self.where}: more than {self.limit} records (return_limit) to return as the task's result; "
                    "write them to a file with output= (JSON lines) or raise return_limit"
                )
            )
        self.records.extend(records)

    def close(self) -> None:
        if self._file is not None and self._tmp is not None and self.output is not None:
            self._file.close()
            os.replace(self._tmp, self.output)

    def discard(self) -> None:
        if self._file is not None and self._tmp is not None:
            self._file.close()
            self._tmp.unlink(missing_ok=True)


def _decode(response: httpx.Response, what: str, requests: int) -> object:
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        kind = response.headers.get("content-type", "no content type")
        text = " ".join(response.text[:200].split())
        raise SourceShapeError(
            mask(
                f"{what}: the response is not JSON ({kind}): {text!r}. The source changed shape; stopped after "
                f"{_count(requests, 'request')} (not retried)"
            )
        ) from None


def _refuse_unexpected_pagination(page: Page, what: str, requests: int) -> None:
    """SourceShapeError if an unpaginated source's response says there are more pages."""
    hint = _pagination_hint(page)
    if hint is None:
        return
    raise SourceShapeError(
        mask(
            f"{what}: {hint}, but this task has no pagination configured: the source now paginates and only "
            f"the first page ({_count(len(page.records), 'record')}) would be read. Stopped after "
            f"{_count(requests, 'request')} (not retried). Configure pagination= "
            "(page, cursor or link), or set detect_pagination=False if this is not a next page"
        )
    )


def _pagination_hint(page: Page) -> str | None:
    if "next" in links(page.response):
        return 'the response has a Link rel="next" header'
    body = page.body
    if not isinstance(body, Mapping):
        return None
    places: list[tuple[str, Mapping[str, object]]] = [("", body)]
    places += [(f"{key}.", value) for key in _ENVELOPES if isinstance(value := body.get(key), Mapping)]
    for prefix, place in places:
        for key in _NEXT_KEYS:
            value = place.get(key)
            if value not in (None, False, "", [], {}, 0):
                return f"the response says there is more: {prefix}{key} is {jsonpath.describe(value)}"
        for key in _TOTAL_KEYS:
            total = place.get(key)
            if isinstance(total, int) and not isinstance(total, bool) and total > len(page.records):
                return f"the response counts {total} records in {prefix}{key} but holds {len(page.records)}"
    return None


def _split(url: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")), tuple(
        parse_qsl(parts.query, keep_blank_values=True)
    )


def _bad(task_id: str, message: str) -> DefinitionError:
    return DefinitionError(f"task '{task_id}': {message}", tasks=[task_id])


def _params(params: Mapping[str, ParamValue | list[ParamValue]] | None, task_id: str) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    if params is None:
        return result
    if not isinstance(params, Mapping):
        raise _bad(task_id, f"params must be a mapping of names to values, got {type(params).__name__}")
    for name, value in params.items():
        values = value if isinstance(value, list | tuple) else [value]
        texts: list[str] = []
        for item in values:
            if item is None:
                continue
            if isinstance(item, bool):
                texts.append("true" if item else "false")
            elif isinstance(item, str | int | float):
                texts.append(str(item))
            else:
                raise _bad(task_id, f"params[{name!r}]: expected a string, number or boolean, got {item!r}")
        result[str(name)] = texts
    return result


def _headers(headers: Mapping[str, str] | None, task_id: str) -> dict[str, str]:
    if headers is None:
        return {}
    if not isinstance(headers, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise _bad(task_id, "headers must map header names to strings")
    return dict(headers)


def _rendered_params(params: Mapping[str, list[str]], ctx: Context) -> list[tuple[str, str]]:
    return [
        (name, templates.render_str(value, ctx, what="params")) for name, values in params.items() for value in values
    ]


def _plain_client(policy: RetryPolicy) -> httpx.Client:
    return httpx.Client(timeout=policy.request_timeout, follow_redirects=True)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
