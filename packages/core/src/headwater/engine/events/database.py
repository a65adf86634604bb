"""DatabaseChange: PostgreSQL ``LISTEN channel`` on a connection; each ``NOTIFY`` stores one event.

One thread per (connection, channel), holding its own psycopg connection. It waits
with ``conn.notifies(timeout=...)`` so :meth:`DatabaseChangeSource.stop` is prompt,
and reconnects with a growing backoff after an error. Among several schedulers of
one deployment, only the holder of a session advisory lock listens (NOTIFY reaches
every listener, so each notification would otherwise be stored once per
scheduler); the others stand by and take over when its connection goes away.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Collection, Sequence

from headwater.config.connections import Connection, get_connection
from headwater.config.settings import Project
from headwater.engine.events.sources import Emitter, EventSource, Payload, SourceContext, Subscription
from headwater.errors import ConfigError, DefinitionError
from headwater.executors.base import JSON
from headwater.model.triggers import DatabaseChange, Trigger
from headwater.secrets import mask

log = logging.getLogger("headwater.events.database")

POSTGRES_SCHEMES = ("postgres", "postgresql")
#: How long ``notifies()`` waits before checking for a stop request (seconds).
WAIT = 0.5
#: Reconnect backoff after an error: from FIRST_BACKOFF doubling up to MAX_BACKOFF seconds.
FIRST_BACKOFF, MAX_BACKOFF = 1.0, 60.0
#: How often a standby listener tries to take over (seconds).
STANDBY_RETRY = 5.0


def postgres_connection(conn_id: str) -> Connection:
    """The connection ``conn_id``; DefinitionError if it is unknown or not PostgreSQL."""
    try:
        conn = get_connection(conn_id)
    except ConfigError as exc:
        raise DefinitionError(str(exc)) from None
    if conn.scheme.split("+", 1)[0] not in POSTGRES_SCHEMES:
        raise DefinitionError(
            f"connection {conn_id!r} is a {conn.scheme!r} connection: database triggers need PostgreSQL "
            "(postgresql://...) for LISTEN/NOTIFY"
        )
    return conn


def libpq_uri(conn: Connection) -> str:
    """The connection's URI as libpq reads it (``postgresql+psycopg://`` -> ``postgresql://``)."""
    return re.sub(r"^postgres(?:ql)?(?:\+\w+)?://", "postgresql://", conn.uri)


class _Listener:
    """LISTENs on one channel of one connection in a thread, for every subscription to that pair."""

    def __init__(self, source: DatabaseChangeSource, conn_id: str, channel: str, lock_key: int) -> None:
        self.source = source
        self.conn_id = conn_id
        self.channel = channel
        self.lock_key = lock_key
        self.ready = threading.Event()  # set while LISTEN is active on a live connection
        self.standby = threading.Event()  # set while another scheduler holds the channel
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"headwater-listen-{channel}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        backoff = FIRST_BACKOFF
        standby_logged = False
        while not self._stop.is_set():
            try:
                if self._listen():
                    backoff = FIRST_BACKOFF
                    continue
                if not standby_logged:
                    log.info("LISTEN %s on %s: another scheduler listens; standing by", self.channel, self.conn_id)
                    standby_logged = True
                self._stop.wait(STANDBY_RETRY)
            except Exception as exc:
                self.ready.clear()
                log.warning(
                    "LISTEN %s on connection %s failed (%s: %s); reconnecting in %.0fs",
                    self.channel,
                    self.conn_id,
                    type(exc).__name__,
                    mask(str(exc)).strip(),
                    backoff,
                )
                self._stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)

    def _listen(self) -> bool:
        """Listen until stopped; False if another scheduler holds the channel's lock."""
        import psycopg
        from psycopg import sql

        uri = libpq_uri(postgres_connection(self.conn_id))
        with psycopg.connect(uri, autocommit=True, connect_timeout=10) as conn:
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.lock_key,)).fetchone()
            if not row or not row[0]:
                self.standby.set()
                return False
            self.standby.clear()
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
            self.ready.set()
            log.info("listening on %s (connection %s)", self.channel, self.conn_id)
            try:
                while not self._stop.is_set():
                    for note in conn.notifies(timeout=WAIT):
                        self._emit(note.channel, note.payload, note.pid)
            finally:
                self.ready.clear()
        return True

    def _emit(self, channel: str, text: str, pid: int) -> None:
        payload: dict[str, JSON] = {"channel": channel, "payload": text, "pid": pid}
        try:
            data: JSON = json.loads(text) if text else None
        except ValueError:
            data = None
        if data is not None:
            payload["data"] = data
        self.source.deliver(self.conn_id, self.channel, payload)


class DatabaseChangeSource(EventSource):
    """Watches every DatabaseChange trigger: one listener per (connection, channel)."""

    kind = "database"

    def __init__(self, subscriptions: Sequence[Subscription], context: SourceContext) -> None:
        super().__init__(subscriptions, context)
        self.emitter: Emitter | None = None
        self.listeners: dict[tuple[str, str], _Listener] = {}

    @classmethod
    def check(cls, trigger: Trigger, *, project: Project, asset_keys: Collection[str] | None) -> None:
        assert isinstance(trigger, DatabaseChange)
        try:
            postgres_connection(trigger.conn)
        except DefinitionError as exc:
            raise DefinitionError(f"trigger {trigger.describe()}: {exc.message}") from None

    def _pairs(self) -> set[tuple[str, str]]:
        return {
            (s.trigger.conn, s.trigger.channel) for s in self.subscriptions if isinstance(s.trigger, DatabaseChange)
        }

    def _lock_key(self, conn_id: str, channel: str) -> int:
        deployment = self.context.store.engine.url.render_as_string(hide_password=True)
        digest = hashlib.sha256(f"headwater-listen:{deployment}:{conn_id}:{channel}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    def _sync(self) -> None:
        wanted = self._pairs()
        for pair in list(self.listeners):
            if pair not in wanted:
                self.listeners.pop(pair).stop()
        for conn_id, channel in sorted(wanted):
            if (conn_id, channel) not in self.listeners:
                listener = _Listener(self, conn_id, channel, self._lock_key(conn_id, channel))
                self.listeners[(conn_id, channel)] = listener
                listener.start()

    def deliver(self, conn_id: str, channel: str, payload: Payload) -> None:
        """Store one event for every pipeline listening to ``channel`` on ``conn_id``."""
        if self.emitter is None:
            return
        for sub in self.subscriptions:
            trigger = sub.trigger
            if isinstance(trigger, DatabaseChange) and (trigger.conn, trigger.channel) == (conn_id, channel):
                try:
                    self.emitter.emit(sub, payload)
                except Exception:
                    log.exception("%s: could not store the event for pipeline '%s'", sub.key, sub.pipeline_id)

    def start(self, emit: Emitter) -> None:
        self.emitter = emit
        self._sync()

    def update(self, subscriptions: Sequence[Subscription]) -> None:
        super().update(subscriptions)
        if self.emitter is not None:
            self._sync()

    def stop(self) -> None:
        listeners = list(self.listeners.values())
        self.listeners.clear()
        for listener in listeners:
            listener.stop()
        for listener in listeners:
            listener.join(5)
