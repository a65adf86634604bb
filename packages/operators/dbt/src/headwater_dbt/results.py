"""dbt's run results as plain records, and the one-message reports of what failed."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from headwater.plugin import CheckReport

#: result statuses of a node that did not build (models, seeds, snapshots) or a test that could not run
ERROR_STATUSES = frozenset({"error", "runtime error"})
TEST_TYPES = frozenset({"test", "unit_test"})
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_SQL_LINE = re.compile(r"^\s*LINE (\d+):")


@dataclass(frozen=True, kw_only=True)
class NodeResult:
    """One node of a dbt invocation: what ran, how it ended, and its numbers."""

    unique_id: str
    name: str
    resource_type: str
    status: str
    message: str | None = None
    failures: int | None = None
    rows_affected: int | None = None
    execution_time: float = 0.0
    relation_name: str | None = None
    original_file_path: str | None = None
    #: for a data test: the unique ids of the nodes it tests
    tested: tuple[str, ...] = field(default_factory=tuple)

    @property
    def failed(self) -> bool:
        """A test that failed, or any node that errored."""
        return self.status in ERROR_STATUSES or (self.resource_type in TEST_TYPES and self.status == "fail")

    def as_dict(self) -> dict[str, object]:
        """The JSON facts of this result (for task results and materialization metadata)."""
        out: dict[str, object] = {
            "unique_id": self.unique_id,
            "name": self.name,
            "resource_type": self.resource_type,
            "status": self.status,
            "execution_time": round(self.execution_time, 3),
        }
        if self.rows_affected is not None:
            out["rows_affected"] = self.rows_affected
        if self.failures is not None:
            out["failures"] = self.failures
        if self.message:
            out["message"] = clean(self.message)
        return out


def clean(text: str) -> str:
    """``text`` without terminal colour codes."""
    return _ANSI.sub("", text)


def from_run_result(result: Any) -> NodeResult:
    """A NodeResult from one of dbt's ``RunResult`` objects (``res.result.results``)."""
    node = result.node
    response = result.adapter_response or {}
    rows = response.get("rows_affected") if isinstance(response, dict) else None
    depends = getattr(getattr(node, "depends_on", None), "nodes", None) or []
    attached = getattr(node, "attached_node", None)
    tested = (attached,) if attached else tuple(str(n) for n in depends)
    return NodeResult(
        unique_id=str(node.unique_id),
        name=str(node.name),
        resource_type=str(node.resource_type),
        status=str(result.status),
        message=clean(str(result.message)) if result.message else None,
        failures=int(result.failures) if result.failures is not None else None,
        rows_affected=int(rows) if isinstance(rows, int) and rows >= 0 else None,
        execution_time=float(result.execution_time or 0.0),
        relation_name=getattr(node, "relation_name", None),
        original_file_path=getattr(node, "original_file_path", None),
        tested=tuple(str(t) for t in tested) if node.resource_type in TEST_TYPES else (),
    )


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _short_name(unique_id: str) -> str:
    return unique_id.rsplit(".", 1)[-1]


def error_summary(result: NodeResult) -> str:
    """One line: ``model orders_summary (models/x.sql): column "c" does not exist (line 14 of the compiled SQL)``."""
    lines = [line.strip() for line in clean(result.message or "").splitlines() if line.strip()]
    detail = ""
    sql_line = None
    compiled = None
    for line in lines[1:] if len(lines) > 1 else lines:
        match = _SQL_LINE.match(line)
        if match:
            sql_line = match.group(1)
        elif line.startswith("compiled code at "):
            compiled = line[len("compiled code at ") :].strip()
        elif not detail and not line.startswith("^"):
            detail = line
    where = f" ({result.original_file_path})" if result.original_file_path else ""
    text = f"{result.resource_type} {result.name}{where}: {detail or 'failed'}"
    if sql_line:
        text += f" (line {sql_line} of {compiled or 'the compiled SQL'})"
    return text


def describe_test_failure(result: NodeResult) -> str:
    """``assert_amount_under_cap on stg_orders: 1 failing row`` (or the test's error)."""
    on = ", ".join(_short_name(t) for t in result.tested)
    where = f" on {on}" if on else ""
    if result.status in ERROR_STATUSES:
        return f"{result.name}{where}: could not run: {error_summary(result).split(': ', 1)[-1]}"
    count = result.failures if result.failures is not None else 0
    return f"{result.name}{where}: {_plural(count, 'failing row')}"


def failure_report(command: str, results: Sequence[NodeResult], where: str) -> tuple[str, list[str], bool]:
    """The one-line message for a failed invocation, the detail lines for the log, and whether only tests failed.

    One line, because the run summary, alerts and ``headwater materialize`` each show one line of an error.
    """
    errors = [r for r in results if r.status in ERROR_STATUSES and r.resource_type not in TEST_TYPES]
    tests = [r for r in results if r.resource_type in TEST_TYPES and r.failed]
    skipped = [r for r in results if r.status == "skipped"]
    parts = []
    if errors:
        parts.append("; ".join(error_summary(r) for r in errors))
    if tests:
        names = ", ".join(describe_test_failure(r) for r in tests)
        parts.append(f"{_plural(len(tests), 'data test')} failed: {names}")
    if not parts:
        parts.append("dbt reported a failure without a failed node")
    context = [where]
    if skipped:
        context.insert(0, f"skipped because of it: {', '.join(r.name for r in skipped)}")
    message = f"dbt {command} failed: {'; '.join(parts)} [{'; '.join(context)}]"
    details = [f"error: {error_summary(r)}" for r in errors]
    details += [f"failed test: {describe_test_failure(r)}" for r in tests]
    details += [f"skipped: {r.resource_type} {r.name}" for r in skipped]
    return message, details, not errors and bool(tests)


def counts(results: Sequence[NodeResult]) -> dict[str, int]:
    """How many nodes ended in each status (``{"success": 3, "pass": 4, "fail": 1}``)."""
    out: dict[str, int] = {}
    for r in results:
        out[r.status] = out.get(r.status, 0) + 1
    return out


def check_report(results: Sequence[NodeResult]) -> CheckReport:
    """The data tests of an invocation as a CheckReport (one ``sql`` check per test, on the models it tests)."""
    from headwater.plugin import CheckReport, CheckResult

    tests = [r for r in results if r.resource_type in TEST_TYPES and r.status != "skipped"]
    tested = sorted({_short_name(t) for r in tests for t in r.tested})
    checks = []
    for r in tests:
        count = r.failures if r.failures is not None else None
        if r.status in ERROR_STATUSES:
            found = "could not run: " + error_summary(r).split(": ", 1)[-1]
        else:
            found = _plural(count or 0, "failing row")
        checks.append(CheckResult(name=r.name, kind="sql", passed=not r.failed, found=found, count=count))
    return CheckReport(table=", ".join(tested) or "dbt project", results=tuple(checks))
