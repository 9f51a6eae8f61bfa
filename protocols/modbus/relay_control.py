"""Relay control "per the map": which write disconnects, reconnects or arms, and how to read back.

The state machine itself is :mod:`protocols.relay` (DLMS IC 70). This module binds it to one
meter's registers: the write that performs each remote transition and the register whose value
says which state the relay is in. The agent asks :meth:`RelayControl.action` what to write and
what state to expect on read-back; the simulator asks :meth:`RelayControl.identify_write` what a
write it received means.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from protocols.contract.messages import CommandKind, RelayState
from protocols.modbus.registers import DataType, Function, Order
from protocols.relay import (
    ControlMode,
    IllegalTransition,
    Reconnect,
    Transition,
    command_outcome,
    remote_reconnect,
)


class UnsupportedCommand(ValueError):
    """The meter's map has no write for this command (e.g. an arm on a meter without one)."""


@dataclass(frozen=True, slots=True)
class RelayWrite:
    """One Modbus write: a coil (FC5) or one or more holding registers (FC6 / FC16)."""

    function: Function  # COIL or HOLDING
    address: int  # absolute protocol address
    values: tuple[int, ...]  # coil: (0,) or (1,); holding: register words

    @property
    def function_code(self) -> int:
        if self.function is Function.COIL:
            return 5
        return 6 if len(self.values) == 1 else 16


@dataclass(frozen=True, slots=True)
class RelayStateRegister:
    """Where the relay state is read back, and which raw value means which state."""

    function: Function
    address: int  # absolute protocol address
    data_type: DataType  # ignored for coils and discrete inputs (one bit)
    word_order: Order
    byte_order: Order
    values: Mapping[int, RelayState]  # raw value -> state

    @property
    def count(self) -> int:
        return 1 if self.function.is_bits else self.data_type.words

    def raw_for(self, state: RelayState) -> int:
        """The raw value a simulator stores for ``state``; KeyError if the meter has none."""
        for raw, mapped in self.values.items():
            if mapped is state:
                return raw
        raise KeyError(f"the map has no raw value for relay state {state.name.lower()}")


@dataclass(frozen=True, slots=True)
class RelayAction:
    """What the agent writes for a command, and the state the read-back must then show."""

    kind: CommandKind
    write: RelayWrite
    expected: RelayState


@dataclass(frozen=True, slots=True)
class RelayControl:
    control_mode: ControlMode
    state: RelayStateRegister
    disconnect: RelayWrite
    reconnect: RelayWrite | None = None  # the remote_reconnect: closes or arms, per the mode
    arm: RelayWrite | None = None  # vendor arm beside a direct reconnect (DL/T 645 1B vs 1C)

    def action(self, kind: CommandKind, current: RelayState) -> RelayAction:
        """The write for ``kind`` from ``current``, or raise.

        Raises IllegalTransition (nothing written yet, the relay is as it was) when the control
        mode does not allow the command from this state, and UnsupportedCommand when the map
        has no write for it. A command whose target is already the current state is illegal
        here on purpose: the agent checks the read-back first and reports it as executed.
        """
        if kind is CommandKind.DISCONNECT:
            expected = command_outcome(self.control_mode, current, kind)
            return RelayAction(kind, self.disconnect, expected)
        if kind is CommandKind.ARM_RECONNECT and self.arm is not None:
            if current is not RelayState.DISCONNECTED:
                raise IllegalTransition(
                    self.control_mode,
                    current,
                    Transition.REMOTE_RECONNECT,
                    f"arm_reconnect needs a disconnected relay, it is {current.name.lower()}",
                )
            return RelayAction(kind, self.arm, RelayState.READY_FOR_RECONNECTION)
        if kind in (CommandKind.RECONNECT, CommandKind.ARM_RECONNECT):
            if self.reconnect is None:
                raise UnsupportedCommand(f"the map has no write for {kind.value}")
            expected = command_outcome(self.control_mode, current, kind)
            return RelayAction(kind, self.reconnect, expected)
        raise UnsupportedCommand(f"command {kind.value} does not operate the relay")

    def identify_write(
        self, function: Function, address: int, values: Sequence[int]
    ) -> CommandKind | None:
        """Which command a received write carries out, or None if it is no relay write."""
        received = (function, address, tuple(values))
        if _key(self.disconnect) == received:
            return CommandKind.DISCONNECT
        if self.arm is not None and _key(self.arm) == received:
            return CommandKind.ARM_RECONNECT
        if self.reconnect is not None and _key(self.reconnect) == received:
            if remote_reconnect(self.control_mode) is Reconnect.ARM:
                return CommandKind.ARM_RECONNECT
            return CommandKind.RECONNECT
        return None


def _key(write: RelayWrite) -> tuple[Function, int, tuple[int, ...]]:
    return (write.function, write.address, write.values)
