"""What a bus scheduler needs from a protocol driver, and the errors a driver raises.

A driver owns one physical bus (a serial port or one TCP connection to a gateway or meter) and
is only ever called by that bus's scheduler, one transaction at a time. Every value it returns
carries its acquisition time: the moment the meter's reply was received.
"""

from __future__ import annotations

from typing import Protocol

from edge_agent.config import Meter, PollGroup
from protocols.contract import CommandKind, RelayState, Value


class MeterError(Exception):
    """The meter did not give us what we asked for."""


class MeterTimeout(MeterError):
    """No valid reply in time: the meter is silent (or the line is too noisy)."""


class MeterReplyError(MeterError):
    """The meter answered, but with a refusal or a reply we cannot use."""


class NotSupported(MeterError):
    """The meter's protocol or register map cannot do this."""


class Driver(Protocol):
    async def close(self) -> None: ...

    async def poll(self, meter: Meter, group: PollGroup) -> list[Value]:
        """Read one poll group. Raises MeterTimeout if the meter is silent."""
        ...

    async def relay(self, meter: Meter, kind: CommandKind, valid_s: int) -> RelayState:
        """Send the relay command for ``kind`` (disconnect, reconnect, arm_reconnect); return
        the state the relay must then show (the meter's control mode may arm, not close)."""
        ...

    async def relay_state(self, meter: Meter) -> RelayState: ...

    async def time_sync(self, meter: Meter) -> None: ...

    async def clock_drift_ms(self, meter: Meter) -> int | None:
        """Meter clock minus agent clock, in ms; None if the meter has no readable clock."""
        ...

    async def last_power_down(self, meter: Meter) -> tuple[int, int | None] | None:
        """The meter's own latest power-down record (掉电记录): (start, end or None while it
        lasts) in UTC ms; None if the protocol keeps none or the meter never lost supply."""
        ...

    async def backfill(self, meter: Meter, since_ms: int) -> list[Value]:
        """The meter's own frozen values for the days after ``since_ms`` (quality backfilled,
        ts = the freeze time); [] if the protocol has none."""
        ...
