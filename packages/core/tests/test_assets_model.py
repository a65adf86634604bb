"""@asset definitions, the asset graph of a pipelines folder, and the ``assets`` pipeline: no database."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from headwater import DailyPartitions, Freshness, Materialization, MonthlyPartitions, Pipeline, StaticPartitions, asset
from headwater.errors import DefinitionError
from headwater.loader.assets import asset_pipeline, graph_of, load_asset_graph
from headwater.loader.files import load_assets, load_file, load_pipeline
from headwater.model.asset import AssetDefinition, AssetOperator
from headwater.model.context import Context, DataInterval
from headwater.model.partitions import StaticPartitionMapping


def _write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in files.items():
        (folder / name).write_text(textwrap.dedent(source), encoding="utf-8")
    return folder


# -- @asset ------------------------------------------------------------------------------------------


def test_an_asset_takes_its_key_description_and_upstreams_from_the_function() -> None:
    @asset(deps=["landing_files"], owner="data-team", retries=2, group="sales")
    def stg_orders(ctx: Context, raw_orders: list[int], raw_customers: list[int]) -> int:
        """Orders joined to customers.

        More text that is not the description.
        """
        return 0

    assert isinstance(stg_orders, AssetDefinition)
    assert stg_orders.key == "stg_orders"
    assert stg_orders.deps == ("landing_files", "raw_orders", "raw_customers")  # deps first, then value params
    assert stg_orders.value_params == ("raw_orders", "raw_customers")  # ctx is not an upstream
    assert stg_orders.takes_ctx
    assert stg_orders.description == "Orders joined to customers."
    assert stg_orders.owner == "data-team" and stg_orders.group == "sales"
    assert len(stg_orders.code_version) == 12


def test_code_version_follows_the_source_unless_given() -> None:
    @asset
    def a() -> int:
        return 1

    @asset(name="a2")
    def a_changed() -> int:
        return 2

    @asset(code_version="v7")
    def b() -> int:
        return 1

    assert a.code_version != a_changed.code_version
    assert b.code_version == "v7"
    assert a_changed.key == "a2"


def test_an_asset_function_gets_upstream_values_by_parameter_name() -> None:
    @asset
    def total(ctx: Context, orders: list[int], refunds: list[int]) -> Materialization:
        ctx.add_metadata(source="unit")
        return Materialization(sum(orders) - sum(refunds), metadata={"rows": len(orders)})

    op = AssetOperator(total)
    ctx = _ctx(upstream={"orders": [5, 7], "refunds": [2]})
    result = op.execute(ctx)
    assert isinstance(result, Materialization)
    assert result.value == 10 and result.metadata == {"rows": 2}
    assert ctx.reports.metadata == {"source": "unit"}


def test_lineage_reports_accept_a_single_dataset_and_reject_non_strings() -> None:
    ctx = _ctx()
    ctx.report_lineage(reads="raw.orders", writes=["staging.orders", "staging.orders"])
    assert (ctx.reports.reads, ctx.reports.writes) == (["raw.orders"], ["staging.orders"])
    with pytest.raises(TypeError, match="datasets are non-empty strings"):
        ctx.report_lineage(reads=[3])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"auto": "sometimes"}, "auto must be None, 'eager' or 'on_cron'"),
        ({"auto": "on_cron"}, "auto='on_cron' needs a cron"),
        ({"partitions": "daily"}, "partitions must be DailyPartitions"),
        ({"freshness": "2h"}, "freshness must be Freshness"),
        ({"partition_mappings": {"nope": StaticPartitionMapping({"a": "a"})}}, "not one of its upstream assets"),
        ({"retries": -1}, "retries"),
        ({"colour": "blue"}, "unknown option(s) colour"),
        ({"debounce": "soon"}, "debounce"),
        ({"deps": [3]}, "deps must be assets or asset keys"),
    ],
)
def test_bad_asset_arguments_are_definition_errors_naming_the_asset(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(DefinitionError) as info:

        @asset(**kwargs)  # type: ignore[call-overload,untyped-decorator]
        def broken(upstream_one: int) -> int:
            return upstream_one

    assert message in str(info.value)
    assert "broken" in str(info.value) or info.value.tasks == ("broken",)


def test_on_cron_takes_the_cron_of_its_freshness_policy() -> None:
    @asset(auto="on_cron", freshness=Freshness(max_lag="2h", cron="0 8 * * *"))
    def report() -> int:
        return 1

    assert report.effective_cron == "0 8 * * *"


def test_parameters_with_defaults_or_varargs_are_refused() -> None:
    with pytest.raises(DefinitionError, match="parameter 'limit' has a default"):

        @asset
        def a(orders: list[int], limit: int = 3) -> int:
            return limit

    with pytest.raises(DefinitionError, match=r"\*\*kw"):

        @asset
        def b(**kw: int) -> int:
            return 1


def test_an_asset_depending_on_itself_is_a_cycle() -> None:
    with pytest.raises(DefinitionError, match="asset 'loop' depends on itself"):

        @asset
        def loop(loop: int) -> int:
            return loop


def test_calling_an_asset_outside_a_pipeline_says_how_to_call_the_function() -> None:
    @asset
    def lonely() -> int:
        return 1

    with pytest.raises(DefinitionError, match=r"outside a `with Pipeline\(...\)` block.*lonely.fn"):
        lonely()
    assert lonely.fn() == 1


# -- assets inside pipelines ---------------------------------------------------------------------------


def test_assets_called_in_a_pipeline_are_wired_whatever_the_order_of_calls() -> None:
    @asset
    def raw() -> list[int]:
        return [1]

    @asset
    def clean(raw: list[int]) -> list[int]:
        return raw

    with Pipeline("mixed") as p:
        c = clean()  # called before its upstream: the edge is made when the block closes
        r = raw()
    assert p.upstream["clean"] == {"raw"}
    assert p.order == ["raw", "clean"]
    assert isinstance(c, AssetOperator) and isinstance(r, AssetOperator)


def test_an_asset_is_added_to_a_pipeline_once() -> None:
    @asset
    def once() -> int:
        return 1

    with pytest.raises(DefinitionError, match="asset 'once' is already a task of this pipeline"), Pipeline("twice"):
        once()
        once()


def test_the_assets_pipeline_id_is_reserved() -> None:
    with pytest.raises(DefinitionError, match="pipeline id 'assets' is reserved"):
        Pipeline("assets")


def test_subset_keeps_only_the_chosen_tasks_and_the_edges_between_them() -> None:
    @asset
    def s1() -> int:
        return 1

    @asset
    def s2(s1: int) -> int:
        return s1

    @asset
    def s3(s2: int) -> int:
        return s2

    graph = graph_of([s1, s2, s3])
    full = asset_pipeline(graph)
    part = asset_pipeline(graph, ["s3", "s1"])
    assert part.id == "assets" and list(part.tasks) == ["s1", "s3"]
    assert part.upstream == {"s1": set(), "s3": set()}
    assert list(full.tasks) == ["s1", "s2", "s3"]  # the full pipeline is untouched
    with pytest.raises(DefinitionError, match="unknown asset 'S2'"):
        asset_pipeline(graph, ["S2"])


# -- the asset graph of a folder ------------------------------------------------------------------------

ORDERS = """
from headwater import DailyPartitions, MonthlyPartitions, asset

