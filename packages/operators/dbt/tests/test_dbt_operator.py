"""dbt.build / dbt.run / dbt.test against the local PostgreSQL through dbt-postgres."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hw_dbt_support import PASSWORD, PG_DB, PG_HOST, PG_PORT, PG_USER, DbtProject, Warehouse, free_port, write_profiles

from headwater import Context, DataInterval, DefinitionError, PermanentError, Pipeline, load_operator
from headwater.plugin import DataQualityError
from headwater.testing import TestRun, run_pipeline
from headwater_dbt import DbtBuildOperator, DbtOperator, DbtRunOperator, DbtTestOperator
from headwater_dbt.errors import DbtProjectError, DbtTestFailure


def run_op(pipeline_id: str, make: object, workdir: Path | None = None) -> TestRun:
    with Pipeline(pipeline_id) as pipeline:
        make()  # type: ignore[operator]
    return run_pipeline(pipeline, workdir=workdir)


def log_text(run: TestRun, task_id: str) -> str:
    texts = []
    for attempt in run.tries[task_id]:
        if attempt.log_path and Path(attempt.log_path).exists():
            texts.append(Path(attempt.log_path).read_text())
    return "\n".join(texts)


def everything(run: TestRun, task_id: str) -> str:
    """Every text a user could see of a task: its log (which must exist), its errors, its result."""
    log = log_text(run, task_id)
    assert "dbt" in log, "the task log is missing: run with workdir= to keep it"
    errors = [t.error or "" for t in run.tries[task_id]]
    return "\n".join([log, *errors, repr(run.results.get(task_id)), repr(run.summary)])


def test_build_runs_seeds_models_and_tests_and_logs_dbt_output(
    dbt_project: DbtProject, warehouse: Warehouse, tmp_path: Path
) -> None:
    run = run_op(
        "dbt_build",
        lambda: DbtBuildOperator("build", project_dir=dbt_project.path, profiles_dir=dbt_project.profiles_dir),
        workdir=tmp_path,
    )
    assert run.ok, run.summary
    result = run.results["build"]
    assert result["command"] == "build"
    assert result["counts"] == {"success": 4, "pass": 5}  # a seed, 3 models, 5 data tests
    nodes = {n["name"]: n for n in result["nodes"]}
    assert nodes["stg_orders"]["rows_affected"] == 5
    assert {"raw_orders", "stg_orders", "orders_summary", "dim_customers"} <= warehouse.tables()
    assert warehouse.query(f"select count(*) from {warehouse.schema}.orders_summary") == [(2,)]
    log = log_text(run, "build")
    assert "OK created sql table model" in log and "stg_orders" in log
    assert "Done. PASS=" in log
    assert PASSWORD not in everything(run, "build")


def test_failing_data_test_fails_the_task_with_a_report_of_each_failed_test(
    dbt_project: DbtProject, tmp_path: Path
) -> None:
    run = run_op(
        "dbt_checks",
        lambda: DbtBuildOperator(
            "checks",
            project_dir=dbt_project.path,
            profiles_dir=dbt_project.profiles_dir,
            vars={"max_amount": 30},
            retries=2,
        ),
        workdir=tmp_path,
    )
    assert not run.ok
    assert len(run.tries["checks"]) == 1  # a failed check is permanent: never retried
    error = run.tries["checks"][-1].error or ""
    assert error == (  # one line: 40.00 and 99.99 exceed 30
        "dbt build failed: 1 data test failed: assert_amount_under_cap on stg_orders: 2 failing rows"
        " [skipped because of it: orders_summary, not_null_orders_summary_status;"
        f" project {dbt_project.path}, target default]"
    )
    log = log_text(run, "checks")
    assert "ERROR failed test: assert_amount_under_cap on stg_orders: 2 failing rows" in log
    assert "ERROR skipped: model orders_summary" in log
    assert PASSWORD not in everything(run, "checks")


def test_dbt_test_alone_reports_failures_after_a_clean_build(dbt_project: DbtProject) -> None:
    with Pipeline("dbt_then_test") as pipeline:
        build = DbtBuildOperator("build", project_dir=dbt_project.path, profiles_dir=dbt_project.profiles_dir)
        check = DbtTestOperator(
            "test",
            project_dir=dbt_project.path,
            profiles_dir=dbt_project.profiles_dir,
            select="stg_orders",
            vars={"max_amount": 50},
        )
        build >> check
    run = run_pipeline(pipeline)
    assert run.task_state("build") == "success"
    assert run.task_state("test") == "failed"
    error = run.tries["test"][-1].error or ""
    assert "dbt test failed: 1 data test failed: assert_amount_under_cap on stg_orders: 1 failing row" in error


def test_a_model_error_names_the_model_and_the_database_message(dbt_project: DbtProject, tmp_path: Path) -> None:
    run = run_op(
        "dbt_broken",
        lambda: DbtBuildOperator(
            "run", project_dir=dbt_project.path, profiles_dir=dbt_project.profiles_dir, vars={"break_summary": True}
        ),
        workdir=tmp_path,
    )
    assert not run.ok
    error = run.tries["run"][-1].error or ""
    assert "\n" not in error
    assert error.startswith("dbt build failed: model orders_summary (models/orders_summary.sql):")
    where = "line 14 of target/run/headwater_shop/models/orders_summary.sql"  # the DDL dbt ran
    assert f'column "no_such_column" does not exist ({where})' in error
    assert f"project {dbt_project.path}" in error
    assert "orders_summary" in log_text(run, "run")


def test_select_and_exclude_limit_what_runs(dbt_project: DbtProject, warehouse: Warehouse) -> None:
    run = run_op(
        "dbt_select",
        lambda: DbtOperator(
            "seed_and_stage",
            command="build",
            project_dir=dbt_project.path,
            profiles_dir=dbt_project.profiles_dir,
            select=["+stg_orders", "dim_customers"],
            exclude="dim_customers",
        ),
    )
    assert run.ok, run.summary
    assert {n["name"] for n in run.results["seed_and_stage"]["nodes"] if n["resource_type"] != "test"} == {
        "raw_orders",
        "stg_orders",
    }
    assert "orders_summary" not in warehouse.tables()


def test_a_path_without_dbt_project_yml_fails_with_one_clear_error(tmp_path: Path) -> None:
    op = DbtBuildOperator("build", project_dir=tmp_path / "nowhere")  # the constructor does no I/O
    run = run_op("dbt_missing", lambda: DbtBuildOperator("build", project_dir=tmp_path))
    assert not run.ok
    error = run.tries["build"][-1].error or ""
    assert error == f"dbt project not found: {tmp_path} has no dbt_project.yml (project_dir must be a dbt project)"
    with pytest.raises(DbtProjectError, match="does not exist"):
        op.execute(_context())


def test_an_unreachable_database_is_a_retryable_connection_error(tmp_path: Path, dbt_project: DbtProject) -> None:
    profiles = tmp_path / "down"
    write_profiles(profiles, dbt_project.schema, port=free_port())
    with Pipeline("dbt_down") as pipeline:
        DbtRunOperator(
            "run",
            project_dir=dbt_project.path,
            profiles_dir=profiles,
            select="stg_orders",
            retries=1,
            retry_on=ConnectionError,
        )
    run = run_pipeline(pipeline, workdir=tmp_path)
    assert not run.ok
    tries = run.tries["run"]
    assert len(tries) == 2  # retried: ConnectionError is in retry_on
    for attempt in tries:
        first = attempt.error or ""
        assert "\n" not in first
        assert first.startswith("DbtConnectionError: dbt run could not reach the database"), first
        assert "Database Error: connection to server at" in first and "Connection refused" in first
    assert PASSWORD not in everything(run, "run")


def test_conn_builds_the_profile_from_a_headwater_connection_and_masks_its_password(
    dbt_project: DbtProject, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = "Conn-URI-pa55word"
    monkeypatch.setenv(
        "HEADWATER_CONN_DBT_WAREHOUSE",
        f"postgres://{PG_USER}:{secret}@{PG_HOST}:{PG_PORT}/{PG_DB}?schema={warehouse.schema}&threads=2",
    )
    run = run_op(
        "dbt_conn",
        lambda: DbtRunOperator("run", project_dir=dbt_project.path, conn="dbt_warehouse", select="dim_customers"),
        workdir=tmp_path,
    )
    assert run.ok, run.summary
    assert "dim_customers" in warehouse.tables()
    assert secret not in everything(run, "run")
    assert not list(dbt_project.path.rglob("profiles.yml"))  # the generated profile is gone


def test_an_unknown_connection_fails_naming_it(dbt_project: DbtProject) -> None:
    run = run_op("dbt_noconn", lambda: DbtRunOperator("run", project_dir=dbt_project.path, conn="nope_dbt"))
    error = run.tries["run"][-1].error or ""
    assert "connection 'nope_dbt' is not defined" in error and "HEADWATER_CONN_NOPE_DBT" in error


def test_execute_reports_lineage_of_what_it_read_and_wrote(dbt_project: DbtProject, warehouse: Warehouse) -> None:
    op = DbtRunOperator(
        "run", project_dir=dbt_project.path, profiles_dir=dbt_project.profiles_dir, select="stg_orders+"
    )
    seed = DbtOperator("seed", command="seed", project_dir=dbt_project.path, profiles_dir=dbt_project.profiles_dir)
    seed.execute(_context())
    ctx = _context()
    op.execute(ctx)
    schema = warehouse.schema
    assert ctx.reports.writes == [
        f"postgres://{PG_DB}/{schema}.stg_orders",
        f"postgres://{PG_DB}/{schema}.orders_summary",
    ]
    assert ctx.reports.reads == [f"postgres://{PG_DB}/{schema}.raw_orders"]


def test_relative_paths_start_at_the_project_directory_not_the_working_directory(
    dbt_project: DbtProject, warehouse: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    run = run_op(
        "dbt_relative",
        lambda: DbtOperator("seed", command="seed", project_dir="shop", profiles_dir="profiles"),
        workdir=tmp_path,  # the project directory: shop/ and profiles/ are in it
    )
    assert run.ok, run.summary
    assert warehouse.query(f"select count(*) from {warehouse.schema}.raw_orders") == [(5,)]


def test_vars_placeholders_are_filled_from_the_run(dbt_project: DbtProject, warehouse: Warehouse) -> None:
    with Pipeline("dbt_daily", params={"region": "us"}) as pipeline:
        DbtBuildOperator(
            "build",
            project_dir=dbt_project.path,
            profiles_dir=dbt_project.profiles_dir,
            select="+stg_orders",
            vars={"partition": "{{ ds }}", "run": ["{{ params.region }}"]},
        )
    run = run_pipeline(pipeline, logical_date=datetime(2026, 3, 2, tzinfo=UTC), params={"region": "eu"})
    assert run.ok, run.summary
    rows = warehouse.query(f"select id, loaded_partition from {warehouse.schema}.stg_orders order by id")
    assert rows == [(3, "2026-03-02"), (4, "2026-03-02")]


def test_a_partition_placeholder_in_a_run_without_one_fails_once(dbt_project: DbtProject) -> None:
    run = run_op(
        "dbt_nopart",
        lambda: DbtBuildOperator("build", project_dir=dbt_project.path, vars={"p": "{{ partition }}"}, retries=2),
    )
    assert len(run.tries["build"]) == 1
    assert run.tries["build"][0].error == "dbt vars: {{ partition }} is used but this run has no partition"


def test_registered_names_resolve_to_the_operators() -> None:
    assert load_operator("dbt.build") is DbtBuildOperator
    assert load_operator("dbt.run") is DbtRunOperator
    assert load_operator("dbt.test") is DbtTestOperator


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: DbtOperator("t", project_dir="p", command="compile"), "command must be one of build, run, test"),
        (lambda: DbtTestOperator("t", project_dir="p", full_refresh=True), "full_refresh applies to build, run"),
        (lambda: DbtRunOperator("t", project_dir="p", command="test"), "dbt.run always runs dbt run"),
        (lambda: DbtBuildOperator("t", project_dir="p", select=[3]), "select: expected a dbt selector"),
        (lambda: DbtBuildOperator("t", project_dir="p", vars=["x"]), "vars must be a dict"),
        (lambda: DbtBuildOperator("t", project_dir=""), "project_dir must be a path"),
        (lambda: DbtBuildOperator("t", project_dir="p", conn=""), "conn must be a non-empty string"),
        (lambda: DbtBuildOperator("t", project_dir="p", conn="c", profiles_dir="x"), "conn or profiles_dir, not both"),
        (lambda: DbtBuildOperator("t", project_dir="p", vars={"d": "{{ dss }}"}), "unknown placeholder {{ dss }}"),
    ],
)
def test_bad_arguments_are_definition_errors_naming_the_task(make: object, message: str) -> None:
    with pytest.raises(DefinitionError, match=message) as info:
        make()  # type: ignore[operator]
    assert "task 't'" in str(info.value)


def test_describe_is_one_line() -> None:
    op = DbtBuildOperator("b", project_dir="dbt/shop", select="tag:daily", target="prod")
    assert op.describe() == "dbt build dbt/shop --select tag:daily --target prod"


def test_yaml_pipelines_use_the_registered_names(tmp_path: Path, dbt_project: DbtProject) -> None:
    from headwater.loader.files import load_file

    file = tmp_path / "refresh.yaml"
    file.write_text(
        "id: yaml_dbt\n"
        "tasks:\n"
        "  - id: build\n"
        "    operator: dbt.build\n"
        "    project_dir: shop\n"  # relative paths start at the project directory
        "    profiles_dir: profiles\n"
        "    select: [raw_orders]\n"
        "    retries: 2\n"
    )
    (pipeline,) = load_file(file)
    op = pipeline.tasks["build"]
    assert isinstance(op, DbtBuildOperator)
    assert op.select == ("raw_orders",) and op.options.max_tries == 3
    run = run_pipeline(pipeline, workdir=tmp_path)  # tmp_path: the project directory
    assert run.ok, run.summary
    assert run.results["build"]["nodes"][0]["name"] == "raw_orders"


def test_invocations_in_one_process_take_turns(dbt_project: DbtProject, warehouse: Warehouse) -> None:
    import threading

    from headwater_dbt.runner import DbtInvocation, run_dbt

    logs: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            logs.append(record.getMessage())

    log = logging.getLogger("test.headwater_dbt.turns")
    log.addHandler(Collect())
    log.setLevel(logging.INFO)
    outcomes: list[object] = []

    def run(select: str) -> None:
        invocation = DbtInvocation(
            command="build", project_dir=dbt_project.path, profiles_dir=dbt_project.profiles_dir, select=(select,)
        )
        outcomes.append(run_dbt(invocation, log))

    threads = [threading.Thread(target=run, args=(s,)) for s in ("raw_orders", "dim_customers")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(outcomes) == 2
    assert {"raw_orders", "dim_customers"} <= warehouse.tables()
    assert any("waiting for another dbt invocation" in line for line in logs)


def test_failure_is_a_test_failure_instance_for_code_that_catches_it(dbt_project: DbtProject) -> None:
    op = DbtBuildOperator(
        "b", project_dir=dbt_project.path, profiles_dir=dbt_project.profiles_dir, vars={"max_amount": 30}
    )
    with pytest.raises(DbtTestFailure) as info:
        op.execute(_context())
    assert [(f.name, f.failures) for f in info.value.failures] == [("assert_amount_under_cap", 2)]
    assert isinstance(info.value, DataQualityError) and isinstance(info.value, PermanentError)
    report = info.value.report
    assert report.table == "stg_orders" and not report.passed
    assert [(c.name, c.passed, c.found) for c in report.failures] == [
        ("assert_amount_under_cap", False, "2 failing rows")
    ]
    assert len(report.results) == 4  # the 4 tests on stg_orders ran; the one on orders_summary was skipped


def _context() -> Context:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    return Context(
        run_id="r1",
        pipeline_id="p",
        task_id="t",
        try_number=1,
        logical_date=now,
        data_interval=DataInterval(now, now),
        params={},
        upstream={},
        log=logging.getLogger("test.headwater_dbt"),
    )
