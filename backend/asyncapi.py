"""Generate the AsyncAPI 3 document of the MQTT contract from its msgspec Structs.

``meterline asyncapi`` writes docs/asyncapi.yaml; a test fails when the checked-in file differs
from what the Structs say, so the document can never drift from the code.
"""

from __future__ import annotations

from typing import Any

import msgspec

from protocols.contract import (
    PREFIX,
    VERSION,
    AgentState,
    Channel,
    Command,
    CommandAck,
    EventBatch,
    ReadingBatch,
    Receipt,
)

_CHANNELS: list[tuple[Channel, Any, str, str, str]] = [
    (
        Channel.STATE,
        AgentState,
        "AgentState",
        "send",
        "Agent birth (retained, on connect) and death (the MQTT last will, retained).",
    ),
    (
        Channel.READINGS,
        ReadingBatch,
        "ReadingBatch",
        "send",
        "Batches of acquired values; `seq` only increases per agent, for gap detection.",
    ),
    (
        Channel.EVENTS,
        EventBatch,
        "EventBatch",
        "send",
        "Meter events: online/offline, power failure, cover opened, relay changed, clock drift.",
    ),
    (
        Channel.COMMANDS,
        Command,
        "Command",
        "receive",
        "Commands for the agent's meters; `id` is the de-duplication key end to end.",
    ),
    (
        Channel.ACKS,
        CommandAck,
        "CommandAck",
        "send",
        "Command outcomes, with the relay state read back from the meter.",
    ),
    (
        Channel.RECEIPTS,
        Receipt,
        "Receipt",
        "receive",
        "The batches (by `seq` per channel) the backend has durably taken: committed, or "
        "stored as a dead letter. Only then does the agent delete their rows.",
    ),
]


def document() -> dict[str, Any]:
    types = [t for _, t, _, _, _ in _CHANNELS]
    schemas, components = msgspec.json.schema_components(
        types, ref_template="#/components/schemas/{name}"
    )
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for (channel, _type, name, action, text), schema in zip(_CHANNELS, schemas, strict=True):
        key = channel.value
        messages[name] = {
            "name": name,
            "contentType": "application/json",
            "summary": text,
            "payload": schema,
        }
        channels[key] = {
            "address": f"{PREFIX}/agents/{{agent}}/{channel.value}",
            "parameters": {"agent": {"description": "Agent id: [A-Za-z0-9_.:-]{1,64}"}},
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "description": text,
        }
        operations[f"{action}_{key}"] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{key}"},
            "summary": f"The agent {'publishes' if action == 'send' else 'subscribes to'} {key}.",
            **({"bindings": {"mqtt": {"qos": 1, "retain": channel is Channel.STATE}}}),
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "meterline MQTT contract",
            "version": VERSION,
            "description": (
                "Topics and payloads between edge agents and the backend. Generated from "
                "protocols/contract by `meterline asyncapi`; do not edit by hand. Payloads are "
                "JSON by default or MessagePack: a receiver tells them apart by the first byte "
                "(`{` for JSON, 0x80-0x8F/0xDE/0xDF for a MessagePack map)."
            ),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": components},
    }


def render() -> str:
    import yaml

    return str(yaml.safe_dump(document(), sort_keys=False, allow_unicode=True, width=100))
