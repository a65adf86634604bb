"""The three pagination styles (page number, cursor, Link header) and how each finds the next request."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import ClassVar, Literal
from urllib.parse import parse_qsl, urljoin, urlsplit, urlunsplit

import httpx

from headwater import DefinitionError
from headwater_http import jsonpath
from headwater_http.connection import origin
from headwater_http.errors import SourceShapeError
from headwater_http.fetch import Request

SendIn = Literal["query", "body"]


@dataclass(frozen=True, kw_only=True, slots=True)
class PageNumber:
    """``?page=1``, ``?page=2``... until a page has no records, or ``total_path``/``total_pages_path`` is reached.

    ``size_param``/``size`` send a page size (``per_page=100``) when both are set.
    """

    style: ClassVar[str] = "page"
    param: str = "page"
    start: int = 1
    size_param: str | None = None
    size: int | None = None
    total_path: str | None = None
    total_pages_path: str | None = None
    send_in: SendIn = "query"

    def __post_init__(self) -> None:
        _validated(self, self._check)

    def _check(self) -> None:
        _name(self.param, "param")
        if isinstance(self.start, bool) or not isinstance(self.start, int) or self.start < 0:
            raise ValueError(f"start must be a whole number >= 0, got {self.start!r}")
        if (self.size_param is None) != (self.size is None):
            raise ValueError("size_param and size go together: set both (per_page=100) or neither")
        if self.size_param is not None:
            _name(self.size_param, "size_param")
        if self.size is not None and (isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 1):
            raise ValueError(f"size must be a whole number >= 1, got {self.size!r}")
        _path(self.total_path, "total_path")
        _path(self.total_pages_path, "total_pages_path")
        _send_in(self.send_in)


@dataclass(frozen=True, kw_only=True, slots=True)
class Cursor:
    """The next page's cursor is read from the body at ``path`` and sent as ``param``, until it is null or missing.

    With ``param=None`` the value at ``path`` is the next page's URL (``"next": "https://..."``).
    ``has_more_path`` names a boolean that must agree: more pages but no cursor is a shape error.
    """

    style: ClassVar[str] = "cursor"
    path: str
    param: str | None = "cursor"
    has_more_path: str | None = None
    send_in: SendIn = "query"

    def __post_init__(self) -> None:
        _validated(self, self._check)

    def _check(self) -> None:
        if not isinstance(self.path, str) or not self.path.strip() or self.path.strip() == "$":
            raise ValueError(f"path must name where the next cursor is in the body, got {self.path!r}")
        _path(self.path, "path")
        if self.param is not None:
            _name(self.param, "param")
        _path(self.has_more_path, "has_more_path")
        _send_in(self.send_in)


@dataclass(frozen=True, kw_only=True, slots=True)
class LinkHeader:
    """RFC 8288 (5988) ``Link: <https://...?page=2>; rel="next"`` headers, followed until there is none."""

    style: ClassVar[str] = "link"
    rel: str = "next"

    def __post_init__(self) -> None:
        _validated(self, lambda: _name(self.rel, "rel"))


Pagination = PageNumber | Cursor | LinkHeader
_STYLES: dict[str, type[PageNumber] | type[Cursor] | type[LinkHeader]] = {
    "page": PageNumber,
    "cursor": Cursor,
    "link": LinkHeader,
}


def parse_pagination(value: object, *, task_id: str) -> Pagination | None:
    """A pagination spec from an instance or a mapping (``{"style": "cursor", "path": "meta.next"}``, YAML)."""
    if value is None or isinstance(value, PageNumber | Cursor | LinkHeader):
        return value
    where = f"task '{task_id}': pagination"
    if not isinstance(value, Mapping):
        raise DefinitionError(
            f"{where}: expected PageNumber(...), Cursor(...), LinkHeader(...) or a mapping with 'style', "
            f"got {type(value).__name__}",
            tasks=[task_id],
        )
    options = dict(value)
    style = options.pop("style", None)
    cls = _STYLES.get(str(style))
    if cls is None:
        raise DefinitionError(f"{where}: style must be one of page, cursor, link; got {style!r}", tasks=[task_id])
    known = {f.name for f in fields(cls)}
    unknown = sorted(str(k) for k in options if k not in known)
    if unknown:
        raise DefinitionError(
            f"{where}: unknown option(s) {', '.join(unknown)} for style {style!r} (known: {', '.join(sorted(known))})",
            tasks=[task_id],
        )
    try:
        return cls(**options)
    except (TypeError, DefinitionError) as exc:
        raise DefinitionError(f"{where}: {exc}", tasks=[task_id]) from None


