"""The simulate flags: bus flags start a bus, per-bus flags after one apply to it."""

from __future__ import annotations

import argparse

import pytest

from edge_agent.simulators.cli import add_arguments, spec_from_args
from edge_agent.simulators.faults import Fault, FaultKind
from edge_agent.simulators.fleet import BusSpec
from edge_agent.simulators.loadshape import Profile
from protocols.dlt645 import Password


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_per_bus_flags_apply_to_the_bus_before_them() -> None:
    spec = spec_from_args(
        parse(
            "--dlt645-tcp",
            "127.0.0.1:8021",
            "--meters",
            "3",
            "--modbus-tcp",
            "0.0.0.0:5020",
            "--map",
            "generic_prepaid",
            "--meters",
            "4",
            "--dlt645-pty",
            "--baud",
            "1200",
            "--profile",
            "commercial",
            "--modbus-pty",
            "--seed",
            "9",
            "--enforce-timing",
            "--fault",
            "silent@111111111113",
        )
    )
    assert spec.buses == [
        BusSpec("dlt645", "tcp", meters=3, host="127.0.0.1", port=8021, enforce_timing=True),
        BusSpec("modbus", "tcp", meters=4, host="0.0.0.0", port=5020,
                register_map="generic_prepaid", enforce_timing=True),
        BusSpec("dlt645", "pty", baud=1200, profile=Profile.COMMERCIAL, enforce_timing=True),
        BusSpec("modbus", "pty", enforce_timing=True),
    ]  # fmt: skip
    assert spec.seed == 9
    assert list(spec.faults) == [("111111111113", Fault(FaultKind.SILENT))]


def test_per_bus_flags_before_any_bus_set_the_default() -> None:
    spec = spec_from_args(parse("--meters", "2", "--modbus-pty", "--dlt645-serial", "/dev/ttyS1"))
    assert [(b.meters, b.transport, b.path) for b in spec.buses] == [
        (2, "pty", ""),
        (2, "serial", "/dev/ttyS1"),
    ]


def test_rtu_over_tcp_and_passwords_are_understood() -> None:
    spec = spec_from_args(
        parse("--modbus-rtu-tcp", ":5021", "--dlt645-password", "04:123456", "--exact-clocks")
    )
    assert spec.buses[0] == BusSpec("modbus", "tcp", host="127.0.0.1", port=5021, rtu_over_tcp=True)
    assert list(spec.passwords) == [Password(4, "123456")]
    assert spec.clock_error is False


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ((), "no bus given"),
        (("--modbus-pty", "--fault", "loud@1"), "unknown kind"),
        (("--modbus-pty", "--dlt645-password", "2-000000"), "LEVEL:CODE"),
    ],
)
def test_bad_flags_are_refused_with_the_reason(argv: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        spec_from_args(parse(*argv))


def test_a_tcp_bus_needs_host_and_port(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse("--dlt645-tcp", "8021")
    assert "is not HOST:PORT" in capsys.readouterr().err
