"""FileArrival: poll a glob and emit one event per new or changed file (no inotify needed)."""

from __future__ import annotations

import glob
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from headwater.engine.events.sources import Emitter, Found, Payload, PollingSource, Subscription
from headwater.model.triggers import FileArrival


def snapshot(pattern: str, root: Path) -> dict[str, tuple[int, int]]:
    """Every file matching ``pattern`` (relative to ``root`` unless absolute): path -> (size, mtime_ns).

    Hidden files (a leading ``.``) match only patterns that name them, as in the shell,
    so a file written as ``.orders.csv.part`` and renamed when complete fires once.
    """
    found: dict[str, tuple[int, int]] = {}
    for name in glob.iglob(pattern, root_dir=None if os.path.isabs(pattern) else root, recursive=True):
        path = name if os.path.isabs(name) else os.path.join(root, name)
        try:
            st = os.stat(path)
        except OSError:
            continue  # removed while we looked
        if os.path.isfile(path):
            found[name] = (st.st_size, st.st_mtime_ns)
    return found


def changes(old_cursor: str | None, current: dict[str, tuple[int, int]]) -> Found | None:
    """The new cursor and one payload per new or changed file; None if nothing changed.

    With no cursor yet (the trigger is new), the files present now are the baseline: none fires.
    """
    cursor = json.dumps({path: list(sig) for path, sig in sorted(current.items())}, separators=(",", ":"))
    if old_cursor is None:
        return cursor, []
    try:
        seen = {path: tuple(sig) for path, sig in json.loads(old_cursor).items()}
    except (ValueError, AttributeError):
        seen = {}
    if seen == current:
        return None
    payloads: list[Payload] = []
    for path, (size, mtime_ns) in sorted(current.items()):
        if seen.get(path) != (size, mtime_ns):
            payloads.append(
                {
                    "path": path,
                    "size": size,
                    "mtime": datetime.fromtimestamp(mtime_ns / 1e9, UTC).isoformat(timespec="seconds"),
                    "change": "changed" if path in seen else "new",
                }
            )
    return cursor, payloads  # removed files only move the cursor: if they come back, they fire


class FileArrivalSource(PollingSource):
    """Watches every FileArrival trigger: a glob per poll, compared with the cursor stored for the trigger."""

    kind = "file"

    def poll_one(self, subscription: Subscription, emit: Emitter) -> None:
        trigger = subscription.trigger
        assert isinstance(trigger, FileArrival)
        current = snapshot(trigger.path_glob, self.context.project.root)
        emit.advance(subscription, lambda old: changes(old, current))
