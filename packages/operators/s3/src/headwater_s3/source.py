"""The ``s3`` event source: lists each S3ObjectArrival's keys every poll; new or changed objects become events.

What a trigger has seen (key -> ETag) is its cursor in the metadata database, so objects
present when the trigger is first seen never fire, and a restarted scheduler fires for the
objects that arrived while it was down, and only those.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Mapping, Sequence

from headwater import ConfigError, DefinitionError
from headwater.plugin import EventEmitter, Payload, PollingSource, SourceContext, Subscription, Trigger
from headwater_s3.errors import s3_error
from headwater_s3.keys import ObjectInfo, list_objects
from headwater_s3.trigger import S3ObjectArrival

log = logging.getLogger("headwater.events.s3")


def changes(old_cursor: str | None, current: Mapping[str, ObjectInfo], bucket: str) -> tuple[str, list[Payload]] | None:
    """The new cursor and one payload per new or changed object; None if nothing changed.

    With no cursor yet (a new trigger), the objects present now are the baseline: none fires.
    Removed objects only move the cursor (if they come back, they fire).
    """
    seen_now = {key: info.etag for key, info in sorted(current.items())}
    cursor = json.dumps(seen_now, separators=(",", ":"))
    if old_cursor is None:
        return cursor, []
    try:
        seen = json.loads(old_cursor)
        if not isinstance(seen, dict):
            seen = {}
    except ValueError:
        seen = {}
    if seen == seen_now:
        return None
    payloads: list[Payload] = []
    for key, info in sorted(current.items()):
        if seen.get(key) != info.etag:
            payloads.append({"bucket": bucket, **info.as_json(), "change": "changed" if key in seen else "new"})
    return cursor, payloads


class S3ObjectArrivalSource(PollingSource):
    """Watches every S3ObjectArrival trigger (registered as the event source of kind ``s3``)."""

    kind = "s3"

    def __init__(self, subscriptions: Sequence[Subscription], context: SourceContext) -> None:
        super().__init__(subscriptions, context)
        self._failing: dict[str, str] = {}  # trigger -> the error last logged for it

    @classmethod
    def check(cls, trigger: Trigger, *, project: object, asset_keys: Collection[str] | None) -> None:
        assert isinstance(trigger, S3ObjectArrival)
        from headwater_s3.connection import settings_for

        try:
            settings_for(trigger.conn)
        except ConfigError as exc:
            raise DefinitionError(f"trigger {trigger.describe()}: {exc}") from None

    def poll_one(self, subscription: Subscription, emit: EventEmitter) -> None:
        trigger = subscription.trigger
        assert isinstance(trigger, S3ObjectArrival)
        try:
            current = self._list(trigger)
        except Exception as exc:
            self._report(subscription, str(exc))
            return
        if self._failing.pop(subscription.key, None) is not None:
            log.info("%s: listing works again", subscription.key)
        emit.advance(subscription, lambda old: changes(old, current, trigger.bucket))

    def _list(self, trigger: S3ObjectArrival) -> dict[str, ObjectInfo]:
        from headwater_s3.connection import client_for, settings_for

        settings = settings_for(trigger.conn)
        selection = trigger.selection()
        try:
            client = client_for(settings)
            return {
                info.key: info for info in list_objects(client, trigger.bucket, selection) if not info.key.endswith("/")
            }
        except Exception as exc:
            where = f"s3://{trigger.bucket}/{selection.describe()}"
            raise s3_error(exc, action="list", where=where, conn_id=trigger.conn) from None

    def _report(self, subscription: Subscription, error: str) -> None:
        """Log a failing trigger once per distinct error (not on every poll)."""
        if self._failing.get(subscription.key) != error:
            self._failing[subscription.key] = error
            log.warning(
                "event trigger %s of pipeline '%s' cannot look for objects: %s (trying again every %gs)",
                subscription.key,
                subscription.pipeline_id,
                error,
                self.context.poll_interval,
            )
