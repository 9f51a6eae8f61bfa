"""The configuration ``meterline demo`` writes for its agent passes the agent's own check."""

from __future__ import annotations

from pathlib import Path

from backend.demo import DEFAULT_METERS, DEFAULT_SPEED, agent_config, child_env, simulator_args
from backend.demo_data import DemoFleet
from edge_agent.config import BusProtocol
from edge_agent.configfile import parse_config
from edge_agent.secrets import resolve_relay


def test_the_demos_agent_configuration_is_valid_and_names_every_simulated_meter() -> None:
    fleet = DemoFleet.plan(
        meters=DEFAULT_METERS, speed=DEFAULT_SPEED, dlt645_port=8021, modbus_port=5020
    )
    config = parse_config(
        agent_config(fleet, Path("/srv/demo/agent"), 1883, 9108), environ=child_env()
    )
    dlt, modbus = config.buses
    assert (dlt.protocol, dlt.port) == (BusProtocol.DLT645, 8021)
    assert (modbus.protocol, modbus.port) == (BusProtocol.MODBUS_TCP, 5020)
    # the customers' meters, then the spare one the demo's application for supply energises
    assert [m.address for m in dlt.meters] == [m.address for m in fleet.dlt645 + fleet.spare]
    assert [m.id for m in dlt.meters][-1] == f"yk-{int(fleet.dlt645[-1].address) + 1:012d}"
    assert [str(m.unit) for m in modbus.meters] == [m.address for m in fleet.modbus]
    assert config.log_level == "INFO"  # what it does shows in the demo's agent.log
    for meter in dlt.meters:
        assert meter.relay_secret is not None
        creds = resolve_relay(meter.relay_secret, None, child_env())
        assert (creds.level, creds.password) == (2, "000000")  # the simulators' default


def test_the_simulators_are_started_with_one_bus_per_protocol_and_the_fleets_sizes() -> None:
    fleet = DemoFleet.plan(meters=6, speed=60, dlt645_port=8021, modbus_port=5020)
    args = simulator_args(fleet, Path("/srv/demo/simulators.json"))
    assert args[args.index("--dlt645-tcp") + 1 : args.index("--dlt645-tcp") + 4] == [
        "127.0.0.1:8021", "--meters", "5",  # four customers' meters and the spare
    ]  # fmt: skip
    assert args[args.index("--modbus-tcp") + 1 : args.index("--modbus-tcp") + 6] == [
        "127.0.0.1:5020", "--map", "generic_prepaid", "--meters", "2",
    ]  # fmt: skip
    assert "--exact-clocks" in args


def test_the_demo_fleet_includes_dlt698_meters_on_a_bus_of_their_own() -> None:
    fleet = DemoFleet.plan(
        meters=DEFAULT_METERS, speed=DEFAULT_SPEED, dlt645_port=8021, modbus_port=5020,
        dlt698_port=8698,
    )  # fmt: skip
    config = parse_config(
        agent_config(fleet, Path("/srv/demo/agent"), 1883, 9108), environ=child_env()
    )
    [dlt698] = [b for b in config.buses if b.protocol is BusProtocol.DLT698]
    assert dlt698.port == 8698
    assert [m.address for m in dlt698.meters] == [m.address for m in fleet.dlt698]
    assert len(fleet.dlt698) >= 1
    assert all(m.relay_secret is not None for m in dlt698.meters)
    args = simulator_args(fleet, Path("/srv/demo/simulators.json"))
    at = args.index("--dlt698-tcp")
    assert args[at + 1 : at + 6] == [
        "127.0.0.1:8698", "--meters", str(len(fleet.dlt698)),
        "--first-address", fleet.dlt698[0].address,
    ]  # fmt: skip
    addresses = [m.address for m in (*fleet.dlt645, *fleet.dlt698)]
    assert len(set(addresses)) == len(addresses)


def test_the_demos_agent_deletes_rows_at_the_backends_receipt() -> None:
    fleet = DemoFleet.plan(
        meters=DEFAULT_METERS, speed=DEFAULT_SPEED, dlt645_port=8021, modbus_port=5020
    )
    config = parse_config(
        agent_config(fleet, Path("/srv/demo/agent"), 1883, 9108), environ=child_env()
    )
    assert config.outbox.receipts is True
