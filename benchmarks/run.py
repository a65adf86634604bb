"""Headwater's performance suite: each workload timed as a whole process, median of N runs.

    python benchmarks/run.py [--runs 3] [--only W1,W5,S1] [--api] [--profile W1,S3] [--no-write]

W1-W5 time whole processes; S1-S3 (the scheduler) run benchmarks/scheduler_bench.py, which times
in-process only the part each is about. ``--only W`` or ``--only S`` selects a whole family.

Run it with the interpreter of the environment to measure (its bin/ must hold ``headwater``).
See benchmarks/README.md for what each workload is and how the numbers are taken.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
RESULTS = HERE / "RESULTS.md"
DRIVER = HERE / "driver.py"
SCHEDULER_BENCH = HERE / "scheduler_bench.py"
RUN_TIMEOUT = 600.0  # seconds; a run that takes longer is killed and reported as an error
BEGIN, END = "<!-- results: begin (written by benchmarks/run.py) -->", "<!-- results: end -->"
PBEGIN, PEND = "<!-- profile: begin (written by benchmarks/run.py --profile) -->", "<!-- profile: end -->"
SBEGIN, SEND = "<!-- scheduler results: begin (written by benchmarks/run.py) -->", "<!-- scheduler results: end -->"
SPBEGIN = "<!-- scheduler profile: begin (written by benchmarks/run.py --profile) -->"
SPEND = "<!-- scheduler profile: end -->"

NOOP = """from headwater import Pipeline, PythonOperator


def noop() -> None:
    return None

"""
PIPELINES = {
    "w1": NOOP
    + """
with Pipeline("w1"):
    for i in range(1000):
        PythonOperator(f"t{i:04d}", fn=noop)
""",
    "w2": NOOP
    + """
with Pipeline("w2"):
    previous = None
    for i in range(200):
        current = PythonOperator(f"t{i:03d}", fn=noop)
        if previous is not None:
            previous >> current
        previous = current
""",
    "w3": NOOP
    + """
with Pipeline("w3"):
    previous_layer: list[PythonOperator] = []
    for layer in range(20):
        current_layer = [PythonOperator(f"l{layer:02d}_t{i:02d}", fn=noop) for i in range(50)]
        if previous_layer:
            for t in current_layer:
                previous_layer >> t
        previous_layer = current_layer
""",
}
W5_FILE = """from headwater import Pipeline, task


@task
def extract() -> list[int]:
    return [1, 2, 3, -4]


@task
def clean(rows: list[int]) -> list[int]:
    return [r for r in rows if r > 0]


@task
def enrich(rows: list[int]) -> list[dict[str, int]]:
    return [{{"value": r, "square": r * r}} for r in rows]


@task(retries=2, timeout="5m")
def load(rows: list[dict[str, int]]) -> int:
    return len(rows)


@task
def report(count: int) -> str:
    return f"loaded {{count}} rows"


with Pipeline("{pid}", schedule="@daily", start_date="2026-01-01", tags=["bench"]):
    report(load(enrich(clean(extract()))))
