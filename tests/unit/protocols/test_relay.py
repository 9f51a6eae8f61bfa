"""The relay state machine against the DLMS Blue Book's IC 70 table, written out by hand."""

from __future__ import annotations

import contextlib
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from protocols.contract.messages import CommandKind, RelayState
from protocols.relay import (
    TRANSITIONS,
    IllegalTransition,
    Reconnect,
    Transition,
    allowed_transitions,
    closes_from_ready,
    command_outcome,
    next_state,
    remote_reconnect,
)

D = RelayState.DISCONNECTED
C = RelayState.CONNECTED
R = RelayState.READY_FOR_RECONNECTION
RD = Transition.REMOTE_DISCONNECT
RR = Transition.REMOTE_RECONNECT
MD = Transition.MANUAL_DISCONNECT
MR = Transition.MANUAL_RECONNECT
LD = Transition.LOCAL_DISCONNECT
LR = Transition.LOCAL_RECONNECT

# Independently of the module's letter table: every legal (state, transition) -> state per mode.
_DISCONNECT_REMOTE = {(C, RD): D, (R, RD): D}  # b, c
_LOCAL_G = {(C, LD): R}  # g
_MANUAL_F = {(C, MD): R}  # f
_MANUAL_E = {(R, MR): C}  # e
_REMOTE_A = {(D, RR): C}  # a: direct
_REMOTE_D = {(D, RR): R}  # d: arm
_LOCAL_H = {(R, LR): C}  # h
EXPECTED: dict[int, dict[tuple[RelayState, Transition], RelayState]] = {
    0: {},
    1: {**_DISCONNECT_REMOTE, **_MANUAL_F, **_LOCAL_G, **_REMOTE_D, **_MANUAL_E},
    2: {**_DISCONNECT_REMOTE, **_MANUAL_F, **_LOCAL_G, **_REMOTE_A, **_MANUAL_E},
    3: {**_DISCONNECT_REMOTE, **_LOCAL_G, **_REMOTE_D, **_MANUAL_E},
    4: {**_DISCONNECT_REMOTE, **_LOCAL_G, **_REMOTE_A, **_MANUAL_E},
    5: {**_DISCONNECT_REMOTE, **_MANUAL_F, **_LOCAL_G, **_REMOTE_D, **_MANUAL_E, **_LOCAL_H},
    6: {**_DISCONNECT_REMOTE, **_LOCAL_G, **_REMOTE_D, **_MANUAL_E, **_LOCAL_H},
}

LEGAL = [(mode, s, t, new) for mode, table in EXPECTED.items() for (s, t), new in table.items()]
ILLEGAL = [
    (mode, s, t)
    for mode, s, t in itertools.product(range(7), RelayState, Transition)
    if (s, t) not in EXPECTED[mode]
]


def test_the_module_table_equals_the_blue_book_table_for_every_mode() -> None:
    assert {int(m): t for m, t in TRANSITIONS.items()} == EXPECTED


@pytest.mark.parametrize(("mode", "state", "transition", "new"), LEGAL)
def test_every_legal_transition_leads_to_the_blue_book_state(
    mode: int, state: RelayState, transition: Transition, new: RelayState
) -> None:
    assert next_state(mode, state, transition) is new


@pytest.mark.parametrize(("mode", "state", "transition"), ILLEGAL)
def test_every_illegal_transition_raises_and_names_mode_and_state(
    mode: int, state: RelayState, transition: Transition
) -> None:
    with pytest.raises(IllegalTransition) as caught:
        next_state(mode, state, transition)
    assert caught.value.state is state
    assert caught.value.transition is transition
    assert f"control mode {mode}" in str(caught.value)


def test_mode_zero_allows_nothing_because_the_relay_is_always_connected() -> None:
    assert all(not allowed_transitions(0, s) for s in RelayState)


def test_local_disconnect_is_possible_in_every_mode_with_disconnect_control() -> None:
    assert all(next_state(mode, C, LD) is R for mode in range(1, 7))


def test_remote_reconnect_closes_directly_only_in_modes_2_and_4() -> None:
    assert {m: remote_reconnect(m) for m in range(7)} == {
        0: Reconnect.NOT_ALLOWED,
        1: Reconnect.ARM,
        2: Reconnect.DIRECT,
        3: Reconnect.ARM,
        4: Reconnect.DIRECT,
        5: Reconnect.ARM,
        6: Reconnect.ARM,
    }


def test_after_an_arm_the_button_closes_and_in_modes_5_and_6_the_meter_may_too() -> None:
    assert closes_from_ready(1) == {MR}
    assert closes_from_ready(5) == {MR, LR}
    assert closes_from_ready(6) == {MR, LR}


def test_a_reconnect_command_in_an_arming_mode_is_refused_not_silently_armed() -> None:
    with pytest.raises(IllegalTransition, match="leads to ready_for_reconnection"):
        command_outcome(1, D, CommandKind.RECONNECT)


def test_an_arm_command_in_a_direct_mode_is_refused_not_silently_closed() -> None:
    with pytest.raises(IllegalTransition, match="leads to connected"):
        command_outcome(2, D, CommandKind.ARM_RECONNECT)


def test_commands_map_to_their_remote_transitions() -> None:
    assert command_outcome(1, C, CommandKind.DISCONNECT) is D
    assert command_outcome(1, R, CommandKind.DISCONNECT) is D
    assert command_outcome(1, D, CommandKind.ARM_RECONNECT) is R
    assert command_outcome(4, D, CommandKind.RECONNECT) is C


def test_a_disconnect_of_a_disconnected_relay_is_illegal_so_the_agent_checks_first() -> None:
    with pytest.raises(IllegalTransition):
        command_outcome(2, D, CommandKind.DISCONNECT)


def test_a_non_relay_command_is_a_caller_bug() -> None:
    with pytest.raises(ValueError, match="does not operate the relay"):
        command_outcome(1, C, CommandKind.READ_NOW)


@given(st.integers(0, 6), st.sampled_from(RelayState), st.sampled_from(Transition))
def test_next_state_either_follows_the_table_or_raises(
    mode: int, state: RelayState, transition: Transition
) -> None:
    try:
        result: RelayState | None = next_state(mode, state, transition)
    except IllegalTransition:
        result = None
    assert result is EXPECTED[mode].get((state, transition))


class RelayMachine(RuleBasedStateMachine):
    """A relay driven by random transitions: illegal ones must leave it as it was."""

    def __init__(self) -> None:
        super().__init__()
        self.mode = 0
        self.state = C

    @rule(mode=st.integers(1, 6))
    def switch_mode(self, mode: int) -> None:
        self.mode = mode

    @rule(transition=st.sampled_from(Transition))
    def fire(self, transition: Transition) -> None:
        before = self.state
        # An illegal transition raises and the state must be exactly as before.
        with contextlib.suppress(IllegalTransition):
            self.state = next_state(self.mode, self.state, transition)
        expected = EXPECTED[self.mode].get((before, transition), before)
        assert self.state is expected

    @invariant()
    def state_is_one_of_the_three(self) -> None:
        assert self.state in (C, D, R)


TestRelayMachine = RelayMachine.TestCase
