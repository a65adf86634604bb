"""``S3ObjectArrival``: an event trigger that fires when objects appear (or change) under a key glob or prefix."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from datetime import timedelta
from typing import ClassVar

from headwater import DefinitionError
from headwater.plugin import Trigger, check_conn
from headwater_s3.keys import KeySelection, check_bucket


@dataclass(frozen=True, slots=True)
class S3ObjectArrival(Trigger):
    """Fire when objects matching ``key`` (a key or a glob like ``raw/orders/*.parquet``) or ``prefix`` appear.

    Polled every ``[scheduler] event_poll_interval``. Objects already there when the trigger is
    first seen do not fire; an object rewritten (new ETag) fires again. With neither ``key``
    nor ``prefix`` every object of the bucket counts.

    >>> S3ObjectArrival("lake", "raw", "orders/*.parquet", debounce="60s")
    """

    conn: str
    bucket: str
    key: str | None = None
    _: KW_ONLY
    prefix: str | None = None
    debounce: float | str | timedelta = 60.0
    kind: ClassVar[str] = "s3"

    def __post_init__(self) -> None:
        check_conn(self.conn, where="s3 trigger")
        check_bucket(self.bucket, "s3 trigger")
        if "{{" in self.bucket:
            raise DefinitionError("s3 trigger: the bucket cannot be a template")
        self.selection()
        self.debounce_seconds  # noqa: B018 - a bad debounce is a definition error now

    def selection(self) -> KeySelection:
        """The keys this trigger watches."""
        return KeySelection.build(key=self.key, prefix=self.prefix, what="s3 trigger", required=False)

    def describe(self) -> str:
        return f"s3:{self.conn}/{self.bucket}/{self.selection().describe()}"
