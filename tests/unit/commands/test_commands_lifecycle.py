"""The command lifecycle table under any sequence of events (hypothesis state machine)."""

from __future__ import annotations

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from backend.commands.lifecycle import (
    OPEN,
    TERMINAL,
    TRANSITIONS,
    Event,
    IllegalCommandTransition,
    State,
    allowed_events,
    next_state,
)


class Lifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.state = State.QUEUED
        self.trail: list[tuple[State, Event, State]] = []

    @rule(event=st.sampled_from(Event))
    def apply(self, event: Event) -> None:
        before = self.state
        if (before, event) in TRANSITIONS:
            self.state = next_state(before, event)
            self.trail.append((before, event, self.state))
        else:
            with pytest.raises(IllegalCommandTransition):
                next_state(before, event)
            assert self.state is before  # an illegal transition changes nothing

    @invariant()
    def verified_only_after_executed_and_final_states_stay_final(self) -> None:
        for i, (frm, _ev, to) in enumerate(self.trail):
            if to is State.VERIFIED:
                assert frm is State.EXECUTED
            if frm in TERMINAL and frm is not State.EXPIRED:
                raise AssertionError(f"left final state {frm} at step {i}")


def test_the_command_lifecycle_holds_under_any_event_sequence() -> None:
    run_state_machine_as_test(Lifecycle)


def test_only_a_late_ack_can_move_an_expired_command() -> None:
    assert allowed_events(State.EXPIRED) == {Event.EXECUTE, Event.FAIL}
    assert all(not allowed_events(s) for s in TERMINAL - {State.EXPIRED})


def test_an_illegal_transition_names_what_is_allowed() -> None:
    with pytest.raises(IllegalCommandTransition, match="cannot verify a command that is queued"):
        next_state(State.QUEUED, Event.VERIFY)
    assert State.EXECUTED in OPEN
