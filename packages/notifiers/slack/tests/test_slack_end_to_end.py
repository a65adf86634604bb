"""The notifier as Headwater uses it: built by name from ``[notifier_options.slack]``, fed by a real run."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from slack_stub import TOKEN, SlackStub, message_text

from headwater.plugin import Alert, AlertKind

DB_PASSWORD = "hw-warehouse-pw-7731"
BAD_TOKEN = "xoxb-hw-refused-90e1b2c3d4"

PIPELINE = """
from headwater import Pipeline, task


@task(retries=1, retry_delay=0)
def extract(ctx):
    conn = ctx.connection("warehouse")
    raise ConnectionError(f"cannot reach {conn.uri}")


with Pipeline("slack_e2e") as pipeline:
    extract()
"""


def test_the_alerter_builds_the_notifier_by_name_with_its_options(slack: SlackStub) -> None:
    from headwater.engine.alerts import Alerter

    options = {"slack": {"token": TOKEN, "channel": "#data-team", "base_url": slack.base_url, "mention": "<!here>"}}
    alerter = Alerter(["slack"], options=options, background=True)
    for i in range(3):
        alerter.send(Alert(kind=AlertKind.FAILURE, pipeline_id="etl", task_id=f"t{i}", message=f"t{i} failed"))
    alerter.close()
    assert [m["channel"] for m in slack.messages] == ["#data-team"] * 3
    assert slack.messages[0]["blocks"][1]["text"]["text"] == "<!here> t0 failed"


def _project(tmp_path: Path) -> Path:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "slack_e2e.py").write_text(textwrap.dedent(PIPELINE))
    (tmp_path / "headwater.toml").write_text(
        textwrap.dedent(
            """
            executor = "inline"
            notifiers = ["console", "slack"]
            alert_on = ["retry", "failure"]

            [notifier_options.slack]
            channel = "#data-team"
            window = "10m"
            """
        )
    )
    return tmp_path


def _run(project: Path, token: str, slack: SlackStub) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEADWATER_", "SLACK_"))}
    env["HEADWATER_CONN_SLACK"] = f"slack://:{token}@{slack.netloc}/api/?tls=false"
    env["HEADWATER_CONN_WAREHOUSE"] = f"postgres://etl:{DB_PASSWORD}@127.0.0.1:1/warehouse"
    headwater = Path(sys.executable).with_name("headwater")
    return subprocess.run(
        [str(headwater), "run", "pipelines/slack_e2e.py"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _everything_written(project: Path, proc: subprocess.CompletedProcess[str]) -> str:
    logs = [p.read_text(errors="replace") for p in project.rglob("*") if p.is_file() and p.suffix in (".log", ".txt")]
    return "\n".join([proc.stdout, proc.stderr, *logs])


def test_a_failing_run_alerts_slack_through_the_cli_without_leaking_secrets(slack: SlackStub, tmp_path: Path) -> None:
    project = _project(tmp_path)
    proc = _run(project, TOKEN, slack)
    assert proc.returncode == 1, proc.stderr
    texts = [m["text"] for m in slack.messages]
    assert [t.split(":", 1)[0] for t in texts] == [
        "[retry] slack_e2e/extract",
        "[failure] slack_e2e/extract",
    ], texts
    assert all(m["channel"] == "#data-team" for m in slack.messages)
    shown_in_slack = message_text(slack.messages[0])
    assert "*Error*\n```ConnectionError: cannot reach postgres://etl:***@127.0.0.1:1/warehouse```" in shown_in_slack
    assert "Log: `" in shown_in_slack  # no web UI configured: the try's log path
    shown = _everything_written(project, proc) + "\n".join(texts) + repr(slack.messages)
    assert TOKEN not in shown and DB_PASSWORD not in shown


def test_a_refused_token_is_one_clear_error_per_alert_and_the_run_still_ends(slack: SlackStub, tmp_path: Path) -> None:
    project = _project(tmp_path)
    proc = _run(project, BAD_TOKEN, slack)
    assert proc.returncode == 1, proc.stderr  # the run failed on its own; alerting never changes that
    refused = [line for line in proc.stderr.splitlines() if "notifier 'slack' failed" in line]
    assert len(refused) == 2, proc.stderr  # the retry and the failure
    assert (
        "SlackRefusedError: Slack refused the token of connection 'slack' (invalid_auth): check the bot token"
        in refused[0]
    )
    assert slack.requests == 1  # refused once; the later alerts were not sent with the same token
    assert BAD_TOKEN not in _everything_written(project, proc)


@pytest.fixture(autouse=True)
def _headwater_on_path() -> None:
    if not Path(sys.executable).with_name("headwater").exists():
        pytest.skip("the headwater command is not installed next to this Python")


YAML_PIPELINE = """
id: yaml_slack
tasks:
  - id: load
    operator: bash
    command: "exit 3"
  - id: tell_the_team
    operator: slack.message
    conn: slack
    channel: "#data-team"
    text: ":x: {pipeline_id} failed on {ds}"
    trigger_rule: one_failed
    depends_on: [load]
"""


def test_a_yaml_pipeline_posts_on_failure_with_slack_message(slack: SlackStub, tmp_path: Path) -> None:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "yaml_slack.yaml").write_text(YAML_PIPELINE)
    (tmp_path / "headwater.toml").write_text('executor = "inline"\nalerting = false\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEADWATER_", "SLACK_"))}
    env["HEADWATER_CONN_SLACK"] = f"slack://:{TOKEN}@{slack.netloc}/api/?tls=false"
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("headwater")), "run", "pipelines/yaml_slack.yaml"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    (message,) = slack.messages
    assert message["channel"] == "#data-team" and message["text"].startswith(":x: yaml_slack failed on 20")
    assert TOKEN not in proc.stdout + proc.stderr
