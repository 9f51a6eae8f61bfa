"""Configuration: the example is valid, and a bad file lists every problem by key."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.config import ConfigError, DropPolicy
from edge_agent.configfile import load_config, parse_config
from protocols.contract import Encoding, Quantity
from tests.support.agent import MINIMAL_TOML as MINIMAL

EXAMPLE = Path(__file__).resolve().parents[3] / "edge_agent" / "examples" / "agent.toml"
ENV = {"METERLINE_AGENT_MQTT_PASSWORD": "pw", "METERLINE_RELAY_M2": "02:123456:00000001"}


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, environ=env or {})
    return info.value.problems


def test_the_shipped_example_is_valid_once_its_secrets_exist(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        '[relay.residential]\nlevel = 2\npassword = "123456"\noperator = "1A2B3C4D"\n'
    )
    text = EXAMPLE.read_text().replace(
        '# secrets_file = "/etc/meterline/agent-secrets.toml"', f'secrets_file = "{secrets}"'
    )
    config = parse_config(text, environ=ENV)
    assert config.agent_id == "agent-1"
    assert [b.name for b in config.buses] == ["rs485-1", "panel-a"]
    assert config.outbox.policy is DropPolicy.DROP_OLDEST
    assert config.outbox.receipts is True  # what ships deletes rows at the backend's receipt
    assert config.disconnect_policy.start == "09:00"


def test_the_example_names_its_missing_secrets_without_containing_any() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(EXAMPLE, environ={})
    assert info.value.problems == [
        "broker.password_env: environment variable METERLINE_AGENT_MQTT_PASSWORD is not set",
        "buses[0].meters[0].relay_secret: 'residential' refers to the secrets file, "
        "but secrets_file is not set",
        "buses[0].meters[1].relay_secret: environment variable METERLINE_RELAY_M2 is not set",
    ]


def test_a_minimal_file_gets_the_documented_defaults() -> None:
    config = parse_config(MINIMAL, environ={})
    assert config.timezone == "Asia/Shanghai"
    assert config.broker.port == 1883
    assert config.disconnect_policy.days[0].value == "mon"
    assert config.groups_of(config.buses[0], config.buses[0].meters[0])[0].name == "energy"


def test_every_type_problem_is_reported_at_once_with_its_key() -> None:
    text = (
        MINIMAL.replace("port = 8021", 'port = "x"')
        .replace("every_s = 900", 'every_s = -1\n  colour = "red"')
        .replace('[broker]\nhost = "127.0.0.1"', "[broker]\nport = 70000")
    )
    found = problems(text)
    assert found == [
        "broker.host: required key is missing",
        "broker.port: 70000 is invalid: Expected `int` <= 65535",
        "buses[0].port: 'x' is invalid: Expected `int | null`, got `str`",
        "buses[0].groups[0].every_s: -1 is invalid: Expected `float` > 0.0",
        "buses[0].groups[0].colour: unknown key "
        "(allowed: align, dis, every_s, name, oads, quantities)",
    ]


def test_rules_across_keys_are_all_reported_with_the_meter_path() -> None:
    text = (
        MINIMAL
        + """
  [[buses.meters]]
  id = "m1"
  address = "12345"
  [[buses.meters]]
  id = "m3"
  address = "000000000003"
  relay_secret = "env:NOPE"
    [[buses.meters.groups]]
    name = "g"
    every_s = 60
    dis = ["DEADBEEF", "xyz"]
[[buses]]
name = "b"
transport = "serial"
protocol = "modbus_tcp"
  [[buses.meters]]
  id = "mb"
  map = "no-such-map"
