"""Child-process helper for benchmarks/run.py (not imported by it; run as a script).

driver.py run PROJECT PIPELINE      run one pipeline through the Python API (the --api fallback)
driver.py list PROJECT              load every pipeline file of a project through the Python API
driver.py profile OUT -- ARGV...    run ARGV (a script and its arguments) under cProfile, every thread
                                    profiled; writes OUT.main.prof (main thread) and OUT.workers.prof
"""

from __future__ import annotations

import sys


def api_run(project_dir: str, pipeline_id: str) -> int:
    from pathlib import Path

    from headwater.config.settings import load_project
    from headwater.engine.launch import run_pipeline
    from headwater.loader.files import load_file

    project = load_project(Path(project_dir))
    pipeline = next(p for p in load_file(project.pipelines_dir / f"{pipeline_id}.py") if p.id == pipeline_id)
    summary = run_pipeline(project, pipeline)
    print(f"{summary.run_id} {summary.state} {len(summary.tasks)} tasks {summary.duration}")
    return 0 if summary.ok else 1


def api_list(project_dir: str) -> int:
    from pathlib import Path

    from headwater.config.settings import load_project
    from headwater.loader.files import load_file

    project = load_project(Path(project_dir))
    count = 0
    for path in sorted(project.pipelines_dir.glob("*.py")):
        count += len(load_file(path))
    print(f"{count} pipelines")
    return 0


def profile(out: str, argv: list[str]) -> int:
    import cProfile
    import pstats
    import runpy
    import threading

    workers: list[cProfile.Profile] = []

    def start_thread_profile(*_: object) -> None:
        sys.setprofile(None)
        prof = cProfile.Profile()
        workers.append(prof)
        prof.enable()

    threading.setprofile(start_thread_profile)
    sys.argv = list(argv)
    main = cProfile.Profile()
    code = 0
    main.enable()
    try:
        runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        main.disable()
        threading.setprofile(None)
    main.dump_stats(f"{out}.main.prof")
    if workers:
        for prof in workers:
            prof.create_stats()
        pstats.Stats(*workers).dump_stats(f"{out}.workers.prof")
    return code


def main(args: list[str]) -> int:
    if args[:1] == ["run"] and len(args) == 3:
        return api_run(args[1], args[2])
    if args[:1] == ["list"] and len(args) == 2:
        return api_list(args[1])
    if args[:1] == ["profile"] and len(args) >= 4 and args[2] == "--":
        return profile(args[1], args[3:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
