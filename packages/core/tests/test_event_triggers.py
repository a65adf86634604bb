"""Event triggers: files, asset updates, webhooks and NOTIFY start runs, debounced, recorded with the run."""

from __future__ import annotations

import json
import logging
import sys
import textwrap
import types
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import insert, select

from headwater.cli.app import cli
from headwater.config.settings import load_project
from headwater.engine.clock import FakeClock
from headwater.engine.events.sources import Emitter, EventSource, Subscription
from headwater.engine.events.triggers import due_at
from headwater.engine.events.webhook import WebhookSource
from headwater.engine.scheduler import Scheduler, SchedulerOptions
from headwater.errors import DefinitionError
from headwater.executors.inline import InlineExecutor
from headwater.model.pipeline import Pipeline
from headwater.model.triggers import AssetUpdated, DatabaseChange, FileArrival, Trigger, Webhook
from headwater.plugin import hookimpl
from headwater.plugin.manager import PluginManager, reset_manager
from headwater.store import tables as t
from headwater.store.database import connect
from headwater.store.events import EventRecord, list_events
from headwater.store.repository import Store

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC).timestamp()
TOKEN = "s3cret-orders-token"

FILE_PIPELINE = """
from headwater import Pipeline, task, FileArrival

@task
def load(ctx):
    return ctx.run_id

with Pipeline("orders", schedule=FileArrival("landing/orders/*.csv", debounce="60s")):
    load()
"""


def _project(root: Path, pipelines: dict[str, str], config: str = "", scheduler: str = "") -> Path:
    """A project whose file and asset triggers look for news only when a test calls ``events.poll()``."""
    (root / "pipelines").mkdir(parents=True, exist_ok=True)
    settings = 'db = "sqlite:///.headwater/hw.db"\nexecutor = "inline"\n'
    settings += f"[scheduler]\nevent_poll_interval = 3600\n{textwrap.dedent(scheduler)}\n{textwrap.dedent(config)}"
    (root / "headwater.toml").write_text(settings, encoding="utf-8")
    for name, source in pipelines.items():
        (root / "pipelines" / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return root


def _scheduler(root: Path, clock: FakeClock, **options: object) -> tuple[Scheduler, Store]:
    project = load_project(root, environ={})
    store = Store(connect(project.settings.db, base_dir=root))
    opts = SchedulerOptions(**{"tick": 3600.0, "parse_interval": 3600.0, "lease_ttl": 7200.0, **options})  # type: ignore[arg-type]
    return Scheduler(project, store=store, executor=InlineExecutor(), clock=clock, options=opts), store


def _settle(scheduler: Scheduler) -> None:
    """One pass, then wait for the runs it started and reap them."""
    scheduler.step()
    for item in list(scheduler.active.values()):
        item.thread.join(30)
    scheduler.step()


def _runs(store: Store) -> list[tuple[str, str, str]]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(t.runs.c.run_id, t.runs.c.state, t.runs.c.trigger).order_by(t.runs.c.run_id))
        return [(str(a), str(b), str(c)) for a, b, c in rows]


def _touch(path: Path, text: str = "id\n1\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _paths(events: list[EventRecord]) -> list[str]:
    return sorted(str(e.payload["path"]) for e in events if isinstance(e.payload, dict))


# -- definitions ---------------------------------------------------------------------------------


def test_triggers_describe_themselves_and_pipelines_accept_one_or_a_list() -> None:
    class FakeAsset:
        key = "stg_customers"

    with Pipeline("p", schedule=[FileArrival("landing/*.csv"), Webhook("orders_ready")]) as p:
        pass
    assert p.schedule == "file:landing/*.csv | webhook:orders_ready"  # what `headwater list` shows
    assert p.cron is None
    assert [t.kind for t in p.triggers] == ["file", "webhook"]
    assert FileArrival("landing/*.csv").debounce_seconds == 60.0  # files arrive in bursts
    assert Webhook("x").debounce_seconds == 0.0
    assert AssetUpdated(["stg_orders", FakeAsset()]).describe() == "asset:stg_orders,stg_customers"
    assert DatabaseChange(conn="warehouse", channel="orders_changed").describe() == "database:warehouse/orders_changed"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: FileArrival(""), "expected a path glob"),
        (lambda: FileArrival("landing/[ab.csv"), "unbalanced '['"),
        (lambda: FileArrival("landing/"), "names a directory"),
        (lambda: FileArrival("landing/*.csv", debounce="soon"), "debounce"),
        (lambda: AssetUpdated([]), "non-empty list"),
        (lambda: Webhook("Orders Ready!"), "invalid name 'Orders Ready!'"),
        (lambda: DatabaseChange(conn="warehouse", channel="orders-changed"), "invalid channel"),
        (lambda: Pipeline("p", schedule=[FileArrival("a/*"), "0 6 * * *"]), "a list of triggers"),  # type: ignore[list-item]
    ],
)
def test_bad_triggers_are_definition_errors(make: object, message: str) -> None:
    with pytest.raises(DefinitionError, match=message.replace("[", r"\[").replace("(", r"\(")):
        make()  # type: ignore[operator]


