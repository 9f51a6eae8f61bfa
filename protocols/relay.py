"""The supply relay (拉闸 / 合闸) as a state machine, after DLMS/COSEM IC 70 "Disconnect control".

Three states (numbered as ``RelayState`` in the contract): DISCONNECTED 0, CONNECTED 1 and
READY_FOR_RECONNECTION 2 (允许合闸: armed, supply returns when the customer presses the button).
Eight transitions, lettered as in the Blue Book state diagram:

== ================== ======================== ========================
a  remote_reconnect   disconnected             → connected   (direct)
b  remote_disconnect  connected                → disconnected
c  remote_disconnect  ready_for_reconnection   → disconnected
d  remote_reconnect   disconnected             → ready_for_reconnection
e  manual_reconnect   ready_for_reconnection   → connected   (button)
f  manual_disconnect  connected                → ready_for_reconnection
g  local_disconnect   connected                → ready_for_reconnection
h  local_reconnect    ready_for_reconnection   → connected
== ================== ======================== ========================

"Local" is the meter's own decision (load limit, prepaid credit run out); "manual" is a person
at the meter pressing its button. The control mode (attribute 4, 0–6) says which transitions the
meter allows. The whole behaviour is the two tables below, in the h11 manner: read them and you
have read the machine. An illegal transition raises :class:`IllegalTransition` and changes
nothing, because there is nothing to change: :func:`next_state` is a pure function.
"""

from __future__ import annotations

import enum

from protocols.contract.messages import CommandKind, RelayState

DISCONNECTED = RelayState.DISCONNECTED
CONNECTED = RelayState.CONNECTED
READY = RelayState.READY_FOR_RECONNECTION


class Transition(enum.StrEnum):
    REMOTE_DISCONNECT = "remote_disconnect"
    REMOTE_RECONNECT = "remote_reconnect"
    MANUAL_DISCONNECT = "manual_disconnect"
    MANUAL_RECONNECT = "manual_reconnect"
    LOCAL_DISCONNECT = "local_disconnect"
    LOCAL_RECONNECT = "local_reconnect"


class ControlMode(enum.IntEnum):
    """IC 70 ``control_mode``. Mode 0: no disconnect control at all (always connected)."""

    NONE = 0
    MODE_1 = 1
    MODE_2 = 2
    MODE_3 = 3
    MODE_4 = 4
    MODE_5 = 5
    MODE_6 = 6


# The Blue Book's lettered transitions: letter -> (transition, from, to).
EDGES: dict[str, tuple[Transition, RelayState, RelayState]] = {
    "a": (Transition.REMOTE_RECONNECT, DISCONNECTED, CONNECTED),
    "b": (Transition.REMOTE_DISCONNECT, CONNECTED, DISCONNECTED),
    "c": (Transition.REMOTE_DISCONNECT, READY, DISCONNECTED),
    "d": (Transition.REMOTE_RECONNECT, DISCONNECTED, READY),
    "e": (Transition.MANUAL_RECONNECT, READY, CONNECTED),
    "f": (Transition.MANUAL_DISCONNECT, CONNECTED, READY),
    "g": (Transition.LOCAL_DISCONNECT, CONNECTED, READY),
    "h": (Transition.LOCAL_RECONNECT, READY, CONNECTED),
}

# Which lettered transitions each control mode allows (Blue Book, IC 70 attribute 4):
#   mode  disconnection                    reconnection
#   1     remote (b, c) manual (f) local (g)  remote (d) manual (e)
#   2     remote (b, c) manual (f) local (g)  remote (a) manual (e)
#   3     remote (b, c)            local (g)  remote (d) manual (e)
#   4     remote (b, c)            local (g)  remote (a) manual (e)
#   5     remote (b, c) manual (f) local (g)  remote (d) manual (e) local (h)
#   6     remote (b, c)            local (g)  remote (d) manual (e) local (h)
MODE_EDGES: dict[ControlMode, str] = {
    ControlMode.NONE: "",
    ControlMode.MODE_1: "bcfgde",
    ControlMode.MODE_2: "bcfgae",
    ControlMode.MODE_3: "bcgde",
    ControlMode.MODE_4: "bcgae",
    ControlMode.MODE_5: "bcfgdeh",
    ControlMode.MODE_6: "bcgdeh",
}

