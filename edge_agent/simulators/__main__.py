"""``python -m edge_agent.simulators …``: the simulators alone (same flags as ``simulate``)."""

from __future__ import annotations

import argparse
import sys

from edge_agent.simulators.cli import add_arguments, main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m edge_agent.simulators", description=__doc__)
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
