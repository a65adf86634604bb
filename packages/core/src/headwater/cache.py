"""Task result caching: a try's cache key, and its entry in the result store."""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import inspect
import json
import logging
import pickle
import re
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import PurePath
from uuid import UUID

from headwater.executors.base import JSON, EncodedResult, EventKind, TaskEvent, TaskSubmission
from headwater.model.context import Context
from headwater.model.operator import Operator
from headwater.model.python_operator import PythonOperator

#: Cache entries live in the result store under this prefix: ``cache/<pipeline>/<task>/<sha256>.json``.
CACHE_PREFIX = "cache"
#: Bumped when the key recipe changes, so old entries simply miss.
KEY_VERSION = 1
#: Attributes of an operator that are not its constructor arguments.
_NOT_ARGUMENTS = frozenset({"task_id", "options", "explicit_options", "pipeline"})
_MAP_INDEX = re.compile(r"\[\d+\]$")
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_log = logging.getLogger(__name__)
_CLASS_SOURCES: weakref.WeakKeyDictionary[type, str] = weakref.WeakKeyDictionary()


class CacheKeyError(Exception):
    """A task's ``cache_key`` function raised or returned something other than a str (not retried)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class CacheEntry:
    """A stored result of a task: what a later try with the same key reuses."""

    key: str
    result: EncodedResult
    created_at: float
    run_id: str
    metadata: Mapping[str, JSON] | None = None

    def age(self, now: float) -> float:
        """Seconds since the entry was stored (never negative, whatever the clocks say)."""
        return max(now - self.created_at, 0.0)

    def note(self, now: float) -> str:
        """The try note of a hit: ``cache hit (key 3f2a9c1b, stored 12m ago by run <run_id>)``."""
        return f"cache hit (key {self.key[:8]}, stored {format_age(self.age(now))} ago by run {self.run_id})"

    def to_json(self) -> bytes:
        data = {
            "version": KEY_VERSION,
            "key": self.key,
            "created_at": self.created_at,
            "run_id": self.run_id,
            "result": self.result.to_json(),
            "metadata": dict(self.metadata) if self.metadata else None,
        }
        return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> CacheEntry:
        raw = json.loads(data)
        return cls(
            key=str(raw["key"]),
            result=EncodedResult(str(raw["result"]["encoding"]), str(raw["result"]["value"])),
            created_at=float(raw["created_at"]),
            run_id=str(raw["run_id"]),
            metadata=raw.get("metadata"),
        )


def format_age(seconds: float) -> str:
    """``45s``, ``12m``, ``3h``, ``2d``."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def entry_path(pipeline_id: str, task_id: str, key: str) -> str:
    """The result-store key of an entry. Instances of a mapped task (``name[3]``) share ``name``'s entries."""
    return f"{CACHE_PREFIX}/{pipeline_id}/{_MAP_INDEX.sub('', task_id)}/{key}.json"


# -- keys ----------------------------------------------------------------------------------


def compute_key(op: Operator, ctx: Context) -> str:
    """The sha256 (hex) naming this try's cache entry.

    With a ``cache_key`` function: the hash of what it returns when called with the task's
    inputs. Otherwise: the hash of the task's code, its inputs, and the run's partition.
    Raises CacheKeyError if the ``cache_key`` function raises or returns a non-str.
    """
    args, kwargs = task_inputs(op, ctx)
    custom = op.options.cache_key
    if custom is not None:
        try:
            value = custom(*args, **kwargs)
        except Exception as exc:
            raise CacheKeyError(
                f"cache_key function of task '{op.task_id}' raised {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(value, str):
            raise CacheKeyError(
                f"cache_key function of task '{op.task_id}' returned {type(value).__name__}, expected a str"
            )
        return _sha256(f"custom:{value}".encode())
    recipe = {
        "v": KEY_VERSION,
        "code": code_fingerprint(op),
        "inputs": fingerprint([args, kwargs]),
        "partition": ctx.partition,
    }
    return _sha256(json.dumps(recipe, sort_keys=True).encode())


def task_inputs(op: Operator, ctx: Context) -> tuple[list[object], dict[str, object]]:
    """What the task runs on: a Python task's resolved arguments, else its upstream results by task id."""
    if isinstance(op, PythonOperator):
        return op.call_arguments(ctx)
    return [], dict(ctx.upstream)


def code_fingerprint(op: Operator) -> str:
    """A hash of the task's code: a Python task's function source, else the operator class and its arguments."""
    cls = type(op)
    parts = [f"{cls.__module__}.{cls.__qualname__}", _class_source(cls)]
    if isinstance(op, PythonOperator):
        parts.append(function_source(op.fn))
    else:
        arguments = {k: v for k, v in vars(op).items() if k not in _NOT_ARGUMENTS and not k.startswith("_")}
        parts.append(fingerprint(arguments))
    return _sha256("\0".join(parts).encode())


def function_source(fn: Callable[..., object]) -> str:
    """The source of ``fn`` from its ``def`` on (decorators, such as ``@task(cache_expiration=...)``, left out).

    Without source (a builtin, code typed at a prompt), the compiled code and default values stand in.
    """
    fn = inspect.unwrap(getattr(fn, "fn", fn))
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):
        code = getattr(fn, "__code__", None)
        if code is None:
            return f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', repr(fn))}"
        defaults = getattr(fn, "__defaults__", None)
        return f"{code.co_code.hex()}|{_code_constants(code)}|{code.co_names}|{fingerprint(defaults)}"
    lines = source.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"\s*(async\s+)?def\s", line):
            return "\n".join(lines[i:])
    return source


