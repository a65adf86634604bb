"""dbt_assets: a dbt project's models and seeds in Headwater's asset graph, materialized on dbt-postgres."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hw_dbt_support import PASSWORD, PG_DB, PG_HOST, PG_PORT, PG_USER, DbtProject, Warehouse

from headwater import AssetDefinition, DailyPartitions, DefinitionError, asset
from headwater_dbt import dbt_assets


class HwProject:
    """A Headwater project whose pipelines folder holds one file calling ``dbt_assets``."""

    def __init__(self, root: Path, dbt: DbtProject) -> None:
        self.root = root
        self.dbt = dbt
        (root / "pipelines").mkdir(parents=True)
        (root / "headwater.toml").write_text('executor = "inline"\n')

    def write(self, source: str, name: str = "shop.py") -> Path:
        path = self.root / "pipelines" / name
        path.write_text(textwrap.dedent(source))
        return path

    def invoke(self, *args: str) -> Result:
        """``headwater`` in this process."""
        from headwater.cli.app import cli

        result = CliRunner().invoke(cli, ["--project", str(self.root), *args])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"headwater {' '.join(args)} crashed:\n{result.output}") from result.exception
        return result

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The real ``headwater`` command in its own process."""
        exe = Path(sys.executable).with_name("headwater")
        return subprocess.run(
            [str(exe), "--project", str(self.root), *args],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "NO_COLOR": "1"},
            check=False,
        )


@pytest.fixture
def hw(tmp_path: Path, dbt_project: DbtProject) -> HwProject:
    return HwProject(tmp_path / "hw", dbt_project)


def _pipeline(extra: str = "", **options: str) -> str:
    args = "".join(f", {k}={v}" for k, v in options.items())
    head = "from headwater import DailyPartitions, asset\nfrom headwater_dbt import dbt_assets\n"
    return head + textwrap.dedent(extra) + f'\nshop = dbt_assets("../shop", profiles_dir="../profiles"{args})\n'


def test_models_and_seeds_become_assets_with_dependencies_and_metadata(dbt_project: DbtProject) -> None:
    assert not dbt_project.manifest.exists()
    defs = dbt_assets(dbt_project.path, profiles_dir=dbt_project.profiles_dir, retries=2, owner="analytics")
    assert dbt_project.manifest.exists()  # parsed once, at definition time, because it was missing
    by_key = {d.key: d for d in defs}
    assert set(by_key) == {"raw_orders", "stg_orders", "orders_summary", "dim_customers"}
    assert by_key["stg_orders"].deps == ("raw_orders",)
    assert by_key["orders_summary"].deps == ("stg_orders",)
    assert by_key["dim_customers"].deps == ()  # its source is not mapped to an asset
    stg = by_key["stg_orders"]
    assert stg.description == "Cleaned orders, one row per order."
    assert stg.group == "headwater_shop"
    assert stg.owner == "analytics" and stg.options["retries"] == 2
    assert stg.metadata["materialized"] == "table"
    assert stg.metadata["schema"] == dbt_project.schema
    assert stg.metadata["relation_name"] == f'"{PG_DB}"."{dbt_project.schema}"."stg_orders"'
    assert stg.metadata["tests"] == [
        "accepted_values_stg_orders_status__open__paid",
        "assert_amount_under_cap",
        "not_null_stg_orders_id",
        "unique_stg_orders_id",
    ]
    assert by_key["raw_orders"].metadata["resource_type"] == "seed"
    assert by_key["dim_customers"].metadata["materialized"] == "view"
    assert len({d.code_version for d in defs}) == 4


def test_select_exclude_partitions_and_source_assets(dbt_project: DbtProject) -> None:
    @asset
    def landed_customers() -> None: ...

    daily = DailyPartitions(start="2026-03-01")
    defs = dbt_assets(
        dbt_project.path,
        profiles_dir=dbt_project.profiles_dir,
        select=["+orders_summary", "tag:customers"],
        exclude="stg_orders",
        partitions=daily,
        group="dbt",
        source_assets={"shop.customers": landed_customers},
    )
    by_key = {d.key: d for d in defs}
    assert set(by_key) == {"raw_orders", "orders_summary", "dim_customers"}
    assert by_key["orders_summary"].deps == ("raw_orders",)  # through the unselected stg_orders
    assert by_key["dim_customers"].deps == ("landed_customers",)
    assert by_key["orders_summary"].partitions is daily
    assert by_key["raw_orders"].partitions is None  # seeds and snapshots are not partitioned
    assert {d.group for d in defs} == {"dbt"}


