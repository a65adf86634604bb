"""``headwater show``: when a pipeline runs next, its deadline, and what a manual pipeline does."""

from __future__ import annotations

import re
import textwrap
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner, Result

from headwater.cli.app import cli
from headwater.cli.inspect_cmds import schedule_preview
from headwater.model.pipeline import Pipeline


def show(tmp_path: Path, source: str, pipeline_id: str) -> Result:
    root = tmp_path / "proj"
    (root / "pipelines").mkdir(parents=True)
    (root / "headwater.toml").write_text('executor = "inline"\n', encoding="utf-8")
    (root / "pipelines" / "p.py").write_text(textwrap.dedent(source), encoding="utf-8")
    result = CliRunner().invoke(cli, ["--project", str(root), "show", pipeline_id])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 0, result.output
    return result


def test_show_previews_the_next_runs_in_local_time_and_utc(tmp_path: Path) -> None:
    result = show(
        tmp_path,
        """
        from headwater import Pipeline, BashOperator
        with Pipeline("nightly", schedule="30 2 * * *", timezone="Europe/Berlin", start_date="2100-01-04",
                      deadline="08:00", catchup=True, max_active_runs=2, timeout="3h"):
            BashOperator("load", command="true")
        """,
        "nightly",
    )
    out = result.output
    assert "schedule    30 2 * * * (Europe/Berlin)" in out
    assert "catchup     True   max_active_runs 2" in out
    assert re.search(r"^timeout\s+3h00m$", out, re.MULTILINE), out
    assert re.search(r"^start_date\s+2100-01-04 00:00:00\+01:00$", out, re.MULTILINE), out
    assert "deadline    by 08:00 Europe/Berlin on the day the interval ends" in out
    assert "next runs   times in Europe/Berlin; a run covers [start, end), its logical date is start" in out
    rows = re.findall(r"^  (2100-\S+ \S+ CET)  (\S+ \S+ CET)  (\S+ \S+ -> \S+ \S+)  (\S+ \S+ CET)$", out, re.MULTILINE)
    assert rows[0] == (
        "2100-01-04 02:30 CET",
        "2100-01-05 02:30 CET",
        "2100-01-04 01:30 -> 2100-01-05 01:30",
        "2100-01-05 08:00 CET",
    )
    assert [r[0][:10] for r in rows] == ["2100-01-04", "2100-01-05", "2100-01-06", "2100-01-07", "2100-01-08"]
    assert re.search(r"^load\s+bash: true", out, re.MULTILINE), out  # the task table is still there


def test_show_a_manual_pipeline(tmp_path: Path) -> None:
    result = show(
        tmp_path,
        """
        from headwater import Pipeline, BashOperator
        with Pipeline("by_hand", deadline="45m"):
            BashOperator("a", command="true")
        """,
        "by_hand",
    )
    assert "schedule    manual (UTC)" in result.output
    assert "runs        only when triggered (no schedule)" in result.output
    assert "deadline    within 45m00s of the run's creation" in result.output
    assert "next runs" not in result.output


def test_show_a_pipeline_past_its_end_date(tmp_path: Path) -> None:
    result = show(
        tmp_path,
        """
        from headwater import Pipeline, BashOperator
        with Pipeline("over", schedule="@daily", start_date="2020-01-01", end_date="2020-02-01"):
            BashOperator("a", command="true")
        """,
        "over",
    )
    assert "next runs   none: end_date 2020-02-01T00:00:00+00:00 has passed" in result.output


def test_preview_across_the_fall_back_shows_both_two_oclocks() -> None:
    pipeline = Pipeline("hourly", schedule="@hourly", timezone="Europe/Berlin", deadline="30m")
    lines = schedule_preview(pipeline, datetime(2026, 10, 24, 23, 30, tzinfo=UTC), n=3)
    assert lines[0] == "deadline    within 30m00s after the interval ends"
    assert lines[3:] == [
        "  2026-10-25 01:00 CEST  2026-10-25 02:00 CEST  2026-10-24 23:00 -> 2026-10-25 00:00  2026-10-25 02:30 CEST",
        "  2026-10-25 02:00 CEST  2026-10-25 02:00 CET   2026-10-25 00:00 -> 2026-10-25 01:00  2026-10-25 02:30 CET",
        "  2026-10-25 02:00 CET   2026-10-25 03:00 CET   2026-10-25 01:00 -> 2026-10-25 02:00  2026-10-25 03:30 CET",
    ]
