"""dbt's selection syntax evaluated on a manifest (no dbt, no database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from headwater import DefinitionError
from headwater_dbt.manifest import DbtManifest, manifest_from_dict
from headwater_dbt.selection import select_nodes


def _node(
    kind: str, name: str, deps: list[str], *, path: str = "", tags: list[str] | None = None, **config: object
) -> dict[str, object]:
    folder = {"model": "models", "seed": "seeds", "snapshot": "snapshots", "test": "tests"}[kind]
    file = path or f"{folder}/{name}.sql"
    fqn = ["shop", *file.split("/")[1:-1], name]
    return {
        "name": name,
        "resource_type": kind,
        "package_name": "shop",
        "fqn": fqn,
        "original_file_path": file,
        "tags": tags or [],
        "config": {"materialized": "table", **config},
        "depends_on": {"nodes": deps},
        "database": "wh",
        "schema": "analytics",
        "alias": name,
    }


@pytest.fixture
def manifest() -> DbtManifest:
    nodes = {
        "seed.shop.raw_orders": _node("seed", "raw_orders", [], path="seeds/raw_orders.csv"),
        "model.shop.stg_orders": _node(
            "model", "stg_orders", ["seed.shop.raw_orders"], path="models/staging/stg_orders.sql"
        ),
        "model.shop.stg_customers": _node(
            "model",
            "stg_customers",
            ["source.shop.crm.customers"],
            path="models/staging/stg_customers.sql",
            tags=["crm"],
        ),
        "model.shop.int_joined": _node(
            "model", "int_joined", ["model.shop.stg_orders", "model.shop.stg_customers"], materialized="ephemeral"
        ),
        "model.shop.fct_orders": _node("model", "fct_orders", ["model.shop.int_joined"], tags=["daily", "finance"]),
        "model.shop.rpt_revenue": _node("model", "rpt_revenue", ["model.shop.fct_orders"], materialized="view"),
        "test.shop.unique_fct_orders_id": _node("test", "unique_fct_orders_id", ["model.shop.fct_orders"]),
    }
    sources = {"source.shop.crm.customers": {"source_name": "crm", "name": "customers", "schema": "crm"}}
    data = {"metadata": {"project_name": "shop", "adapter_type": "postgres"}, "nodes": nodes, "sources": sources}
    return manifest_from_dict(data, Path("manifest.json"))


def names(manifest: DbtManifest, select: list[str] | None, exclude: list[str] | None = None) -> set[str]:
    picked = select_nodes(manifest, select, exclude)
    return {manifest.nodes[u].name if u in manifest.nodes else manifest.sources[u].key for u in picked}


@pytest.mark.parametrize(
    ("select", "expected"),
    [
        (["fct_orders"], {"fct_orders"}),
        (["+fct_orders"], {"fct_orders", "int_joined", "stg_orders", "stg_customers", "raw_orders", "crm.customers"}),
        (["1+fct_orders"], {"fct_orders", "int_joined"}),
        (["stg_orders+"], {"stg_orders", "int_joined", "fct_orders", "rpt_revenue", "unique_fct_orders_id"}),
        (["stg_orders+1"], {"stg_orders", "int_joined"}),
        (
            ["@stg_customers"],
            {
                "stg_customers",
                "int_joined",
                "fct_orders",
                "rpt_revenue",
                "unique_fct_orders_id",
                "stg_orders",
                "raw_orders",
                "crm.customers",
            },
        ),
        (["stg_*"], {"stg_orders", "stg_customers"}),
        (["shop.staging"], {"stg_orders", "stg_customers"}),
        (["shop.staging.*"], {"stg_orders", "stg_customers"}),
        (["path:models/staging"], {"stg_orders", "stg_customers"}),
        (["models/staging/stg_orders.sql"], {"stg_orders"}),
        (["file:fct_orders.sql"], {"fct_orders"}),
        (["tag:daily"], {"fct_orders"}),
        (["tag:daily tag:crm"], {"fct_orders", "stg_customers"}),
        (["tag:finance,tag:daily"], {"fct_orders"}),
        (["config.materialized:view"], {"rpt_revenue"}),
        (["resource_type:seed"], {"raw_orders"}),
        (["source:crm+1"], {"crm.customers", "stg_customers"}),
        (["package:shop,resource_type:model,tag:crm"], {"stg_customers"}),
    ],
)
def test_selectors(manifest: DbtManifest, select: list[str], expected: set[str]) -> None:
    assert names(manifest, select) == expected


def test_exclude_and_everything(manifest: DbtManifest) -> None:
    assert len(select_nodes(manifest, None, None)) == 8
    assert names(manifest, ["+rpt_revenue"], ["+stg_orders", "source:*"]) == {
        "rpt_revenue",
        "fct_orders",
        "int_joined",
        "stg_customers",
    }


@pytest.mark.parametrize(
    ("selector", "message"),
    [("state:modified", "method 'state' is not supported"), ("+", "cannot read the dbt selector")],
)
def test_unsupported_selectors_are_definition_errors(manifest: DbtManifest, selector: str, message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        select_nodes(manifest, [selector], None)


def test_datasets_name_relations_and_skip_ephemeral_models(manifest: DbtManifest) -> None:
    assert manifest.dataset("model.shop.fct_orders") == "postgres://wh/analytics.fct_orders"
    assert manifest.dataset("source.shop.crm.customers") == "postgres:///crm.customers"
    assert manifest.dataset("model.shop.int_joined") is None
    assert manifest.dataset("test.shop.unique_fct_orders_id") is None


def test_importing_the_package_and_its_plugin_does_not_import_dbt() -> None:
    import subprocess
    import sys

    code = (
        "import sys, headwater_dbt, headwater_dbt.plugin\n"
        "from headwater.plugin import load_operator\n"
        "load_operator('dbt.build')\n"
        "print(sorted(m for m in sys.modules if m == 'dbt' or m.startswith('dbt.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
