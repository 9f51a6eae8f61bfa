"""The largest message a backed-up outbox forms fits what the backend accepts."""

from __future__ import annotations

from backend.metering.ingest.limits import MAX_PAYLOAD_BYTES
from protocols.contract import (
    MAX_BATCH_ITEMS,
    Encoding,
    Quality,
    Quantity,
    ReadingBatch,
    Value,
    encode,
)


def test_a_batch_of_the_contract_limit_of_the_longest_values_fits_the_ingest_limit() -> None:
    longest_quantity = max(Quantity, key=len)
    value = Value(
        meter="m" * 64,
        ts=9_999_999_999_999,
        quantity=longest_quantity,
        value=-(10**15) + 1,
        quality=max(Quality, key=len),
    )
    batch = ReadingBatch(agent="a" * 64, seq=2**53, values=[value] * MAX_BATCH_ITEMS)
    for encoding in Encoding:
        assert len(encode(batch, encoding)) < MAX_PAYLOAD_BYTES