@dataclass(slots=True)
class Page:
    """One fetched page, as the pager sees it."""

    number: int
    request: Request
    response: httpx.Response
    body: object
    records: list[object]


class Pager:
    """Walks one pagination style: the first request, then the next one after each page (None: done)."""

    def __init__(self, spec: Pagination | None, *, where: str = "") -> None:
        self.spec = spec
        self.where = where  # "connection 'api': ", prefixed to every error
        self.collected = 0
        self._seen_cursors: dict[str, int] = {}
        self._seen_urls: dict[str, int] = {}
        self._last_digest: str | None = None
        self._base = Request("GET", "")

    def first(self, request: Request) -> Request:
        spec = self.spec
        if isinstance(spec, PageNumber):
            extra: list[tuple[str, object]] = [(spec.param, spec.start)]
            if spec.size_param is not None and spec.size is not None:
                extra.append((spec.size_param, spec.size))
            self._base = _send(request, extra, spec.send_in)
        else:
            self._base = request
        return self._base

    def next(self, page: Page) -> Request | None:
        """The request for the page after ``page``; SourceShapeError when the pagination misbehaves."""
        self.collected += len(page.records)
        spec = self.spec
        if isinstance(spec, PageNumber):
            return self._next_page(spec, page)
        if isinstance(spec, Cursor):
            return self._next_cursor(spec, page)
        if isinstance(spec, LinkHeader):
            return self._next_link(spec, page)
        return None

    # -- page numbers ---------------------------------------------------------------------------
    def _next_page(self, spec: PageNumber, page: Page) -> Request | None:
        if not page.records:
            return None
        digest = hashlib.sha256(json.dumps(page.records, sort_keys=True, default=str).encode()).hexdigest()
        if digest == self._last_digest:
            raise SourceShapeError(
                f"{self.where}{page.request} (page {page.number}) returned the same records as the page before: "
                f"the source seems to ignore the {spec.param!r} parameter; stopped instead of reading the same "
                "page again and again"
            )
        self._last_digest = digest
        if spec.total_path is not None:
            total = _number(page, spec.total_path, "total_path", self.where)
            if self.collected >= total:
                return None
        if spec.total_pages_path is not None:
            pages = _number(page, spec.total_pages_path, "total_pages_path", self.where)
            if page.number >= pages:
                return None
        number = spec.start + page.number  # page.number counts from 1
        return _set(page.request, spec.param, number, spec.send_in)

    # -- cursors ---------------------------------------------------------------------------------
    def _next_cursor(self, spec: Cursor, page: Page) -> Request | None:
        found, value = jsonpath.lookup(page.body, jsonpath.parse(spec.path))
        more: bool | None = None
        if spec.has_more_path is not None:
            has, flag = jsonpath.lookup(page.body, jsonpath.parse(spec.has_more_path))
            if not has or not isinstance(flag, bool):
                raise SourceShapeError(
                    f"{self.where}{page.request} (page {page.number}): has_more_path {spec.has_more_path!r} is "
                    f"{jsonpath.describe(flag) if has else 'missing'}, not true or false: the response no longer "
                    f"looks like the configured pagination ({_top(page.body)})"
                )
            more = flag
            if not more:
                return None
        if not found or value is None or value == "":
            if more:
                raise SourceShapeError(
                    f"{self.where}{page.request} (page {page.number}): {spec.has_more_path!r} says there are more "
                    f"pages but the cursor at {spec.path!r} is {'missing' if not found else jsonpath.describe(value)} "
                    f"({_top(page.body)})"
                )
            return None
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise SourceShapeError(
                f"{self.where}{page.request} (page {page.number}): the cursor at {spec.path!r} is "
                f"{jsonpath.describe(value)}, not a string or a number: the response no longer looks like the "
                "configured pagination"
            )
        cursor = str(value)
        if cursor in self._seen_cursors:
            before = self._seen_cursors[cursor]
            raise SourceShapeError(
                f"{self.where}{page.request} (page {page.number}) returned the cursor {cursor[:80]!r} again "
                f"(it already came with page {before}): the source's pagination loops; stopped after "
                f"{page.number} pages instead of reading them again"
            )
        self._seen_cursors[cursor] = page.number
        if spec.param is None:
            return self._follow(page, cursor, f"the next-page URL at {spec.path!r}")
        return _set(page.request, spec.param, value, spec.send_in)

    # -- Link headers ----------------------------------------------------------------------------
    def _next_link(self, spec: LinkHeader, page: Page) -> Request | None:
        target = links(page.response).get(spec.rel.lower())
        if target is None:
            return None
        return self._follow(page, target, f'the Link rel="{spec.rel}" header')

    def _follow(self, page: Page, target: str, what: str) -> Request:
        current = _full_url(page.request)
        url = urljoin(current, target)
        if origin(url) != origin(current):
            raise SourceShapeError(
                f"{self.where}{page.request} (page {page.number}): {what} points to another host ({origin(url)}); "
                "not following it with this connection's credentials"
            )
        self._seen_urls.setdefault(current, page.number)
        seen = self._seen_urls.get(url)
        if seen is not None:
            raise SourceShapeError(
                f"{self.where}{page.request} (page {page.number}): {what} points back to page {seen}: "
                f"the source's pagination loops; stopped after {page.number} pages instead of reading them again"
            )
        self._seen_urls[url] = page.number + 1
        parts = urlsplit(url)
        query = tuple(parse_qsl(parts.query, keep_blank_values=True))
        names = {name for name, _ in query}
        kept = tuple(p for p in self._base.params if p[0] not in names)  # e.g. a connection's param.api_key
        base_url = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        return Request(page.request.method, base_url, query + kept, page.request.body)


