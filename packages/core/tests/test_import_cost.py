"""`import headwater` stays cheap: nothing heavy is imported until it is used."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["sqlalchemy", "pydantic", "rich", "click", "pluggy", "alembic", "croniter", "yaml"]

PROBE = f"""
import json, sys
import headwater
before = sorted(m for m in {HEAVY!r} if m in sys.modules)
api = [headwater.Pipeline.__name__, headwater.task.__name__, headwater.TriggerRule.ALL_DONE.value]
after = sorted(m for m in {HEAVY!r} if m in sys.modules)
print(json.dumps({{"before": before, "api": api, "after": after, "version": headwater.__version__}}))
"""


def test_import_headwater_loads_no_heavy_dependency() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    report = json.loads(out)
    assert report["before"] == []
    assert report["api"] == ["Pipeline", "task", "all_done"]
    assert report["after"] == []  # defining pipelines needs none of them either
    assert report["version"]