def test_pending_events_fire_after_a_quiet_debounce_or_at_the_latest_five_debounces() -> None:
    def at(seconds: float) -> datetime:
        return datetime.fromtimestamp(START + seconds, UTC)

    triggers = [FileArrival("a/*", debounce="60s")]
    assert due_at(triggers, [("file:a/*", at(0), at(30))]) == START + 90  # 60s after the newest
    assert due_at(triggers, [("file:a/*", at(0), at(290))]) == START + 300  # a never-ending burst: 5 x 60s
    assert due_at([Webhook("w")], [("webhook:w", at(0), at(0))]) == START  # no debounce: at once


# -- file arrival --------------------------------------------------------------------------------


def test_a_burst_of_files_fires_one_run_linked_to_every_event(tmp_path: Path) -> None:
    root = _project(tmp_path, {"orders": FILE_PIPELINE})
    _touch(root / "landing/orders/old.csv")  # present when the trigger is first seen: never fires
    clock = FakeClock(START)
    scheduler, store = _scheduler(root, clock)
    try:
        scheduler.step()
        assert scheduler.events is not None
        for n in range(5):
            _touch(root / f"landing/orders/day{n}.csv")
        _touch(root / "landing/orders/notes.txt")  # not matched by the glob
        scheduler.events.poll()
        assert len(list_events(store, "orders", state="pending")) == 5
        wait = scheduler.step()
        assert _runs(store) == []  # still within the debounce
        assert 0 < wait <= 60
        clock.advance(30)
        _touch(root / "landing/orders/day1.csv", "id\n1\n2\n")  # changed within the burst: one more event
        scheduler.events.poll()
        scheduler.step()
        assert _runs(store) == []  # the quiet period restarts at the newest event
        clock.advance(61)
        _settle(scheduler)
        runs = _runs(store)
        assert len(runs) == 1
        run_id, state, trigger = runs[0]
        assert (state, trigger) == ("success", "event")
        fired = list_events(store, "orders")
        assert {e.run_id for e in fired} == {run_id} and {e.state for e in fired} == {"fired"}
        assert run_id == f"orders-event-{fired[0].event_id}"
        assert _paths(fired) == [f"landing/orders/day{n}.csv" for n in (0, 1, 1, 2, 3, 4)]
        scheduler.events.poll()
        clock.advance(3600)
        _settle(scheduler)
        assert len(_runs(store)) == 1  # nothing new: nothing fires
    finally:
        scheduler.shutdown()
        store.close()


def test_a_restart_does_not_refire_seen_files_but_fires_files_that_arrived_meanwhile(tmp_path: Path) -> None:
    root = _project(tmp_path, {"orders": FILE_PIPELINE})
    clock = FakeClock(START)
    scheduler, store = _scheduler(root, clock)
    try:
        scheduler.step()
        _touch(root / "landing/orders/a.csv")
        assert scheduler.events is not None
        scheduler.events.poll()
        clock.advance(61)
        _settle(scheduler)
        assert len(_runs(store)) == 1
    finally:
        scheduler.shutdown()
        store.close()
    _touch(root / "landing/orders/b.csv")  # arrives while no scheduler runs
    clock.advance(600)
    scheduler, store = _scheduler(root, clock)
    try:
        scheduler.step()
        clock.advance(61)
        _settle(scheduler)
        assert len(_runs(store)) == 2
        by_run: dict[str | None, list[str]] = {}
        for event in list_events(store, "orders"):
            by_run.setdefault(event.run_id, []).extend(_paths([event]))
        # a.csv fired the first run only; b.csv, which arrived while no scheduler ran, fired the second
        assert sorted(by_run.values()) == [["landing/orders/a.csv"], ["landing/orders/b.csv"]]
    finally:
        scheduler.shutdown()
        store.close()