def links(response: httpx.Response) -> dict[str, str]:
    """The ``Link`` header's targets by relation (``rel="next last"`` counts for both)."""
    found: dict[str, str] = {}
    for header in response.headers.get_list("link"):
        for match in _LINK.finditer(header):
            target, params = match.group(1).strip(), match.group(2)
            rel = _REL.search(params)
            if rel is None:
                continue
            for name in (rel.group(1) or rel.group(2) or "").lower().split():
                found.setdefault(name, target)
    return found


_LINK = re.compile(r"<([^>]*)>([^<]*)")
_REL = re.compile(r"""rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))""")


def _send(request: Request, extra: list[tuple[str, object]], send_in: SendIn) -> Request:
    if send_in == "query":
        return Request(request.method, request.url, (*request.params, *((k, str(v)) for k, v in extra)), request.body)
    body = dict(request.body) if isinstance(request.body, Mapping) else {}
    body.update(extra)
    return Request(request.method, request.url, request.params, body)


def _set(request: Request, name: str, value: object, send_in: SendIn) -> Request:
    """``request`` with ``name`` set to ``value``: replaced where it already is, else added at the end."""
    if send_in == "body" or not any(key == name for key, _ in request.params):
        return _send(request, [(name, value)], send_in)
    params = tuple((key, str(value)) if key == name else (key, old) for key, old in request.params)
    return Request(request.method, request.url, params, request.body)


def _full_url(request: Request) -> str:
    return str(httpx.URL(request.url, params=list(request.params) or None))


def _number(page: Page, path: str, what: str, where: str) -> int:
    found, value = jsonpath.lookup(page.body, jsonpath.parse(path))
    if not found or isinstance(value, bool) or not isinstance(value, int | float):
        raise SourceShapeError(
            f"{where}{page.request} (page {page.number}): {what} {path!r} is "
            f"{jsonpath.describe(value) if found else 'missing'}, not a number: the response no longer looks "
            f"like the configured pagination ({_top(page.body)})"
        )
    return int(value)


def _top(body: object) -> str:
    return f"the response is {jsonpath.describe(body)}"


def _name(value: object, what: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")


def _path(value: object, what: str) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a JSON path like 'meta.total', got {value!r}")
    try:
        jsonpath.parse(value)
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None


def _send_in(value: object) -> None:
    if value not in ("query", "body"):
        raise ValueError(f"send_in must be 'query' or 'body', got {value!r}")


def _validated(spec: Pagination, check: Callable[[], None]) -> None:
    try:
        check()
    except ValueError as exc:
        raise DefinitionError(f"pagination {type(spec).__name__}: {exc}") from None
