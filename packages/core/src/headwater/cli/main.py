"""``headwater`` entry point: answers ``--version`` before importing anything else."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args in (["--version"], ["-V"]):
        from headwater._version import __version__

        sys.stdout.write(f"headwater {__version__}\n")
        return
    from headwater.cli.app import cli

    cli.main(args=args, prog_name="headwater")


if __name__ == "__main__":
    main()