# -- asset updates -------------------------------------------------------------------------------

ASSET_PIPELINE = """
from headwater import Pipeline, task, AssetUpdated
from headwater.model.asset import asset

@asset
def stg_orders():
    return 1

@task
def report(ctx):
    return ctx.run_id

with Pipeline("reports", schedule=AssetUpdated(["stg_orders"])):
    report()
"""


def _materialize(store: Store, asset_key: str, partition: str = "") -> None:
    with store.engine.begin() as conn:
        conn.execute(
            insert(t.materializations).values(
                asset_key=asset_key,
                partition_key=partition,
                run_id="assets-manual",
                task_id=asset_key,
                pipeline_id="assets",
                created_at=datetime.fromtimestamp(START, UTC),
                metadata="{}",
                upstream="{}",
            )
        )


def test_asset_updated_fires_once_per_new_materialization(tmp_path: Path) -> None:
    root = _project(tmp_path, {"reports": ASSET_PIPELINE})
    clock = FakeClock(START)
    scheduler, store = _scheduler(root, clock)
    try:
        _materialize(store, "stg_orders", "2026-02-28")  # history before the trigger existed: no run
        scheduler.step()
        assert scheduler.load_errors == []
        assert scheduler.events is not None
        _materialize(store, "stg_orders", "2026-03-01")
        _materialize(store, "raw_orders")  # another asset: ignored
        scheduler.events.poll()
        _settle(scheduler)
        runs = _runs(store)
        assert [(s, trig) for _, s, trig in runs] == [("success", "event")]
        (event,) = list_events(store, "reports")
        assert event.kind == "asset" and event.trigger == "asset:stg_orders"
        assert isinstance(event.payload, dict)
        assert (event.payload["asset"], event.payload["partition"]) == ("stg_orders", "2026-03-01")
    finally:
        scheduler.shutdown()
        store.close()


def test_an_unknown_asset_is_a_definition_error_for_the_scheduler_and_show(tmp_path: Path) -> None:
    source = ASSET_PIPELINE.replace('AssetUpdated(["stg_orders"])', 'AssetUpdated(["stg_ordrs"])')
    root = _project(tmp_path, {"reports": source})
    result = CliRunner().invoke(cli, ["--project", str(root), "show", "reports"])
    assert result.exit_code == 2
    assert "unknown asset(s) stg_ordrs" in result.output and "pipeline 'reports'" in result.output
    assert "Traceback" not in result.output
    assert not (root / ".headwater" / "hw.db").exists()  # nothing written
    scheduler, store = _scheduler(root, FakeClock(START))
    try:
        scheduler.step()
        assert any("stg_ordrs" in str(e) for e in scheduler.load_errors)
        assert scheduler.events is not None and "asset" not in scheduler.events.sources  # not watched
    finally:
        scheduler.shutdown()
        store.close()


# -- webhooks ------------------------------------------------------------------------------------

WEBHOOK_PIPELINE = """
from headwater import Pipeline, task, Webhook

@task
def load(ctx):
    return ctx.run_id

with Pipeline("orders", schedule=Webhook("orders_ready")):
    load()
"""


def _post(url: str, body: bytes, token: str | None) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def webhook_project(tmp_path: Path) -> Path:
    config = f"""
    [webhooks]
    orders_ready = "{TOKEN}"
    """
    return _project(tmp_path, {"orders": WEBHOOK_PIPELINE}, config, scheduler="webhook_port = 0")


