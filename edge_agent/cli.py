"""Command line of the edge agent: run, check-config, probe, simulate."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from edge_agent import __version__, heap
from edge_agent.config import ConfigError
from edge_agent.configfile import load_config


def _run(args: argparse.Namespace) -> int:
    from edge_agent.agent import run_agent

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    heap.settle()
    asyncio.run(run_agent(config))
    return 0


def _check_config(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    meters = sum(len(b.meters) for b in config.buses)
    print(
        f"{args.file}: OK — agent {config.agent_id}, {len(config.buses)} bus(es), {meters} meter(s)"
    )
    return 0


def _probe(args: argparse.Namespace) -> int:
    from edge_agent import probe

    return probe.main(args)


def _simulate(args: argparse.Namespace) -> int:
    from edge_agent.simulators import cli as simulators_cli

    return int(simulators_cli.main(args))


def build_parser() -> argparse.ArgumentParser:
    from edge_agent import probe

    p = argparse.ArgumentParser(prog="python -m edge_agent", description=__doc__)
    p.add_argument("--version", action="version", version=f"meterline edge agent {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the agent")
    run.add_argument("--config", required=True, help="the agent's TOML file")
    run.set_defaults(func=_run)

    check = sub.add_parser("check-config", help="validate a config file and list every problem")
    check.add_argument("file")
    check.set_defaults(func=_check_config)

    pr = sub.add_parser("probe", help="read one meter once and print JSON")
    probe.add_arguments(pr)
    pr.set_defaults(func=_probe)

    # The meter simulators live in edge_agent/simulators/, which owns their options.
    from edge_agent.simulators import cli as simulators_cli

    sim = sub.add_parser(
        "simulate",
        help="run Modbus, DL/T 645 and DL/T 698.45 meter simulators",
        description=simulators_cli.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    simulators_cli.add_arguments(sim)
    sim.set_defaults(func=_simulate)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
