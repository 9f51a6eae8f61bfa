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
    assert [m.address for m in dlt.meters] == [m.address for m in fleet.dlt645]
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
        "127.0.0.1:8021", "--meters", "4",
    ]  # fmt: skip
    assert args[args.index("--modbus-tcp") + 1 : args.index("--modbus-tcp") + 6] == [
        "127.0.0.1:5020", "--map", "generic_prepaid", "--meters", "2",
    ]  # fmt: skip
    assert "--exact-clocks" in args
