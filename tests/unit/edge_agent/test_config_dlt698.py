"""Configuration of DL/T 698.45 buses: OAD groups and addresses, every problem by key."""

from __future__ import annotations

import pytest

from edge_agent.config import BusProtocol, ConfigError
from edge_agent.configfile import parse_config

BUS = """
agent_id = "agent-1"
data_dir = "/tmp/x"
[broker]
host = "127.0.0.1"
[[buses]]
name = "b698"
transport = "tcp"
protocol = "dlt698"
host = "127.0.0.1"
port = 8698
  [[buses.groups]]
  name = "g"
  every_s = 60
  {group}
  [[buses.meters]]
  id = "m1"
  address = "{address}"
  {meter}
"""


def config(group: str = 'oads = ["00100200", "20000201"]', address: str = "000000000001",
           meter: str = "", env: dict[str, str] | None = None) -> object:  # fmt: skip
    return parse_config(BUS.format(group=group, address=address, meter=meter), environ=env or {})


def problems(**kwargs: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config(**kwargs)
    return info.value.problems


def test_a_dlt698_bus_with_oads_and_a_relay_secret_is_valid() -> None:
    parsed = config(meter='relay_secret = "env:R"', env={"R": "02:000000:00000001"})
    bus = parsed.buses[0]  # type: ignore[attr-defined]
    assert bus.protocol is BusProtocol.DLT698
    assert bus.groups[0].oads == ["00100200", "20000201"]


def test_a_dlt698_group_needs_known_oads_and_no_dis() -> None:
    found = problems(group='dis = ["00010000"]\n  oads = ["1234", "12340200", "40000200"]')
    assert any("lists oads, not dis" in p for p in found)
    assert any("'1234' is not 8 hex digits" in p for p in found)
    assert any("12340200 gives no readings" in p for p in found)
    assert any("40000200 gives no readings" in p for p in found)  # the clock is not a reading


def test_a_dlt698_group_without_oads_is_named() -> None:
    assert any("needs at least one OAD" in p for p in problems(group=""))


def test_a_dlt698_meter_needs_a_12_digit_address_and_a_resolvable_secret() -> None:
    found = problems(address="12345", meter='relay_secret = "env:MISSING"')
    assert any("address: '12345' is not 12 digits" in p for p in found)
    assert any("relay_secret" in p and "MISSING" in p for p in found)