"""
W5_FILES = 1000


@dataclass
class Workload:
    key: str
    title: str
    target: str
    target_s: float
    argv: Callable[[Env], list[str] | None]  # None: not measurable in this mode
    project: str | None = None  # the generated project (cwd), if any
    before_each: Callable[[Path], None] | None = None
    target_rss_mb: float | None = None
    profile_argv: Callable[[Env], list[str]] | None = None


@dataclass
class Env:
    python: str
    headwater: str
    cli: bool  # measure through the CLI (else through the Python API driver)
    env: dict[str, str]


@dataclass
class Result:
    key: str
    title: str
    target: str
    times: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    error: str | None = None
    status: str = ""
    measured_at: str = ""
    mode: str = ""


def _cold(project: Path) -> None:
    for path in (project / ".headwater").glob("index*"):
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    shutil.rmtree(project / "pipelines" / "__pycache__", ignore_errors=True)


def _no_index(project: Path) -> None:
    for path in (project / ".headwater").glob("index*"):
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def _run_argv(pipeline: str) -> Callable[[Env], list[str]]:
    def argv(e: Env) -> list[str]:
        if e.cli:
            return [e.headwater, "run", pipeline]
        return [e.python, str(DRIVER), "run", str(WORK / pipeline), pipeline]

    return argv


def _list_argv(e: Env) -> list[str]:
    return [e.headwater, "list"] if e.cli else [e.python, str(DRIVER), "list", str(WORK / "w5")]


WORKLOADS = [
    Workload("W1", "1,000 independent no-op tasks", "< 0.5 s, < 80 MB", 0.5, _run_argv("w1"), "w1", target_rss_mb=80),
    Workload("W2", "200-task chain", "< 0.3 s", 0.3, _run_argv("w2"), "w2"),
    Workload("W3", "20 layers x 50, all-to-all", "< 1 s", 1.0, _run_argv("w3"), "w3"),
    Workload(
        "W4 --version",
        "`headwater --version`",
        "< 0.10 s",
        0.10,
        lambda e: [e.headwater, "--version"] if e.cli else None,
    ),
    Workload(
        "W4 import", "`python -c 'import headwater'`", "< 0.10 s", 0.10, lambda e: [e.python, "-c", "import headwater"]
    ),
    Workload(
        "W5 cold", "list 1,000 files x 5 tasks: no index, no .pyc", "< 0.5 s", 0.5, _list_argv, "w5", before_each=_cold
    ),
    Workload(
        "W5 no index",
        "list 1,000 files: no index, .pyc present",
        "< 0.5 s",
        0.5,
        _list_argv,
        "w5",
        before_each=_no_index,
    ),
    Workload(
        "W5 warm",
        "list 1,000 unchanged files (index present)",
        "< 0.5 s",
        0.5,
        lambda e: _list_argv(e) if e.cli else None,
        "w5",
    ),
]


@dataclass
class SchedulerWorkload:
    """One variant of a scheduler workload: ``scheduler_bench.py`` with ``args``; it reports its own metrics."""

    key: str  # "S1 sqlite": the family (S1) selects it in --only and --profile
    title: str
    args: list[str]


SCHEDULER_WORKLOADS = [
    SchedulerWorkload(
        "S1 sqlite", "one scheduler tick, 1,000 pipelines, 100,000 task instances", ["S1", "--db", "sqlite"]
    ),
    SchedulerWorkload(
        "S1 postgresql", "one scheduler tick, 1,000 pipelines, 100,000 task instances", ["S1", "--db", "postgresql"]
    ),
    SchedulerWorkload("S2 local", "task-to-task latency, 50-task chain", ["S2", "--executor", "local"]),
    SchedulerWorkload("S2 process", "task-to-task latency, 50-task chain", ["S2", "--executor", "process"]),
    SchedulerWorkload("S3 sqlite", "10,000 tasks across 100 concurrent runs", ["S3", "--db", "sqlite"]),
    SchedulerWorkload("S3 postgresql", "10,000 tasks across 100 concurrent runs", ["S3", "--db", "postgresql"]),
]


@dataclass
class SchedulerResult:
    key: str
    title: str
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> metadata + "values" (one per run)
    info: list[dict[str, Any]] = field(default_factory=list)  # one per run
    skipped: str | None = None
    error: str | None = None
    measured_at: str = ""


# -- processes ------------------------------------------------------------------------------------------------
def measure(argv: list[str], cwd: Path, env: dict[str, str], log: Path) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MB, exit code) of one child process, from its own rusage (wait4)."""
    with log.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        killer = threading.Timer(RUN_TIMEOUT, proc.kill)
        killer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        killer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return elapsed, usage.ru_maxrss / 1024, proc.returncode  # ru_maxrss is in KiB on Linux


def output(argv: list[str], env: dict[str, str] | None = None) -> str:
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc})"
    return (done.stdout or done.stderr).strip()