def test_a_webhook_with_the_right_token_is_accepted_and_fires_a_run(webhook_project: Path) -> None:
    scheduler, store = _scheduler(webhook_project, FakeClock(START))
    try:
        scheduler.step()
        assert scheduler.events is not None
        source = scheduler.events.sources["webhook"]
        assert isinstance(source, WebhookSource) and source.address is not None
        host, port = source.address
        status, body = _post(f"http://{host}:{port}/hooks/orders_ready", b'{"batch": 42}', TOKEN)
        assert status == 202
        (event,) = list_events(store, "orders")
        assert body["event_id"] == event.event_id
        assert event.payload == {"batch": 42} and event.kind == "webhook"
        _settle(scheduler)
        assert _runs(store) == [(f"orders-event-{event.event_id}", "success", "event")]
        status, _ = _post(f"http://{host}:{port}/hooks/nope", b"{}", TOKEN)
        assert status == 404
    finally:
        scheduler.shutdown()
        store.close()


def test_a_webhook_with_a_wrong_or_missing_token_is_refused_and_logged(
    webhook_project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    scheduler, store = _scheduler(webhook_project, FakeClock(START))
    try:
        scheduler.step()
        assert scheduler.events is not None
        source = scheduler.events.sources["webhook"]
        assert isinstance(source, WebhookSource) and source.address is not None
        host, port = source.address
        url = f"http://{host}:{port}/hooks/orders_ready"
        with caplog.at_level(logging.WARNING, logger="headwater.events.webhook"):
            assert _post(url, b"{}", "guess")[0] == 401
            assert _post(url, b"{}", None)[0] == 401
        refusals = [r.getMessage() for r in caplog.records]
        assert any("webhook 'orders_ready'" in m and "127.0.0.1" in m and "wrong token" in m for m in refusals)
        assert any("missing bearer token" in m for m in refusals)
        assert not any("guess" in m or TOKEN in m for m in refusals)  # never the tokens
        assert list_events(store) == []
        _settle(scheduler)
        assert _runs(store) == []
    finally:
        scheduler.shutdown()
        store.close()


# -- database changes ----------------------------------------------------------------------------

DATABASE_PIPELINE = """
from headwater import Pipeline, task, DatabaseChange

@task
def load(ctx):
    return ctx.run_id

with Pipeline("{pid}", schedule=DatabaseChange(conn="warehouse", channel="orders_changed")):
    load()
"""


def test_a_notify_on_the_channel_fires_a_run_and_only_one_scheduler_listens(tmp_path: Path, postgres_url: str) -> None:
    import psycopg

    from headwater.engine.events.database import DatabaseChangeSource

    config = f'[connections]\nwarehouse = "{postgres_url}"\n'
    root = _project(tmp_path, {"orders": DATABASE_PIPELINE.replace("{pid}", "orders")}, config)
    first, store = _scheduler(root, FakeClock(START))
    second, other_store = _scheduler(root, FakeClock(START))
    try:
        first.step()
        assert first.events is not None and second.events is not None
        source = first.events.sources["database"]
        assert isinstance(source, DatabaseChangeSource)
        assert source.listeners[("warehouse", "orders_changed")].ready.wait(20)
        second.step()
        standby = second.events.sources["database"]
        assert isinstance(standby, DatabaseChangeSource)
        assert standby.listeners[("warehouse", "orders_changed")].standby.wait(20)
        first.wake.clear()
        uri = postgres_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute("SELECT pg_notify('orders_changed', '{\"rows\": 3}')")
        assert first.wake.wait(20)  # the event is stored, and the scheduler woken
        _settle(first)
        (event,) = list_events(store, "orders")  # one event, though two schedulers run
        assert event.kind == "database" and isinstance(event.payload, dict)
        assert event.payload["data"] == {"rows": 3} and event.payload["channel"] == "orders_changed"
        assert _runs(store) == [(f"orders-event-{event.event_id}", "success", "event")]
    finally:
        first.shutdown()
        second.shutdown()
        store.close()
        other_store.close()


def test_an_unknown_connection_is_a_definition_error(tmp_path: Path) -> None:
    root = _project(tmp_path, {"orders": DATABASE_PIPELINE.replace("{pid}", "orders")})
    result = CliRunner().invoke(cli, ["--project", str(root), "show", "orders"])
    assert result.exit_code == 2
    assert "connection 'warehouse' is not defined" in result.output
    assert "database:warehouse/orders_changed" in result.output and "Traceback" not in result.output
    assert not (root / ".headwater" / "hw.db").exists()
    for command in (["run", "orders"], ["test", "orders"]):  # a manual run refuses the broken definition too
        result = CliRunner().invoke(cli, ["--project", str(root), *command])
        assert result.exit_code == 2 and "connection 'warehouse' is not defined" in result.output, result.output
    assert not (root / ".headwater" / "hw.db").exists()
    scheduler, store = _scheduler(root, FakeClock(START))
    try:
        scheduler.step()
        assert any("warehouse" in str(e) for e in scheduler.load_errors)
    finally:
        scheduler.shutdown()
        store.close()


def test_bad_trigger_definitions_exit_2_in_show(tmp_path: Path) -> None:
    source = WEBHOOK_PIPELINE.replace('Webhook("orders_ready")', 'Webhook("Orders Ready")')
    root = _project(tmp_path, {"orders": source, "files": FILE_PIPELINE.replace("*.csv", "[x.csv")})
    for target, message in (("orders", "invalid name 'Orders Ready'"), ("files", "unbalanced '['")):
        result = CliRunner().invoke(cli, ["--project", str(root), "show", target])
        assert result.exit_code == 2, result.output
        assert message in result.output and "Traceback" not in result.output


# -- plugins -------------------------------------------------------------------------------------

PLUGIN_MODULE = "hw_test_event_plugin"


class Doorbell(Trigger):
    """A plugin's trigger kind: rings when the test says so."""

    __slots__ = ("door",)
    kind = "doorbell"

    def __init__(self, door: str) -> None:
        self.door = door

    def describe(self) -> str:
        return f"doorbell:{self.door}"


class DoorbellSource(EventSource):
    instances: list[DoorbellSource] = []  # noqa: RUF012 - the test reaches its sources here

    def start(self, emit: Emitter) -> None:
        self.emitter = emit
        DoorbellSource.instances.append(self)

    def ring(self) -> list[int]:
        return [self.emitter.emit(sub, {"door": getattr(sub.trigger, "door", "?")}) for sub in self.subscriptions]

    def stop(self) -> None:
        DoorbellSource.instances.remove(self)


@pytest.fixture
def doorbell_plugin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    module = types.ModuleType(PLUGIN_MODULE)
    module.Doorbell = Doorbell  # type: ignore[attr-defined]
    module.DoorbellSource = DoorbellSource  # type: ignore[attr-defined]

    @hookimpl
    def headwater_register_event_sources(register: object) -> None:
        register("doorbell", f"{PLUGIN_MODULE}:DoorbellSource")  # type: ignore[operator]

    module.headwater_register_event_sources = headwater_register_event_sources  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, PLUGIN_MODULE, module)
    manager = PluginManager(entry_points=False)
    manager.register_module(module, name="doorbell-test")
    reset_manager(manager)
    yield
    reset_manager(None)


