"""The MQTT contract, version 1: topic names and the msgspec Structs of every payload.

Backend and agent share these exact types; no dict crosses the wire unchecked.
"""

from protocols.contract.codec import (
    ContractError,
    Encoding,
    decode,
    detect_encoding,
    encode,
)
from protocols.contract.messages import (
    MAX_BATCH_ITEMS,
    AgentBirth,
    AgentDeath,
    AgentState,
    Command,
    CommandAck,
    CommandKind,
    CommandState,
    EventBatch,
    EventKind,
    MeterEvent,
    MeterInfo,
    Quality,
    ReadingBatch,
    RelayState,
    Value,
)
from protocols.contract.quantities import (
    ENERGY_QUANTITIES,
    QUANTITIES,
    Quantity,
    QuantitySpec,
    Unit,
)
from protocols.contract.topics import (
    PREFIX,
    VERSION,
    Channel,
    TopicError,
    agent_topic,
    parse_topic,
    subscription,
)

__all__ = [
    "ENERGY_QUANTITIES",
    "MAX_BATCH_ITEMS",
    "PREFIX",
    "QUANTITIES",
    "VERSION",
    "AgentBirth",
    "AgentDeath",
    "AgentState",
    "Channel",
    "Command",
    "CommandAck",
    "CommandKind",
    "CommandState",
    "ContractError",
    "Encoding",
    "EventBatch",
    "EventKind",
    "MeterEvent",
    "MeterInfo",
    "Quality",
    "Quantity",
    "QuantitySpec",
    "ReadingBatch",
    "RelayState",
    "TopicError",
    "Unit",
    "Value",
    "agent_topic",
    "decode",
    "detect_encoding",
    "encode",
    "parse_topic",
    "subscription",
]