"""
    )
    text = text.replace('timezone = "Asia/Shanghai"', "")
    found = problems(
        text.replace('data_dir = "/tmp/x"', 'data_dir = "/tmp/x"\ntimezone = "Mars/Olympus"')
    )
    assert "timezone: 'Mars/Olympus' is not a known time zone" in found
    assert "buses[0].meters[1].id: meter 'm1' is already buses[0].meters[0]" in found
    assert "buses[0].meters[1].address: '12345' is not 12 BCD digits" in found
    assert "buses[0].meters[2].relay_secret: environment variable NOPE is not set" in found
    assert "buses[0].meters[2].groups[0].dis: DI DEADBEEF is not in the DL/T 645 table" in found
    assert "buses[0].meters[2].groups[0].dis: 'xyz' is not 8 hex digits" in found
    assert "buses[1].name: bus 'b' is defined twice" in found
    assert "buses[1].device: required for a serial bus" in found
    assert any(p.startswith("buses[1].protocol: modbus_tcp needs transport 'tcp'") for p in found)
    assert "buses[1].meters[0].unit: required for a Modbus meter (1..247)" in found
    assert any(p.startswith("buses[1].meters[0].map: no shipped map 'no-such-map'") for p in found)
    assert (
        "buses[1].meters[0].groups: no poll groups (set them on the meter or on the bus)" in found
    )
    assert len(found) == 12


def test_a_modbus_group_may_only_name_quantities_its_map_has() -> None:
    text = (
        MINIMAL.replace('protocol = "dlt645"', 'protocol = "modbus_tcp"')
        .replace('address = "000000000001"', 'unit = 1\n  map = "sdm630"')
        .replace('dis = ["00010000"]', 'quantities = ["energy_import", "relay_state"]')
    )
    found = problems(text)
    assert len(found) == 1
    assert found[0].startswith(
        "buses[0].meters[0] (bus groups)[0].quantities: 'relay_state' is not in map 'sdm630'"
    )


def test_a_quantity_the_contract_does_not_know_is_named_at_its_key() -> None:
    text = (
        MINIMAL.replace('protocol = "dlt645"', 'protocol = "modbus_tcp"')
        .replace('address = "000000000001"', 'unit = 1\n  map = "sdm630"')
        .replace('dis = ["00010000"]', 'quantities = ["energy_imprt"]')
    )
    assert problems(text) == [
        "buses[0].groups[0].quantities: ['energy_imprt'] is invalid: "
        "Invalid enum value 'energy_imprt'"
    ]


def test_poll_groups_and_the_broker_encoding_are_the_contracts_enums() -> None:
    text = (
        MINIMAL.replace('protocol = "dlt645"', 'protocol = "modbus_tcp"')
        .replace('address = "000000000001"', 'unit = 1\n  map = "sdm630"')
        .replace('dis = ["00010000"]', 'quantities = ["energy_import"]')
        .replace(
            'host = "127.0.0.1"\n[[buses]]', 'host = "127.0.0.1"\nencoding = "msgpack"\n[[buses]]'
        )
    )
    config = parse_config(text, environ={})
    assert config.broker.encoding is Encoding.MSGPACK
    assert config.buses[0].groups[0].quantities == [Quantity.ENERGY_IMPORT]
    assert type(config.buses[0].groups[0].quantities[0]) is Quantity


def test_a_file_that_is_not_toml_says_where() -> None:
    assert problems("agent_id = \n")[0].startswith("not valid TOML: ")


def test_an_unreadable_file_is_one_clear_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path / "missing.toml")


def test_only_a_modbus_tcp_bus_may_pipeline_its_requests() -> None:
    text = MINIMAL.replace("port = 8021", "port = 8021\npipeline = true")
    assert problems(text) == [
        "buses[0].pipeline: only Modbus TCP can have several requests in flight"
    ]
    modbus = (
        text.replace('protocol = "dlt645"', 'protocol = "modbus_tcp"')
        .replace('address = "000000000001"', 'unit = 1\n  map = "sdm630"')
        .replace('dis = ["00010000"]', 'quantities = ["energy_import"]')
    )
    assert parse_config(modbus, environ={}).buses[0].pipeline is True