# The table every caller uses: mode -> {(state, transition): new state}.
TRANSITIONS: dict[ControlMode, dict[tuple[RelayState, Transition], RelayState]] = {
    mode: {(EDGES[letter][1], EDGES[letter][0]): EDGES[letter][2] for letter in letters}
    for mode, letters in MODE_EDGES.items()
}


class IllegalTransition(ValueError):
    """The transition is not allowed from this state in this control mode.

    Raised by :func:`next_state`; the caller's state is untouched. For the agent this is a
    reason to refuse a command before writing anything to the meter.
    """

    def __init__(
        self, mode: ControlMode, state: RelayState, transition: Transition, detail: str = ""
    ) -> None:
        self.mode = mode
        self.state = state
        self.transition = transition
        allowed = sorted(t.value for t in allowed_transitions(mode, state))
        super().__init__(
            detail
            or f"{transition.value} is not allowed from {state.name.lower()} in control mode "
            f"{int(mode)} (allowed: {', '.join(allowed) or 'none'})"
        )


def next_state(mode: int, state: RelayState, transition: Transition) -> RelayState:
    """The state after ``transition``, or raise IllegalTransition."""
    control_mode = ControlMode(mode)
    try:
        return TRANSITIONS[control_mode][(state, transition)]
    except KeyError:
        raise IllegalTransition(control_mode, state, transition) from None


def allowed_transitions(mode: int, state: RelayState) -> frozenset[Transition]:
    """Every transition the mode allows from ``state``."""
    table = TRANSITIONS[ControlMode(mode)]
    return frozenset(t for (s, t) in table if s is state)


class Reconnect(enum.StrEnum):
    """What a remote reconnect does in a given control mode."""

    DIRECT = "direct"  # transition a: supply returns at once
    ARM = "arm"  # transition d: ready_for_reconnection; the customer must press the button
    NOT_ALLOWED = "not_allowed"  # mode 0: no disconnect control


def remote_reconnect(mode: int) -> Reconnect:
    """Whether a remote reconnect closes the relay or only arms it, in this mode."""
    table = TRANSITIONS[ControlMode(mode)]
    result = table.get((DISCONNECTED, Transition.REMOTE_RECONNECT))
    if result is CONNECTED:
        return Reconnect.DIRECT
    if result is READY:
        return Reconnect.ARM
    return Reconnect.NOT_ALLOWED


def closes_from_ready(mode: int) -> frozenset[Transition]:
    """After an arm, what may close the relay: the button (e), and in modes 5/6 the meter (h)."""
    return frozenset(
        t for t in allowed_transitions(mode, READY) if t is not Transition.REMOTE_DISCONNECT
    )


def command_outcome(mode: int, state: RelayState, kind: CommandKind) -> RelayState:
    """The state a contract command must leave the relay in, checked against the mode.

    DISCONNECT is a remote disconnect; RECONNECT asks for supply now and so needs a direct mode;
    ARM_RECONNECT asks for ready_for_reconnection and so needs an arming mode. A command that
    the mode cannot carry out raises IllegalTransition naming the mode and state, rather than
    silently arming a relay the operator expected to close (or closing one they meant to arm).
    A meter that offers a vendor "arm" write beside a direct reconnect is handled by its
    register map (:meth:`protocols.modbus.RelayControl.action`), not here.
    """
    if kind is CommandKind.DISCONNECT:
        return next_state(mode, state, Transition.REMOTE_DISCONNECT)
    if kind in (CommandKind.RECONNECT, CommandKind.ARM_RECONNECT):
        result = next_state(mode, state, Transition.REMOTE_RECONNECT)
        wanted = CONNECTED if kind is CommandKind.RECONNECT else READY
        if result is not wanted:
            raise IllegalTransition(
                ControlMode(mode),
                state,
                Transition.REMOTE_RECONNECT,
                f"{kind.value} wants {wanted.name.lower()}, but a remote reconnect in control "
                f"mode {int(mode)} leads to {result.name.lower()}",
            )
        return result
    raise ValueError(f"command {kind.value} does not operate the relay")
