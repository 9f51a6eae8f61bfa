"""The life of a remote command, as one table (h11 style: read the table, know the machine).

::

    awaiting_approval --approve--> queued --dispatch--> dispatched --receive--> received
            |reject/cancel/expire    |cancel/refuse/expire   |           |
            v                        v                       v           v
        rejected / cancelled / refused / expired      executed --verify--> verified
                                                           \\--fail--> failed

``dispatched`` means the broker acknowledged our QoS 1 publish; ``received`` that the agent
persisted it; ``executed`` that the meter accepted it; ``verified`` that the relay state read
back from the meter is the one the command must leave (protocols.relay.command_outcome).
An ``expired`` command can still learn its fate: an agent that executed just before
``not_after`` may ack late, and the physical truth wins (expired → executed / failed).

An illegal transition raises :class:`IllegalCommandTransition` and changes nothing.
"""

from __future__ import annotations

import enum

from backend.errors import Conflict, ErrorCode


class State(enum.StrEnum):
    AWAITING_APPROVAL = "awaiting_approval"  # four-eyes: a second operator must approve
    QUEUED = "queued"
    DISPATCHED = "dispatched"
    RECEIVED = "received"
    EXECUTED = "executed"
    VERIFIED = "verified"
    FAILED = "failed"
    EXPIRED = "expired"
    REFUSED = "refused"  # by policy (backend re-check) or by the agent (refused_*)
    REJECTED = "rejected"  # the approver said no
    CANCELLED = "cancelled"  # withdrawn before dispatch (e.g. the customer paid)


class Event(enum.StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    CANCEL = "cancel"
    DISPATCH = "dispatch"
    RECEIVE = "receive"
    EXECUTE = "execute"
    VERIFY = "verify"
    FAIL = "fail"
    REFUSE = "refuse"
    EXPIRE = "expire"


S, E = State, Event

TRANSITIONS: dict[tuple[State, Event], State] = {
    (S.AWAITING_APPROVAL, E.APPROVE): S.QUEUED,
    (S.AWAITING_APPROVAL, E.REJECT): S.REJECTED,
    (S.AWAITING_APPROVAL, E.CANCEL): S.CANCELLED,
    (S.AWAITING_APPROVAL, E.EXPIRE): S.EXPIRED,
    (S.QUEUED, E.DISPATCH): S.DISPATCHED,
    (S.QUEUED, E.CANCEL): S.CANCELLED,
    (S.QUEUED, E.REFUSE): S.REFUSED,
    (S.QUEUED, E.EXPIRE): S.EXPIRED,
    (S.DISPATCHED, E.RECEIVE): S.RECEIVED,
    (S.DISPATCHED, E.EXECUTE): S.EXECUTED,  # the "received" ack may be lost or overtaken
    (S.DISPATCHED, E.FAIL): S.FAILED,
    (S.DISPATCHED, E.REFUSE): S.REFUSED,
    (S.DISPATCHED, E.EXPIRE): S.EXPIRED,
    (S.RECEIVED, E.EXECUTE): S.EXECUTED,
    (S.RECEIVED, E.FAIL): S.FAILED,
    (S.RECEIVED, E.REFUSE): S.REFUSED,
    (S.RECEIVED, E.EXPIRE): S.EXPIRED,
    (S.EXECUTED, E.VERIFY): S.VERIFIED,
    (S.EXECUTED, E.FAIL): S.FAILED,  # the read-back disagrees
    (S.EXPIRED, E.EXECUTE): S.EXECUTED,  # a late ack: the meter did act
    (S.EXPIRED, E.FAIL): S.FAILED,
}

# States in which a command is still on its way (it blocks another for the same meter).
OPEN: frozenset[State] = frozenset(
    {S.AWAITING_APPROVAL, S.QUEUED, S.DISPATCHED, S.RECEIVED, S.EXECUTED}
)
TERMINAL: frozenset[State] = frozenset(s for s in State if s not in OPEN)


class IllegalCommandTransition(Conflict):
    def __init__(self, state: State, event: Event) -> None:
        self.state = state
        self.event = event
        allowed = sorted(e.value for (s, e) in TRANSITIONS if s is state)
        super().__init__(
            ErrorCode.COMMAND_STATE,
            f"cannot {event.value} a command that is {state.value} "
            f"(allowed: {', '.join(allowed) or 'nothing, it is final'})",
            event=event.value,
            state=state.value,
        )


def next_state(state: State, event: Event) -> State:
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalCommandTransition(state, event) from None


def allowed_events(state: State) -> frozenset[Event]:
    return frozenset(e for (s, e) in TRANSITIONS if s is state)
