"""Which keys of a bucket: one exact key, a glob like ``raw/orders/*.parquet``, or everything under a prefix."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from headwater import DefinitionError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_WILDCARDS = re.compile(r"[*?\[]")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One listed object: its key, size, ETag and last modification time."""

    key: str
    size: int
    etag: str
    last_modified: datetime

    def as_json(self) -> dict[str, str | int]:
        return {
            "key": self.key,
            "size": self.size,
            "etag": self.etag,
            "last_modified": self.last_modified.isoformat(timespec="seconds"),
        }


@dataclass(frozen=True, slots=True)
class KeySelection:
    """``key`` (exact, or a glob when it holds ``*``, ``?`` or ``[``) or ``prefix`` (every key under it).

    In a glob ``*`` and ``?`` stay within one ``/``-separated level, ``**`` spans levels,
    ``[abc]`` / ``[!abc]`` match one character of a set.
    """

    pattern: str
    is_prefix: bool = False

    @classmethod
    def build(cls, *, key: str | None, prefix: str | None, what: str, required: bool = True) -> KeySelection:
        """From an operator's ``key=`` / ``prefix=`` (exactly one; with ``required=False`` neither means all)."""
        if key is not None and prefix is not None:
            raise DefinitionError(f"{what}: give key= (a key or a glob) or prefix=, not both")
        if key is None and prefix is None:
            if required:
                raise DefinitionError(f"{what}: give key= (a key or a glob like 'raw/*.csv') or prefix=")
            return cls("", is_prefix=True)
        if prefix is not None:
            if not isinstance(prefix, str):
                raise DefinitionError(f"{what}: prefix must be a string, got {prefix!r}")
            return cls(prefix, is_prefix=True)
        if not isinstance(key, str) or not key:
            raise DefinitionError(f"{what}: key must be a non-empty string, got {key!r}")
        selection = cls(key)
        try:
            selection.regex()
        except DefinitionError as exc:
            raise DefinitionError(f"{what}: {exc.message}") from None
        return selection

    @property
    def is_glob(self) -> bool:
        return not self.is_prefix and _WILDCARDS.search(self.pattern) is not None

    @property
    def is_exact(self) -> bool:
        return not self.is_prefix and not self.is_glob

    @property
    def list_prefix(self) -> str:
        """The literal start of every matching key: what to ask S3 to list."""
        if self.is_prefix or self.is_exact:
            return self.pattern
        found = _WILDCARDS.search(self.pattern)
        assert found is not None
        return self.pattern[: found.start()]

    def regex(self) -> re.Pattern[str]:
        """The glob as a regular expression over whole keys."""
        return re.compile(glob_to_regex(self.pattern), re.DOTALL)

    def matches(self, key: str) -> bool:
        if self.is_prefix:
            return key.startswith(self.pattern)
        if self.is_exact:
            return key == self.pattern
        return self.regex().fullmatch(key) is not None

    def relative(self, key: str) -> str:
        """``key`` below this selection's literal part, up to its last ``/`` (where copies and downloads go)."""
        base = self.list_prefix
        base = base[: base.rfind("/") + 1]
        return key[len(base) :]

    def describe(self) -> str:
        if self.is_prefix:
            return f"{self.pattern}*" if self.pattern else "*"
        return self.pattern


def glob_to_regex(pattern: str) -> str:
    """A key glob as a regex: ``*`` and ``?`` within a level, ``**`` across levels, ``[...]`` sets."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i) and (i == 2 or pattern[i - 3] == "/"):
                out.append("(?:.*/)?")  # a/**/b matches a/b too
                i += 1
            else:
                out.append(".*")
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            j = i + 1
            if j < len(pattern) and pattern[j] == "!":
                j += 1
            if j < len(pattern) and pattern[j] == "]":
                j += 1
            close = pattern.find("]", j)
            if close < 0:
                raise DefinitionError(f"unbalanced '[' in the key glob {pattern!r} (write '[[]' for a literal '[')")
            body = pattern[i + 1 : close]
            negate = body.startswith("!")
            body = (body[1:] if negate else body).replace("\\", "\\\\").replace("[", "\\[")
            if body.startswith("^"):
                body = "\\" + body  # a literal '^', not a negation
            out.append(f"[{'^' if negate else ''}{body}]")
            i = close
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def common_prefix(keys: Sequence[str]) -> str:
    """The longest string every key starts with (character by character, as S3 prefixes go)."""
    if not keys:
        return ""
    low, high = min(keys), max(keys)
    size = 0
    while size < len(low) and low[size] == high[size]:
        size += 1
    return low[:size]


def check_bucket(bucket: object, what: str) -> str:
    """``bucket`` if it is a plausible bucket name (or a template); DefinitionError otherwise."""
    if not isinstance(bucket, str) or not bucket:
        raise DefinitionError(f"{what}: bucket must be a non-empty string, got {bucket!r}")
    if "{{" not in bucket and not _BUCKET.match(bucket):
        raise DefinitionError(
            f"{what}: {bucket!r} is not a valid bucket name (3-63 lowercase letters, digits, '.' and '-'; "
            "give the key separately, without s3://)"
        )
    return bucket


def list_objects(client: S3Client, bucket: str, selection: KeySelection) -> Iterator[ObjectInfo]:
    """Every object of ``bucket`` that ``selection`` matches, in key order (paginated)."""
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=selection.list_prefix):
        for item in page.get("Contents", []):
            key = item.get("Key", "")
            if selection.matches(key):
                yield ObjectInfo(
                    key=key,
                    size=int(item.get("Size", 0)),
                    etag=str(item.get("ETag", "")).strip('"'),
                    last_modified=item["LastModified"],
                )
        if selection.is_exact:
            return  # the exact key sorts first under its own prefix
