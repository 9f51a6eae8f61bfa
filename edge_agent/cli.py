"""Command line of the edge agent: run, probe, simulate."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from edge_agent import __version__


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m edge_agent", description=__doc__)
    p.add_argument("--version", action="version", version=f"meterline edge agent {__version__}")
    p.add_subparsers(dest="command", required=True)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