DAILY = DailyPartitions(start="2026-03-01")

@asset(partitions=DAILY)
def raw_orders():
    return [1, 2]

@asset(partitions=DAILY)
def stg_orders(raw_orders):
    return len(raw_orders)
"""

REPORTS = """
from headwater import MonthlyPartitions, Pipeline, asset, task

@asset(partitions=MonthlyPartitions(start="2026-03-01"))
def monthly(stg_orders):
    return sum(stg_orders.values())

@task
def announce(value):
    return value

with Pipeline("reports"):
    announce(monthly())
"""


def test_the_asset_graph_spans_every_pipeline_file(tmp_path: Path) -> None:
    folder = _write(tmp_path / "pipelines", {"orders.py": ORDERS, "reports.py": REPORTS})
    graph = load_asset_graph(folder)
    assert graph.order == ("raw_orders", "stg_orders", "monthly")
    assert graph.upstream["monthly"] == ("stg_orders",)
    assert graph.downstream["raw_orders"] == ("stg_orders",)
    assert graph.file_of["monthly"] == str((folder / "reports.py").resolve())
    assert graph.ancestors(["monthly"]) == {"raw_orders", "stg_orders"}
    assert graph.descendants(["raw_orders"]) == {"stg_orders", "monthly"}
    assert load_asset_graph(folder) is graph  # unchanged files: the same graph
    assert [p.id for p in load_file(folder / "reports.py")] == ["reports"]
    # a worker finds the assets pipeline by folder and id
    pipeline = load_pipeline(str(folder.resolve()), "assets")
    assert list(pipeline.tasks) == ["raw_orders", "stg_orders", "monthly"]
    assert pipeline.file == str(folder.resolve())


def test_an_asset_imported_from_another_file_belongs_to_the_file_defining_it(tmp_path: Path) -> None:
    uses = """
    from orders import raw_orders
    from headwater import asset

    @asset(deps=[raw_orders])
    def audit():
        return 1
    """
    folder = _write(tmp_path / "pipelines", {"orders.py": ORDERS, "uses.py": uses})
    assert [a.key for a in load_assets(folder / "uses.py")] == ["audit"]
    assert set(load_asset_graph(folder).assets) == {"raw_orders", "stg_orders", "audit"}


def test_an_unknown_upstream_names_the_asset_the_file_and_close_matches(tmp_path: Path) -> None:
    bad = """
    from headwater import asset

    @asset
    def stg_orders(raw_order):
        return raw_order

    @asset
    def raw_orders():
        return 1
    """
    folder = _write(tmp_path / "pipelines", {"bad.py": bad})
    with pytest.raises(DefinitionError) as info:
        load_asset_graph(folder)
    text = str(info.value)
    assert "asset 'stg_orders' depends on unknown asset 'raw_order' (did you mean 'raw_orders'?)" in text
    assert str((folder / "bad.py").resolve()) in text


def test_a_cycle_between_assets_names_them(tmp_path: Path) -> None:
    source = """
    from headwater import asset

    @asset
    def a(c):
        return c

    @asset
    def b(a):
        return a

    @asset
    def c(b):
        return b
    """
    folder = _write(tmp_path / "pipelines", {"cycle.py": source})
    with pytest.raises(DefinitionError, match=r"cycle between assets: (a|b|c) -> .* -> \1") as info:
        load_asset_graph(folder)
    assert set(info.value.tasks) == {"a", "b", "c"}
    assert info.value.file == str((folder / "cycle.py").resolve())


def test_a_duplicate_asset_key_across_files_names_both_files(tmp_path: Path) -> None:
    twin = """
    from headwater import asset

    @asset
    def raw_orders():
        return 2
    """
    folder = _write(tmp_path / "pipelines", {"orders.py": ORDERS, "twin.py": twin})
    with pytest.raises(
        DefinitionError, match=r"duplicate asset key 'raw_orders': defined in .*orders\.py and in .*twin\.py"
    ):
        load_asset_graph(folder)


def test_mismatched_partitions_are_refused_with_the_edge_named(tmp_path: Path) -> None:
    source = """
    from headwater import DailyPartitions, StaticPartitions, asset

    @asset(partitions=StaticPartitions(["eu", "us"]))
    def regions():
        return 1

    @asset(partitions=DailyPartitions(start="2026-01-01"))
    def daily_sales(regions):
        return regions
    """
    folder = _write(tmp_path / "pipelines", {"mismatch.py": source})
    with pytest.raises(DefinitionError) as info:
        load_asset_graph(folder)
    assert "asset 'daily_sales' -> upstream asset 'regions'" in str(info.value)
    assert "cannot map" in str(info.value)
    assert info.value.file == str((folder / "mismatch.py").resolve())


def test_a_user_pipeline_named_assets_fails_to_load_naming_the_file(tmp_path: Path) -> None:
    source = """
    from headwater import Pipeline, task

    @task
    def t():
        return 1

    with Pipeline("assets"):
        t()
    """
    folder = _write(tmp_path / "pipelines", {"clash.py": source})
    with pytest.raises(DefinitionError, match="reserved") as info:
        load_file(folder / "clash.py")
    assert info.value.file == str((folder / "clash.py").resolve())


def test_graph_of_validates_static_partition_mappings() -> None:
    @asset(partitions=StaticPartitions(["eu", "us"]))
    def region_sales() -> int:
        return 1

    @asset(
        partitions=StaticPartitions(["world"]),
        partition_mappings={"region_sales": StaticPartitionMapping({"world": ["eu", "us", "mars"]})},
    )
    def world_sales(region_sales: dict[str, int]) -> int:
        return sum(region_sales.values())

    with pytest.raises(DefinitionError, match="'mars', not in the upstream"):
        graph_of([region_sales, world_sales])


def test_daily_to_monthly_needs_no_mapping() -> None:
    @asset(partitions=DailyPartitions(start="2026-01-01"))
    def day() -> int:
        return 1

    @asset(partitions=MonthlyPartitions(start="2026-01-01"))
    def month(day: dict[str, int]) -> int:
        return sum(day.values())

    assert graph_of([day, month]).order == ("day", "month")


def _ctx(upstream: dict[str, object] | None = None) -> Context:
    import logging
    from datetime import UTC, datetime

    moment = datetime(2026, 3, 1, tzinfo=UTC)
    return Context(
        run_id="r",
        pipeline_id="p",
        task_id="t",
        try_number=1,
        logical_date=moment,
        data_interval=DataInterval(moment, moment),
        params={},
        upstream=upstream or {},
        log=logging.getLogger("test"),
    )
