"""Rules that span keys of the configuration, checked after the types are right.

Each rule appends a message naming the key; the loader reports them all together.
"""

from __future__ import annotations

import logging
import re
import zoneinfo
from dataclasses import dataclass
from pathlib import Path

from edge_agent import secrets
from edge_agent.config import AgentConfig, Bus, BusProtocol, Meter, PollGroup, Transport
from edge_agent.drivers.modbus_maps import AgentMap, MapLoadError, load
from protocols import dlt645
from protocols.dlt698.objects import readable as dlt698_readable

_BCD12 = re.compile(r"^[0-9]{12}$")
_DI = re.compile(r"^[0-9A-Fa-f]{8}$")
_HOSTPORT = re.compile(r"^(\[[0-9A-Fa-f:]+\]|[A-Za-z0-9_.-]+):([0-9]{1,5})$")


@dataclass(frozen=True)
class _Context:
    """What the meter rules look things up in: relay secrets and map files."""

    secrets_doc: dict[str, object] | None
    environ: dict[str, str] | None
    base: Path | None


def check_rules(
    config: AgentConfig, *, environ: dict[str, str] | None = None, base: Path | None = None
) -> list[str]:
    problems: list[str] = []
    _check_top(config, problems, environ)
    ctx = _Context(_secrets(config, problems), environ, base)
    meter_ids: dict[str, str] = {}
    bus_names: set[str] = set()
    for b, bus in enumerate(config.buses):
        where = f"buses[{b}]"
        if bus.name in bus_names:
            problems.append(f"{where}.name: bus {bus.name!r} is defined twice")
        bus_names.add(bus.name)
        _check_bus(bus, where, problems)
        for m, meter in enumerate(bus.meters):
            mwhere = f"{where}.meters[{m}]"
            if meter.id in meter_ids:
                problems.append(f"{mwhere}.id: meter {meter.id!r} is already {meter_ids[meter.id]}")
            else:
                meter_ids[meter.id] = mwhere
            _check_meter(config, bus, meter, mwhere, problems, ctx)
    return problems


def _check_top(config: AgentConfig, problems: list[str], environ: dict[str, str] | None) -> None:
    try:
        zoneinfo.ZoneInfo(config.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        problems.append(f"timezone: {config.timezone!r} is not a known time zone")
    if logging.getLevelName(config.log_level.upper()) not in (10, 20, 30, 40, 50):
        problems.append(f"log_level: {config.log_level!r} is not DEBUG/INFO/WARNING/ERROR")
    broker = config.broker
    if broker.password_file and broker.password_env:
        problems.append("broker: set password_file or password_env, not both")
    try:
        secrets.read_password(broker.password_file, broker.password_env, environ)
    except secrets.SecretError as exc:
        key = "password_file" if broker.password_file else "password_env"
        problems.append(f"broker.{key}: {exc}")
    if broker.reconnect_min_s > broker.reconnect_max_s:
        problems.append("broker.reconnect_min_s: is greater than broker.reconnect_max_s")
    if broker.ca_file and not Path(broker.ca_file).is_file():
        problems.append(f"broker.ca_file: {broker.ca_file!r} is not a file")
    listen = config.metrics.listen
    if listen:
        match = _HOSTPORT.match(listen)
        if not match or not 0 < int(match.group(2)) < 65536:
            problems.append(f"metrics.listen: {listen!r} is not HOST:PORT (or empty to disable)")
    policy = config.disconnect_policy
    if policy.start >= policy.end:
        problems.append(
            f"disconnect_policy.end: {policy.end!r} is not after start {policy.start!r}"
        )


def _secrets(config: AgentConfig, problems: list[str]) -> dict[str, object] | None:
    if not config.secrets_file:
        return None
    try:
        return secrets.load_secrets_file(config.secrets_file)
    except secrets.SecretError as exc:
        problems.append(f"secrets_file: {exc}")
        return None


def _check_bus(bus: Bus, where: str, problems: list[str]) -> None:
    if bus.transport is Transport.SERIAL:
        if not bus.device:
            problems.append(f"{where}.device: required for a serial bus")
        if bus.protocol is BusProtocol.MODBUS_TCP:
            problems.append(
                f"{where}.protocol: modbus_tcp needs transport 'tcp' (use modbus_rtu on serial)"
            )
    else:
        if not bus.host:
            problems.append(f"{where}.host: required for a TCP bus")
        if bus.port is None:
            problems.append(f"{where}.port: required for a TCP bus")
    if bus.pipeline and bus.protocol is not BusProtocol.MODBUS_TCP:
        problems.append(f"{where}.pipeline: only Modbus TCP can have several requests in flight")
    if not bus.meters:
        problems.append(f"{where}.meters: a bus needs at least one meter")


def _check_meter(
    config: AgentConfig, bus: Bus, meter: Meter, where: str, problems: list[str], ctx: _Context
) -> None:
    groups = config.groups_of(bus, meter)
    if not groups:
        problems.append(f"{where}.groups: no poll groups (set them on the meter or on the bus)")
    names = [g.name for g in groups]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"{where}.groups: group {dup!r} is defined twice")
    gwhere = f"{where}.groups" if meter.groups is not None else f"{where} (bus groups)"
    if bus.protocol is BusProtocol.DLT698:
        _check_dlt698_meter(meter, groups, where, gwhere, problems, ctx)
        return
    if bus.protocol is BusProtocol.DLT645:
        _check_dlt645_meter(meter, where, problems)
        for g, group in enumerate(groups):
            _check_dlt645_group(group, f"{gwhere}[{g}]", problems)
        if meter.relay_secret is not None:
            try:
                secrets.resolve_relay(meter.relay_secret, ctx.secrets_doc, ctx.environ)
            except secrets.SecretError as exc:
                problems.append(f"{where}.relay_secret: {exc}")
    else:
        _check_modbus_meter(bus, meter, where, problems)
        register_map = _modbus_map(meter, where, problems, ctx)
        if register_map is not None:
            _check_modbus_groups(register_map, meter, groups, gwhere, problems)


