"""The agent's configuration: one TOML file, validated into msgspec Structs.

Every key is documented in docs/edge-agent.md and shown in edge_agent/examples/agent.toml.
This module is the schema only; :mod:`edge_agent.configfile` reads a file into it, and
:mod:`edge_agent.configrules` checks the rules that span keys.
"""

from __future__ import annotations

import enum
from typing import Annotated

import msgspec

from protocols.contract import Encoding, Quantity

Ident = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Positive = Annotated[float, msgspec.Meta(gt=0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]


class ConfigError(ValueError):
    """A configuration file with problems; ``problems`` holds one message per problem."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s):\n{lines}")


class MqttProtocol(enum.StrEnum):
    V5 = "5"
    V311 = "3.1.1"


class Broker(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    host: Annotated[str, msgspec.Meta(min_length=1)]
    port: Port = 1883
    tls: bool = False
    ca_file: str | None = None  # default: the system's trust store
    tls_insecure: bool = False  # skip the host name check (test benches only)
    username: str | None = None  # default: the agent id, which the broker ACL expects
    password_file: str | None = None
    password_env: str | None = None
    client_id: str | None = None  # default: the agent id
    protocol: MqttProtocol = MqttProtocol.V5
    encoding: Encoding = Encoding.JSON
    keepalive_s: Annotated[int, msgspec.Meta(ge=5, le=3600)] = 30
    reconnect_min_s: Positive = 1.0
    reconnect_max_s: Positive = 60.0
    session_expiry_s: Annotated[int, msgspec.Meta(ge=0)] = 86_400  # commands wait this long


class DropPolicy(enum.StrEnum):
    DROP_OLDEST = "drop_oldest"
    DROP_NEWEST = "drop_newest"
    STOP_POLLING = "stop_polling"


class Outbox(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    max_rows: Annotated[int, msgspec.Meta(ge=100)] = 2_000_000
    max_age_days: Positive = 35.0
    policy: DropPolicy = DropPolicy.DROP_OLDEST
    batch_size: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 500
    inflight: Annotated[int, msgspec.Meta(ge=1, le=100)] = 8
    catch_up_rate: Positive = 2000.0  # backlog readings per second after an outage
    # Delete a batch's rows only when the backend's receipt names its seq (it is committed
    # there), not at the broker's PUBACK: a broker crash then loses nothing. False: the old
    # PUBACK behaviour, for a backend that sends no receipts (docs/edge-agent.md, "Outbox").
    receipts: bool = False
    receipt_timeout_s: Positive = 30.0  # a batch sent and not receipted this long: sent again
    # (then after twice as long, and so on, up to 16 times the timeout: a backend that is down
    # is not flooded with repeats)
    # Batches the broker acknowledged that may await their receipt at once: at this many no new
    # batch is formed, the rows wait on disk (the end-to-end window; memory stays bounded)
    receipt_window: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 64


class Overload(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Poll less often instead of queueing (edge_agent/pacing.py has the rule)."""

    enabled: bool = True
    target_lag_s: Positive = 0.5  # the oldest live reading awaiting its PUBACK, at most about
    max_stretch: Annotated[float, msgspec.Meta(ge=1, le=1000)] = 64.0  # effective / every_s


class Metrics(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    listen: str = "127.0.0.1:9108"  # "" turns the endpoint off


class Commands(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=10)] = 3
    relay_settle_s: NonNegative = 0.5  # wait before reading the relay state back
    relay_valid_s: Annotated[int, msgspec.Meta(ge=10, le=3600)] = 300  # DL/T 645 1CH validity


class Weekday(enum.StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


HhMm = Annotated[str, msgspec.Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
IsoDate = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]


class DisconnectPolicy(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The agent's own re-check before cutting supply (the backend checks too)."""

    enabled: bool = True
    days: list[Weekday] = msgspec.field(
        default_factory=lambda: [Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI]
    )
    start: HhMm = "09:00"
    end: HhMm = "16:00"
    holidays: list[IsoDate] = []  # local dates on which no disconnect is allowed


class Transport(enum.StrEnum):
    SERIAL = "serial"
    TCP = "tcp"


class BusProtocol(enum.StrEnum):
    MODBUS_RTU = "modbus_rtu"  # serial; or over TCP through a transparent gateway
    MODBUS_TCP = "modbus_tcp"  # MBAP framing, TCP only
    DLT645 = "dlt645"  # serial; or over TCP through a transparent gateway
    DLT698 = "dlt698"  # DL/T 698.45: serial; or over TCP through a transparent gateway


class Parity(enum.StrEnum):
    NONE = "N"
    EVEN = "E"
    ODD = "O"


class PollGroup(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Ident
    every_s: Positive
    align: bool = False  # start on wall-clock multiples of every_s (local time), e.g. :00/:15
    dis: list[str] = []  # DL/T 645: data identifiers, 8 hex digits each
    oads: list[str] = []  # DL/T 698.45: object attribute descriptors, 8 hex digits each
    quantities: list[Quantity] = []  # Modbus: quantity codes from the map; empty means all


class Meter(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: Ident
    address: str | None = None  # DL/T 645 / 698.45: 12 digits as on the nameplate
    unit: Annotated[int, msgspec.Meta(ge=0, le=247)] | None = None  # Modbus unit id
    map: str | None = None  # Modbus register map: shipped name or a path
    groups: list[PollGroup] | None = None  # default: the bus's groups
    relay_secret: str | None = None  # "env:VAR" or a [relay.NAME] table of the secrets file
    clock_check_s: Positive = 3600.0  # DL/T 645: how often the meter's clock is compared
    backfill_days: Annotated[int, msgspec.Meta(ge=0, le=62)] = 7


class Bus(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Ident
    transport: Transport
    protocol: BusProtocol
    device: str | None = None
    baud: Annotated[int, msgspec.Meta(ge=300, le=921_600)] = 9600
    parity: Parity = Parity.NONE
    stop_bits: Annotated[int, msgspec.Meta(ge=1, le=2)] = 1
    byte_size: Annotated[int, msgspec.Meta(ge=7, le=8)] = 8
    host: str | None = None
    port: Port | None = None
    timeout_ms: Annotated[int, msgspec.Meta(ge=10, le=60_000)] = 1000
    inter_frame_gap_ms: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 20
    # Modbus TCP only: send a poll's block reads together, each its own transaction, without
    # waiting for each reply (the device must accept several outstanding transactions)
    pipeline: bool = False
    offline_after: Annotated[int, msgspec.Meta(ge=1, le=100)] = 3  # failed polls in a row
    backoff_max_s: Positive = 300.0
    groups: list[PollGroup] = []
    meters: list[Meter] = []


class AgentConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    agent_id: Ident
    data_dir: str
    timezone: str = "Asia/Shanghai"
    clock_drift_limit_s: Positive = 30.0
    secrets_file: str | None = None
    log_level: str = "INFO"
    broker: Broker
    outbox: Outbox = msgspec.field(default_factory=Outbox)
    overload: Overload = msgspec.field(default_factory=Overload)
    metrics: Metrics = msgspec.field(default_factory=Metrics)
    commands: Commands = msgspec.field(default_factory=Commands)
    disconnect_policy: DisconnectPolicy = msgspec.field(default_factory=DisconnectPolicy)
    buses: list[Bus] = []

    def meters(self) -> list[tuple[Bus, Meter]]:
        return [(bus, meter) for bus in self.buses for meter in bus.meters]

    def groups_of(self, bus: Bus, meter: Meter) -> list[PollGroup]:
        return meter.groups if meter.groups is not None else bus.groups
