"""A cached task is not run again under the process executor: the hit comes back from the worker process."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

CACHED = """
import os
from pathlib import Path

from headwater import Pipeline, task

ROOT = Path(__file__).resolve().parent.parent


@task(cache=True)
def extract():
    with (ROOT / "ran.txt").open("a") as f:
        f.write(f"{os.getpid()}\\n")
    return {"rows": [1, 2, 3]}


@task
def load(batch):
    with (ROOT / "loaded.txt").open("a") as f:
        f.write(f"{sum(batch['rows'])}\\n")


with Pipeline("cached"):
    load(extract())
"""


def _headwater(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "headwater"), "--project", str(root), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_a_cache_hit_skips_the_task_in_its_worker_process(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    (root / "pipelines").mkdir(parents=True)
    (root / "headwater.toml").write_text('executor = "process"\n', encoding="utf-8")
    (root / "pipelines" / "cached.py").write_text(textwrap.dedent(CACHED), encoding="utf-8")
    first = _headwater(root, "run", "cached", "-q")
    assert first.returncode == 0, first.stdout + first.stderr
    second = _headwater(root, "run", "cached", "-q")
    assert second.returncode == 0, second.stdout + second.stderr
    assert re.search(r"^extract\s+success \(cached\)\s", second.stdout, re.MULTILINE), second.stdout
    assert len((root / "ran.txt").read_text().split()) == 1, "the cached task ran again"
    assert (root / "loaded.txt").read_text().split() == ["6", "6"]
