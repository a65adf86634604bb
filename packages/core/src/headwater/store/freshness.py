"""Freshness violations (``hw_freshness_violations``) and the materialization times freshness is judged by.

A violation is keyed by ``(asset_key, partition_key, expected_by)``: an asset (or
one of its partitions) that was not fresh by ``expected_by`` is recorded once.
:func:`record_violation` inserts only if the row is absent and says whether it
did, so when several schedulers share a database exactly one of them alerts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select

from headwater.store import tables as t
from headwater.store.dialects import chunks, conflict_insert, utc
from headwater.store.repository import Store, _aware

#: (asset, partition) pairs per query: far below every backend's bound-parameter limit
CHUNK = 200

#: the pipeline row whose lock serialises "never materialized" violations (a reserved id: no user pipeline has it)
CURSOR_OWNER = "assets"

_violations = t.freshness_violations
_mat = t.materializations


@dataclass(frozen=True, kw_only=True, slots=True)
class FreshnessViolation:
    """An asset partition (``partition_key`` "" when unpartitioned) that was not fresh by ``expected_by``.

    ``max_lag`` is in seconds; ``minutes_late`` is how late it was when detected.
    """

    asset_key: str
    partition_key: str
    expected_by: datetime
    detected_at: datetime
    minutes_late: float
    max_lag: float
    last_materialized_at: datetime | None = None


def _violation(row: Any) -> FreshnessViolation:
    expected_by = _aware(row.expected_by)
    detected_at = _aware(row.detected_at)
    assert expected_by is not None and detected_at is not None
    return FreshnessViolation(
        asset_key=row.asset_key,
        partition_key=row.partition_key,
        expected_by=expected_by,
        detected_at=detected_at,
        minutes_late=float(row.minutes_late),
        max_lag=float(row.max_lag),
        last_materialized_at=_aware(row.last_materialized_at),
    )


# -- writing ------------------------------------------------------------------------------------
def record_violation(store: Store, violation: FreshnessViolation, *, once_unmaterialized: bool = False) -> bool:
    """Insert ``violation`` unless its ``(asset, partition, expected_by)`` is recorded; True if this call did.

    ``once_unmaterialized``: a partition never materialized is recorded once, whatever its
    ``expected_by`` (a policy without cron has no natural one for it): the check and the insert
    are serialised across schedulers by the ``assets`` pipeline's row lock.
    """
    with store.engine.begin() as conn:
        if once_unmaterialized and violation.last_materialized_at is None:
            from headwater.store.leases import lock_pipeline

            lock_pipeline(conn, CURSOR_OWNER)
            v = _violations.c
            existing = conn.execute(
                select(v.expected_by).where(
                    v.asset_key == violation.asset_key,
                    v.partition_key == violation.partition_key,
                    v.last_materialized_at.is_(None),
                )
            ).first()
            if existing is not None:
                return False
        stmt = conflict_insert(conn, _violations, what="freshness tracking").values(
            asset_key=violation.asset_key,
            partition_key=violation.partition_key,
            expected_by=utc(violation.expected_by),
            detected_at=utc(violation.detected_at),
            minutes_late=violation.minutes_late,
            max_lag=violation.max_lag,
            last_materialized_at=utc(violation.last_materialized_at),
        )
        stmt = stmt.on_conflict_do_nothing(
            index_elements=[_violations.c.asset_key, _violations.c.partition_key, _violations.c.expected_by]
        )
        # SQLAlchemy 2.1 reports an INSERT's rowcount only when asked to (else -1 on PostgreSQL)
        result = conn.execute(stmt.execution_options(preserve_rowcount=True))
        return result.rowcount == 1


# -- reading ------------------------------------------------------------------------------------
def recent_violations(
    store: Store, asset_key: str | None = None, *, partition_key: str | None = None, limit: int = 20
) -> list[FreshnessViolation]:
    """The newest violations (of one asset, or one asset partition), newest ``expected_by`` first."""
    query = select(_violations).order_by(_violations.c.expected_by.desc(), _violations.c.asset_key).limit(limit)
    if asset_key is not None:
        query = query.where(_violations.c.asset_key == asset_key)
    if partition_key is not None:
        query = query.where(_violations.c.partition_key == partition_key)
    with store.engine.connect() as conn:
        return [_violation(row) for row in conn.execute(query)]


def violation_counts(store: Store, asset_keys: Iterable[str]) -> dict[str, int]:
    """``asset -> number of violations recorded`` for these assets (absent: none)."""
    keys = sorted(set(asset_keys))
    out: dict[str, int] = {}
    if not keys:
        return out
    query = (
        select(_violations.c.asset_key, func.count())
        .where(_violations.c.asset_key.in_(keys))
        .group_by(_violations.c.asset_key)
    )
    with store.engine.connect() as conn:
        for asset_key, count in conn.execute(query):
            out[str(asset_key)] = int(count)
    return out


def first_unmaterialized_violations(store: Store, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], datetime]:
    """``(asset, partition) -> expected_by`` of the violation recorded while it had never been materialized."""
    wanted = sorted(set(pairs))
    out: dict[tuple[str, str], datetime] = {}
    v = _violations.c
    with store.engine.connect() as conn:
        for chunk in chunks(wanted, CHUNK):
            query = (
                select(v.asset_key, v.partition_key, func.min(v.expected_by))
                .where(
                    or_(*(and_(v.asset_key == a, v.partition_key == p) for a, p in chunk)),
                    v.last_materialized_at.is_(None),
                )
                .group_by(v.asset_key, v.partition_key)
            )
            for asset_key, partition_key, expected_by in conn.execute(query):
                moment = _aware(expected_by)
                if moment is not None:
                    out[(str(asset_key), str(partition_key))] = moment
    return out


def last_materialized(store: Store, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], datetime]:
    """``(asset, partition) -> when its newest materialization was recorded``; absent: never materialized.

    ``partition`` is "" for an unpartitioned asset. One indexed lookup per pair
    (``hw_materializations`` keeps every materialization; the newest has the highest id).
    """
    wanted = sorted(set(pairs))
    out: dict[tuple[str, str], datetime] = {}
    if not wanted:
        return out
    m = _mat.c
    with store.engine.connect() as conn:
        for chunk in chunks(wanted, CHUNK):
            newest = (
                select(m.asset_key, m.partition_key, func.max(m.id).label("id"))
                .where(or_(*(and_(m.asset_key == a, m.partition_key == p) for a, p in chunk)))
                .group_by(m.asset_key, m.partition_key)
                .subquery()
            )
            query = select(m.asset_key, m.partition_key, m.created_at).join(newest, newest.c.id == m.id)
            for asset_key, partition_key, created_at in conn.execute(query):
                moment = _aware(created_at)
                if moment is not None:
                    out[(str(asset_key), str(partition_key))] = moment
    return out


__all__ = [
    "FreshnessViolation",
    "first_unmaterialized_violations",
    "last_materialized",
    "recent_violations",
    "record_violation",
    "violation_counts",
]
