"""``s3.delete``: keys (exact or globs) or everything under a prefix, 1,000 per request."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from headwater import DefinitionError
from headwater_s3.base import S3Operator, lineage, s3_uri
from headwater_s3.errors import S3PermanentError
from headwater_s3.keys import KeySelection, list_objects

if TYPE_CHECKING:
    from typing import Unpack

    from headwater import Context
    from headwater.plugin import TaskOptionArgs

#: S3's DeleteObjects takes at most this many keys.
BATCH = 1000


class S3DeleteOperator(S3Operator):
    """Delete ``keys`` (a key, a glob like ``tmp/*.csv``, or a list of them) or every object under ``prefix``.

    Exact keys are deleted without looking first (deleting a missing key is not an error in
    S3); globs and prefixes are listed. An empty prefix is refused: to empty a bucket, say
    ``keys="**"``. The result: ``{"bucket", "deleted", "count"}``.
    """

    operator_name = "s3.delete"

    def __init__(
        self,
        task_id: str,
        *,
        conn: str,
        bucket: str,
        keys: str | Sequence[str] | None = None,
        prefix: str | None = None,
        **options: Unpack[TaskOptionArgs],
    ) -> None:
        what = f"task '{task_id}'"
        self.bucket = self._bucket(bucket, task_id)
        if (keys is None) == (prefix is None):
            raise DefinitionError(f"{what}: give keys= (keys or globs) or prefix=, exactly one", tasks=[task_id])
        listed = [keys] if isinstance(keys, str) else list(keys or [])
        if keys is not None and not listed:
            raise DefinitionError(f"{what}: keys is empty", tasks=[task_id])
        self.keys = [self._template(k, task_id, "keys") or "" for k in listed]
        for key in self.keys:
            KeySelection.build(key=key, prefix=None, what=f"{what}: keys")
        if prefix is not None and (not isinstance(prefix, str) or not prefix):
            raise DefinitionError(
                f"{what}: prefix must be a non-empty string (to empty the whole bucket, give keys='**')",
                tasks=[task_id],
            )
        self.prefix = self._template(prefix, task_id, "prefix")
        super().__init__(task_id, conn=conn, **options)

    def describe(self) -> str:
        selected = ", ".join(self.keys) if self.keys else f"{self.prefix}*"
        return f"delete {s3_uri(self.bucket, selected)} (conn {self.conn})"

    def execute(self, ctx: Context) -> dict[str, object]:
        bucket = self.bucket_name(self.bucket, ctx)
        if self.prefix is not None:
            selections = [self.selection(None, self.prefix, ctx)]
            if not selections[0].pattern:
                raise S3PermanentError(f"task '{self.task_id}': the prefix rendered empty; refusing to empty {bucket}")
        else:
            selections = [self.selection(key, None, ctx, name="keys") for key in self.keys]
        client, _ = self.client(ctx)
        targets: list[str] = []
        seen: set[str] = set()
        for selection in selections:
            if selection.is_exact:
                found = [selection.pattern]
            else:
                try:
                    found = [o.key for o in list_objects(client, bucket, selection)]
                except Exception as exc:
                    raise self.error(exc, "list", bucket, selection.describe()) from None
            for key in found:
                if key not in seen:
                    seen.add(key)
                    targets.append(key)
        for start in range(0, len(targets), BATCH):
            ctx.check_cancelled()
            batch = targets[start : start + BATCH]
            try:
                answer = client.delete_objects(
                    Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
                )
            except Exception as exc:
                raise self.error(exc, "delete from", bucket, batch[0]) from None
            errors = answer.get("Errors", [])
            if errors:
                first = errors[0]
                raise S3PermanentError(
                    f"task '{self.task_id}': could not delete {len(errors)} object(s) from s3://{bucket}/ "
                    f"(connection '{self.conn}'), first {first.get('Key')!r}: {first.get('Code')}: "
                    f"{first.get('Message')}"
                )
        ctx.log.info("deleted %d object(s) from s3://%s/", len(targets), bucket)
        if targets:
            ctx.report_lineage(writes=lineage(bucket, targets, selections[0].list_prefix))
        return {"bucket": bucket, "deleted": targets, "count": len(targets)}
