"""Trigger rules: when a task may run, given the states of its upstream tasks."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from headwater.errors import DefinitionError


class TriggerRule(StrEnum):
    """When a task runs, given its upstream tasks' states (Airflow's names and meanings)."""

    ALL_SUCCESS = "all_success"
    ALL_FAILED = "all_failed"
    ALL_DONE = "all_done"
    ONE_SUCCESS = "one_success"
    ONE_FAILED = "one_failed"
    NONE_FAILED = "none_failed"
    NONE_SKIPPED = "none_skipped"
    ALWAYS = "always"

    @classmethod
    def parse(cls, value: TriggerRule | str, *, what: str = "trigger_rule") -> TriggerRule:
        try:
            return cls(value)
        except ValueError:
            known = ", ".join(r.value for r in cls)
            raise DefinitionError(f"{what}: unknown trigger rule {value!r} (one of: {known})") from None


class Decision(StrEnum):
    """What the engine does with a task after looking at its upstream tasks."""

    WAIT = "wait"
    RUN = "run"
    SKIP = "skip"
    UPSTREAM_FAILED = "upstream_failed"


@dataclass(slots=True)
class UpstreamCounts:
    """How many upstream tasks ended in each kind of state (failed includes upstream_failed)."""

    total: int
    success: int = 0
    failed: int = 0
    skipped: int = 0

    @property
    def done(self) -> int:
        return self.success + self.failed + self.skipped


def decide(rule: TriggerRule, up: UpstreamCounts) -> Decision:
    """Apply ``rule`` to the upstream counts: run now, wait, skip, or mark upstream_failed.

    A task without upstream tasks always runs. ``one_success`` and ``one_failed``
    fire as soon as one upstream task qualifies, without waiting for the rest.
    """
    if up.total == 0 or rule is TriggerRule.ALWAYS:
        return Decision.RUN
    all_done = up.done == up.total
    if rule is TriggerRule.ONE_SUCCESS:
        if up.success:
            return Decision.RUN
        if not all_done:
            return Decision.WAIT
        return Decision.SKIP if up.skipped == up.total else Decision.UPSTREAM_FAILED
    if rule is TriggerRule.ONE_FAILED:
        if up.failed:
            return Decision.RUN
        return Decision.SKIP if all_done else Decision.WAIT
    if not all_done:
        return Decision.WAIT
    if rule is TriggerRule.ALL_SUCCESS:
        if up.failed:
            return Decision.UPSTREAM_FAILED
        return Decision.SKIP if up.skipped else Decision.RUN
    if rule is TriggerRule.ALL_FAILED:
        return Decision.RUN if up.failed == up.total else Decision.SKIP
    if rule is TriggerRule.ALL_DONE:
        return Decision.RUN
    if rule is TriggerRule.NONE_FAILED:
        return Decision.UPSTREAM_FAILED if up.failed else Decision.RUN
    if rule is TriggerRule.NONE_SKIPPED:
        return Decision.SKIP if up.skipped else Decision.RUN
    raise AssertionError(f"unhandled trigger rule {rule}")
