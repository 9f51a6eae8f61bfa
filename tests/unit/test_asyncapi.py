"""docs/asyncapi.yaml is generated from the Structs and must not go stale."""

from __future__ import annotations

from pathlib import Path

import yaml

from backend.asyncapi import document, render

ROOT = Path(__file__).resolve().parents[2]


def test_checked_in_asyncapi_document_matches_the_contract() -> None:
    assert (ROOT / "docs" / "asyncapi.yaml").read_text() == render(), (
        "docs/asyncapi.yaml is stale: run `meterline asyncapi`"
    )


def test_asyncapi_document_names_every_channel_with_its_address() -> None:
    doc = yaml.safe_load(render())
    assert doc["asyncapi"] == "3.0.0"
    assert doc["channels"]["readings"]["address"] == "meterline/v1/agents/{agent}/readings"
    assert set(doc["channels"]) == {"state", "readings", "events", "commands", "acks", "receipts"}
    assert doc["operations"]["receive_commands"]["action"] == "receive"
    assert doc["operations"]["receive_receipts"]["action"] == "receive"
    assert doc["channels"]["receipts"]["address"] == "meterline/v1/agents/{agent}/receipts"
    assert "ReadingBatch" in document()["components"]["schemas"]