def test_a_plugin_registered_source_kind_watches_its_triggers(tmp_path: Path, doorbell_plugin: None) -> None:
    source = f"""
    from headwater import Pipeline, task
    from {PLUGIN_MODULE} import Doorbell

    @task
    def greet(ctx):
        return "hello"

    with Pipeline("visitors", schedule=Doorbell("front")):
        greet()
    """
    root = _project(tmp_path, {"visitors": source})
    scheduler, store = _scheduler(root, FakeClock(START))
    try:
        scheduler.step()
        assert scheduler.load_errors == []
        (bell,) = DoorbellSource.instances
        assert [s.pipeline_id for s in bell.subscriptions] == ["visitors"]
        (event_id,) = bell.ring()
        _settle(scheduler)
        assert _runs(store) == [(f"visitors-event-{event_id}", "success", "event")]
        (event,) = list_events(store, "visitors")
        assert (event.kind, event.trigger, event.payload) == ("doorbell", "doorbell:front", {"door": "front"})
    finally:
        scheduler.shutdown()
        store.close()
    assert DoorbellSource.instances == []  # stopped with the scheduler


def test_a_trigger_kind_no_plugin_watches_is_a_definition_error(tmp_path: Path) -> None:
    class Carrier(Trigger):
        __slots__ = ()
        kind = "pigeon"

        def describe(self) -> str:
            return "pigeon:loft"

    with Pipeline("mail", schedule=Carrier()) as pipeline:
        pass
    root = _project(tmp_path, {})
    scheduler, store = _scheduler(root, FakeClock(START))
    scheduler._fixed = [pipeline]
    try:
        scheduler.step()
        assert any("no installed plugin provides the event source 'pigeon'" in str(e) for e in scheduler.load_errors)
    finally:
        scheduler.shutdown()
        store.close()


