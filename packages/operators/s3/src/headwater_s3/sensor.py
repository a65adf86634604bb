"""``s3.key``: wait until a key, or keys matching a glob or prefix, exist in a bucket."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from headwater import DefinitionError, Sensor
from headwater.plugin import check_conn
from headwater_s3.base import S3Access, s3_uri
from headwater_s3.keys import KeySelection, list_objects

if TYPE_CHECKING:
    from typing import Unpack

    from headwater import Context
    from headwater.plugin import TaskOptionArgs


class S3KeySensor(S3Access, Sensor):
    """Wait until ``key`` (exact, or a glob like ``raw/orders/*.parquet``) or ``prefix`` matches objects.

    Done when at least ``min_objects`` objects match; the result is their sorted keys. A
    missing bucket or refused credentials fail at once (not retried); a network error or a
    throttled request fails the try, retried under the task's retry policy.
    """

    operator_name = "s3.key"

    def __init__(
        self,
        task_id: str,
        *,
        conn: str,
        bucket: str,
        key: str | None = None,
        prefix: str | None = None,
        min_objects: int = 1,
        poke_interval: float | str | timedelta = "30s",
        wait_timeout: float | str | timedelta = "1h",
        mode: Literal["poke", "reschedule"] = "poke",
        **options: Unpack[TaskOptionArgs],
    ) -> None:
        what = f"task '{task_id}'"
        self.conn = check_conn(conn, task_id)
        self.bucket = self._bucket(bucket, task_id)
        self.key = self._template(key, task_id, "key")
        self.prefix = self._template(prefix, task_id, "prefix")
        KeySelection.build(key=self.key, prefix=self.prefix, what=what)
        if isinstance(min_objects, bool) or not isinstance(min_objects, int) or min_objects < 1:
            raise DefinitionError(f"{what}: min_objects must be a whole number >= 1, got {min_objects!r}")
        self.min_objects = min_objects
        super().__init__(task_id, poke_interval=poke_interval, wait_timeout=wait_timeout, mode=mode, **options)

    def describe(self) -> str:
        selected = self.key if self.key is not None else f"{self.prefix}*"
        return f"wait for {s3_uri(self.bucket, selected)} (conn {self.conn})"

    def poke(self, ctx: Context) -> list[str]:
        bucket = self.bucket_name(self.bucket, ctx)
        selection = self.selection(self.key, self.prefix, ctx)
        client, _ = self.client(ctx)
        try:
            found = [o.key for o in list_objects(client, bucket, selection) if not o.key.endswith("/")]
        except Exception as exc:
            raise self.error(exc, "look for", bucket, selection.describe()) from None
        if len(found) >= self.min_objects:
            ctx.log.info("found %d object(s) matching s3://%s/%s", len(found), bucket, selection.describe())
            return found
        ctx.log.info(
            "no match yet for s3://%s/%s (%d of %d)", bucket, selection.describe(), len(found), self.min_objects
        )
        return []
