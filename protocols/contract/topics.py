"""Topic names of the v1 contract.

Every topic sits under ``meterline/v1/agents/{agent}/``, so a broker ACL can confine an agent
to its own subtree (Mosquitto: ``pattern readwrite meterline/v1/agents/%u/#``).
"""

from __future__ import annotations

import enum
import re

VERSION = "v1"
PREFIX = f"meterline/{VERSION}"

_IDENT = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class TopicError(ValueError):
    """A topic that is not part of the contract."""


class Channel(enum.StrEnum):
    STATE = "state"  # agent → broker, retained: AgentBirth | AgentDeath
    READINGS = "readings"  # agent → backend: ReadingBatch
    EVENTS = "events"  # agent → backend: EventBatch
    COMMANDS = "commands"  # backend → agent: Command
    ACKS = "acks"  # agent → backend: CommandAck
    RECEIPTS = "receipts"  # backend → agent: Receipt (batches durably taken)


def agent_topic(agent: str, channel: Channel) -> str:
    if not _IDENT.match(agent):
        raise TopicError(f"agent id {agent!r} is not a valid topic level")
    return f"{PREFIX}/agents/{agent}/{channel.value}"


def subscription(channel: Channel, *, share_group: str | None = None) -> str:
    """The filter a backend subscribes with; ``share_group`` gives an MQTT 5 shared
    subscription (``$share/{group}/…``) so several backend processes split the load."""
    topic = f"{PREFIX}/agents/+/{channel.value}"
    return f"$share/{share_group}/{topic}" if share_group else topic


def parse_topic(topic: str) -> tuple[str, Channel]:
    """Return (agent id, channel) of a contract topic, or raise TopicError."""
    parts = topic.split("/")
    if len(parts) != 5 or "/".join(parts[:2]) != PREFIX or parts[2] != "agents":
        raise TopicError(f"topic {topic!r} is not under {PREFIX}/agents/{{agent}}/…")
    agent, channel = parts[3], parts[4]
    if not _IDENT.match(agent):
        raise TopicError(f"topic {topic!r}: agent id {agent!r} is not valid")
    try:
        return agent, Channel(channel)
    except ValueError:
        raise TopicError(f"topic {topic!r}: unknown channel {channel!r}") from None