def test_the_manifest_is_read_as_it_is_when_present(dbt_project: DbtProject, tmp_path: Path) -> None:
    dbt_assets(dbt_project.path, profiles_dir=dbt_project.profiles_dir)  # writes target/manifest.json
    data = json.loads(dbt_project.manifest.read_text())
    del data["nodes"]["model.headwater_shop.orders_summary"]
    custom = tmp_path / "prepared" / "manifest.json"
    custom.parent.mkdir()
    custom.write_text(json.dumps(data))
    defs = dbt_assets(dbt_project.path, manifest_path=custom)  # no parse, no profile needed
    assert {d.key for d in defs} == {"raw_orders", "stg_orders", "dim_customers"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"select": "nothing_here"}, "the selection picks no dbt model, seed or snapshot"),
        ({"select": "state:modified"}, "method 'state' is not supported"),
        (
            {"source_assets": {"crm": "x"}},
            "source_assets names 'crm', which is not a source of the project .*shop.customers",
        ),
        ({"partition_var": ""}, "partition_var must be a non-empty string"),
        ({"manifest_path": "nope.json"}, "manifest_path .*nope.json does not exist"),
        ({"retries": -1}, "retries"),
        ({"conn": "warehouse"}, "give conn or profiles_dir, not both"),
    ],
)
def test_bad_arguments_are_definition_errors(dbt_project: DbtProject, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        dbt_assets(dbt_project.path, profiles_dir=dbt_project.profiles_dir, **kwargs)  # type: ignore[arg-type]


def test_a_project_without_dbt_project_yml_is_a_definition_error(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match=f"dbt project not found: {tmp_path} has no dbt_project.yml"):
        dbt_assets(tmp_path)


def test_a_project_that_cannot_be_parsed_is_a_definition_error(dbt_project: DbtProject) -> None:
    with pytest.raises(DefinitionError, match=r"cannot parse the dbt project .*target named 'prod'"):
        dbt_assets(dbt_project.path, profiles_dir=dbt_project.profiles_dir, target="prod")


def test_materialize_through_the_real_cli_builds_missing_upstreams_first(hw: HwProject, warehouse: Warehouse) -> None:
    hw.write(_pipeline())
    done = hw.run("materialize", "orders_summary")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "(+ missing upstream raw_orders, stg_orders)" in done.stdout
    assert "materialized 3 asset partition(s)" in done.stdout
    assert warehouse.query(f"select status, orders from {warehouse.schema}.orders_summary order by status") == [
        ("open", 2),
        ("paid", 3),
    ]
    shown = hw.run("assets", "orders_summary")
    assert shown.returncode == 0, shown.stderr
    assert "status=success rows_affected=2" in shown.stdout
    assert f'relation_name="{PG_DB}"."{warehouse.schema}"."orders_summary"' in shown.stdout
    lineage = hw.run("assets", "--lineage", "stg_orders")
    assert f"reads postgres://{PG_DB}/{warehouse.schema}.raw_orders" in lineage.stdout
    assert f"writes postgres://{PG_DB}/{warehouse.schema}.stg_orders" in lineage.stdout
    assert PASSWORD not in done.stdout + done.stderr + shown.stdout + lineage.stdout


def test_the_partition_reaches_dbt_as_a_var(hw: HwProject, warehouse: Warehouse) -> None:
    hw.write(_pipeline(partitions='DailyPartitions(start="2026-03-01")'))
    done = hw.invoke("materialize", "stg_orders", "--partition", "2026-03-02")
    assert done.exit_code == 0, done.output
    rows = warehouse.query(f"select id, loaded_partition from {warehouse.schema}.stg_orders order by id")
    assert rows == [(3, "2026-03-02"), (4, "2026-03-02")]
    shown = hw.invoke("assets", "stg_orders")
    assert "dbt_vars={'partition': '2026-03-02'}" in shown.output
    assert "rows_affected=2" in shown.output


def test_a_failing_dbt_test_fails_the_asset_like_a_failed_check(hw: HwProject, warehouse: Warehouse) -> None:
    hw.write(_pipeline(vars='{"max_amount": 30}'))
    done = hw.invoke("materialize", "stg_orders")
    assert done.exit_code == 1, done.output
    assert "1 data test failed: assert_amount_under_cap on stg_orders: 2 failing rows" in done.output
    shown = hw.invoke("assets", "stg_orders")
    assert "failed" in shown.output


def test_upstream_headwater_assets_feed_dbt_sources(hw: HwProject, warehouse: Warehouse) -> None:
    landing = f"""
        import psycopg

        @asset
        def landed_customers(ctx):
            with psycopg.connect(host={PG_HOST!r}, port={PG_PORT}, user={PG_USER!r}, dbname={PG_DB!r}) as conn:
                conn.execute("insert into {warehouse.schema}.customers values (3, 'Edsger')")
            ctx.report_lineage(writes="postgres://{PG_DB}/{warehouse.schema}.customers")
        """
    hw.write(_pipeline(landing, source_assets='{"shop": landed_customers}'))
    done = hw.invoke("materialize", "dim_customers")
    assert done.exit_code == 0, done.output
    assert "(+ missing upstream landed_customers)" in done.output
    assert warehouse.query(f"select count(*) from {warehouse.schema}.dim_customers") == [(3,)]


def test_a_missing_project_fails_loading_with_exit_2_naming_the_file(hw: HwProject) -> None:
    file = hw.write(
        """
        from headwater_dbt import dbt_assets

        shop = dbt_assets("../no_such_dbt_project")
        """
    )
    done = hw.invoke("materialize", "stg_orders")
    assert done.exit_code == 2, done.output
    assert str(file) in done.output
    assert "dbt project not found" in done.output and "has no dbt_project.yml" in done.output
    assert "Traceback" not in done.output


def test_assets_are_definitions_belonging_to_the_calling_file(dbt_project: DbtProject) -> None:
    defs = dbt_assets(dbt_project.path, profiles_dir=dbt_project.profiles_dir, select="stg_orders")
    assert all(isinstance(d, AssetDefinition) for d in defs)
    assert defs[0].fn.__module__ == __name__
    assert defs[0].takes_ctx
