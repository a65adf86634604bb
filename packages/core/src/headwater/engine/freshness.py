"""Freshness: the scheduler checks each asset's ``Freshness`` policy and records (and alerts) each violation once.

What must be fresh:

- an unpartitioned asset: its newest materialization (``Freshness.evaluate``);
- each key of a static-partitioned asset, the same way;
- a time-partitioned asset: every partition must be materialized within
  ``max_lag`` of its window's end. Without a cron this is checked continuously:
  the partition that must exist at ``now`` is the newest one whose window ended
  by ``now - max_lag`` (expected by ``window end + max_lag``). With a cron, at
  each tick ``t`` the newest partition whose window ended by ``t - max_lag``
  must be materialized (expected by ``t``).

A violation is recorded once per ``(asset, partition, expected_by)`` (insert if
absent, so with several schedulers exactly one records it) and the one that
recorded it sends ONE ``freshness`` alert. The watch tells the scheduler when
the answer can next change, so it wakes exactly then.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from headwater.model.pipeline import ASSETS_PIPELINE_ID

if TYPE_CHECKING:
    from headwater.model.asset import AssetDefinition
    from headwater.model.freshness import Freshness
    from headwater.model.partitions import PartitionsDefinition
    from headwater.plugin.notifier import Alert
    from headwater.store.repository import Store

log = logging.getLogger("headwater.freshness")

_TINY = timedelta(microseconds=1)


@dataclass(frozen=True, kw_only=True, slots=True)
class FreshnessStatus:
    """One asset partition's freshness at ``checked_at`` (``partition_key`` "" when unpartitioned).

    ``expected_by``: when the missing materialization was due (None when fresh);
    ``lag``: how old its data is, in seconds (None: nothing to measure);
    ``next_check``: when the answer can next change by time alone (None: only a materialization changes it).
    """

    asset_key: str
    partition_key: str
    fresh: bool
    checked_at: datetime
    expected_by: datetime | None = None
    minutes_late: float = 0.0
    last_materialized_at: datetime | None = None
    lag: float | None = None
    next_check: datetime | None = None


# -- pure evaluation ---------------------------------------------------------------------------------


def newest_ended(partitions: PartitionsDefinition, moment: datetime) -> str | None:
    """The newest partition whose window has ended by ``moment`` (None: none has)."""
    current = partitions.key_for(moment)
    if current is None:  # before the first partition, or after the last one
        keys = partitions.keys(now=moment)
        return keys[-1] if keys else None
    window = partitions.window(current)
    assert window is not None
    return partitions.key_for(window.start - _TINY)


def _following(partitions: PartitionsDefinition, key: str | None) -> str | None:
    """The partition after ``key`` (the first one when ``key`` is None)."""
    if key is None:
        first = getattr(partitions, "first_key", None)
        return first if isinstance(first, str) else None
    window = partitions.window(key)
    assert window is not None
    return partitions.key_for(window.end)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def targets(asset: AssetDefinition, moment: datetime) -> list[str]:
    """The partitions of ``asset`` whose freshness is judged at ``moment`` ("" for an unpartitioned asset)."""
    policy = asset.freshness
    partitions = asset.partitions
    if policy is None:
        return []
    if partitions is None:
        return [""]
    if not partitions.is_time_based:
        return list(partitions.keys(now=moment))
    reference = _reference(policy, moment)
    if reference is None:
        return []
    key = newest_ended(partitions, reference - policy.lag)
    return [] if key is None else [key]


def _reference(policy: Freshness, moment: datetime) -> datetime | None:
    """The moment a time-partitioned asset is judged at: now, or (with a cron) the latest tick."""
    if policy.cron is None:
        return moment
    from headwater.model.timetable import Timetable

    assert policy.expression is not None
    latest = Timetable(policy.expression, policy.tz).latest_complete(moment)
    return None if latest is None else _utc(latest.end)


def _next_tick(policy: Freshness, moment: datetime) -> datetime | None:
    from headwater.model.timetable import Timetable

    assert policy.expression is not None
    for tick in Timetable(policy.expression, policy.tz).ticks(moment):
        if tick > moment:
            return _utc(tick)
    return None


def evaluate(
    asset: AssetDefinition,
    last: Mapping[str, datetime],
    moment: datetime,
    *,
    since: Mapping[str, datetime] | None = None,
) -> list[FreshnessStatus]:
    """The freshness of each judged partition of ``asset`` at ``moment``.

    ``last``: ``partition -> newest materialization time`` (absent: never materialized);
    ``since``: for a partition never materialized, when it was first found late (its violation's
    ``expected_by``), so that a policy without cron keeps one violation for it.
    """
    policy = asset.freshness
    if policy is None:
        return []
    moment = _utc(moment)
    partitions = asset.partitions
    if partitions is None or not partitions.is_time_based:
        out = []
        for key in targets(asset, moment):
            previous = last.get(key)
            check = policy.evaluate(previous, moment, since=(since or {}).get(key))
            out.append(
                FreshnessStatus(
                    asset_key=asset.key,
                    partition_key=key,
                    fresh=check.fresh,
                    checked_at=moment,
                    expected_by=check.expected_by,
                    minutes_late=check.minutes_late,
                    last_materialized_at=previous,
                    lag=None if previous is None else (moment - _utc(previous)).total_seconds(),
                    next_check=check.next_check,
                )
            )
        return out
    return [_time_partition(asset, policy, partitions, last, moment)]


def _time_partition(
    asset: AssetDefinition,
    policy: Freshness,
    partitions: PartitionsDefinition,
    last: Mapping[str, datetime],
    moment: datetime,
) -> FreshnessStatus:
    """The status of the partition a time-partitioned asset must have at ``moment``."""
    reference = _reference(policy, moment)
    following_tick = _next_tick(policy, moment) if policy.cron is not None else None
    key = None if reference is None else newest_ended(partitions, reference - policy.lag)
    if key is None:  # no partition is due yet: the first one is, max_lag after its window ends
        upcoming = _following(partitions, None)
        when = following_tick
        if policy.cron is None and upcoming is not None:
            window = partitions.window(upcoming)
            when = None if window is None else _utc(window.end) + policy.lag
        return FreshnessStatus(asset_key=asset.key, partition_key="", fresh=True, checked_at=moment, next_check=when)
    window = partitions.window(key)
    assert window is not None and reference is not None
    ended = _utc(window.end)
    if policy.cron is None:
        expected_by = ended + policy.lag
        upcoming = _following(partitions, key)
        upcoming_window = None if upcoming is None else partitions.window(upcoming)
        next_check = None if upcoming_window is None else _utc(upcoming_window.end) + policy.lag
    else:
        expected_by = reference
        next_check = following_tick
    previous = last.get(key)
    fresh = previous is not None
    return FreshnessStatus(
        asset_key=asset.key,
        partition_key=key,
        fresh=fresh,
        checked_at=moment,
        expected_by=None if fresh else expected_by,
        minutes_late=0.0 if fresh else max((moment - expected_by).total_seconds() / 60.0, 0.0),
        last_materialized_at=previous,
        lag=None if fresh else max((moment - ended).total_seconds(), 0.0),
        next_check=next_check,
    )


# -- the scheduler's side ---------------------------------------------------------------------------


class FreshnessWatch:
    """Checks the freshness policies of the project's assets; call :meth:`check` from every scheduler pass.

    ``send`` delivers an alert (e.g. :meth:`Alerter.send <headwater.engine.alerts.Alerter.send>`).
    ``recheck``: the longest time between two evaluations on the scheduler's passes (so
    :attr:`statuses` notices an asset that became fresh again); between them a pass costs
    nothing unless something is due.
    """

    def __init__(self, store: Store, send: Callable[[Alert], None], *, recheck: float = 60.0) -> None:
        self.store = store
        self.send = send
        self.recheck = recheck
        #: the latest status of every judged asset partition
        self.statuses: dict[tuple[str, str], FreshnessStatus] = {}
        self._assets: Mapping[str, AssetDefinition] | None = None
        self._last = float("-inf")
        self._next: float | None = None
        self._first_seen: dict[tuple[str, str], datetime] = {}  # never-materialized pairs: when first evaluated

    def check(self, assets: Mapping[str, AssetDefinition] | None, now: float) -> float | None:
        """Evaluate every asset with a freshness policy; return when to check next (epoch seconds).

        None: no asset has a policy (or none can become late by time alone).
        """
        watched = {k: a for k, a in (assets or {}).items() if a.freshness is not None}
        if not watched:
            self.statuses.clear()
            self._assets = assets
            return None
        due = self._next is not None and now >= self._next
        if assets is self._assets and not due and now < self._last + self.recheck:
            return self._next
        self._assets = assets
        self._last = now
        self._next = self._evaluate(watched, now)
        return self._next

    def _evaluate(self, watched: Mapping[str, AssetDefinition], now: float) -> float | None:
        from headwater.store import freshness as db

        moment = datetime.fromtimestamp(now, UTC)
        pairs = [(key, part) for key, asset in watched.items() for part in targets(asset, moment)]
        last = db.last_materialized(self.store, pairs)
        never = [pair for pair in pairs if pair not in last]
        since = db.first_unmaterialized_violations(self.store, never) if never else {}
        for pair in never:
            # a never-materialized asset gets max_lag from when this scheduler first saw it, then is late
            first = self._first_seen.setdefault(pair, moment)
            lag = watched[pair[0]].freshness.lag  # type: ignore[union-attr]
            since.setdefault(pair, first + lag)
        statuses: dict[tuple[str, str], FreshnessStatus] = {}
        upcoming: list[float] = []
        for key, asset in watched.items():
            mine = {part: at for (k, part), at in last.items() if k == key}
            started = {part: at for (k, part), at in since.items() if k == key}
            for status in evaluate(asset, mine, moment, since=started):
                pair = (status.asset_key, status.partition_key)
                before = self.statuses.get(pair)
                if status.fresh and before is not None and not before.fresh:
                    log.info("asset %s%s is fresh again", key, _where(status.partition_key))
                statuses[pair] = status
                if status.next_check is not None:
                    upcoming.append(status.next_check.timestamp())
                if not status.fresh and status.expected_by is not None and status.expected_by <= moment:
                    self._violation(asset, status, moment)
        self.statuses = statuses
        return min(upcoming) if upcoming else None

    def _violation(self, asset: AssetDefinition, status: FreshnessStatus, moment: datetime) -> None:
        from headwater.engine.alerts import freshness_alert
        from headwater.store.freshness import FreshnessViolation, record_violation

        assert asset.freshness is not None and status.expected_by is not None
        max_lag = asset.freshness.lag.total_seconds()
        violation = FreshnessViolation(
            asset_key=asset.key,
            partition_key=status.partition_key,
            expected_by=status.expected_by,
            detected_at=moment,
            minutes_late=status.minutes_late,
            max_lag=max_lag,
            last_materialized_at=status.last_materialized_at,
        )
        # without a cron, a never-materialized asset is late from its first evaluation: one violation for it
        once = asset.freshness.cron is None and (asset.partitions is None or not asset.partitions.is_time_based)
        if not record_violation(self.store, violation, once_unmaterialized=once):
            return  # recorded before (by this scheduler or another one): alerted then
        log.warning(
            "asset %s%s is not fresh: expected by %s, %.1f min late (last materialized %s)",
            asset.key,
            _where(status.partition_key),
            status.expected_by.isoformat(),
            status.minutes_late,
            status.last_materialized_at.isoformat() if status.last_materialized_at else "never",
        )
        alert = freshness_alert(
            pipeline_id=ASSETS_PIPELINE_ID,
            asset=asset.key,
            lag=status.lag if status.lag is not None else status.minutes_late * 60.0,
            max_lag=max_lag,
            last_materialized_at=status.last_materialized_at,
            partition=status.partition_key or None,
            expected_by=status.expected_by,
            minutes_late=status.minutes_late,
        )
        try:
            self.send(alert)
        except Exception:  # the row is recorded; a broken notifier must not stop the scheduler
            log.exception("could not send the freshness alert of asset %s", asset.key)


def _where(partition_key: str) -> str:
    return f" partition {partition_key}" if partition_key else ""


__all__ = ["FreshnessStatus", "FreshnessWatch", "evaluate", "newest_ended", "targets"]