def _code_constants(code: object) -> str:
    consts = getattr(code, "co_consts", ())
    return repr([_code_constants(c) if hasattr(c, "co_code") else repr(c) for c in consts])


def _class_source(cls: type) -> str:
    """The source of an operator class (remembered per class: finding it parses the class's module)."""
    if cls is PythonOperator or cls.__module__ == "builtins":
        return ""
    source = _CLASS_SOURCES.get(cls)
    if source is None:
        try:
            source = inspect.getsource(cls)
        except (OSError, TypeError):
            source = ""
        _CLASS_SOURCES[cls] = source
    return source


def fingerprint(value: object) -> str:
    """A hash of a value: from its JSON (keys sorted), with stable stand-ins for what JSON cannot hold."""
    try:
        data = json.dumps(value, sort_keys=True, separators=(",", ":"), default=_stand_in).encode()
    except (TypeError, ValueError, RecursionError):  # mixed dict key types, cycles
        data = b"pickle:" + _pickled(value)
    return _sha256(data)


def _stand_in(value: object) -> JSON:
    """A JSON-able, run-independent stand-in for a value json cannot encode."""
    if isinstance(value, Operator):
        return {"~task": value.task_id}
    if isinstance(value, enum.Enum):
        return {"~enum": f"{type(value).__qualname__}.{value.name}"}
    if isinstance(value, datetime | date | time | timedelta | Decimal | UUID | PurePath):
        return {"~" + type(value).__name__: str(value)}
    if isinstance(value, bytes | bytearray):
        return {"~bytes": _sha256(bytes(value))}
    if isinstance(value, set | frozenset):
        return {"~set": ",".join(sorted(fingerprint(item) for item in value))}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return {"~" + type(value).__qualname__: fingerprint(fields)}
    if inspect.isfunction(value) or inspect.ismethod(value):
        return {"~function": function_source(value)}
    return {"~" + type(value).__qualname__: _sha256(_pickled(value))}


def _pickled(value: object) -> bytes:
    try:
        return pickle.dumps(value, protocol=4)
    except Exception:  # unpicklable (locks, sockets): its repr without memory addresses
        return _ADDRESS.sub("", f"{type(value).__module__}.{type(value).__qualname__}:{value!r}").encode()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- entries -------------------------------------------------------------------------------


def lookup(
    store_url: str | None,
    pipeline_id: str,
    task_id: str,
    key: str,
    *,
    now: float,
    expiration: float | None = None,
    log: logging.Logger | None = None,
) -> CacheEntry | None:
    """The entry for ``key`` if there is one not older than ``expiration`` seconds (else None: a miss)."""
    from headwater.results import open_result_store

    log = log or _log
    store = open_result_store(store_url)
    read = getattr(store, "read", None)
    if read is None:
        log.warning("result store %s cannot read by key (no read()): the cache is not used", type(store).__name__)
        return None
    data = read(entry_path(pipeline_id, task_id, key))
    if data is None:
        return None
    try:
        entry = CacheEntry.from_json(data)
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("cache entry %s is unreadable (%s): running the task", key[:8], exc)
        return None
    if expiration is not None and entry.age(now) > expiration:
        log.info("cache entry %s expired (stored %s ago): running the task", key[:8], format_age(entry.age(now)))
        return None
    return entry


def save(store_url: str | None, pipeline_id: str, task_id: str, entry: CacheEntry) -> None:
    """Store ``entry`` (atomically: a reader never sees half of it), replacing any older one."""
    from headwater.results import open_result_store

    open_result_store(store_url).put(entry_path(pipeline_id, task_id, entry.key), entry.to_json())


class TaskCache:
    """The cache of one try: its key, the entry it may reuse, and storing its result after a run.

    The worker builds one for a task with ``cache=True``, asks :meth:`hit` for a SUCCEEDED
    event made from a stored result (None: run the task), and hands the event of a run
    to :meth:`store`.
    """

    def __init__(
        self,
        op: Operator,
        ctx: Context,
        submission: TaskSubmission,
        *,
        now: Callable[[], float],
        log: logging.Logger,
    ) -> None:
        self.key = compute_key(op, ctx)  # CacheKeyError: the try fails, not retried
        self.expiration = op.options.cache_expiration
        self.submission = submission
        self.now = now
        self.log = log

    def hit(self) -> TaskEvent | None:
        """A SUCCEEDED event carrying the stored result, or None when the task must run."""
        sub = self.submission
        if not sub.use_cache:
            self.log.info("cache key %s not looked up (--no-cache): running the task", self.key[:8])
            return None
        at = self.now()
        entry = lookup(
            sub.results_url,
            sub.pipeline_id,
            sub.key.task_id,
            self.key,
            now=at,
            expiration=self.expiration,
            log=self.log,
        )
        if entry is None:
            self.log.info("cache miss (key %s): running the task", self.key[:8])
            return None
        note = entry.note(at)
        self.log.info("%s: the task's code was not run", note)
        return TaskEvent(
            key=sub.key, kind=EventKind.SUCCEEDED, at=at, result=entry.result, metadata=entry.metadata, note=note
        )

    def store(self, event: TaskEvent) -> None:
        """Keep the result of a successful run for later tries (a failure to store is logged, not raised)."""
        if event.kind is not EventKind.SUCCEEDED or event.result is None:
            return
        sub = self.submission
        entry = CacheEntry(
            key=self.key, result=event.result, created_at=event.at, run_id=sub.key.run_id, metadata=event.metadata
        )
        try:
            save(sub.results_url, sub.pipeline_id, sub.key.task_id, entry)
        except Exception as exc:  # the task succeeded; a full disk or a store outage only costs the cache
            self.log.warning("could not store the result in the cache (key %s): %s", self.key[:8], exc)
