"""``python -m edge_agent.simulators …``: the simulators alone (same flags as ``simulate``)."""

from __future__ import annotations

import sys

from edge_agent.simulators.cli import build_parser, main

if __name__ == "__main__":
    sys.exit(main(build_parser("python -m edge_agent.simulators").parse_args()))