def works(argv: list[str], env: dict[str, str]) -> bool:
    try:
        return subprocess.run(argv, env=env, capture_output=True, timeout=120, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def child_env() -> dict[str, str]:
    """The environment of measured children: bytecode allowed, no HEADWATER_* overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEADWATER_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def compile_bytecode(python: str, env: dict[str, str]) -> None:
    """Compile the measured environment's site-packages and headwater's own sources (editable installs)."""
    script = (
        "import importlib.util, sysconfig; print(sysconfig.get_paths()['purelib']);"
        "[print(p) for n in ('headwater', 'headwater_local') if (s := importlib.util.find_spec(n))"
        " for p in (s.submodule_search_locations or [])]"
    )
    paths = output([python, "-c", script], env).splitlines()
    subprocess.run(
        [python, "-m", "compileall", "-q", *paths],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )


# -- projects ---------------------------------------------------------------------------------------------------
def make_projects(keys: set[str]) -> None:
    WORK.mkdir(exist_ok=True)
    for name, source in PIPELINES.items():
        if name.upper() in keys:
            _project(name, {f"{name}.py": source})
    if "W5" in keys:
        _project("w5", {f"p{i:04d}.py": W5_FILE.format(pid=f"p{i:04d}") for i in range(W5_FILES)})


def _project(name: str, files: dict[str, str]) -> None:
    root = WORK / name
    shutil.rmtree(root, ignore_errors=True)
    (root / "pipelines").mkdir(parents=True)
    (root / "headwater.toml").write_text("# benchmark project: default settings (SQLite in .headwater/)\n")
    for filename, source in files.items():
        (root / "pipelines" / filename).write_text(source)


# -- running ----------------------------------------------------------------------------------------------------
def run_all(selected: list[Workload], e: Env, runs: int) -> list[Result]:
    """Round 0 warms every workload up (bytecode, database created and migrated) and is not counted; the
    counted rounds then take the workloads in turn, so a burst of load elsewhere hits them all alike."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    results = {
        w.key: Result(w.key, w.title, w.target, mode="CLI" if e.cli else "API", measured_at=stamp) for w in selected
    }
    (WORK / "logs").mkdir(parents=True, exist_ok=True)
    for i in range(runs + 1):
        for w in selected:
            result, argv = results[w.key], w.argv(e)
            if argv is None:
                result.status = "n/a (needs the CLI)"
                continue
            if result.error:
                continue
            if w.before_each and w.project:
                w.before_each(WORK / w.project)
            log = WORK / "logs" / f"{w.key.lower().replace(' ', '-').replace('--', '')}.{i}.log"
            seconds, rss, code = measure(argv, WORK / w.project if w.project else WORK, e.env, log)
            if code != 0:
                tail = log.read_text(errors="replace").strip().splitlines()[-3:]
                result.error = f"exit {code}: {' / '.join(tail)} (log: {log.relative_to(HERE.parent)})"
                result.status = "error"
                continue
            if i > 0:
                result.times.append(seconds)
                result.rss_mb.append(rss)
            print(f"  {w.key}: {'warm-up' if i == 0 else f'run {i}'} {seconds:.3f} s, {rss:.0f} MB", flush=True)
    for w in selected:
        result = results[w.key]
        if result.times:
            met = statistics.median(result.times) < w.target_s
            if w.target_rss_mb is not None:
                met = met and max(result.rss_mb) < w.target_rss_mb
            result.status = "met" if met else "**missed**"
    return list(results.values())


