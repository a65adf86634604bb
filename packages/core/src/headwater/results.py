"""Encode task results: small JSON values inline in the database, the rest in a result store."""

from __future__ import annotations

import json
import os
import pickle
import uuid
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from headwater.errors import PluginError
from headwater.executors.base import EncodedResult

#: Results whose JSON is larger than this go to the result store instead of the database.
INLINE_LIMIT = 64 * 1024
_NONE = EncodedResult("json", "null")


class ResultStore(Protocol):
    """Stores large or non-JSON results and gives back a URI to fetch them by.

    Keys are relative paths with ``/`` separators (``<run_id>/<task_id>.json``,
    ``cache/<pipeline>/<task>/<sha256>.json``). ``put`` must be atomic: a reader sees
    the old bytes or the new ones, never a half-written object.
    """

    def put(self, key: str, data: bytes) -> str:
        """Store ``data`` under ``key`` (replacing what was there) and return its URI."""
        ...

    def get(self, uri: str) -> bytes:
        """The bytes stored at ``uri``."""
        ...

    def read(self, key: str) -> bytes | None:
        """The bytes stored under ``key``, or None if there are none (the task cache looks entries up by key)."""
        ...


class LocalResultStore:
    """Results as files under a directory (the default: ``.headwater/results``)."""

    scheme = "file"

    def __init__(self, url: str) -> None:
        parsed = urlsplit(url)
        self.root = Path(parsed.path if parsed.scheme == "file" else url)

    def put(self, key: str, data: bytes) -> str:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # readers never see a half-written result
        return path.resolve().as_uri()

    def get(self, uri: str) -> bytes:
        return Path(urlsplit(uri).path).read_bytes()

    def read(self, key: str) -> bytes | None:
        try:
            return (self.root / key).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None


def open_result_store(url: str | None) -> ResultStore:
    """The store for ``url``: a local directory, or a plugin's store chosen by URL scheme."""
    if not url:
        return LocalResultStore(".headwater/results")
    scheme = urlsplit(url).scheme
    if scheme in ("", "file"):
        return LocalResultStore(url)
    from headwater.plugin.manager import Kind, get_manager

    factory = get_manager().resolve(Kind.RESULT_STORE, scheme)
    if not callable(factory):
        raise PluginError(f"result store {scheme!r} is not callable")
    store: ResultStore = factory(url)
    return store


def encode_result(value: object, *, key: str, store_url: str | None) -> EncodedResult:
    """JSON inline when small; otherwise JSON or pickle bytes in the result store."""
    if value is None:
        return _NONE
    try:
        text = json.dumps(value, separators=(",", ":"), allow_nan=False)
        data, suffix = None, ".json"
    except (TypeError, ValueError):
        text = None
        data, suffix = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), ".pickle"
    if text is not None:
        if len(text) <= INLINE_LIMIT:
            return EncodedResult("json", text)
        data = text.encode()
    assert data is not None
    uri = open_result_store(store_url).put(key + suffix, data)
    return EncodedResult("ref", uri)


def gather_results(parts: list[EncodedResult] | dict[str, EncodedResult]) -> EncodedResult:
    """One result made of others, without decoding them: a list (mapped task instances) or a dict
    (upstream partitions by key). Decoding it decodes each part."""
    if isinstance(parts, dict):
        return EncodedResult("dict", json.dumps({k: [p.encoding, p.value] for k, p in parts.items()}))
    return EncodedResult("list", json.dumps([[p.encoding, p.value] for p in parts]))


def decode_result(encoded: EncodedResult, *, store_url: str | None) -> object:
    if encoded.encoding == "json":
        return json.loads(encoded.value)
    if encoded.encoding == "list":
        return [decode_result(EncodedResult(e, v), store_url=store_url) for e, v in json.loads(encoded.value)]
    if encoded.encoding == "dict":
        return {
            k: decode_result(EncodedResult(e, v), store_url=store_url)
            for k, (e, v) in json.loads(encoded.value).items()
        }
    data = open_result_store(store_url).get(encoded.value)
    if encoded.value.endswith(".pickle"):
        return pickle.loads(data)  # noqa: S301 - written by our own workers into our own store
    return json.loads(data)