# -- history -------------------------------------------------------------------------------------


def test_history_shows_which_events_started_a_run(webhook_project: Path) -> None:
    scheduler, store = _scheduler(webhook_project, FakeClock(START))
    try:
        scheduler.step()
        assert scheduler.events is not None
        source = scheduler.events.sources["webhook"]
        assert isinstance(source, WebhookSource)
        sub = Subscription(pipeline_id="orders", pipeline_file=None, trigger=Webhook("orders_ready"))
        first = scheduler.events.emit(sub, {"batch": 1})
        scheduler.events.emit(sub, {"batch": 2})
        _settle(scheduler)
    finally:
        scheduler.shutdown()
        store.close()
    run_id = f"orders-event-{first}"
    runner = CliRunner()
    listing = runner.invoke(cli, ["--project", str(webhook_project), "history", "orders"])
    assert listing.exit_code == 0, listing.output
    assert run_id in listing.output and "event: webhook:orders_ready x2" in listing.output
    detail = runner.invoke(cli, ["--project", str(webhook_project), "history", run_id])
    assert detail.exit_code == 0, detail.output
    assert "started by 2 event(s):" in detail.output
    assert '{"batch":1}' in detail.output and '{"batch":2}' in detail.output
    assert "webhook:orders_ready" in detail.output


def test_list_and_show_describe_the_triggers(tmp_path: Path) -> None:
    root = _project(tmp_path, {"orders": FILE_PIPELINE})
    runner = CliRunner()
    listing = runner.invoke(cli, ["--project", str(root), "list"])
    assert listing.exit_code == 0, listing.output
    assert "file:landing/orders/*.csv" in listing.output
    shown = runner.invoke(cli, ["--project", str(root), "show", "orders"])
    assert shown.exit_code == 0, shown.output
    assert "schedule    on events: file:landing/orders/*.csv (debounce 1m00s)" in shown.output
    assert "runs        when a trigger fires" in shown.output


def test_the_webhook_endpoint_refuses_bodies_that_are_too_large_or_not_json(webhook_project: Path) -> None:
    from headwater.engine.events.webhook import MAX_BODY, WebhookEndpoint

    class Recorder:
        def __init__(self) -> None:
            self.payloads: list[object] = []

        def emit(self, subscription: Subscription, payload: object) -> int:
            self.payloads.append(payload)
            return len(self.payloads)

        def advance(self, subscription: Subscription, check: object) -> list[int]:
            raise AssertionError("webhooks keep no cursor")

    project = load_project(webhook_project, environ={})
    sub = Subscription(pipeline_id="orders", pipeline_file=None, trigger=Webhook("orders_ready"))
    recorder = Recorder()
    endpoint = WebhookEndpoint(project, lambda: {"orders_ready": [sub]}, recorder, environ={})
    auth = f"Bearer {TOKEN}"
    assert endpoint.handle("orders_ready", authorization=auth, body=b"x" * (MAX_BODY + 1), client="c").status == 413
    assert endpoint.handle("orders_ready", authorization=auth, body=b"{not json", client="c").status == 400
    assert endpoint.handle("orders_ready", authorization=f"Basic {TOKEN}", body=b"{}", client="c").status == 401
    accepted = endpoint.handle("orders_ready", authorization=auth, body=b"[1, 2]", client="c")
    assert (accepted.status, recorder.payloads) == (202, [{"body": [1, 2]}])  # a non-object body is wrapped
    env_endpoint = WebhookEndpoint(
        project, lambda: {"orders_ready": [sub]}, recorder, environ={"HEADWATER_WEBHOOK_ORDERS_READY": "from-env"}
    )
    assert env_endpoint.handle("orders_ready", authorization="Bearer from-env", body=b"", client="c").status == 202