def table(results: list[Result]) -> str:
    lines = [
        "| workload | what | runs | median s | min s | max s | peak RSS MB | target | status |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if r.times:
            stats = (statistics.median(r.times), min(r.times), max(r.times))
            nums = " | ".join([str(len(r.times)), *(f"{x:.3f}" for x in stats), f"{max(r.rss_mb):.0f}"])
        else:
            nums = "- | - | - | - | -"
        status = r.status if not r.error else f"error: {r.error}"
        note = "" if r.mode == "CLI" else f" ({r.mode})"
        lines.append(f"| {r.key}{note} | {r.title} | {nums} | {r.target} | {status} |")
    return "\n".join(lines)


def run_scheduler(selected: list[SchedulerWorkload], e: Env, runs: int) -> list[SchedulerResult]:
    """Each run is a fresh process that builds its project (or throwaway PostgreSQL database), warms up and
    times only its own part; the variants take turns round by round, as the W workloads do."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    results = {w.key: SchedulerResult(w.key, w.title, measured_at=stamp) for w in selected}
    (WORK / "logs").mkdir(parents=True, exist_ok=True)
    for i in range(1, runs + 1):
        for w in selected:
            result = results[w.key]
            if result.error or result.skipped:
                continue
            name = w.key.lower().replace(" ", "-")
            log, out = WORK / "logs" / f"{name}.{i}.log", WORK / f"{name}.json"
            out.unlink(missing_ok=True)
            argv = [e.python, str(SCHEDULER_BENCH), *w.args, "--json", str(out)]
            seconds, _, code = measure(argv, HERE.parent, e.env, log)
            if code != 0 or not out.exists():
                tail = log.read_text(errors="replace").strip().splitlines()[-3:]
                result.error = f"exit {code}: {' / '.join(tail)} (log: {log.relative_to(HERE.parent)})"
                continue
            data = json.loads(out.read_text())
            if "skipped" in data:
                result.skipped = data["skipped"]
                print(f"  {w.key}: skipped ({result.skipped})", flush=True)
                continue
            for metric, meta in data["metrics"].items():
                entry = result.metrics.setdefault(
                    metric, {k: v for k, v in meta.items() if k != "value"} | {"values": []}
                )
                entry["values"].append(meta["value"])
            result.info.append(data["info"])
            shown = ", ".join(f"{m} {fmt(meta['value'], meta['unit'])}" for m, meta in data["metrics"].items())
            print(f"  {w.key}: run {i} ({seconds:.0f} s): {shown}", flush=True)
    return list(results.values())


def fmt(value: float, unit: str) -> str:
    if unit == "ms":
        return f"{value * 1000:.1f} ms"
    if unit == "s":
        return f"{value:.2f} s"
    return f"{value:,.0f} {unit}"


def scheduler_status(meta: dict[str, Any]) -> str:
    target, median = meta["target"], statistics.median(meta["values"])
    if target is None:
        return "-"
    met = median >= target if meta["higher_is_better"] else median < target
    return "met" if met else "**missed**"


def scheduler_table(results: list[SchedulerResult]) -> str:
    lines = [
        "| workload | metric | what | runs | median | min | max | target | status |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if r.skipped or r.error or not r.metrics:
            reason = f"skipped: {r.skipped}" if r.skipped else f"error: {r.error}"
            lines.append(f"| {r.key} | - | {r.title} | - | - | - | - | - | {reason} |")
            continue
        for metric, meta in r.metrics.items():
            values, unit = meta["values"], meta["unit"]
            stats = " | ".join(fmt(x, unit) for x in (statistics.median(values), min(values), max(values)))
            bound = ">" if meta["higher_is_better"] else "<"
            target = "-" if meta["target"] is None else f"{bound} {fmt(meta['target'], unit)}"
            status = scheduler_status(meta)
            lines.append(f"| {r.key} | {metric} | {meta['what']} | {len(values)} | {stats} | {target} | {status} |")
    return "\n".join(lines)


SCHEDULER_METHOD = """Each run is one fresh process (`benchmarks/scheduler_bench.py`): it builds its project under
`benchmarks/.work/` (PostgreSQL: a throwaway database on 127.0.0.1:5432, dropped afterwards), warms up,
and times in-process only the part the workload is about. A metric's value is that process's median
(or p95) over its samples; the table gives the median, min and max of those values over the runs ({runs}
per variant in the latest invocation), the variants taking turns round by round. S1 runs on an injected
clock (`FakeClock`) so that exactly the intended runs are due; S2 and S3 run on the real clock."""


def write_scheduler_results(results: list[SchedulerResult], e: Env, runs: int, load: tuple[float, ...]) -> None:
    saved = WORK / "scheduler-results.json"
    merged = {r["key"]: r for r in json.loads(saved.read_text())} if saved.exists() else {}
    merged.update({r.key: asdict(r) for r in results})
    all_results = [SchedulerResult(**merged[w.key]) for w in SCHEDULER_WORKLOADS if w.key in merged]
    saved.write_text(json.dumps([asdict(r) for r in all_results], indent=1))
    older = sorted({r.measured_at for r in all_results} - {r.measured_at for r in results})
    notes = []
    for r in all_results:
        if r.info:
            keys = dict.fromkeys(k for info in r.info for k in info)
            parts = []
            for k in keys:
                values = [str(info.get(k, "-")) for info in r.info]
                parts.append(f"{k} {values[0] if len(set(values)) == 1 else ' / '.join(values)}")
            notes.append(f"- {r.key} (per run): {'; '.join(parts)}")
    body = "\n".join(
        [
            "### Machine",
            "",
            *machine(e, load),
            "",
            "### Results",
            "",
            SCHEDULER_METHOD.format(runs=runs),
            *(
                [f"Rows not re-measured in the latest invocation keep their earlier numbers (from {', '.join(older)})."]
                if older
                else []
            ),
            "",
            scheduler_table(all_results),
            "",
            "Also reported by the runs:",
            "",
            *notes,
        ]
    )
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    RESULTS.write_text(replace_section(text, SBEGIN, SEND, body))


# -- machine and report -----------------------------------------------------------------------------------------
def machine(e: Env, load: tuple[float, ...]) -> list[str]:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    mem = re.search(r"^MemTotal:\s*(\d+)", meminfo, re.M)
    osrel = Path("/etc/os-release")
    pretty = re.search(r'^PRETTY_NAME="?([^"\n]*)', osrel.read_text(), re.M) if osrel.exists() else None
    version = output([e.python, "-c", "import headwater; print(headwater.__version__)"], e.env)
    commit = output(["git", "-C", str(HERE.parent), "describe", "--always", "--dirty"])
    return [
        f"- date: {output(['date', '-u'])}",
        f"- CPUs: {len(os.sched_getaffinity(0))} ({model.group(1) if model else platform.processor()})",
        f"- memory: {int(mem.group(1)) / 1024 / 1024:.1f} GiB" if mem else "- memory: unknown",
        f"- OS: {pretty.group(1) if pretty else platform.system()}, kernel {platform.release()}",
        f"- Python: {output([e.python, '-VV'])} ({e.python})",
        f"- headwater {version}, checkout {commit}",
        f"- load average (1, 5, 15 min) before the runs: {' '.join(f'{x:.2f}' for x in load)}, after:"
        f" {' '.join(f'{x:.2f}' for x in os.getloadavg())} (a shared machine: other work adds noise)",
    ]


def replace_section(text: str, begin: str, end: str, body: str) -> str:
    block = f"{begin}\n{body.strip()}\n{end}"
    if begin in text and end in text:
        return text[: text.index(begin)] + block + text[text.index(end) + len(end) :]
    return text.rstrip() + "\n\n" + block + "\n"


METHOD = """Each workload is one whole process, measured through {mode}: wall time from spawn to exit
and the child's own peak RSS (its `os.wait4` rusage). Median, min and max of the counted runs ({runs}
per workload in the latest invocation). One uncounted warm-up round comes first, then the workloads
take turns round by round, so a burst of load elsewhere hits them alike. `PYTHONDONTWRITEBYTECODE` is
removed from the children's environment and the measured environment's site-packages and headwater
sources are byte-compiled first (`python -m compileall`), as in a real install. The warm-up also
creates and migrates each generated project's SQLite database (default settings:
`.headwater/headwater.db`, WAL, every state change committed), so migrations are not timed. Peak RSS
is the maximum over the counted runs."""


def write_results(results: list[Result], e: Env, runs: int, load: tuple[float, ...]) -> None:
    saved = WORK / "results.json"
    merged = {r["key"]: r for r in json.loads(saved.read_text())} if saved.exists() else {}
    merged.update({r.key: asdict(r) for r in results})
    order = [w.key for w in WORKLOADS]
    all_results = [Result(**merged[k]) for k in order if k in merged]
    saved.write_text(json.dumps([asdict(r) for r in all_results], indent=1))
    mode = "the CLI" if e.cli else "the Python API driver (benchmarks/driver.py: the CLI was not available)"
    older = sorted({r.measured_at for r in all_results} - {r.measured_at for r in results})
    body = "\n".join(
        [
            "## Machine",
            "",
            *machine(e, load),
            "",
            "## Results",
            "",
            METHOD.format(mode=mode, runs=runs),
            *(
                [f"Rows not re-measured in the latest invocation keep their earlier numbers (from {', '.join(older)})."]
                if older
                else []
            ),
            "",
            table(all_results),
        ]
    )
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    RESULTS.write_text(replace_section(text, BEGIN, END, body))


# -- profiling --------------------------------------------------------------------------------------------------
def _where(file: str, line: int, func: str) -> str:
    if file == "~":
        return func
    for marker in ("/site-packages/", "/src/", "/lib/python3"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{file.removeprefix(str(WORK) + '/')}:{line} {func}"


OWN = ("/headwater/", "/headwater_local/", "/headwater_process/")  # Headwater's own code, for the cumulative table
FuncKey = tuple[str, int, str]  # pstats: (file, line, function)
IDLE = "<method 'get' of '_queue.SimpleQueue' objects>"  # a worker thread waiting for work


def hotspots(prof: Path, top: int, *, workers: bool, waiting: str = "idle waiting for work") -> str:
    rows = pstats.Stats(str(prof)).stats  # type: ignore[attr-defined]
    total = max((ct for (_, _, _, ct, _) in rows.values()), default=0.0)
    idle = sum(v[2] for (_, _, func), v in rows.items() if func == IDLE) if workers else 0.0
    waits = any(func == IDLE for (_, _, func) in rows)
    note = "."
    if workers:
        note = f", of which {idle:.2f} s {waiting} (left out below)."
    elif waits:
        note = " (`SimpleQueue.get` here is the engine waiting for task events)."
    out = [f"{total:.2f} s profiled{note}", ""]
    tables: tuple[tuple[str, int, Callable[[FuncKey], bool]], ...] = (
        ("Headwater's own functions by cumulative time", 3, lambda k: any(m in k[0] for m in OWN)),
        ("All functions by self time", 2, lambda k: not (workers and k[2] == IDLE)),
    )
    for title, index, keep in tables:
        ranked = sorted((kv for kv in rows.items() if keep(kv[0])), key=lambda kv: kv[1][index], reverse=True)
        out += [f"{title}:", "", "| function | calls | self s | cumulative s |", "|---|---|---|---|"]
        for (file, line, func), (_, calls, tt, ct, _) in ranked[:top]:
            out.append(f"| `{_where(file, line, func)}` | {calls} | {tt:.3f} | {ct:.3f} |")
        out.append("")
    return "\n".join(out)


def profile(keys: list[str], e: Env, top: int) -> None:
    sections = []
    for key in keys:
        w = next((w for w in WORKLOADS if w.key.split()[0] == key), None)
        argv = w.argv(e) if w else None
        if w is None or argv is None or w.project is None:
            print(f"cannot profile {key}", file=sys.stderr)
            continue
        if not (WORK / w.project / ".headwater").exists():  # not measured now: warm up (bytecode, database)
            measure(argv, WORK / w.project, e.env, WORK / "logs" / f"profile-{w.project}.warm-up.log")
        if w.before_each:
            w.before_each(WORK / w.project)
        out = WORK / f"profile-{w.project}"
        log = WORK / "logs" / f"profile-{w.project}.log"
        seconds, _, code = measure(
            [e.python, str(DRIVER), "profile", str(out), "--", *argv], WORK / w.project, e.env, log
        )
        print(f"  profiled {key}: {seconds:.2f} s under cProfile (exit {code})", flush=True)
        sections += [f"### {key}: {w.title} (`{' '.join(Path(a).name if '/' in a else a for a in argv)}`)", ""]
        for part, label in (("main", "Main thread (CLI, loading, run engine)"), ("workers", "Worker threads")):
            prof = Path(f"{out}.{part}.prof")
            if prof.exists():
                sections += [f"#### {label}", "", hotspots(prof, top, workers=part == "workers")]
    if not sections:
        return
    body = "\n".join(
        [
            "## Profiles",
            "",
            f"One run each under cProfile ({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC), every thread profiled",
            "(benchmarks/driver.py); cProfile slows Python-heavy code 2-3x, so read the proportions, not the seconds.",
            "",
            *sections,
        ]
    )
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    RESULTS.write_text(replace_section(text, PBEGIN, PEND, body))


def profile_scheduler(keys: list[str], e: Env, top: int) -> None:
    """Profile the timed part of each variant of the named S workloads once (scheduler_bench.py --profile)."""
    sections = []
    for w in (w for w in SCHEDULER_WORKLOADS if w.key.split()[0] in keys):
        name = w.key.lower().replace(" ", "-")
        out, log = WORK / f"profile-{name}", WORK / "logs" / f"profile-{name}.log"
        for part in ("main", "workers"):
            Path(f"{out}.{part}.prof").unlink(missing_ok=True)
        argv = [e.python, str(SCHEDULER_BENCH), *w.args, "--json", str(WORK / f"profile-{name}.json"), "--profile"]
        seconds, _, code = measure([*argv, str(out)], HERE.parent, e.env, log)
        print(f"  profiled {w.key}: {seconds:.0f} s (exit {code})", flush=True)
        if not Path(f"{out}.main.prof").exists():
            continue
        sections += [f"#### {w.key}: {w.title} (`scheduler_bench.py {' '.join(w.args)}`)", ""]
        labels = (
            ("main", "Main thread (the scheduler loop; S1: the timed ticks only)"),
            ("workers", "Other threads (run engines, executor workers)"),
        )
        for part, label in labels:
            prof = Path(f"{out}.{part}.prof")
            if prof.exists():
                waiting = "blocked in SimpleQueue.get (engines waiting for events, workers for work)"
                sections += [f"##### {label}", "", hotspots(prof, top, workers=part == "workers", waiting=waiting)]
    if not sections:
        return
    body = "\n".join(
        [
            "### Profiles",
            "",
            f"One run each under cProfile ({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC), only the timed part, every",
            "thread profiled; cProfile slows Python-heavy code 2-3x, so read the proportions, not the seconds.",
            "",
            *sections,
        ]
    )
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    RESULTS.write_text(replace_section(text, SPBEGIN, SPEND, body))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="measured runs per workload (default 3; 0: only --profile)")
    parser.add_argument("--only", help="comma-separated workloads: W1,...,W5, S1,S2,S3; W or S: the whole family")
    parser.add_argument("--api", action="store_true", help="measure W1-W3 and W5 through the Python API driver")
    parser.add_argument("--profile", metavar="W1,S1", help="also profile these workloads once (cProfile)")
    parser.add_argument("--top", type=int, default=15, help="rows per profile table (default 15)")
    parser.add_argument("--no-write", action="store_true", help="print the table, leave RESULTS.md alone")
    args = parser.parse_args()

    bindir = Path(sys.executable).parent
    env = child_env()
    headwater = str(bindir / "headwater")
    cli = not args.api and works([headwater, "--version"], env)
    e = Env(python=sys.executable, headwater=headwater, cli=cli, env=env)
    wanted = {k.strip().upper() for k in args.only.split(",")} if args.only else None

    def chosen(key: str) -> bool:
        family = key.split()[0]
        return args.runs > 0 and (wanted is None or family in wanted or family[0] in wanted)

    selected = [w for w in WORKLOADS if chosen(w.key)]
    scheduler_selected = [w for w in SCHEDULER_WORKLOADS if chosen(w.key)]
    profiled = [k.strip().upper() for k in args.profile.split(",")] if args.profile else []
    print(f"measuring through {'the CLI' if cli else 'the Python API driver'}; byte-compiling ...", flush=True)
    compile_bytecode(e.python, env)
    make_projects({w.key.split()[0] for w in selected} | set(profiled))
    load_before = os.getloadavg()
    results = run_all(selected, e, args.runs)
    if results:
        print(table(results))
    if not args.no_write and results:
        write_results(results, e, args.runs, load_before)
    load_before = os.getloadavg()
    scheduler_results = run_scheduler(scheduler_selected, e, args.runs)
    if scheduler_results:
        print(scheduler_table(scheduler_results))
    if not args.no_write and scheduler_results:
        write_scheduler_results(scheduler_results, e, args.runs, load_before)
    if any(k.startswith("W") for k in profiled):
        profile([k for k in profiled if k.startswith("W")], e, args.top)
    if any(k.startswith("S") for k in profiled):
        profile_scheduler([k for k in profiled if k.startswith("S")], e, args.top)
    if not args.no_write:
        print(f"wrote {RESULTS.relative_to(HERE.parent)}")
    return 1 if any(r.error for r in results) or any(r.error for r in scheduler_results) else 0


if __name__ == "__main__":
    sys.exit(main())