def _check_dlt645_meter(meter: Meter, where: str, problems: list[str]) -> None:
    if meter.address is None:
        problems.append(f"{where}.address: required for a DL/T 645 meter")
    elif not _BCD12.match(meter.address):
        problems.append(f"{where}.address: {meter.address!r} is not 12 BCD digits")
    if meter.unit is not None or meter.map is not None:
        problems.append(f"{where}: unit/map are Modbus keys; a DL/T 645 meter has address")


def _check_dlt645_group(group: PollGroup, where: str, problems: list[str]) -> None:
    if group.quantities:
        problems.append(f"{where}.quantities: a DL/T 645 group lists dis, not quantities")
    if not group.dis:
        problems.append(f"{where}.dis: a DL/T 645 group needs at least one DI")
    for di in group.dis:
        if not _DI.match(di):
            problems.append(f"{where}.dis: {di!r} is not 8 hex digits")
        elif int(di, 16) not in dlt645.TABLE:
            problems.append(f"{where}.dis: DI {di.upper()} is not in the DL/T 645 table")


def _check_modbus_meter(bus: Bus, meter: Meter, where: str, problems: list[str]) -> None:
    if meter.unit is None:
        problems.append(f"{where}.unit: required for a Modbus meter (1..247)")
    elif meter.unit == 0 and bus.protocol is BusProtocol.MODBUS_RTU:
        problems.append(f"{where}.unit: 0 is the RTU broadcast address; use 1..247")
    if meter.address is not None:
        problems.append(f"{where}.address: a Modbus meter has unit, not address")
    if meter.map is None:
        problems.append(f"{where}.map: required for a Modbus meter (a shipped name or a path)")


def _modbus_map(meter: Meter, where: str, problems: list[str], ctx: _Context) -> AgentMap | None:
    if meter.map is None:
        return None  # reported by _check_modbus_meter
    try:
        return load(meter.map, ctx.base)
    except MapLoadError as exc:
        problems.append(f"{where}.map: {exc}")
        return None


def _check_modbus_groups(
    register_map: AgentMap, meter: Meter, groups: list[PollGroup], gwhere: str, problems: list[str]
) -> None:
    known = set(register_map.quantities())
    for g, group in enumerate(groups):
        if group.dis:
            problems.append(f"{gwhere}[{g}].dis: DIs are DL/T 645; a Modbus group has quantities")
        for q in group.quantities:
            if q not in known:
                problems.append(
                    f"{gwhere}[{g}].quantities: {q.value!r} is not in map {meter.map!r} "
                    f"(it has {', '.join(sorted(known))})"
                )


def _check_dlt698_meter(
    meter: Meter,
    groups: list[PollGroup],
    where: str,
    gwhere: str,
    problems: list[str],
    ctx: _Context,
) -> None:
    if meter.address is None:
        problems.append(f"{where}.address: required for a DL/T 698.45 meter")
    elif not _BCD12.match(meter.address):
        problems.append(f"{where}.address: {meter.address!r} is not 12 digits")
    if meter.unit is not None or meter.map is not None:
        problems.append(f"{where}: unit/map are Modbus keys; a DL/T 698.45 meter has address")
    for g, group in enumerate(groups):
        gw = f"{gwhere}[{g}]"
        if group.dis or group.quantities:
            problems.append(f"{gw}: a DL/T 698.45 group lists oads, not dis or quantities")
        if not group.oads:
            problems.append(f"{gw}.oads: a DL/T 698.45 group needs at least one OAD")
        for oad in group.oads:
            if not _DI.match(oad):
                problems.append(f"{gw}.oads: {oad!r} is not 8 hex digits")
            elif not dlt698_readable(int(oad, 16)):
                problems.append(f"{gw}.oads: OAD {oad.upper()} gives no readings (see the table)")
    if meter.relay_secret is not None:
        try:
            secrets.resolve_relay(meter.relay_secret, ctx.secrets_doc, ctx.environ)
        except secrets.SecretError as exc:
            problems.append(f"{where}.relay_secret: {exc}")
